#pragma once
// Retries (docs/job-spec.md, Retries): whether a finished attempt of a run is made again, and
// what the run keeps of an attempt that was retried. Pure functions: the run manager calls them
// when an attempt ends, and archives the attempt's files (archive_attempt, run_files.hpp).
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "trainctl/service/engine.hpp"
#include "trainctl/spec/job_spec.hpp"

namespace trainctl::service {

// The exit class of an ended process: 128 + signal when a signal ended it, else its exit code;
// nullopt when it has neither (it never ran).
std::optional<int> exit_class(const TaskObservation& task);

// Why attempt `attempt` (1-based) of a run is made again, for the user ("task 'rank-1' was
// killed by signal 9 (SIGKILL), exit class 137"), or nullopt when it is not. It is retried
// only when all of these hold:
//   - the attempt ended Failed (never TimedOut, Canceled or Completed);
//   - retries are left: attempt <= limits.max_retries;
//   - a task's end failed it (first_failed_task), and that task ran: a task that failed to
//     start, or a failure with no task exit (preparation, a lost supervisor), is final;
//   - that task's exit class is 128-255 (a signal, an OOM kill), or 1-127 and listed in
//     limits.retry_on_exit_codes.
std::optional<std::string> retry_reason(const spec::Limits& limits, int attempt,
                                        const RunObservation& finished);

// The run's record of a retried attempt (an entry of the run resource's `attempts`):
// {"attempt", "status", "exit_code", "signal", "reason", "first_failed_task", "started_at",
// "ended_at", "tasks"}. exit_code and signal are the failing task's (null when none); the times
// are RFC 3339 (null when unknown); `tasks` is the attempt's tasks as the run resource shows
// them (run.tasks).
nlohmann::json attempt_json(int attempt, const RunObservation& finished, nlohmann::json tasks);

}  // namespace trainctl::service
