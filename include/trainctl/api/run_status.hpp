#pragma once
// The run lifecycle (docs/runs.md), shared by the service, the engines and the CLI.
#include <optional>
#include <string_view>

namespace trainctl::api {

enum class RunStatus {
  NotStarted,
  Queued,
  Preparing,
  Starting,
  Running,
  Finalizing,
  CancelRequested,
  Completed,
  Failed,
  Canceled,
  TimedOut,  // ended by limits.max_run_duration
};

std::string_view to_string(RunStatus status);
std::optional<RunStatus> parse_run_status(std::string_view text);  // exact, case-sensitive names
bool is_terminal(RunStatus status);
// The CLI exit code for a run that ended in `status` (0 completed, 3 failed, 4 canceled,
// 5 timed out); 1 for a status that is not terminal.
int exit_code_for_outcome(RunStatus status);

}  // namespace trainctl::api
