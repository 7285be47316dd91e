// The real HostProbe (compute_manager.hpp): the interpreter is run with an argv and a time
// limit, conda is looked up on PATH, CPUs are the online ones, GPUs the NVIDIA devices in /dev.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>

#include "trainctl/service/compute_manager.hpp"
#include "trainctl/service/engines/child_process.hpp"
#include "trainctl/util/fs.hpp"

namespace trainctl::service {

namespace {

namespace fs = std::filesystem;
using engines::UniqueFd;

constexpr size_t k_max_answer = 4096;
constexpr int32_t k_exec_failed = 1;

int wait_for_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

// Reads `fd` until end-of-file or k_max_answer bytes; false when `deadline` passed first.
bool read_until(int fd, std::string& out, std::chrono::steady_clock::time_point deadline) {
  char buffer[1024];
  while (out.size() < k_max_answer) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd waiting{.fd = fd, .events = POLLIN, .revents = 0};
    const int ready = ::poll(&waiting, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    out.append(buffer, static_cast<size_t>(n));
  }
  return true;
}

class RealHostProbe final : public HostProbe {
 public:
  explicit RealHostProbe(HostProbeOptions options) : m_options(options) {}

  Result<std::string> python_version(const std::string& python) override {
    std::vector<std::string> argv{python, "-c", "import sys; print(sys.version)"};
    auto argv_array = engines::exec_array(argv);  // before fork: the child only execs
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
      ::execvp(argv_array[0], argv_array.data());
      engines::send_report(reports->write_end.get(), {k_exec_failed, errno});
      ::_exit(127);
    }
    output_write.reset();
    reports->write_end.reset();
    std::string answer;
    const bool finished =
        read_until(output_read.get(), answer, std::chrono::steady_clock::now() + m_options.python_timeout);
    if (!finished) ::kill(pid, SIGKILL);
    const auto child_reports = engines::receive_reports(reports->read_end.get());
    const int status = wait_for_exit(pid);
    if (!child_reports.empty()) {
      return fail(ErrorCode::not_found, "cannot run it: {}", std::strerror(child_reports.front().value));
    }
    if (!finished) {
      return fail(ErrorCode::timeout, "it did not answer within {} s", m_options.python_timeout.count());
    }
    const std::string first_line = answer.substr(0, answer.find('\n'));
    if (status != 0) {
      return fail(ErrorCode::invalid_argument, "it exited with status {}{}{}", status,
                  first_line.empty() ? "" : ": ", first_line);
    }
    return first_line.substr(0, first_line.find(' '));
  }

  std::string find_on_path(const std::string& program) override {
    const char* path = std::getenv("PATH");
    return util::find_in_path(program, path != nullptr ? path : "").string();
  }

  int cpu_count() override { return static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)); }

  int gpu_count() override {
    if (m_options.gpus) return *m_options.gpus;
    static const std::regex k_device("nvidia[0-9]+");
    int count = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/dev", ec)) {
      if (std::regex_match(entry.path().filename().string(), k_device)) ++count;
    }
    return count;
  }

 private:
  HostProbeOptions m_options;
};

}  // namespace

std::unique_ptr<HostProbe> make_host_probe(HostProbeOptions options) {
  return std::make_unique<RealHostProbe>(options);
}

}  // namespace trainctl::service
