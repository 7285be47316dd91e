#pragma once
// The linear pre-scan run before yaml-cpp parses a text (internal to the spec library).
#include <optional>
#include <string>
#include <string_view>

namespace trainctl::spec {

struct PrescanProblem {
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string message;
};

// Finds, in one pass over `text` with constant memory per nesting level, what yaml-cpp handles
// badly: nesting deeper than `max_depth` (its parser recurses, and overflows the stack on deep
// input), a quoted string never closed (it silently takes the rest of the file), and tabs used
// for indentation. Brackets, quotes and indicators inside comments, quoted strings and block
// scalars do not count. Returns the first problem, or nothing.
std::optional<PrescanProblem> prescan_yaml(std::string_view text, int max_depth);

}  // namespace trainctl::spec
