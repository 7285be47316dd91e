#include <array>
#include <catch2/catch.hpp>
#include <string_view>

#include "trainctl/util/strings.hpp"

using namespace std::string_view_literals;
using trainctl::util::closest_match;
using trainctl::util::edit_distance;

TEST_CASE("split keeps empty pieces", "[util][strings]") {
  using trainctl::util::split;
  CHECK(split("a.b.c", '.') == std::vector{"a"sv, "b"sv, "c"sv});
  CHECK(split("a..b", '.') == std::vector{"a"sv, ""sv, "b"sv});
  CHECK(split("", '.') == std::vector{""sv});
  CHECK(split(".", '.') == std::vector{""sv, ""sv});
}

TEST_CASE("edit_distance counts single-byte edits", "[util][strings]") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("node_cout", "node_count") == 1);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("flaw", "lawn") == 2);
}

TEST_CASE("closest_match suggests only plausible typos", "[util][strings]") {
  constexpr std::array keys{"node_count"sv, "process_count_per_node"sv, "use_gpu"sv,
                            "entry_script"sv};
  GIVEN("a misspelt key") {
    THEN("the nearest key is suggested") {
      CHECK(closest_match("node_cout", keys) == "node_count");
      CHECK(closest_match("entry_scirpt", keys) == "entry_script");
      CHECK(closest_match("usegpu", keys) == "use_gpu");
    }
  }
  GIVEN("a word unlike every key") {
    THEN("nothing is suggested") {
      CHECK_FALSE(closest_match("colour", keys).has_value());
      CHECK_FALSE(closest_match("x", keys).has_value());
    }
  }
  GIVEN("no candidates") {
    THEN("nothing is suggested") {
      CHECK_FALSE(closest_match("a", std::span<const std::string_view>()).has_value());
    }
  }
}

TEST_CASE("format_size names whole units", "[util][strings]") {
  using trainctl::util::format_size;
  CHECK(format_size(1u << 20) == "1 MiB");
  CHECK(format_size(64u << 10) == "64 KiB");
  CHECK(format_size(1500) == "1500 bytes");
}
