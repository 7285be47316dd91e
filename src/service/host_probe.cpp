// The real HostProbe (compute_manager.hpp): the interpreter is run with an argv and a time
// limit, conda is looked up on PATH, CPUs are the online ones, GPUs the NVIDIA devices in /dev.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <utility>

#include "environments/line_process.hpp"
#include "trainctl/service/compute_manager.hpp"
#include "trainctl/util/fs.hpp"

namespace trainctl::service {

namespace {

namespace fs = std::filesystem;

constexpr size_t k_max_answer = 4096;

class RealHostProbe final : public HostProbe {
 public:
  explicit RealHostProbe(HostProbeOptions options) : m_options(std::move(options)) {}

  Result<std::string> python_version(const std::string& python) override {
    std::string program = python;
    if (program.find('/') == std::string::npos) {
      program = find_on_path(python);
      if (program.empty()) return fail(ErrorCode::not_found, "{} is not on PATH", python);
    }
    std::string answer;
    auto end = environments::run_with_lines(
        {program, "-c", "import sys; print(sys.version)"}, m_options.env,
        [&answer](std::string_view line) {
          if (answer.size() < k_max_answer) answer.append(line);
        },
        {.deadline = std::chrono::steady_clock::now() + m_options.python_timeout});
    if (!end) return std::unexpected(end.error());
    if (end->reason != environments::ProgramEnd::Reason::exited) {
      return fail(ErrorCode::timeout, "it did not answer within {} s",
                  m_options.python_timeout.count());
    }
    const std::string first_line = answer.substr(0, answer.find('\n'));
    if (end->status != 0) {
      return fail(ErrorCode::invalid_argument, "it exited with status {}{}{}", end->status,
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
  return std::make_unique<RealHostProbe>(std::move(options));
}

}  // namespace trainctl::service
