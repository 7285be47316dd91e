#include "line_process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "trainctl/service/engines/child_process.hpp"

namespace trainctl::service::environments {

namespace {

using engines::UniqueFd;

// The only report a child sends: exec failed with errno `value`.
constexpr int32_t k_exec_failed = 1;

Result<int> wait_for_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return fail(ErrorCode::internal, "waitpid failed: {}", std::strerror(errno));
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// Reads `fd` to end-of-file, calling `on_line` per line.
void forward_lines(int fd, const LineSink& on_line) {
  std::string pending;
  char buffer[4096];
  while (true) {
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
}

}  // namespace

Result<int> run_with_lines(std::vector<std::string> argv,
                           const std::vector<std::pair<std::string, std::string>>& env,
                           const LineSink& on_line) {
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

  const pid_t pid = ::fork();
  if (pid < 0) return fail(ErrorCode::internal, "fork failed: {}", std::strerror(errno));
  if (pid == 0) {
    engines::prepare_child_for_exec(devnull->get(), output_write.get());
    ::execve(argv_array[0], argv_array.data(), env_array.data());
    engines::send_report(reports->write_end.get(), {k_exec_failed, errno});
    ::_exit(127);
  }
  output_write.reset();
  reports->write_end.reset();
  forward_lines(output_read.get(), on_line);
  const auto child_reports = engines::receive_reports(reports->read_end.get());
  auto status = wait_for_exit(pid);
  if (!child_reports.empty()) {
    return fail(ErrorCode::io, "cannot run {}: {}", argv.front(),
                std::strerror(child_reports.front().value));
  }
  return status;
}

}  // namespace trainctl::service::environments
