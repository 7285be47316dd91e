#pragma once
// The merged view of a run's logs: each line of a task's log is printed with the task's name in
// front ("[worker-1] loss 0.31"), so the lines of several tasks can be told apart.
#include <set>
#include <string>
#include <string_view>

namespace trainctl::cli {

class LogPrefixer {
 public:
  // Whether the lines of `task` get a prefix in the merged view: every task but "main", the
  // only task of a run without a distributed backend.
  static bool prefixes(std::string_view task);

  // `data`, the next bytes of `task`'s log, with "[task] " at the start of each of its lines.
  // A line is prefixed once: the rest of a line that an earlier call left unfinished (no
  // newline yet) is not prefixed again. Each task's line starts are tracked on their own.
  std::string apply(std::string_view task, std::string_view data);

 private:
  std::set<std::string, std::less<>> m_mid_line;  // tasks whose last bytes did not end a line
};

}  // namespace trainctl::cli
