// The local engine: each run is driven by its own supervisor process (`trainctld supervise`), and
// the engine only talks to it through the run directory and signals (docs/engines.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "trainctl/service/engine.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/process.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service {

namespace engines {

namespace {

constexpr int64_t k_supervisor_start_timeout_ms = 10'000;
constexpr auto k_start_poll_interval = std::chrono::milliseconds(1);
constexpr std::string_view k_supervisor_died = "the run's supervisor died unexpectedly";


bool is_alive(pid_t pid) {
  const auto info = read_process_info(pid);
  return info && !info->is_zombie();
}

// Runs `<program> supervise <run_dir>` detached from the caller (a new session, re-parented away
// from the service, so it outlives a service restart), stdin /dev/null, stdout and stderr
// appended to <run>/supervisor.log, and an empty environment (the tasks get exactly their
// plan's). Returns the supervisor's pid once it runs the program.
Result<pid_t> spawn_supervisor(const std::filesystem::path& program,
                               const std::filesystem::path& run_dir) {
  const auto log = util::open_fd(run_dir / k_supervisor_log, O_WRONLY | O_CREAT | O_APPEND);
  if (!log) return fail(log.error());
  const auto supervisor = util::start_process({
      .argv = {program.string(), "supervise", run_dir.string()},
      .stdout_fd = log->get(),
      .placement = util::Placement::detached,
  });
  if (!supervisor) {
    return fail(supervisor.error().code, "cannot start the run's supervisor: {}",
                supervisor.error().message);
  }
  return *supervisor;
}

// Waits until the supervisor `pid` has written the run's first state.
Result<void> wait_for_first_state(const std::filesystem::path& run_dir, pid_t pid) {
  const auto state_file = run_dir / k_state_file;
  const int64_t deadline_ms = util::now_unix_ms() + k_supervisor_start_timeout_ms;
  while (true) {
    if (::access(state_file.c_str(), F_OK) == 0) return {};
    if (!is_alive(pid)) {
      if (::access(state_file.c_str(), F_OK) == 0) return {};
      return fail(ErrorCode::internal,
                  "the run's supervisor exited before it started the run; see {}",
                  (run_dir / k_supervisor_log).string());
    }
    if (util::now_unix_ms() >= deadline_ms) {
      return fail(ErrorCode::timeout, "the run's supervisor did not start within {}; see {}",
                  util::format_duration_ms(k_supervisor_start_timeout_ms),
                  (run_dir / k_supervisor_log).string());
    }
    std::this_thread::sleep_for(k_start_poll_interval);
  }
}

// After a service restart: waits until a supervisor spawned just before the stop has written
// the run's first state; not_found when none did within the start timeout (none runs it).
Result<void> wait_for_state_after_restart(const std::filesystem::path& run_dir) {
  const auto state_file = run_dir / k_state_file;
  const int64_t deadline_ms = util::now_unix_ms() + k_supervisor_start_timeout_ms;
  while (::access(state_file.c_str(), F_OK) != 0) {
    if (util::now_unix_ms() >= deadline_ms) {
      return fail(ErrorCode::not_found, "no supervisor started the run");
    }
    std::this_thread::sleep_for(k_start_poll_interval);
  }
  return {};
}

class LocalEngine final : public Engine {
 public:
  explicit LocalEngine(LocalEngineOptions options)
      : m_options(std::move(options)), m_boot_id(current_boot_id()) {}

  Result<void> start(const std::filesystem::path& run_dir, const spec::LaunchPlan& plan,
                     const ComputeRecord& /*target: every local target runs on this host*/) override {
    std::error_code error;
    const auto dir = std::filesystem::absolute(run_dir, error);
    if (error)
      return fail(ErrorCode::io, "cannot resolve {}: {}", run_dir.string(), error.message());
    if (::access((dir / k_state_file).c_str(), F_OK) == 0) {
      return fail(ErrorCode::conflict, "run {} was started already", plan.run_id);
    }
    if (auto written = util::write_file_atomic(dir / k_launch_file, plan.to_json().dump() + "\n");
        !written) {
      return written;
    }
    const auto supervisor = spawn_supervisor(m_options.supervisor_program, dir);
    if (!supervisor) return fail(supervisor.error());
    return wait_for_first_state(dir, *supervisor);
  }

  Result<RunObservation> observe(const std::filesystem::path& run_dir) override {
    auto state = read_run_state(run_dir);
    if (!state) return fail(state.error());
    if (is_finished(*state) || supervisor_alive(*state)) return std::move(state->observation);
    // The supervisor writes its final state before it exits: read again, to tell an ordinary
    // end from a death.
    state = read_run_state(run_dir);
    if (!state) return fail(state.error());
    if (is_finished(*state)) return std::move(state->observation);
    return settle_abandoned_run(run_dir, std::move(*state));
  }

  Result<void> cancel(const std::filesystem::path& run_dir) override {
    const auto state = read_run_state(run_dir);
    if (!state && state.error().code != ErrorCode::not_found) return fail(state.error());
    if (state && is_finished(*state)) return {};
    // The marker covers a supervisor that has not written its state yet; the signal wakes one
    // that runs.
    const auto marker = fmt::format("requested at {}\n", util::format_rfc3339(util::now_unix_ms()));
    if (auto written = util::write_file_atomic(run_dir / k_cancel_file, marker); !written)
      return written;
    if (state && supervisor_alive(*state)) ::kill(state->supervisor.pid, SIGTERM);
    return {};
  }

  Result<RunObservation> recover(const std::filesystem::path& run_dir) override {
    if (auto started = wait_for_state_after_restart(run_dir); !started)
      return fail(started.error());
    return observe(run_dir);
  }

 private:
  static bool is_finished(const RunState& state) {
    return state.observation.phase == RunObservation::Phase::finished;
  }

  // Whether the process recorded as the supervisor is still that process (same boot, same
  // start time), not a later process that reuses its pid.
  bool supervisor_alive(const RunState& state) const {
    return state.boot_id == m_boot_id && is_running(state.supervisor);
  }

  // A run whose supervisor died before the end: Failed, with what is left of its tasks and its
  // launcher killed (each one's process group; daemons that left their group cannot be found
  // without the supervisor). Saving the result is best effort: a later call reaches the same
  // result.
  RunObservation settle_abandoned_run(const std::filesystem::path& run_dir, RunState state) const {
    const int64_t now_ms = util::now_unix_ms();
    for (size_t i = 0; i < state.observation.tasks.size(); ++i) {
      auto& task = state.observation.tasks[i];
      if (task.state != task_state::k_running) continue;
      if (i < state.task_processes.size()) kill_task_group(state, state.task_processes[i]);
      record_killed_with_supervisor(task, now_ms);
    }
    if (state.launcher && state.launcher->state == task_state::k_running) {
      kill_task_group(state, state.launcher_process);
      record_killed_with_supervisor(*state.launcher, now_ms);
    }
    auto& observation = state.observation;
    observation.phase = RunObservation::Phase::finished;
    observation.outcome = api::RunStatus::Failed;
    observation.exit_code.reset();
    observation.reason = k_supervisor_died;
    observation.ended_at_ms = now_ms;
    (void)write_run_state(run_dir, state);
    return std::move(state.observation);
  }

  static void record_killed_with_supervisor(TaskObservation& task, int64_t now_ms) {
    task.state = task_state::k_killed;
    task.signal = SIGKILL;
    task.exit_code = 128 + SIGKILL;
    task.ended_at_ms = now_ms;
    task.message = "stopped because the run's supervisor died";
  }

  // SIGKILLs the process group the task led, unless its pid now names another process. (A
  // group keeps its id reserved while it has members, so when the leader is gone the id still
  // names the task's group or nothing.)
  void kill_task_group(const RunState& state, const ProcessIdentity& task) const {
    if (task.pid <= 0 || state.boot_id != m_boot_id) return;
    const auto now = identify_process(task.pid);
    if (now && now->start_time != task.start_time) return;
    ::kill(-task.pid, SIGKILL);
  }

  LocalEngineOptions m_options;
  std::string m_boot_id;
};

}  // namespace

}  // namespace engines

std::unique_ptr<Engine> make_local_engine(LocalEngineOptions options) {
  return std::make_unique<engines::LocalEngine>(std::move(options));
}

}  // namespace trainctl::service
