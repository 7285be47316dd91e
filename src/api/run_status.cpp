#include "trainctl/api/run_status.hpp"

#include <array>
#include <utility>

#include "trainctl/util/error.hpp"

namespace trainctl::api {

namespace {
constexpr std::array<std::pair<RunStatus, std::string_view>, 11> k_names{{
    {RunStatus::NotStarted, "NotStarted"},
    {RunStatus::Queued, "Queued"},
    {RunStatus::Preparing, "Preparing"},
    {RunStatus::Starting, "Starting"},
    {RunStatus::Running, "Running"},
    {RunStatus::Finalizing, "Finalizing"},
    {RunStatus::CancelRequested, "CancelRequested"},
    {RunStatus::Completed, "Completed"},
    {RunStatus::Failed, "Failed"},
    {RunStatus::Canceled, "Canceled"},
    {RunStatus::TimedOut, "TimedOut"},
}};
}  // namespace

std::string_view to_string(RunStatus status) {
  for (const auto& [value, name] : k_names) {
    if (value == status) return name;
  }
  return "Unknown";
}

std::optional<RunStatus> parse_run_status(std::string_view text) {
  for (const auto& [value, name] : k_names) {
    if (name == text) return value;
  }
  return std::nullopt;
}

bool is_terminal(RunStatus status) {
  return status == RunStatus::Completed || status == RunStatus::Failed ||
         status == RunStatus::Canceled || status == RunStatus::TimedOut;
}

int exit_code_for_outcome(RunStatus status) {
  switch (status) {
    case RunStatus::Completed: return exit_code::k_success;
    case RunStatus::Failed: return exit_code::k_run_failed;
    case RunStatus::Canceled: return exit_code::k_run_canceled;
    case RunStatus::TimedOut: return exit_code::k_run_timed_out;
    default: return exit_code::k_error;
  }
}

}  // namespace trainctl::api
