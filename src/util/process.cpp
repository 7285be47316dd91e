#include "trainctl/util/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace trainctl::util {

namespace {

// What a child tells its caller through the report pipe before it execs.
enum Stage : int32_t { k_detached_pid = 1, k_fork_failed, k_chdir_failed, k_exec_failed };

struct Report {
  int32_t stage = 0;
  int32_t value = 0;  // a pid or an errno
};

void send_report(int fd, Report report) noexcept {
  // Smaller than PIPE_BUF: written whole or not at all.
  while (::write(fd, &report, sizeof report) < 0 && errno == EINTR) {
  }
}

// Every report until end-of-file, which comes once every holder of the write end (which closes
// on exec) has exec'd or exited.
std::vector<Report> receive_reports(int fd) {
  std::vector<Report> reports;
  Report report;
  while (true) {
    const ssize_t n = ::read(fd, &report, sizeof report);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof report)) return reports;
    reports.push_back(report);
  }
}

void reap(pid_t pid) {
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// Everything the child needs, built before fork: after fork the child may only make
// async-signal-safe calls (the caller may be multi-threaded), so nothing below allocates.
struct ChildPlan {
  std::string program;
  std::vector<std::string> argv_strings;
  std::vector<std::string> env_strings;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::string cwd;
  // sources[i] is dup'ed to targets[i]: 0, 1, 2, then the inherited ones.
  std::vector<int> sources;
  std::vector<int> targets;
  int lowest_free = 3;  // above every target: where the sources are moved first
  pid_t parent = 0;
  Placement placement = Placement::own_group;
  bool die_with_parent = false;
};

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> array;
  array.reserve(strings.size() + 1);
  for (auto& text : strings) array.push_back(text.data());
  array.push_back(nullptr);
  return array;
}

// The child's side, between fork and exec. Never returns.
[[noreturn]] void become_program(ChildPlan& plan, int report_fd) noexcept {
  if (plan.die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != plan.parent) ::_exit(127);  // the caller died before the line above
  }
  if (plan.placement == Placement::own_group) ::setpgid(0, 0);
  if (plan.placement == Placement::own_session) ::setsid();
  if (plan.placement == Placement::detached) {
    ::setsid();
    const pid_t program = ::fork();
    if (program != 0) {
      send_report(report_fd, program > 0 ? Report{k_detached_pid, program}
                                         : Report{k_fork_failed, errno});
      ::_exit(0);
    }
  }

  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int signal = 1; signal < NSIG; ++signal) ::sigaction(signal, &default_action, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // First every source (and the report pipe) above every target, so that installing one
  // descriptor cannot overwrite another that is still to be installed.
  report_fd = ::fcntl(report_fd, F_DUPFD_CLOEXEC, plan.lowest_free);
  for (int& source : plan.sources) source = ::fcntl(source, F_DUPFD_CLOEXEC, plan.lowest_free);
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  // nothing of the caller leaks into the program
  for (size_t i = 0; i < plan.sources.size(); ++i) ::dup2(plan.sources[i], plan.targets[i]);

  if (!plan.cwd.empty() && ::chdir(plan.cwd.c_str()) != 0) {
    send_report(report_fd, {k_chdir_failed, errno});
    ::_exit(127);
  }
  ::execve(plan.program.c_str(), plan.argv.data(), plan.envp.data());
  send_report(report_fd, {k_exec_failed, errno});
  ::_exit(127);
}

}  // namespace

Result<UniqueFd> open_fd(const std::filesystem::path& path, int flags, mode_t mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0)
    return fail(ErrorCode::io, "cannot open '{}': {}", path.string(), std::strerror(errno));
  return UniqueFd(fd);
}

Result<pid_t> start_process(const ProcessSpec& spec) {
  if (spec.argv.empty() || spec.argv.front().empty()) {
    return fail(ErrorCode::invalid_argument, "cannot start a process: no program given");
  }
  const std::string& name = spec.argv.front();
  UniqueFd null_input;
  UniqueFd null_output;
  if (spec.stdin_fd < 0) {
    auto opened = open_fd("/dev/null", O_RDONLY);
    if (!opened) return fail(opened.error());
    null_input = std::move(*opened);
  }
  if (spec.stdout_fd < 0) {
    auto opened = open_fd("/dev/null", O_WRONLY);
    if (!opened) return fail(opened.error());
    null_output = std::move(*opened);
  }
  int pipe_ends[2];
  if (::pipe2(pipe_ends, O_CLOEXEC) != 0) {
    return fail(ErrorCode::internal, "cannot start '{}': pipe: {}", name, std::strerror(errno));
  }
  UniqueFd report_read(pipe_ends[0]);
  UniqueFd report_write(pipe_ends[1]);

  ChildPlan plan;
  plan.program = spec.program.empty() ? spec.argv.front() : spec.program;
  plan.argv_strings = spec.argv;
  plan.env_strings = spec.environment;
  plan.argv = pointers(plan.argv_strings);
  plan.envp = pointers(plan.env_strings);
  plan.cwd = spec.cwd.string();
  const int out = spec.stdout_fd >= 0 ? spec.stdout_fd : null_output.get();
  plan.sources = {spec.stdin_fd >= 0 ? spec.stdin_fd : null_input.get(), out,
                  spec.stderr_fd >= 0 ? spec.stderr_fd : out};
  plan.targets = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
  for (const auto& [source, target] : spec.inherited) {
    plan.sources.push_back(source);
    plan.targets.push_back(target);
    plan.lowest_free = std::max(plan.lowest_free, target + 1);
  }
  plan.parent = ::getpid();
  plan.placement = spec.placement;
  plan.die_with_parent = spec.die_with_parent && spec.placement != Placement::detached;

  const pid_t pid = ::fork();
  if (pid < 0) {
    return fail(ErrorCode::internal, "cannot start '{}': fork: {}", name, std::strerror(errno));
  }
  if (pid == 0) become_program(plan, report_write.get());
  // Also here, so the group exists before the caller signals it (EACCES once the child has
  // exec'd: then the child did it itself).
  if (spec.placement == Placement::own_group) ::setpgid(pid, pid);
  report_write.reset();
  const auto reports = receive_reports(report_read.get());
  pid_t program = pid;
  if (spec.placement == Placement::detached) {
    reap(pid);  // the intermediate child, gone once it has reported the program's pid
    program = 0;
  }
  for (const auto& report : reports) {
    switch (report.stage) {
      case k_detached_pid:
        program = report.value;
        break;
      case k_fork_failed:
        return fail(ErrorCode::internal, "cannot start '{}': fork: {}", name,
                    std::strerror(report.value));
      case k_chdir_failed:
        if (spec.placement != Placement::detached) reap(pid);
        return fail(ErrorCode::not_found,
                    "cannot start '{}': cannot enter the working directory '{}': {}", name,
                    plan.cwd, std::strerror(report.value));
      case k_exec_failed:
        if (spec.placement != Placement::detached) reap(pid);
        return fail(ErrorCode::not_found, "cannot start '{}': {}", name,
                    std::strerror(report.value));
      default:
        break;
    }
  }
  if (program <= 0) {
    return fail(ErrorCode::internal, "cannot start '{}': no process was created", name);
  }
  return program;
}

Result<std::string> find_program(const std::string& program, std::string_view search_path,
                                 const std::filesystem::path& cwd) {
  if (program.empty()) return fail(ErrorCode::invalid_argument, "no program to run");
  if (program.find('/') != std::string::npos) return program;
  const auto is_executable_file = [](const std::filesystem::path& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
  };
  size_t start = 0;
  while (start <= search_path.size()) {
    const size_t end = std::min(search_path.find(':', start), search_path.size());
    // Relative entries (and the empty one) are taken from the working directory.
    const auto candidate = cwd / search_path.substr(start, end - start) / program;
    if (is_executable_file(candidate)) return candidate.string();
    start = end + 1;
  }
  return fail(ErrorCode::not_found, "cannot start '{}': {} (searched PATH={})", program,
              std::strerror(ENOENT), search_path);
}

}  // namespace trainctl::util
