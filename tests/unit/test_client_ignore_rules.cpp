// .trainctlignore patterns: the gitignore rules users already know.
#include <catch2/catch.hpp>

#include "trainctl/client/ignore_rules.hpp"

using trainctl::client::IgnoreRules;

namespace {
bool ignored_file(const IgnoreRules& rules, std::string_view path) {
  return rules.is_ignored(path, false);
}
bool ignored_dir(const IgnoreRules& rules, std::string_view path) {
  return rules.is_ignored(path, true);
}
}  // namespace

TEST_CASE("comments, blank lines and trailing spaces are not patterns", "[client][ignore]") {
  const auto rules = IgnoreRules::parse("# a comment\n\n   \n*.log   \r\n\\#hash\nspace\\ \n");

  CHECK(ignored_file(rules, "train.log"));
  CHECK_FALSE(ignored_file(rules, "# a comment"));
  CHECK(ignored_file(rules, "#hash"));
  CHECK(ignored_file(rules, "space "));
  CHECK_FALSE(ignored_file(rules, "space"));
  CHECK_FALSE(ignored_file(rules, "train.py"));
}

TEST_CASE("a pattern without a slash matches a name at any depth", "[client][ignore]") {
  const auto rules = IgnoreRules::parse("*.pyc\n__pycache__\ndata?.csv\n[Bb]uild\n");

  CHECK(ignored_file(rules, "a.pyc"));
  CHECK(ignored_file(rules, "pkg/sub/.hidden.pyc"));
  CHECK(ignored_dir(rules, "pkg/__pycache__"));
  CHECK(ignored_file(rules, "data1.csv"));
  CHECK_FALSE(ignored_file(rules, "data10.csv"));
  CHECK(ignored_dir(rules, "Build"));
  CHECK(ignored_dir(rules, "src/build"));
  CHECK_FALSE(ignored_dir(rules, "rebuild"));
}

TEST_CASE("a leading or middle slash anchors a pattern to the source directory",
          "[client][ignore]") {
  const auto rules = IgnoreRules::parse("/data\nconfigs/*.secret\n");

  CHECK(ignored_dir(rules, "data"));
  CHECK_FALSE(ignored_dir(rules, "src/data"));
  CHECK(ignored_file(rules, "configs/prod.secret"));
  CHECK_FALSE(ignored_file(rules, "sub/configs/prod.secret"));
  CHECK_FALSE(ignored_file(rules, "configs/nested/prod.secret"));
}

TEST_CASE("a trailing slash matches directories only", "[client][ignore]") {
  const auto rules = IgnoreRules::parse("outputs/\n");

  CHECK(ignored_dir(rules, "outputs"));
  CHECK(ignored_dir(rules, "exp/outputs"));
  CHECK_FALSE(ignored_file(rules, "outputs"));
}

TEST_CASE("the last matching pattern wins and '!' re-includes", "[client][ignore]") {
  const auto rules = IgnoreRules::parse("*.csv\n!keep.csv\n\\!bang\n");

  CHECK(ignored_file(rules, "a.csv"));
  CHECK_FALSE(ignored_file(rules, "keep.csv"));
  CHECK_FALSE(ignored_file(rules, "sub/keep.csv"));
  CHECK(ignored_file(rules, "!bang"));

  const auto reversed = IgnoreRules::parse("!keep.csv\n*.csv\n");
  CHECK(ignored_file(reversed, "keep.csv"));
}

TEST_CASE("'**' matches any number of directories", "[client][ignore]") {
  const auto rules = IgnoreRules::parse("**/checkpoints\nlogs/**\na/**/b.txt\n");

  CHECK(ignored_dir(rules, "checkpoints"));
  CHECK(ignored_dir(rules, "x/y/checkpoints"));
  CHECK(ignored_file(rules, "logs/today.txt"));
  CHECK(ignored_file(rules, "logs/2026/11/today.txt"));
  CHECK_FALSE(ignored_dir(rules, "logs"));
  CHECK(ignored_file(rules, "a/b.txt"));
  CHECK(ignored_file(rules, "a/x/y/b.txt"));
  CHECK_FALSE(ignored_file(rules, "z/a/b.txt"));
}

TEST_CASE("no patterns ignore nothing", "[client][ignore]") {
  const auto rules = IgnoreRules::parse("");
  CHECK_FALSE(ignored_file(rules, "anything"));
}
