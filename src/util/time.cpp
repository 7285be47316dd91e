#include "trainctl/util/time.hpp"

#include <ctime>

namespace trainctl::util {

int64_t now_unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string format_rfc3339(int64_t unix_ms) {
  const time_t seconds = static_cast<time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, unix_ms % 1000);
}

std::optional<int64_t> parse_rfc3339(std::string_view text) {
  std::tm tm{};
  int millis = 0;
  const std::string copy(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  const int matched = std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &year, &month, &day,
                                  &hour, &minute, &second, &millis);
  if (matched < 6) return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + (matched == 7 ? millis : 0);
}

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty()) return fail(ErrorCode::invalid_argument, "empty duration");
  int64_t total = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    int64_t number = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      number = number * 10 + (text[i] - '0');
      if (number > 100'000'000) {
        return fail(ErrorCode::invalid_argument, "duration '{}' is too long", text);
      }
      ++i;
      ++digits;
    }
    if (digits == 0) {
      return fail(ErrorCode::invalid_argument,
                  "invalid duration '{}': use a number with s, m, h or d, e.g. 90m or 2h", text);
    }
    int64_t unit = 1;
    if (i < text.size()) {
      switch (text[i]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default:
          return fail(ErrorCode::invalid_argument,
                      "invalid duration '{}': use a number with s, m, h or d, e.g. 90m or 2h", text);
      }
      ++i;
    } else if (any) {
      return fail(ErrorCode::invalid_argument, "invalid duration '{}': a unit is missing", text);
    }
    total += number * unit;
    any = true;
  }
  return std::chrono::seconds(total);
}

std::string format_duration_ms(int64_t ms) {
  if (ms < 0) ms = 0;
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms < 60'000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  const int64_t seconds = ms / 1000;
  if (seconds < 3600) return fmt::format("{}m{:02}s", seconds / 60, seconds % 60);
  return fmt::format("{}h{:02}m{:02}s", seconds / 3600, (seconds / 60) % 60, seconds % 60);
}

}  // namespace trainctl::util
