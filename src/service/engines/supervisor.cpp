// `trainctld supervise RUN_DIR`: the process that drives one run from its first task to its final
// state, outliving the service that started it (docs/engines.md).
#include <fcntl.h>
#include <fmt/ranges.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>

#include "trainctl/service/engine.hpp"
#include "trainctl/util/unique_fd.hpp"
#include "trainctl/service/engines/outcome_policy.hpp"
#include "trainctl/service/engines/read_only_mounts.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/service/engines/task_launcher.hpp"
#include "trainctl/service/engines/working_directory.hpp"
#include "trainctl/service/trainctl_module.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service {

namespace engines {

using util::UniqueFd;

namespace {

constexpr int k_watch_tick_ms = 250;  // cancel marker, deadlines and rank reports, at the latest
constexpr int k_stop_tick_ms = 20;    // how often a stop looks for processes left
constexpr int64_t k_kill_retry_ms = 100;
constexpr int64_t k_give_up_killing_ms = 30'000;  // processes stuck in the kernel (state D)
// How much of the launcher's log a failure reason quotes.
constexpr size_t k_log_tail_lines = 3;
constexpr size_t k_log_tail_bytes = 500;
constexpr std::string_view k_report_suffix = ".json";

Result<spec::LaunchPlan> load_plan(const std::filesystem::path& run_dir) {
  const auto text = util::read_file(run_dir / k_launch_file);
  if (!text) return fail(text.error());
  const auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return fail(ErrorCode::internal, "{} is not valid JSON", k_launch_file);
  auto plan = spec::LaunchPlan::from_json(json);
  if (!plan) return plan;
  if (plan->tasks.empty()) return fail(ErrorCode::internal, "the launch plan has no task");
  const bool launched_by_launcher =
      std::ranges::any_of(plan->tasks, &spec::TaskLaunch::started_by_launcher);
  // A node's part of a multi-node run may hold ranks whose launcher runs on node 0: they report
  // here all the same.
  const bool launcher_elsewhere = plan->node > 0;
  if (launched_by_launcher &&
      ((!plan->launcher && !launcher_elsewhere) || plan->status_dir.empty())) {
    return fail(ErrorCode::internal,
                "the launch plan has tasks started by a launcher but no launcher or status_dir");
  }
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

// An inotify descriptor that reports every report file renamed or written into `status_dir`,
// which is created if needed.
Result<UniqueFd> watch_reports(const std::filesystem::path& status_dir) {
  if (auto made = util::make_directories(status_dir); !made) return fail(made.error());
  UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd) return fail(ErrorCode::internal, "cannot create an inotify: {}", std::strerror(errno));
  if (::inotify_add_watch(fd.get(), status_dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
    return fail(ErrorCode::io, "cannot watch {}: {}", status_dir.string(), std::strerror(errno));
  }
  return fd;
}

// The task names of the report files named by the pending inotify events. An overflowed queue
// loses names; the watch tick re-reads every report anyway.
void read_report_events(int inotify_fd, std::set<std::string>& names) {
  alignas(inotify_event) char buffer[8192];
  ssize_t size = 0;
  while ((size = ::read(inotify_fd, buffer, sizeof buffer)) > 0) {
    for (ssize_t offset = 0; offset < size;) {
      inotify_event event{};
      std::memcpy(&event, buffer + offset, sizeof event);
      if (event.len > 0) {
        const std::string_view file(buffer + offset + sizeof event);  // NUL-padded
        if (file.ends_with(k_report_suffix) && !file.starts_with('.')) {
          names.emplace(file.substr(0, file.size() - k_report_suffix.size()));
        }
      }
      offset += static_cast<ssize_t>(sizeof event + event.len);
    }
  }
}

// The last `window` bytes of the file at `path` (all of a smaller one); empty when unreadable.
std::string read_file_end(const std::filesystem::path& path, off_t window) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat info {};
  if (!fd || ::fstat(fd.get(), &info) != 0) return "";
  std::string text(static_cast<size_t>(std::min(info.st_size, window)), '\0');
  const off_t from = info.st_size - static_cast<off_t>(text.size());
  text.resize(
      static_cast<size_t>(std::max<ssize_t>(::pread(fd.get(), text.data(), text.size(), from), 0)));
  return text;
}

// The last `count` lines of `text` that say something (not blank, not a "-----" rule).
std::vector<std::string> last_meaningful_lines(std::string_view text, size_t count) {
  std::vector<std::string> lines;
  size_t end = text.size();
  while (end > 0 && lines.size() < count) {
    const size_t start = text.rfind('\n', end - 1);
    const size_t first = start == std::string_view::npos ? 0 : start + 1;
    const auto line = text.substr(first, end - first);
    if (line.find_first_not_of(" \t\r-") != std::string_view::npos) {
      lines.insert(lines.begin(), std::string(line));
    }
    if (start == std::string_view::npos) break;
    end = start;
  }
  return lines;
}

// What a launcher's log ends with, for a failure reason: its last `max_lines` meaningful lines
// joined with " | ", at most k_log_tail_bytes of them, with `run_dir` shown as "<run>" so no
// server path reaches the user.
std::string log_tail(const std::filesystem::path& log, const std::filesystem::path& run_dir,
                     size_t max_lines) {
  constexpr off_t k_window = 4096;
  auto tail = fmt::format(
      "{}", fmt::join(last_meaningful_lines(read_file_end(log, k_window), max_lines), " | "));
  const std::string hidden = run_dir.string();
  for (size_t at = 0; (at = tail.find(hidden, at)) != std::string::npos;) {
    tail.replace(at, hidden.size(), "<run>");
  }
  if (tail.size() <= k_log_tail_bytes) return tail;
  size_t cut = tail.size() - k_log_tail_bytes;
  while (cut < tail.size() && (static_cast<unsigned char>(tail[cut]) & 0xC0) == 0x80) ++cut;
  return "..." + tail.substr(cut);  // on a UTF-8 character boundary
}

RunVerdict canceled() {
  return {api::RunStatus::Canceled, std::nullopt, "canceled by request", ""};
}

RunVerdict timed_out(int64_t max_duration_seconds) {
  return {api::RunStatus::TimedOut, std::nullopt,
          fmt::format("the run exceeded its maximum duration of {}",
                      util::format_duration_ms(max_duration_seconds * 1000)),
          ""};
}

RunVerdict failed(std::optional<int> exit_code, std::string reason) {
  return {api::RunStatus::Failed, exit_code, std::move(reason), ""};
}

bool exited_zero(const TaskObservation& task) {
  return task.state == task_state::k_exited && task.exit_code == 0;
}

bool has_ended(const TaskObservation& task) {
  return task.state != task_state::k_pending && task.state != task_state::k_running;
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
    if (auto plan = load_plan(m_run_dir); plan) {
      take_plan(std::move(*plan));
    } else {
      decide(failed(std::nullopt,
                    fmt::format("cannot read the launch plan: {}", plan.error().message)));
    }
    save();  // the engine's start() waits for this first state
    if (!m_verdict && cancel_requested()) decide(canceled());
    if (!m_verdict) protect_shared_files();
    if (!m_verdict) install_python_library();
    if (!m_verdict) prepare_working_directory();
    if (!m_verdict) start_tasks();
    if (!m_verdict) watch();
    stop_everything();
    throw_away_working_directory();
    return finish();
  }

 private:
  std::vector<TaskObservation>& tasks() { return m_state.observation.tasks; }
  RunObservation& observation() { return m_state.observation; }

  void take_plan(spec::LaunchPlan plan) {
    m_plan = std::move(plan);
    m_decide_outcome = policy_for(m_plan.success);
    tasks() = pending_tasks(m_plan);
    m_state.task_processes.resize(m_plan.tasks.size());
  }

  void save() {
    if (auto saved = write_run_state(m_run_dir, m_state); !saved) {
      spdlog::error("cannot save the run state: {}", saved.error().message);
    }
  }

  bool cancel_requested() const {
    struct stat info {};
    return ::stat((m_run_dir / k_cancel_file).c_str(), &info) == 0;
  }

  // The first decision wins: later events do not change it.
  void decide(RunVerdict verdict) {
    if (m_verdict) return;
    m_verdict = std::move(verdict);
    m_verdict_at_ms = util::now_unix_ms();
  }

  // The `trainctl` module, where every task's PYTHONPATH names it. A run that cannot have it
  // still runs: only `import trainctl` fails in it.
  void install_python_library() {
    const auto dir = m_run_dir / spec::k_python_library_dir;
    auto written = util::make_directories(dir, 0755);
    if (written) written = util::write_file_atomic(dir / "trainctl.py", k_trainctl_module, 0644);
    if (!written) spdlog::warn("cannot write the trainctl module: {}", written.error().message);
  }

  // The tasks' working directory, made before any task starts; a run without one cannot start.
  // In a mount namespace of the run's own, the source is an overlay (O(1), copy-on-write).
  void prepare_working_directory() {
    const auto layer = m_private_mounts ? SourceLayer::overlay : SourceLayer::links;
    if (auto made = make_working_directory(m_plan.working_dir, layer); !made) {
      decide(failed(std::nullopt, made.error().message));
    }
  }

  // Once every process has ended: scratch files go, outputs and logs stay where they are.
  void throw_away_working_directory() {
    if (auto removed = remove_working_directory(m_plan.working_dir); !removed) {
      spdlog::warn("{}", removed.error().message);
    }
  }

  // The snapshot and mounted inputs are blobs: bind them read-only for root's tasks too. Where
  // that is not allowed, the permission bits remain; the run goes on.
  void protect_shared_files() {
    if (auto made = make_directories_read_only(m_plan.read_only_dirs); !made) {
      spdlog::warn("{}; the run's snapshot and inputs are protected by permission bits only",
                   made.error().message);
    } else {
      m_private_mounts = ::geteuid() == 0 && !m_plan.read_only_dirs.empty();
      if (auto hidden = m_private_mounts ? hide_home_from_run(m_run_dir.string()) : Result<void>{};
          !hidden) {
        spdlog::warn("{}; the run can see the service's home", hidden.error().message);
      }
    }
  }

  // Starts the tasks the supervisor starts itself, in order, then the launcher; the first that
  // cannot start fails the run (the tasks after it stay pending).
  void start_tasks() {
    m_start_deadline_ms = util::now_unix_ms() + m_plan.start_timeout_seconds * 1000;
    for (size_t i = 0; i < m_plan.tasks.size() && !m_verdict; ++i) {
      if (!m_plan.tasks[i].started_by_launcher) start_one(i);
    }
    if (!m_verdict && m_plan.launcher) start_launcher();
    pass_start_barrier_when_ready();
    save();
  }

  void start_one(size_t i) {
    auto& task = tasks()[i];
    task.started_at_ms = util::now_unix_ms();
    const auto process = start_task(m_plan.tasks[i]);
    if (process) {
      task.state = task_state::k_running;
      task.pid = process->pid;
      m_state.task_processes[i] = *process;
      return;
    }
    task.state = task_state::k_failed_to_start;
    task.message = process.error().message;
    task.ended_at_ms = task.started_at_ms;
    if (auto verdict = m_decide_outcome(tasks())) decide(std::move(*verdict));
  }

  void start_launcher() {
    const auto& launch = *m_plan.launcher;
    auto& launcher = m_state.launcher.emplace();
    launcher.name = launch.name;
    launcher.role = launch.role;
    launcher.started_at_ms = util::now_unix_ms();
    auto watch = watch_reports(m_plan.status_dir);
    if (!watch) return launcher_failed_to_start(watch.error().message);
    m_report_fd = std::move(*watch);
    const auto process = start_task(launch);
    if (!process) return launcher_failed_to_start(process.error().message);
    launcher.state = task_state::k_running;
    launcher.pid = process->pid;
    m_state.launcher_process = *process;
  }

  void launcher_failed_to_start(std::string message) {
    auto& launcher = *m_state.launcher;
    launcher.state = task_state::k_failed_to_start;
    launcher.message = std::move(message);
    launcher.ended_at_ms = launcher.started_at_ms;
    decide(failed(std::nullopt, launcher.message));
  }

  // The start barrier: the run is running once no task is pending any more.
  void pass_start_barrier_when_ready() {
    if (m_verdict || observation().phase != RunObservation::Phase::starting) return;
    const bool all_started = std::ranges::none_of(
        tasks(), [](const auto& task) { return task.state == task_state::k_pending; });
    if (!all_started) return;
    observation().phase = RunObservation::Phase::running;
    observation().started_at_ms = util::now_unix_ms();
    if (m_plan.max_duration_seconds > 0) {
      m_deadline_ms = observation().started_at_ms + m_plan.max_duration_seconds * 1000;
    }
    m_changed = true;
  }

  // Waits until the outcome is decided: by the tasks, the launcher, a cancel or a deadline.
  void watch() {
    while (!m_verdict) {
      const bool woken = wait_for_events(next_watch_timeout_ms());
      reap_children();
      if (woken) {
        for (const auto& name : std::exchange(m_reported, {})) refresh_report(name);
      } else {
        refresh_all_reports();
      }
      judge();
      if (std::exchange(m_changed, false)) save();
    }
  }

  // Decides the run when it can: a cancel, the tasks' policy (with a launcher, a success also
  // needs mpirun to have exited 0), mpirun's end, the start timeout or the time limit. A cancel
  // comes first: a task that failed or was killed, seen together with the cancel (on a Slurm
  // node, Slurm signals the tasks and the supervisor at once), ended with the run's stop, and is
  // `stopped`.
  void judge() {
    const auto ended_since_last_judged = std::exchange(m_ended_unjudged, {});
    if (!m_verdict && (m_cancel_signalled || cancel_requested())) {
      decide(canceled());
      for (const size_t i : ended_since_last_judged) {
        if (!exited_zero(tasks()[i])) mark_stopped(tasks()[i]);
      }
    }
    const auto& launcher = m_state.launcher;
    if (auto verdict = m_decide_outcome(tasks())) {
      const bool launcher_succeeded =
          !launcher || (launcher->state == task_state::k_exited && launcher->exit_code == 0);
      if (verdict->outcome != api::RunStatus::Completed || launcher_succeeded) {
        decide(std::move(*verdict));
      }
    }
    if (launcher && has_ended(*launcher)) decide(launcher_verdict());
    const bool starting = observation().phase == RunObservation::Phase::starting;
    const int64_t now_ms = util::now_unix_ms();
    if (starting && m_start_deadline_ms && now_ms >= *m_start_deadline_ms)
      decide(start_timed_out());
    pass_start_barrier_when_ready();
    if (m_deadline_ms && now_ms >= *m_deadline_ms) decide(timed_out(m_plan.max_duration_seconds));
  }

  int next_watch_timeout_ms() const {
    int64_t timeout = k_watch_tick_ms;
    const bool starting = m_state.observation.phase == RunObservation::Phase::starting;
    for (const auto& deadline : {starting ? m_start_deadline_ms : std::nullopt, m_deadline_ms}) {
      if (deadline)
        timeout = std::min(timeout, std::max<int64_t>(*deadline - util::now_unix_ms(), 0));
    }
    return static_cast<int>(timeout);
  }

  // Sleeps until a signal or a rank report arrives, or `timeout_ms` passed (false), and takes
  // note of every signal and of the reports that changed.
  bool wait_for_events(int timeout_ms) {
    pollfd entries[] = {{m_signal_fd.get(), POLLIN, 0}, {m_report_fd.get(), POLLIN, 0}};
    const nfds_t count = m_report_fd ? 2 : 1;
    if (::poll(entries, count, timeout_ms) <= 0) return false;
    signalfd_siginfo info{};
    while (::read(m_signal_fd.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) m_cancel_signalled = true;
    }
    if (m_report_fd) read_report_events(m_report_fd.get(), m_reported);
    return true;
  }

  // Collects every child that ended: tasks, the launcher, and adopted orphans (whose status is
  // dropped).
  void reap_children() {
    int status = 0;
    pid_t pid = 0;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      auto& launcher = m_state.launcher;
      if (launcher && launcher->pid == pid && launcher->state == task_state::k_running) {
        record_task_end(*launcher, status);
        on_launcher_end();
        continue;
      }
      const auto task = std::ranges::find(tasks(), pid, &TaskObservation::pid);
      if (task != tasks().end() && task->state == task_state::k_running &&
          !m_plan.tasks[static_cast<size_t>(task - tasks().begin())].started_by_launcher) {
        record_task_end(*task, status);
      }
    }
  }

  void record_task_end(TaskObservation& task, int status) {
    record_end(task, status, util::now_unix_ms());
    mark_stopped_when_late(task);
    note_end(task);
    m_changed = true;
  }

  // A task that ended after the verdict ended because the run was being stopped.
  void mark_stopped_when_late(TaskObservation& task) const {
    if (m_verdict && task.ended_at_ms >= m_verdict_at_ms) mark_stopped(task);
  }

  // An exit or a signal that came from the run's stop: the task is `stopped`, with the exit code
  // or signal it ended with.
  static void mark_stopped(TaskObservation& task) {
    if (task.state == task_state::k_exited || task.state == task_state::k_killed) {
      task.state = task_state::k_stopped;
    }
  }

  // Remembers that task `task` (not the launcher) was seen ending, for the next judge().
  void note_end(const TaskObservation& task) {
    const auto& all = tasks();
    const auto found = std::ranges::find_if(all, [&](const auto& one) { return &one == &task; });
    if (found != all.end()) m_ended_unjudged.push_back(static_cast<size_t>(found - all.begin()));
  }

  // Once mpirun is gone every rank has written its last report: take them all. When mpirun
  // exited 0, the ranks that reported nothing more exited 0.
  void on_launcher_end() {
    refresh_all_reports();
    const auto& launcher = *m_state.launcher;
    if (m_verdict || launcher.state != task_state::k_exited || launcher.exit_code != 0) return;
    for (size_t i = 0; i < tasks().size(); ++i) {
      auto& task = tasks()[i];
      if (!m_plan.tasks[i].started_by_launcher || task.state != task_state::k_running) continue;
      task.state = task_state::k_exited;
      task.exit_code = 0;
      task.ended_at_ms = launcher.ended_at_ms;
    }
  }

  void refresh_all_reports() {
    for (size_t i = 0; i < tasks().size(); ++i) refresh_report(i);
  }

  void refresh_report(const std::string& name) {
    const auto task = std::ranges::find(tasks(), name, &TaskObservation::name);
    if (task != tasks().end()) refresh_report(static_cast<size_t>(task - tasks().begin()));
  }

  // Takes the latest report of launcher-started task `i`, unless its end is known already.
  void refresh_report(size_t i) {
    auto& task = tasks()[i];
    if (!m_plan.tasks[i].started_by_launcher || has_ended(task)) return;
    auto report = read_task_report(m_plan.status_dir, task.name);
    if (!report) {
      if (report.error().code != ErrorCode::not_found) spdlog::warn("{}", report.error().message);
      return;
    }
    if (report->state == task_state::k_pending || report->state == task.state) return;
    task.state = report->state;
    task.pid = report->pid;
    task.exit_code = report->exit_code;
    task.signal = report->signal;
    task.started_at_ms = report->started_at_ms;
    task.ended_at_ms = report->ended_at_ms;
    task.message = std::move(report->message);
    if (task.state == task_state::k_running) record_rank_group(i);
    mark_stopped_when_late(task);
    if (has_ended(task)) note_end(task);
    m_changed = true;
  }

  // A rank runs in its wrapper's process group (mpirun gives each rank its own): recorded so a
  // stop, or an engine after a supervisor crash, can signal the whole rank.
  void record_rank_group(size_t i) {
    const pid_t group = ::getpgid(static_cast<pid_t>(tasks()[i].pid));
    if (group <= 0) return;
    m_state.task_processes[i] = identify_process(group).value_or(ProcessIdentity{group, 0});
  }

  std::vector<std::string> names_never_started() {
    std::vector<std::string> names;
    for (const auto& task : tasks()) {
      if (task.state == task_state::k_pending) names.push_back(task.name);
    }
    return names;
  }

  std::string launcher_log_tail(size_t max_lines) const {
    return log_tail(m_plan.launcher->log_file, m_run_dir, max_lines);
  }

  // The verdict once the launcher ended and the tasks decided nothing: some ranks never started,
  // or mpirun failed without a rank saying why.
  RunVerdict launcher_verdict() {
    const auto& launcher = *m_state.launcher;
    const auto how = describe_process_end(launcher.name, launcher);
    const auto missing = names_never_started();
    if (!missing.empty()) {
      return failed(launcher.exit_code, with_log_tail(fmt::format("{} before {} started", how,
                                                                  fmt::join(missing, ", ")),
                                                      k_log_tail_lines));
    }
    return failed(launcher.exit_code, with_log_tail(how, 1));
  }

  RunVerdict start_timed_out() {
    const auto missing = names_never_started();
    return failed(
        std::nullopt,
        with_log_tail(fmt::format("{} did not start within {}", fmt::join(missing, ", "),
                                  util::format_duration_ms(m_plan.start_timeout_seconds * 1000)),
                      k_log_tail_lines));
  }

  // "<what>: <the end of the launcher's log>", or `what` alone when the log says nothing.
  std::string with_log_tail(std::string what, size_t max_lines) const {
    const auto tail = m_plan.launcher ? launcher_log_tail(max_lines) : "";
    return tail.empty() ? what : fmt::format("{}: {}", what, tail);
  }

  // Sends `signal` to the process group of every task and launcher still running and to every
  // process that descends from the supervisor (which, as a subreaper, also adopted the daemons
  // that left).
  void signal_everything(int signal) {
    for (size_t i = 0; i < tasks().size(); ++i) {
      if (tasks()[i].state == task_state::k_running && m_state.task_processes[i].pid > 0) {
        ::kill(-m_state.task_processes[i].pid, signal);
      }
    }
    if (m_state.launcher && m_state.launcher->state == task_state::k_running) {
      ::kill(-m_state.launcher_process.pid, signal);
    }
    for (const pid_t pid : descendants_of(::getpid())) ::kill(pid, signal);
  }

  // Reaps until no descendant is left (true) or `deadline_ms` passed (false).
  bool wait_until_alone(int64_t deadline_ms) {
    while (true) {
      reap_children();
      if (descendants_of(::getpid()).empty()) return true;
      if (util::now_unix_ms() >= deadline_ms) return false;
      wait_for_events(k_stop_tick_ms);
    }
  }

  // Ends every process of the run: SIGTERM, the grace period, then SIGKILL until none is left.
  // Also after a success, so no stray daemon (or ps task) outlives its run.
  void stop_everything() {
    save();  // the verdict's stop is visible while it lasts
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

  // Ranks whose wrapper was killed before it could report an end were stopped with the run.
  void settle_silent_ranks() {
    refresh_all_reports();
    for (size_t i = 0; i < tasks().size(); ++i) {
      auto& task = tasks()[i];
      if (!m_plan.tasks[i].started_by_launcher || task.state != task_state::k_running) continue;
      task.state = task_state::k_stopped;
      task.ended_at_ms = util::now_unix_ms();
      task.message = "its wrapper ended without reporting how the rank ended";
    }
  }

  Result<void> finish() {
    settle_silent_ranks();
    auto& run = observation();
    run.phase = RunObservation::Phase::finished;
    run.outcome = m_verdict->outcome;
    run.exit_code = m_verdict->exit_code;
    run.reason = m_verdict->reason;
    run.first_failed_task = m_verdict->first_failed_task;
    run.ended_at_ms = util::now_unix_ms();
    return write_final_run_state(m_run_dir, m_state);
  }

  std::filesystem::path m_run_dir;
  UniqueFd m_signal_fd;
  UniqueFd m_report_fd;  // inotify on the plan's status_dir, while a launcher runs ranks
  spec::LaunchPlan m_plan;
  RunState m_state;
  OutcomePolicy m_decide_outcome = all_tasks_succeed;
  std::optional<RunVerdict> m_verdict;
  int64_t m_verdict_at_ms = 0;
  std::vector<size_t> m_ended_unjudged;        // tasks seen ending since judge() last looked
  std::optional<int64_t> m_start_deadline_ms;  // every task must have started by then
  std::optional<int64_t> m_deadline_ms;        // the run's maximum duration
  std::set<std::string> m_reported;            // tasks whose report changed since last read
  bool m_changed = false;                      // the state has news to save
  bool m_cancel_signalled = false;
  bool m_private_mounts = false;  // in a mount namespace of the run's own
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
