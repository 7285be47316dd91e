#include "trainctl/service/engines/outcome_policy.hpp"

#include <string.h>  // sigabbrev_np

#include <algorithm>

#include "trainctl/service/engines/run_state.hpp"

namespace trainctl::service::engines {

namespace {

bool ended_badly(const TaskObservation& task) {
  if (task.state == task_state::k_failed_to_start || task.state == task_state::k_killed)
    return true;
  return task.state == task_state::k_exited && task.exit_code.value_or(0) != 0;
}

}  // namespace

std::string describe_task_end(const TaskObservation& task) {
  if (task.state == task_state::k_failed_to_start) return task.message;
  if (task.signal) {
    const char* name = sigabbrev_np(*task.signal);
    return fmt::format("task '{}' was killed by signal {} (SIG{})", task.name, *task.signal,
                       name != nullptr ? name : "?");
  }
  return fmt::format("task '{}' exited with code {}", task.name, task.exit_code.value_or(0));
}

std::optional<RunVerdict> all_tasks_succeed(std::span<const TaskObservation> tasks) {
  const TaskObservation* first_failure = nullptr;
  for (const auto& task : tasks) {
    if (ended_badly(task) &&
        (first_failure == nullptr || task.ended_at_ms < first_failure->ended_at_ms)) {
      first_failure = &task;
    }
  }
  if (first_failure != nullptr) {
    return RunVerdict{api::RunStatus::Failed, first_failure->exit_code,
                      describe_task_end(*first_failure)};
  }
  const bool all_exited = std::ranges::all_of(
      tasks, [](const auto& task) { return task.state == task_state::k_exited; });
  if (all_exited) return RunVerdict{api::RunStatus::Completed, 0, ""};
  return std::nullopt;
}

}  // namespace trainctl::service::engines
