#include "trainctl/service/program.hpp"

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

#include "trainctl/util/process.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service {

namespace {

using util::UniqueFd;
using Clock = std::chrono::steady_clock;
using Reason = ProgramEnd::Reason;

// How often a program that may be abandoned is checked on while it writes nothing.
constexpr std::chrono::milliseconds k_abandon_check{100};

int status_of(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
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

// Reads every descriptor of `fds` to end-of-file into its sink, unless `stop_when` says to stop
// first; returns why it stopped reading (exited: end-of-file everywhere).
Reason forward_output(std::array<pollfd, 2> fds, const std::array<const OutputSink*, 2>& sinks,
                      const StopWhen& stop_when) {
  char buffer[4096];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    if (const auto stop = stop_reason(stop_when)) return *stop;
    const int polled = ::poll(fds.data(), fds.size(), poll_timeout_ms(stop_when));
    if (polled == 0 || (polled < 0 && errno == EINTR)) continue;
    if (polled < 0) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;  // poll() skips negative descriptors
        continue;
      }
      (*sinks[i])(std::string_view(buffer, static_cast<size_t>(n)));
    }
  }
  return Reason::exited;
}

// Reaps `pid`. A program that closed its output but goes on is still stopped by `stop_when`;
// the group is killed before the leader is reaped, so its id cannot have been reused.
Result<ProgramEnd> reap(pid_t pid, Reason reason, const StopWhen& stop_when) {
  const bool may_stop = stop_when.deadline || stop_when.abandoned != nullptr;
  int status = 0;
  while (true) {
    const bool stopped = reason != Reason::exited;
    if (stopped) ::kill(-pid, SIGKILL);
    const pid_t reaped = ::waitpid(pid, &status, stopped || !may_stop ? 0 : WNOHANG);
    if (reaped == pid) break;
    if (reaped < 0 && errno != EINTR) {
      return fail(ErrorCode::internal, "waitpid failed: {}", std::strerror(errno));
    }
    if (reaped == 0) {
      if (const auto stop = stop_reason(stop_when)) {
        reason = *stop;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }
  return ProgramEnd{reason, status_of(status)};
}

}  // namespace

Result<ProgramEnd> run_program(std::vector<std::string> argv,
                               const std::vector<std::pair<std::string, std::string>>& env,
                               const ProgramOutput& output, const StopWhen& stop_when) {
  util::ProcessSpec process{.argv = std::move(argv),
                            .placement = util::Placement::own_group,
                            .die_with_parent = true};
  for (const auto& [name, value] : env) process.environment.push_back(name + "=" + value);
  const bool separate_err = static_cast<bool>(output.err);
  auto out = make_pipe();
  if (!out) return fail(out.error());
  Pipe err;
  if (separate_err) {
    auto made = make_pipe();
    if (!made) return fail(made.error());
    err = std::move(*made);
  }
  process.stdout_fd = out->write_end.get();
  if (separate_err) process.stderr_fd = err.write_end.get();
  const auto started = util::start_process(process);
  if (!started) {
    const auto code = started.error().code == ErrorCode::not_found ? ErrorCode::io : started.error().code;
    return fail(code, "{}", started.error().message);
  }
  const pid_t pid = *started;
  out->write_end.reset();
  err.write_end.reset();
  const OutputSink ignore = [](std::string_view) {};
  const Reason reason = forward_output(
      {pollfd{out->read_end.get(), POLLIN, 0}, pollfd{separate_err ? err.read_end.get() : -1, POLLIN, 0}},
      {output.out ? &output.out : &ignore, separate_err ? &output.err : &ignore}, stop_when);
  if (reason != Reason::exited) ::kill(-pid, SIGKILL);
  return reap(pid, reason, stop_when);
}

}  // namespace trainctl::service
