// The items of a batch: --matrix combinations and --from-file lines.
#include <catch2/catch.hpp>

#include "trainctl/cli/commands/submit_batch.hpp"

using trainctl::ErrorCode;
using trainctl::cli::combine;
using trainctl::cli::matrix_sets;
using trainctl::cli::override_lines;
using trainctl::cli::OverrideSet;
using Strings = std::vector<std::string>;

namespace {

std::vector<Strings> overrides_of(const std::vector<OverrideSet>& sets) {
  std::vector<Strings> all;
  for (const auto& set : sets) all.push_back(set.overrides);
  return all;
}

}  // namespace

TEST_CASE("batch: --matrix makes a run per combination, the first key varying slowest", "[cli][batch]") {
  GIVEN("two keys of two and three values") {
    const auto sets = matrix_sets({"a=1,2", "b=x,y,z"});
    REQUIRE(sets);
    THEN("six sets in order, each labelled with its values") {
      CHECK(overrides_of(*sets) == std::vector<Strings>{{"a=1", "b=x"}, {"a=1", "b=y"},
                                                        {"a=1", "b=z"}, {"a=2", "b=x"},
                                                        {"a=2", "b=y"}, {"a=2", "b=z"}});
      CHECK((*sets)[4].label == "a=2 b=y");
    }
  }
  GIVEN("a value holding an escaped comma and a dotted key with dashes") {
    const auto sets = matrix_sets({R"(estimator.script_params.--layers=1\,2,3)"});
    REQUIRE(sets);
    THEN("the escaped comma stays in its value") {
      CHECK(overrides_of(*sets) == std::vector<Strings>{{"estimator.script_params.--layers=1,2"},
                                                        {"estimator.script_params.--layers=3"}});
    }
  }
  GIVEN("no --matrix") {
    THEN("no sets") { CHECK(matrix_sets({})->empty()); }
  }
  GIVEN("entries without '=', without a key or values, or a key twice") {
    THEN("each is a usage error naming it") {
      for (const Strings& matrix : std::vector<Strings>{{"a"}, {"=1,2"}, {"a="}, {"a=1", "a=2"}}) {
        const auto sets = matrix_sets(matrix);
        REQUIRE_FALSE(sets);
        CHECK(sets.error().code == ErrorCode::usage);
        CHECK_THAT(sets.error().message, Catch::Contains("--matrix " + matrix.back()));
      }
    }
  }
}

TEST_CASE("batch: --from-file makes a run per line of overrides", "[cli][batch]") {
  GIVEN("key=value lines, a JSON line, comments and blank lines") {
    const auto sets = override_lines(
        "# learning rates\n"
        "a=1 b=x\n"
        "\n"
        "   \t\n"
        "  # indented comment\n"
        "{\"a\": 0.5, \"b\": \"two words\", \"c\": [1, 2], \"d\": true}\n"
        "a='quoted value' b=\"x y\"\r\n",
        "params.txt");
    REQUIRE(sets);
    THEN("one set per line that holds overrides, labelled with the file and line") {
      CHECK(overrides_of(*sets) ==
            std::vector<Strings>{{"a=1", "b=x"},
                                 {"a=0.5", "b=\"two words\"", "c=[1,2]", "d=true"},
                                 {"a=quoted value", "b=x y"}});
      CHECK((*sets)[0].label == "params.txt:2");
      CHECK((*sets)[1].label == "params.txt:6");
      CHECK((*sets)[2].label == "params.txt:7");
    }
  }
  GIVEN("a text without a final newline") {
    THEN("its last line counts") { CHECK(override_lines("a=1\na=2", "-")->size() == 2); }
  }
  GIVEN("lines that are neither key=value words nor a JSON object") {
    THEN("a usage error naming the file and line") {
      for (const char* text : {"a=1\nnot-an-override\n", "a=1\n{\"a\": 1\n", "a=1\n{\"\": 1}\n",
                               "a=1\na='open\n", "a=1\n=2\n"}) {
        const auto sets = override_lines(text, "params.txt");
        REQUIRE_FALSE(sets);
        CHECK(sets.error().code == ErrorCode::usage);
        CHECK_THAT(sets.error().message, Catch::StartsWith("params.txt:2:"));
      }
    }
  }
}

TEST_CASE("batch: --from-file lines and --matrix combinations combine", "[cli][batch]") {
  const std::vector<OverrideSet> lines{{{"a=1"}, "f:1"}, {{"a=2"}, "f:2"}};
  const std::vector<OverrideSet> matrix{{{"b=x"}, "b=x"}, {{"b=y"}, "b=y"}};
  GIVEN("both") {
    const auto sets = combine(lines, matrix);
    THEN("every line with every combination, lines varying slowest") {
      CHECK(overrides_of(sets) == std::vector<Strings>{{"a=1", "b=x"}, {"a=1", "b=y"},
                                                       {"a=2", "b=x"}, {"a=2", "b=y"}});
      CHECK(sets[1].label == "f:1 b=y");
    }
  }
  GIVEN("one of them empty") {
    THEN("the other alone") { CHECK(combine({}, matrix) == matrix); }
  }
  GIVEN("neither") {
    THEN("one empty set: a run per document") { CHECK(combine({}, {}) == std::vector<OverrideSet>(1)); }
  }
}
