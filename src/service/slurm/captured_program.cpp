#include "captured_program.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include "trainctl/service/engines/child_process.hpp"

namespace trainctl::service::slurm {

namespace {

using engines::UniqueFd;
using Clock = std::chrono::steady_clock;

// The only report a child sends: exec failed with errno `value`.
constexpr int32_t k_exec_failed = 1;

int status_of(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

int milliseconds_until(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 60'000));
}

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return fail(ErrorCode::internal, "cannot create a pipe: {}", std::strerror(errno));
  }
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Reads stdout and stderr until both reach end-of-file or the deadline passes; true when the
// deadline passed first.
bool read_both(int out_fd, int err_fd, Clock::time_point deadline, size_t max_bytes,
               CapturedOutput& output) {
  std::array<pollfd, 2> fds{pollfd{out_fd, POLLIN, 0}, pollfd{err_fd, POLLIN, 0}};
  std::array<std::string*, 2> sinks{&output.out, &output.err};
  char buffer[4096];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    if (Clock::now() >= deadline) return true;
    const int polled = ::poll(fds.data(), fds.size(), milliseconds_until(deadline));
    if (polled == 0 || (polled < 0 && errno == EINTR)) continue;
    if (polled < 0) return false;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;  // poll() skips negative descriptors
        continue;
      }
      std::string& sink = *sinks[i];
      sink.append(buffer,
                  std::min(static_cast<size_t>(n), max_bytes - std::min(max_bytes, sink.size())));
    }
  }
  return false;
}

// Reaps `pid`; a program that closed its output but goes on is killed at the deadline. The
// group is killed before the leader is reaped, so its id cannot have been reused.
Result<int> reap(pid_t pid, bool& timed_out, Clock::time_point deadline) {
  int status = 0;
  while (true) {
    if (timed_out) ::kill(-pid, SIGKILL);
    const pid_t reaped = ::waitpid(pid, &status, timed_out ? 0 : WNOHANG);
    if (reaped == pid) return status_of(status);
    if (reaped < 0 && errno != EINTR) {
      return fail(ErrorCode::internal, "waitpid failed: {}", std::strerror(errno));
    }
    if (reaped == 0) {
      if (Clock::now() >= deadline) {
        timed_out = true;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }
}

}  // namespace

Result<CapturedOutput> run_captured(std::vector<std::string> argv,
                                    const std::vector<std::pair<std::string, std::string>>& env,
                                    Clock::time_point deadline, size_t max_bytes) {
  std::vector<std::string> env_strings;
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
  // Built before fork: the child may only make async-signal-safe calls.
  auto argv_array = engines::exec_array(argv);
  auto env_array = engines::exec_array(env_strings);

  auto devnull = engines::open_fd("/dev/null", O_RDONLY);
  if (!devnull) return fail(devnull.error());
  auto out = make_pipe();
  if (!out) return fail(out.error());
  auto err = make_pipe();
  if (!err) return fail(err.error());
  auto reports = engines::make_report_pipe();
  if (!reports) return fail(reports.error());

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return fail(ErrorCode::internal, "fork failed: {}", std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the service died before the line above
    engines::prepare_child_for_exec(devnull->get(), out->write_end.get());
    ::dup2(err->write_end.get(), STDERR_FILENO);  // dup2 clears close-on-exec on the copy
    ::execve(argv_array[0], argv_array.data(), env_array.data());
    engines::send_report(reports->write_end.get(), {k_exec_failed, errno});
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so the group exists before any kill below
  out->write_end.reset();
  err->write_end.reset();
  reports->write_end.reset();
  CapturedOutput output;
  output.timed_out =
      read_both(out->read_end.get(), err->read_end.get(), deadline, max_bytes, output);
  if (output.timed_out) ::kill(-pid, SIGKILL);
  const auto child_reports = engines::receive_reports(reports->read_end.get());
  auto status = reap(pid, output.timed_out, deadline);
  if (!child_reports.empty()) {
    return fail(ErrorCode::io, "cannot run {}: {}", argv.front(),
                std::strerror(child_reports.front().value));
  }
  if (!status) return fail(status.error());
  output.status = *status;
  return output;
}

}  // namespace trainctl::service::slurm
