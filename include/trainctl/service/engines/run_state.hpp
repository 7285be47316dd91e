#pragma once
// The local engine's run directory: the files the engine and a run's supervisor share, and the
// state file (state.json) the supervisor rewrites atomically at every change. Everything needed
// to observe, cancel or recover a run is in these files, so any trainctld instance can pick up a
// run that another one started (docs/engines.md).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "trainctl/service/engine.hpp"
#include "trainctl/service/process_tree.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::engines {

inline constexpr std::string_view k_launch_file = "launch.json";        // spec::LaunchPlan
inline constexpr std::string_view k_state_file = "state.json";          // RunState
inline constexpr std::string_view k_cancel_file = "cancel";             // present: cancel asked
inline constexpr std::string_view k_supervisor_log = "supervisor.log";  // the supervisor's output

// TaskObservation::state values.
namespace task_state {
inline constexpr std::string_view k_pending = "pending";
inline constexpr std::string_view k_running = "running";
inline constexpr std::string_view k_exited = "exited";  // exit_code set
inline constexpr std::string_view k_killed = "killed";  // signal set, exit_code 128 + signal
inline constexpr std::string_view k_failed_to_start = "failed_to_start";  // message says why
}  // namespace task_state

// What the supervisor records about a run.
struct RunState {
  std::string boot_id;         // the machine boot the pids below belong to
  ProcessIdentity supervisor;  // the process driving the run
  RunObservation observation;
  // The process of each task, index-aligned with observation.tasks ({} until started). Each
  // task leads its own process group, whose id is the task's pid.
  std::vector<ProcessIdentity> task_processes;
};

nlohmann::json to_json(const RunState& state);
Result<RunState> run_state_from_json(const nlohmann::json& json);

// Reads <run_dir>/state.json; not_found when the supervisor has not written it yet.
Result<RunState> read_run_state(const std::filesystem::path& run_dir);
// Replaces <run_dir>/state.json atomically.
Result<void> write_run_state(const std::filesystem::path& run_dir, const RunState& state);

}  // namespace trainctl::service::engines
