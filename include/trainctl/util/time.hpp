#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "trainctl/util/error.hpp"

namespace trainctl::util {

// Milliseconds since the Unix epoch, from the system clock.
int64_t now_unix_ms();
// RFC 3339 UTC with milliseconds: "2026-11-21T10:00:00.123Z".
std::string format_rfc3339(int64_t unix_ms);
std::optional<int64_t> parse_rfc3339(std::string_view text);
// Durations as users write them: "90", "90s", "15m", "2h", "1d", "1h30m". Bare numbers are seconds.
Result<std::chrono::seconds> parse_duration(std::string_view text);
// "1h02m03s", "4.2s", "850ms": short and human.
std::string format_duration_ms(int64_t ms);

// The clock as a side effect, so tests can fake it.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_unix_ms() const = 0;
};
class SystemClock final : public Clock {
 public:
  int64_t now_unix_ms() const override { return util::now_unix_ms(); }
};

}  // namespace trainctl::util
