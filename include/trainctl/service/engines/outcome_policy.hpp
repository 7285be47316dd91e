#pragma once
// How a run's outcome follows from its tasks. One pure function per policy, so a backend with
// another rule (parameter server: the chief decides) is one more function, not a new supervisor.
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "trainctl/api/run_status.hpp"
#include "trainctl/service/engine.hpp"

namespace trainctl::service::engines {

struct RunVerdict {
  api::RunStatus outcome = api::RunStatus::Failed;
  std::optional<int> exit_code;
  std::string reason;             // empty when Completed
  std::string first_failed_task;  // the task whose end failed the run, when one did
};

// A policy: the run's verdict from its tasks' states so far, or nullopt while undecided.
using OutcomePolicy = std::optional<RunVerdict> (*)(std::span<const TaskObservation> tasks);

// Every task must succeed (single process, mpirun, PyTorch ranks): Failed as soon as a task
// failed to start, exited non-zero or died by a signal, with the exit code and a reason naming
// the task that ended first that way; Completed (exit code 0) once every task exited 0;
// nullopt while undecided.
std::optional<RunVerdict> all_tasks_succeed(std::span<const TaskObservation> tasks);

// Parameter server, success_rule chief: Completed once the chief (or worker-0 when there is no
// chief) exited 0; Failed as soon as any task failed to start, exited non-zero or died by a
// signal first (state "stopped" never counts as a failure); nullopt while undecided.
std::optional<RunVerdict> chief_succeeds(std::span<const TaskObservation> tasks);

// Parameter server, success_rule all_workers: Completed once the chief (if any) and every
// worker exited 0; failures as chief_succeeds.
std::optional<RunVerdict> all_workers_succeed(std::span<const TaskObservation> tasks);

// The policy of a plan's LaunchPlan::success value (all_tasks when unknown).
OutcomePolicy policy_for(std::string_view success_rule);

// "task 'main' exited with code 3", "task 'main' was killed by signal 9 (SIGKILL)", or the
// task's own message when it failed to start.
std::string describe_task_end(const TaskObservation& task);

// "<who> exited with code 3" or "<who> was killed by signal 9 (SIGKILL)", from the exit code and
// signal of an ended process (the launcher's, e.g. who = "mpirun").
std::string describe_process_end(std::string_view who, const TaskObservation& process);

}  // namespace trainctl::service::engines
