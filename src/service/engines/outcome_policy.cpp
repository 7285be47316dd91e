#include "trainctl/service/engines/outcome_policy.hpp"

#include <string.h>  // sigabbrev_np

#include <algorithm>

#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/spec/launch_plan.hpp"

namespace trainctl::service::engines {

namespace {

namespace role = spec::task_role;

// Failed to start, exited non-zero or died by a signal. A task stopped by the run (state
// "stopped") never counts, whatever its exit code.
bool ended_badly(const TaskObservation& task) {
  if (task.state == task_state::k_failed_to_start || task.state == task_state::k_killed)
    return true;
  return task.state == task_state::k_exited && task.exit_code.value_or(0) != 0;
}

bool exited_zero(const TaskObservation& task) {
  return task.state == task_state::k_exited && task.exit_code.value_or(0) == 0;
}

// The task that ended badly earliest (plan order breaks ties), or nullptr.
const TaskObservation* first_failure(std::span<const TaskObservation> tasks) {
  const TaskObservation* first = nullptr;
  for (const auto& task : tasks) {
    if (ended_badly(task) && (first == nullptr || task.ended_at_ms < first->ended_at_ms)) {
      first = &task;
    }
  }
  return first;
}

RunVerdict failed_by(const TaskObservation& task) {
  return {api::RunStatus::Failed, task.exit_code, describe_task_end(task), task.name};
}

RunVerdict completed() {
  return {api::RunStatus::Completed, 0, "", ""};
}

// The verdict of a run that succeeds once every task of `deciders` exited 0: Failed by the first
// failure unless the deciders had all succeeded before it, Completed once they all did.
std::optional<RunVerdict> decided_by(std::span<const TaskObservation> tasks,
                                     std::span<const TaskObservation* const> deciders) {
  const TaskObservation* failure = first_failure(tasks);
  const bool succeeded =
      std::ranges::all_of(deciders, [](const auto* task) { return exited_zero(*task); });
  if (succeeded) {
    int64_t succeeded_at_ms = 0;
    for (const auto* task : deciders)
      succeeded_at_ms = std::max(succeeded_at_ms, task->ended_at_ms);
    if (failure == nullptr || failure->ended_at_ms >= succeeded_at_ms) return completed();
  }
  if (failure != nullptr) return failed_by(*failure);
  return std::nullopt;
}

}  // namespace

std::string describe_process_end(std::string_view who, const TaskObservation& process) {
  if (process.signal) {
    const char* name = sigabbrev_np(*process.signal);
    return fmt::format("{} was killed by signal {} (SIG{})", who, *process.signal,
                       name != nullptr ? name : "?");
  }
  return fmt::format("{} exited with code {}", who, process.exit_code.value_or(0));
}

std::string describe_task_end(const TaskObservation& task) {
  if (task.state == task_state::k_failed_to_start) return task.message;
  return describe_process_end(fmt::format("task '{}'", task.name), task);
}

std::optional<RunVerdict> all_tasks_succeed(std::span<const TaskObservation> tasks) {
  if (const auto* failure = first_failure(tasks)) return failed_by(*failure);
  if (std::ranges::all_of(tasks, exited_zero)) return completed();
  return std::nullopt;
}

std::optional<RunVerdict> chief_succeeds(std::span<const TaskObservation> tasks) {
  auto chief = std::ranges::find(tasks, role::k_chief, &TaskObservation::role);
  if (chief == tasks.end()) {
    chief = std::ranges::find_if(
        tasks, [](const auto& task) { return task.role == role::k_worker && task.index == 0; });
  }
  if (chief == tasks.end()) return all_tasks_succeed(tasks);  // no coordinator: everyone decides
  const TaskObservation* deciders[] = {&*chief};
  return decided_by(tasks, deciders);
}

std::optional<RunVerdict> all_workers_succeed(std::span<const TaskObservation> tasks) {
  std::vector<const TaskObservation*> deciders;
  for (const auto& task : tasks) {
    if (task.role == role::k_chief || task.role == role::k_worker) deciders.push_back(&task);
  }
  if (deciders.empty()) return all_tasks_succeed(tasks);
  return decided_by(tasks, deciders);
}

OutcomePolicy policy_for(std::string_view success_rule) {
  if (success_rule == spec::success_rule::k_chief) return chief_succeeds;
  if (success_rule == spec::success_rule::k_all_workers) return all_workers_succeed;
  return all_tasks_succeed;
}

}  // namespace trainctl::service::engines
