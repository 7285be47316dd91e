#pragma once
// The linear pre-scan run before libyaml parses a text (internal to the spec library).
#include <optional>
#include <string>
#include <string_view>

namespace trainctl::spec {

struct PrescanProblem {
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string message;
};

// Finds, in one pass over `text` with constant memory per nesting level, what a parser reports
// badly or not at all: nesting deeper than `max_depth` (the document tree and its readers
// recurse), a quoted string never closed (a parser finds out at the end of the file, not at the
// quote), and tabs used for indentation. Brackets, quotes and indicators inside comments, quoted
// strings and block scalars do not count. Returns the first problem, or nothing.
std::optional<PrescanProblem> prescan_yaml(std::string_view text, int max_depth);

}  // namespace trainctl::spec
