// .trainctlignore patterns: the gitignore rules users already know, in one file and in the files
// of nested directories.
#include <fcntl.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "support/service_fixture.hpp"
#include "trainctl/client/ignore_rules.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/unique_fd.hpp"

using trainctl::client::IgnoreRules;
using trainctl::client::IgnoreTree;
using trainctl::client::IgnoreVerdict;

namespace {
namespace fs = std::filesystem;
bool ignored_file(const IgnoreRules& rules, std::string_view path) {
  return rules.is_ignored(path, false);
}
bool ignored_dir(const IgnoreRules& rules, std::string_view path) {
  return rules.is_ignored(path, true);
}

// A directory tree holding .trainctlignore files, entered the way a depth-first walk does.
class WalkedTree {
 public:
  // Writes `text` as the .trainctlignore of `directory` ("" for the root).
  void ignore_file(const std::string& directory, const std::string& text) {
    fs::create_directories(m_root.path() / directory);
    REQUIRE(trainctl::util::write_file_atomic(m_root.path() / directory / ".trainctlignore", text)
                .has_value());
  }
  // Enters `directory` ("" for the root); returns what IgnoreTree::enter returned.
  trainctl::Result<void> enter(const std::string& directory) {
    fs::create_directories(m_root.path() / directory);
    const trainctl::util::UniqueFd fd(
        ::open((m_root.path() / directory).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(fd);
    return m_tree.enter(fd.get(), directory, m_warnings);
  }
  // Enters the root and then each directory of `path` (not empty) in turn, as a walk would.
  void enter_all(const std::string& path) {
    REQUIRE(enter("").has_value());
    size_t end = 0;
    while (end != std::string::npos) {
      end = path.find('/', end + 1);
      REQUIRE(enter(path.substr(0, end)).has_value());
    }
  }
  bool ignored_file(std::string_view path) const { return m_tree.is_ignored(path, false); }
  bool ignored_dir(std::string_view path) const { return m_tree.is_ignored(path, true); }
  IgnoreTree& tree() { return m_tree; }
  const std::vector<std::string>& warnings() const { return m_warnings; }
  const fs::path& root() const { return m_root.path(); }

 private:
  trainctl::testing::TempDir m_root;
  IgnoreTree m_tree;
  std::vector<std::string> m_warnings;
};
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

TEST_CASE("a verdict says whether a pattern matched at all", "[client][ignore]") {
  const auto rules = IgnoreRules::parse("*.csv\n!keep.csv\n");

  CHECK(rules.verdict("a.csv", false) == IgnoreVerdict::ignored);
  CHECK(rules.verdict("keep.csv", false) == IgnoreVerdict::included);
  CHECK(rules.verdict("a.py", false) == IgnoreVerdict::unmatched);
}

TEST_CASE("a nested .trainctlignore applies below its own directory only",
          "[client][ignore][nested]") {
  GIVEN("a root file ignoring *.log and a file in sub/ ignoring *.tmp") {
    WalkedTree walked;
    walked.ignore_file("", "*.log\n");
    walked.ignore_file("sub", "*.tmp\n");

    WHEN("the walk is inside sub/deep") {
      walked.enter_all("sub/deep");
      THEN("both files apply there") {
        CHECK(walked.ignored_file("sub/deep/a.tmp"));
        CHECK(walked.ignored_file("sub/deep/a.log"));
        CHECK_FALSE(walked.ignored_file("sub/deep/a.py"));
      }
    }
    WHEN("the walk has left sub/ for a sibling") {
      walked.enter_all("sub");
      walked.tree().leave();
      REQUIRE(walked.enter("other").has_value());
      THEN("sub's patterns no longer apply, the root's still do") {
        CHECK_FALSE(walked.ignored_file("other/a.tmp"));
        CHECK(walked.ignored_file("other/a.log"));
      }
    }
  }
}

TEST_CASE("a nested file's slashed patterns are anchored to its directory",
          "[client][ignore][nested]") {
  WalkedTree walked;
  walked.ignore_file("proj", "/build\ncfg/*.secret\n");
  walked.enter_all("proj/cfg");

  CHECK(walked.ignored_dir("proj/build"));
  CHECK_FALSE(walked.ignored_dir("build"));
  CHECK_FALSE(walked.ignored_dir("proj/cfg/build"));
  CHECK(walked.ignored_file("proj/cfg/prod.secret"));
  CHECK_FALSE(walked.ignored_file("proj/x/cfg/prod.secret"));
}

TEST_CASE("a deeper file overrides the files above it", "[client][ignore][nested]") {
  WalkedTree walked;

  SECTION("a '!' below re-includes what the root ignores") {
    walked.ignore_file("", "*.csv\n");
    walked.ignore_file("data", "!keep.csv\n");
    walked.enter_all("data");
    CHECK_FALSE(walked.ignored_file("data/keep.csv"));
    CHECK(walked.ignored_file("data/other.csv"));
  }
  SECTION("a pattern below ignores what the root re-includes") {
    walked.ignore_file("", "*.csv\n!keep.csv\n");
    walked.ignore_file("data", "keep.csv\n");
    walked.enter_all("data");
    CHECK(walked.ignored_file("data/keep.csv"));
  }
  SECTION("a deeper file that matches nothing leaves the decision to the files above") {
    walked.ignore_file("", "*.csv\n");
    walked.ignore_file("data", "*.tmp\n");
    walked.enter_all("data");
    CHECK(walked.ignored_file("data/a.csv"));
  }
}

TEST_CASE("a .trainctlignore that cannot be applied is reported", "[client][ignore][nested]") {
  WalkedTree walked;

  SECTION("no file: nothing is ignored and nothing is said") {
    walked.enter_all("sub");
    CHECK_FALSE(walked.ignored_file("sub/a.log"));
    CHECK(walked.warnings().empty());
  }
  SECTION("a symlink is not followed, with a warning") {
    walked.ignore_file("", "*.log\n");
    fs::create_directories(walked.root() / "sub");
    fs::create_symlink("../.trainctlignore", walked.root() / "sub" / ".trainctlignore");
    walked.enter_all("sub");
    CHECK(walked.ignored_file("sub/a.log"));  // the root's file still applies
    REQUIRE(walked.warnings().size() == 1);
    CHECK_THAT(walked.warnings()[0],
               Catch::Contains("sub/.trainctlignore is not applied: it is a symbolic link"));
  }
  SECTION("a directory of that name is not applied, with a warning") {
    fs::create_directories(walked.root() / "sub" / ".trainctlignore");
    walked.enter_all("sub");
    REQUIRE(walked.warnings().size() == 1);
    CHECK_THAT(walked.warnings()[0], Catch::Contains("not a regular file"));
  }
  SECTION("a file over 1 MiB is an error: the directory is not entered") {
    walked.ignore_file("sub", std::string((1u << 20) + 1, '#'));
    REQUIRE(walked.enter("").has_value());
    const auto entered = walked.enter("sub");
    REQUIRE_FALSE(entered.has_value());
    CHECK_THAT(entered.error().message, Catch::Contains("sub/.trainctlignore is over the limit"));
  }
}

// Found by fuzzing: a pattern of many `**` components tried every split of the path at each, an
// exponential walk (15 s for one line of a .trainctlignore); it now takes a few steps per pair.
TEST_CASE("a pattern of many ** components is decided at once, with git's meaning", "[client][ignore]") {
  std::string pattern = "a";
  for (int i = 0; i < 40; ++i) pattern += "/**";
  pattern += "/z";
  std::string deep = "a";
  for (int i = 0; i < 40; ++i) deep += "/d" + std::to_string(i);
  const auto rules = IgnoreRules::parse(pattern + "\n");
  CHECK(rules.is_ignored(deep + "/z", false));
  CHECK_FALSE(rules.is_ignored(deep + "/y", false));
  const auto ending = IgnoreRules::parse("a/**\n");
  CHECK(ending.is_ignored("a/b", false));
  CHECK_FALSE(ending.is_ignored("a", true));
  const auto middle = IgnoreRules::parse("a/**/b\n");
  CHECK(middle.is_ignored("a/b", false));
  CHECK(middle.is_ignored("a/x/y/b", false));
  CHECK_FALSE(middle.is_ignored("a/x/c", false));
}
