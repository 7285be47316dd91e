#pragma once
// The debug lines of `--verbose`, on stderr as "debug: ...". The CLI's own: a logging library
// would be loaded at every start of the program for a handful of lines that only --verbose prints.
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace trainctl::cli {

void enable_debug_log(bool enabled);
bool debug_log_enabled();
void write_debug_line(std::string_view line);

template <typename... Args>
void debug_log(fmt::format_string<Args...> format, Args&&... args) {
  if (debug_log_enabled()) write_debug_line(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace trainctl::cli
