#pragma once
// How a run's outcome follows from its tasks. One pure function per policy, so a backend with
// another rule (parameter server: the chief decides) is one more function, not a new supervisor.
#include <optional>
#include <span>
#include <string>

#include "trainctl/api/run_status.hpp"
#include "trainctl/service/engine.hpp"

namespace trainctl::service::engines {

struct RunVerdict {
  api::RunStatus outcome = api::RunStatus::Failed;
  std::optional<int> exit_code;
  std::string reason;  // empty when Completed
};

// A policy: the run's verdict from its tasks' states so far, or nullopt while undecided.
using OutcomePolicy = std::optional<RunVerdict> (*)(std::span<const TaskObservation> tasks);

// Every task must succeed (single process, mpirun, PyTorch ranks): Failed as soon as a task
// failed to start, exited non-zero or died by a signal, with the exit code and a reason naming
// the task that ended first that way; Completed (exit code 0) once every task exited 0;
// nullopt while undecided.
std::optional<RunVerdict> all_tasks_succeed(std::span<const TaskObservation> tasks);

// "task 'main' exited with code 3", "task 'main' was killed by signal 9 (SIGKILL)", or the
// task's own message when it failed to start.
std::string describe_task_end(const TaskObservation& task);

}  // namespace trainctl::service::engines
