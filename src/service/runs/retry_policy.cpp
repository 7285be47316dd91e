#include "trainctl/service/runs/retry_policy.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "trainctl/service/engines/outcome_policy.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service {

namespace {

constexpr int k_signal_exit_base = 128;  // a shell's exit status for "ended by signal N"
constexpr int k_max_exit_class = 255;

// The task whose end failed the run, or nullptr when no task's did.
const TaskObservation* failing_task(const RunObservation& finished) {
  if (finished.first_failed_task.empty()) return nullptr;
  const auto it = std::ranges::find(finished.tasks, finished.first_failed_task,
                                    &TaskObservation::name);
  return it == finished.tasks.end() ? nullptr : &*it;
}

bool listed(const std::vector<int>& codes, int code) {
  return std::ranges::find(codes, code) != codes.end();
}

// Why an exit class is retryable under `limits`, or nullopt when it is not.
std::optional<std::string> retryable_because(const spec::Limits& limits, int code) {
  if (code >= k_signal_exit_base && code <= k_max_exit_class) {
    return fmt::format("exit class {}", code);
  }
  if (code > 0 && code < k_signal_exit_base && listed(limits.retry_on_exit_codes, code)) {
    return fmt::format("exit class {}, listed in retry_on_exit_codes", code);
  }
  return std::nullopt;
}

nlohmann::json optional_time(int64_t unix_ms) {
  return unix_ms > 0 ? nlohmann::json(util::format_rfc3339(unix_ms)) : nlohmann::json(nullptr);
}

template <typename T>
nlohmann::json optional_value(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

std::optional<int> exit_class(const TaskObservation& task) {
  if (task.signal) return k_signal_exit_base + *task.signal;
  return task.exit_code;
}

std::optional<std::string> retry_reason(const spec::Limits& limits, int attempt,
                                        const RunObservation& finished) {
  if (finished.outcome != api::RunStatus::Failed || attempt > limits.max_retries) {
    return std::nullopt;
  }
  const TaskObservation* task = failing_task(finished);
  if (task == nullptr || task->state == engines::task_state::k_failed_to_start) return std::nullopt;
  const auto code = exit_class(*task);
  if (!code) return std::nullopt;
  const auto because = retryable_because(limits, *code);
  if (!because) return std::nullopt;
  return fmt::format("{}, {}", engines::describe_task_end(*task), *because);
}

nlohmann::json attempt_json(int attempt, const RunObservation& finished, nlohmann::json tasks) {
  const TaskObservation* task = failing_task(finished);
  return {{"attempt", attempt},
          {"status", api::to_string(finished.outcome)},
          {"exit_code", optional_value(finished.exit_code)},
          {"signal", task != nullptr ? optional_value(task->signal) : nullptr},
          {"reason", finished.reason},
          {"first_failed_task", finished.first_failed_task},
          {"started_at", optional_time(finished.started_at_ms)},
          {"ended_at", optional_time(finished.ended_at_ms)},
          {"tasks", std::move(tasks)}};
}

}  // namespace trainctl::service
