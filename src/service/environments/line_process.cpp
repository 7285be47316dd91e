#include "line_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include "trainctl/service/engines/child_process.hpp"

namespace trainctl::service::environments {

namespace {

using engines::UniqueFd;
using Clock = std::chrono::steady_clock;
using Reason = ProgramEnd::Reason;

// The only report a child sends: exec failed with errno `value`.
constexpr int32_t k_exec_failed = 1;
// How often a program that may be abandoned is checked on while it writes nothing.
constexpr std::chrono::milliseconds k_abandon_check{100};

int status_of(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// Whether `stop_when` says to stop now, and why.
std::optional<Reason> stop_reason(const StopWhen& stop_when) {
  if (stop_when.abandoned != nullptr && stop_when.abandoned->load()) return Reason::abandoned;
  if (stop_when.deadline && Clock::now() >= *stop_when.deadline) return Reason::timed_out;
  return std::nullopt;
}

// How long poll() may sleep before stop_when has to be checked again; -1: forever.
int poll_timeout_ms(const StopWhen& stop_when) {
  std::optional<Clock::duration> wait;
  if (stop_when.deadline) wait = std::max(Clock::duration::zero(), *stop_when.deadline - Clock::now());
  if (stop_when.abandoned != nullptr) {
    wait = wait ? std::min<Clock::duration>(*wait, k_abandon_check) : k_abandon_check;
  }
  if (!wait) return -1;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*wait).count();
  return static_cast<int>(std::min<int64_t>(ms, 60'000));
}

// Reads `fd` to end-of-file, calling `on_line` per line, unless `stop_when` says to stop first;
// returns why it stopped reading (exited: end-of-file).
Reason forward_lines(int fd, const LineSink& on_line, const StopWhen& stop_when) {
  std::string pending;
  char buffer[4096];
  Reason reason = Reason::exited;
  while (true) {
    if (const auto stop = stop_reason(stop_when)) {
      reason = *stop;
      break;
    }
    pollfd readable{fd, POLLIN, 0};
    const int polled = ::poll(&readable, 1, poll_timeout_ms(stop_when));
    if (polled == 0 || (polled < 0 && errno == EINTR)) continue;
    if (polled < 0) break;
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t newline; (newline = pending.find('\n', start)) != std::string::npos;
         start = newline + 1) {
      on_line(std::string_view(pending).substr(start, newline + 1 - start));
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) on_line(pending);
  return reason;
}

// Reaps `pid`. A program that closed its output but goes on is still stopped by `stop_when`;
// the group is killed before the leader is reaped, so its id cannot have been reused.
Result<ProgramEnd> reap(pid_t pid, Reason reason, const StopWhen& stop_when) {
  const bool may_stop = stop_when.deadline || stop_when.abandoned != nullptr;
  int status = 0;
  while (true) {
    if (reason != Reason::exited) ::kill(-pid, SIGKILL);
    const bool stopped = reason != Reason::exited;
    const pid_t reaped = ::waitpid(pid, &status, stopped || !may_stop ? 0 : WNOHANG);
    if (reaped == pid) break;
    if (reaped < 0 && errno != EINTR) {
      return fail(ErrorCode::internal, "waitpid failed: {}", std::strerror(errno));
    }
    if (reaped == 0) {
      if (const auto stop = stop_reason(stop_when)) {
        reason = *stop;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  return ProgramEnd{reason, status_of(status)};
}

}  // namespace

Result<ProgramEnd> run_with_lines(std::vector<std::string> argv,
                                  const std::vector<std::pair<std::string, std::string>>& env,
                                  const LineSink& on_line, const StopWhen& stop_when) {
  std::vector<std::string> env_strings;
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
  // Built before fork: the child may only make async-signal-safe calls.
  auto argv_array = engines::exec_array(argv);
  auto env_array = engines::exec_array(env_strings);

  auto devnull = engines::open_fd("/dev/null", O_RDONLY);
  if (!devnull) return fail(devnull.error());
  int output[2];
  if (::pipe2(output, O_CLOEXEC) != 0) {
    return fail(ErrorCode::internal, "cannot create a pipe: {}", std::strerror(errno));
  }
  UniqueFd output_read(output[0]);
  UniqueFd output_write(output[1]);
  auto reports = engines::make_report_pipe();
  if (!reports) return fail(reports.error());

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return fail(ErrorCode::internal, "fork failed: {}", std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the service died before the line above
    engines::prepare_child_for_exec(devnull->get(), output_write.get());
    ::execve(argv_array[0], argv_array.data(), env_array.data());
    engines::send_report(reports->write_end.get(), {k_exec_failed, errno});
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so the group exists before any kill below
  output_write.reset();
  reports->write_end.reset();
  const Reason reason = forward_lines(output_read.get(), on_line, stop_when);
  if (reason != Reason::exited) ::kill(-pid, SIGKILL);
  const auto child_reports = engines::receive_reports(reports->read_end.get());
  auto end = reap(pid, reason, stop_when);
  if (!child_reports.empty()) {
    return fail(ErrorCode::io, "cannot run {}: {}", argv.front(),
                std::strerror(child_reports.front().value));
  }
  return end;
}

}  // namespace trainctl::service::environments
