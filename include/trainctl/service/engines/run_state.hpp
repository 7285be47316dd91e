#pragma once
// The local engine's run directory: the files the engine and a run's supervisor share, and the
// state file (state.json) the supervisor rewrites atomically at every change. Everything needed
// to observe, cancel or recover a run is in these files, so any trainctld instance can pick up a
// run that another one started (docs/engines.md).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trainctl/service/engine.hpp"
#include "trainctl/service/process_tree.hpp"
#include "trainctl/util/error.hpp"
#include "trainctl/util/fs.hpp"

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
inline constexpr std::string_view k_stopped = "stopped";  // ended while the run was being stopped
}  // namespace task_state

// What the supervisor records about a run.
struct RunState {
  std::string boot_id;         // the machine boot the pids below belong to
  ProcessIdentity supervisor;  // the process driving the run
  RunObservation observation;
  // The process group of each task, index-aligned with observation.tasks ({} until started). A
  // task the supervisor starts leads its own, whose id is the task's pid; an MPI rank runs in
  // its `trainctld rank` wrapper's (the wrapper's pid).
  std::vector<ProcessIdentity> task_processes;
  // backend mpi: mpirun's process and how it ended ({} / nullopt until then).
  ProcessIdentity launcher_process;
  std::optional<TaskObservation> launcher;
  // Why the run's processes were stopped from outside trainctl, when they were: Slurm signalled
  // its job (an administrator's scancel, a time limit, a preemption). Set by a node's agent from
  // that signal on, in every state it sends, so that the tasks killed by it are never taken for
  // a failure of the run (node_states.hpp). Empty otherwise.
  std::string stopped_outside;
};

// The plan's tasks as they stand before any has started: in plan order, every one pending.
std::vector<TaskObservation> pending_tasks(const spec::LaunchPlan& plan);

nlohmann::json to_json(const RunState& state);
Result<RunState> run_state_from_json(const nlohmann::json& json);

// Reads <run_dir>/state.json; not_found when the supervisor has not written it yet.
Result<RunState> read_run_state(const std::filesystem::path& run_dir);
// Replaces <run_dir>/state.json atomically.
Result<void> write_run_state(const std::filesystem::path& run_dir, const RunState& state,
                             util::Sync sync = util::Sync::now);
// write_run_state for the run's final state, which must not be lost: on a full disk
// (insufficient_storage) it is tried again, every 250 ms doubling to 5 s, until there is space
// (the supervisor, and so the run, stays alive meanwhile), or until the run directory is gone.
// Other failures are returned at once.
Result<void> write_final_run_state(const std::filesystem::path& run_dir, const RunState& state);

// What `trainctld rank` writes for the rank it wraps, replaced atomically at its start and its
// end: <status_dir>/<name>.json with name, state (running | exited | killed | failed_to_start |
// stopped), pid, exit_code, signal, started_at_ms, ended_at_ms and message, the same keys as
// TaskObservation. `stopped` means the wrapper had been asked to stop (SIGTERM/SIGINT/SIGHUP
// from mpirun or the supervisor) before its rank ended.
Result<void> write_task_report(const std::filesystem::path& status_dir, const TaskObservation& task);
// not_found until the rank has written one.
Result<TaskObservation> read_task_report(const std::filesystem::path& status_dir,
                                         std::string_view name);

// The body of `trainctld rank --status-dir D --logs-dir L --ranks-per-node P -- ARGV...`, run by
// mpirun for every rank of an MPI run: names the rank rank-<OMPI_COMM_WORLD_RANK>, sets
// TRAINCTL_TASK and TRAINCTL_NODE_RANK (rank / P), sends the rank's output to L/<name>.log,
// reports in D, forwards SIGTERM/SIGINT/SIGHUP to it, and ends as it ended (same exit code, or
// the same signal) so mpirun sees the rank's real outcome. Returns the process exit code.
int run_rank_wrapper(int argc, char** argv);

}  // namespace trainctl::service::engines
