#include <catch2/catch.hpp>

#include "trainctl/util/time.hpp"

using trainctl::util::parse_duration;

TEST_CASE("Durations parse as users write them", "[util][time]") {
  CHECK(parse_duration("90")->count() == 90);
  CHECK(parse_duration("90s")->count() == 90);
  CHECK(parse_duration("15m")->count() == 900);
  CHECK(parse_duration("2h")->count() == 7200);
  CHECK(parse_duration("1d")->count() == 86400);
  CHECK(parse_duration("1h30m")->count() == 5400);
  GIVEN("text that is not a duration") {
    THEN("it is refused with a hint") {
      for (const char* text : {"", "h", "2 h", "2x", "1h30", "-5"}) {
        INFO(text);
        const auto parsed = parse_duration(text);
        REQUIRE_FALSE(parsed.has_value());
        CHECK(parsed.error().code == trainctl::ErrorCode::invalid_argument);
      }
    }
  }
}

TEST_CASE("RFC 3339 times round-trip with milliseconds", "[util][time]") {
  using trainctl::util::format_rfc3339;
  using trainctl::util::parse_rfc3339;
  CHECK(format_rfc3339(0) == "1970-01-01T00:00:00.000Z");
  const int64_t moment = 1'795'262'400'123;
  CHECK(parse_rfc3339(format_rfc3339(moment)) == moment);
  CHECK(parse_rfc3339("2026-11-21T10:00:00Z") == parse_rfc3339("2026-11-21T10:00:00.000Z"));
  CHECK_FALSE(parse_rfc3339("yesterday").has_value());
}

TEST_CASE("Durations print short and human", "[util][time]") {
  using trainctl::util::format_duration_ms;
  CHECK(format_duration_ms(850) == "850ms");
  CHECK(format_duration_ms(4200) == "4.2s");
  CHECK(format_duration_ms(125'000) == "2m05s");
  CHECK(format_duration_ms(3'723'000) == "1h02m03s");
  CHECK(format_duration_ms(-5) == "0ms");
}
