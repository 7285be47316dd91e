#include "trainctl/service/engines/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace trainctl::service::engines {

Result<UniqueFd> open_fd(const std::filesystem::path& path, int flags, mode_t mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0)
    return fail(ErrorCode::io, "cannot open '{}': {}", path.string(), std::strerror(errno));
  return UniqueFd(fd);
}

Result<ReportPipe> make_report_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return fail(ErrorCode::internal, "cannot create a pipe: {}", std::strerror(errno));
  }
  return ReportPipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void send_report(int write_fd, ChildReport report) noexcept {
  // Smaller than PIPE_BUF: written whole or not at all.
  while (::write(write_fd, &report, sizeof report) < 0 && errno == EINTR) {
  }
}

std::vector<ChildReport> receive_reports(int read_fd) {
  std::vector<ChildReport> reports;
  ChildReport report;
  while (true) {
    const ssize_t n = ::read(read_fd, &report, sizeof report);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof report)) return reports;
    reports.push_back(report);
  }
}

namespace {

// dup2, but also when `fd` is already `target` (where dup2 would keep its close-on-exec flag).
void install_fd(int fd, int target) noexcept {
  if (fd == target) {
    ::fcntl(fd, F_SETFD, 0);
  } else {
    ::dup2(fd, target);
  }
}

}  // namespace

void prepare_child_for_exec(int stdin_fd, int output_fd) noexcept {
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int signal = 1; signal < NSIG; ++signal) ::sigaction(signal, &default_action, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  install_fd(stdin_fd, STDIN_FILENO);
  install_fd(output_fd, STDOUT_FILENO);
  install_fd(output_fd, STDERR_FILENO);
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
}

std::vector<char*> exec_array(std::vector<std::string>& strings) {
  std::vector<char*> array;
  array.reserve(strings.size() + 1);
  for (auto& text : strings) array.push_back(text.data());
  array.push_back(nullptr);
  return array;
}

}  // namespace trainctl::service::engines
