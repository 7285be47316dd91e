// `trainctld supervise RUN_DIR`: the process that drives one run from its first task to its final
// state, outliving the service that started it (docs/engines.md).
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "trainctl/service/engine.hpp"
#include "trainctl/service/engines/child_process.hpp"
#include "trainctl/service/engines/outcome_policy.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/service/engines/task_launcher.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service {

namespace engines {

namespace {

constexpr int k_watch_tick_ms = 250;  // the cancel marker and the deadline are checked this often
constexpr int k_stop_tick_ms = 20;    // how often a stop looks for processes left
constexpr int64_t k_kill_retry_ms = 100;
constexpr int64_t k_give_up_killing_ms = 30'000;  // processes stuck in the kernel (state D)

Result<spec::LaunchPlan> load_plan(const std::filesystem::path& run_dir) {
  const auto text = util::read_file(run_dir / k_launch_file);
  if (!text) return fail(text.error());
  const auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return fail(ErrorCode::internal, "{} is not valid JSON", k_launch_file);
  auto plan = spec::LaunchPlan::from_json(json);
  if (plan && plan->tasks.empty()) return fail(ErrorCode::internal, "the launch plan has no task");
  return plan;
}

// SIGCHLD, SIGTERM and SIGINT arrive through a descriptor instead of handlers.
Result<UniqueFd> open_signal_fd() {
  sigset_t signals;
  ::sigemptyset(&signals);
  for (const int signal : {SIGCHLD, SIGTERM, SIGINT}) ::sigaddset(&signals, signal);
  if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) {
    return fail(ErrorCode::internal, "cannot block signals: {}", std::strerror(errno));
  }
  const int fd = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0)
    return fail(ErrorCode::internal, "cannot create a signalfd: {}", std::strerror(errno));
  return UniqueFd(fd);
}

RunVerdict canceled() {
  return {api::RunStatus::Canceled, std::nullopt, "canceled by request"};
}

RunVerdict timed_out(int64_t max_duration_seconds) {
  return {api::RunStatus::TimedOut, std::nullopt,
          fmt::format("the run exceeded its maximum duration of {}",
                      util::format_duration_ms(max_duration_seconds * 1000))};
}

class Supervisor {
 public:
  Supervisor(std::filesystem::path run_dir, UniqueFd signal_fd)
      : m_run_dir(std::move(run_dir)), m_signal_fd(std::move(signal_fd)) {}

  // Drives the run to its end and writes its final state. Fails only when that state cannot be
  // written.
  Result<void> run() {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // orphaned descendants re-parent to the supervisor
    m_state.boot_id = current_boot_id();
    m_state.supervisor = identify_process(::getpid()).value_or(ProcessIdentity{::getpid(), 0});
    auto plan = load_plan(m_run_dir);
    if (plan) {
      m_plan = std::move(*plan);
      for (const auto& launch : m_plan.tasks) {
        TaskObservation task;
        task.name = launch.name;
        task.state = task_state::k_pending;
        m_state.observation.tasks.push_back(std::move(task));
      }
      m_state.task_processes.resize(m_plan.tasks.size());
    } else {
      m_verdict = RunVerdict{api::RunStatus::Failed, std::nullopt,
                             fmt::format("cannot read the launch plan: {}", plan.error().message)};
    }
    save();  // the engine's start() waits for this first state
    if (!m_verdict && cancel_requested()) m_verdict = canceled();
    if (!m_verdict) start_tasks();
    if (!m_verdict) watch();
    stop_everything();
    return finish();
  }

 private:
  std::vector<TaskObservation>& tasks() { return m_state.observation.tasks; }

  void save() {
    if (auto saved = write_run_state(m_run_dir, m_state); !saved) {
      spdlog::error("cannot save the run state: {}", saved.error().message);
    }
  }

  bool cancel_requested() const {
    struct stat info {};
    return ::stat((m_run_dir / k_cancel_file).c_str(), &info) == 0;
  }

  // Starts every task in order; the first that cannot start fails the run.
  void start_tasks() {
    for (size_t i = 0; i < m_plan.tasks.size() && !m_verdict; ++i) {
      auto& task = tasks()[i];
      task.started_at_ms = util::now_unix_ms();
      const auto process = start_task(m_plan.tasks[i]);
      if (process) {
        task.state = task_state::k_running;
        task.pid = process->pid;
        m_state.task_processes[i] = *process;
      } else {
        task.state = task_state::k_failed_to_start;
        task.message = process.error().message;
        task.ended_at_ms = task.started_at_ms;
        m_verdict = m_decide_outcome(tasks());
      }
    }
    auto& observation = m_state.observation;
    if (!m_verdict) {
      observation.phase = RunObservation::Phase::running;
      observation.started_at_ms = util::now_unix_ms();
      if (m_plan.max_duration_seconds > 0) {
        m_deadline_ms = observation.started_at_ms + m_plan.max_duration_seconds * 1000;
      }
    }
    save();
  }

  // Waits until the outcome is decided: by the tasks, a cancel or the deadline.
  void watch() {
    while (!m_verdict) {
      wait_for_signals(next_watch_timeout_ms());
      reap_children();
      m_verdict = m_decide_outcome(tasks());
      if (!m_verdict && (m_cancel_signalled || cancel_requested())) m_verdict = canceled();
      if (!m_verdict && m_deadline_ms && util::now_unix_ms() >= *m_deadline_ms) {
        m_verdict = timed_out(m_plan.max_duration_seconds);
      }
    }
  }

  int next_watch_timeout_ms() const {
    if (!m_deadline_ms) return k_watch_tick_ms;
    const int64_t left = std::max<int64_t>(*m_deadline_ms - util::now_unix_ms(), 0);
    return static_cast<int>(std::min<int64_t>(left, k_watch_tick_ms));
  }

  // Sleeps until a signal arrives or `timeout_ms` passed, and takes note of every signal.
  void wait_for_signals(int timeout_ms) {
    pollfd entry{m_signal_fd.get(), POLLIN, 0};
    if (::poll(&entry, 1, timeout_ms) <= 0) return;
    signalfd_siginfo info{};
    while (::read(m_signal_fd.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) m_cancel_signalled = true;
    }
  }

  // Collects every child that ended: tasks, and adopted orphans (whose status is dropped).
  void reap_children() {
    bool changed = false;
    int status = 0;
    pid_t pid = 0;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      const auto task = std::ranges::find(tasks(), pid, &TaskObservation::pid);
      if (task != tasks().end() && task->state == task_state::k_running) {
        record_end(*task, status);
        changed = true;
      }
    }
    if (changed) save();
  }

  static void record_end(TaskObservation& task, int status) {
    task.ended_at_ms = util::now_unix_ms();
    if (WIFSIGNALED(status)) {
      task.state = task_state::k_killed;
      task.signal = WTERMSIG(status);
      task.exit_code = 128 + WTERMSIG(status);
    } else {
      task.state = task_state::k_exited;
      task.exit_code = WEXITSTATUS(status);
    }
  }

  // Sends `signal` to the process group of every task still running and to every process that
  // descends from the supervisor (which, as a subreaper, also adopted the daemons that left).
  void signal_everything(int signal) {
    for (const auto& task : tasks()) {
      if (task.state == task_state::k_running) ::kill(-static_cast<pid_t>(task.pid), signal);
    }
    for (const pid_t pid : descendants_of(::getpid())) ::kill(pid, signal);
  }

  // Reaps until no descendant is left (true) or `deadline_ms` passed (false).
  bool wait_until_alone(int64_t deadline_ms) {
    while (true) {
      reap_children();
      if (descendants_of(::getpid()).empty()) return true;
      if (util::now_unix_ms() >= deadline_ms) return false;
      wait_for_signals(k_stop_tick_ms);
    }
  }

  // Ends every process of the run: SIGTERM, the grace period, then SIGKILL until none is left.
  // Also after a success, so no stray daemon outlives its run.
  void stop_everything() {
    signal_everything(SIGTERM);
    if (wait_until_alone(util::now_unix_ms() + m_plan.grace_seconds * 1000)) return;
    const int64_t give_up_ms = util::now_unix_ms() + k_give_up_killing_ms;
    do {
      signal_everything(SIGKILL);
      if (wait_until_alone(std::min(util::now_unix_ms() + k_kill_retry_ms, give_up_ms))) return;
    } while (util::now_unix_ms() < give_up_ms);
    spdlog::error("processes of the run survived SIGKILL for {} ms; giving up on them",
                  k_give_up_killing_ms);
  }

  Result<void> finish() {
    auto& observation = m_state.observation;
    observation.phase = RunObservation::Phase::finished;
    observation.outcome = m_verdict->outcome;
    observation.exit_code = m_verdict->exit_code;
    observation.reason = m_verdict->reason;
    observation.ended_at_ms = util::now_unix_ms();
    return write_run_state(m_run_dir, m_state);
  }

  std::filesystem::path m_run_dir;
  UniqueFd m_signal_fd;
  spec::LaunchPlan m_plan;
  RunState m_state;
  // The one policy today; the parameter-server policy will be chosen here from the plan.
  OutcomePolicy m_decide_outcome = all_tasks_succeed;
  std::optional<RunVerdict> m_verdict;  // the first decision: later events do not change it
  std::optional<int64_t> m_deadline_ms;
  bool m_cancel_signalled = false;
};

}  // namespace

}  // namespace engines

int run_supervisor(const std::filesystem::path& run_dir) {
  auto signal_fd = engines::open_signal_fd();
  if (!signal_fd) {
    spdlog::error("{}", signal_fd.error().message);
    return 1;
  }
  engines::Supervisor supervisor(run_dir, std::move(*signal_fd));
  if (const auto result = supervisor.run(); !result) {
    spdlog::error("cannot write the final state of {}: {}", run_dir.string(),
                  result.error().message);
    return 1;
  }
  return 0;
}

}  // namespace trainctl::service
