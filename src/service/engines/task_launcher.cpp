#include "trainctl/service/engines/task_launcher.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "trainctl/service/engines/child_process.hpp"
#include "trainctl/service/engines/run_state.hpp"

namespace trainctl::service::engines {

namespace {

// What a task's child process reports when it cannot exec.
enum ReportKind : int32_t { k_chdir_failed = 1, k_exec_failed = 2 };

constexpr std::string_view k_default_path = "/usr/local/bin:/usr/bin:/bin";

std::string_view path_of(const spec::TaskLaunch& task) {
  for (const auto& [name, value] : task.env) {
    if (name == "PATH") return value;
  }
  return k_default_path;
}

bool is_executable_file(const std::filesystem::path& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

std::string failure_message(const spec::TaskLaunch& task, ChildReport report) {
  const std::string program = task.argv.front();
  if (report.kind == k_chdir_failed) {
    return fmt::format("cannot start '{}': cannot enter the working directory '{}': {}", program,
                       task.cwd, std::strerror(report.value));
  }
  return fmt::format("cannot start '{}': {}", program, std::strerror(report.value));
}

std::vector<std::string> environment_strings(const spec::TaskLaunch& task) {
  std::vector<std::string> strings;
  strings.reserve(task.env.size());
  for (const auto& [name, value] : task.env) strings.push_back(name + "=" + value);
  return strings;
}

}  // namespace

Result<std::string> resolve_program(const spec::TaskLaunch& task) {
  if (task.argv.empty() || task.argv.front().empty()) {
    return fail(ErrorCode::invalid_argument, "task '{}' has no program to run", task.name);
  }
  const std::string& program = task.argv.front();
  if (program.find('/') != std::string::npos) return program;
  const std::string_view search_path = path_of(task);
  size_t start = 0;
  while (start <= search_path.size()) {
    const size_t end = std::min(search_path.find(':', start), search_path.size());
    // Relative entries (and the empty one) are taken from the task's working directory.
    const auto candidate =
        std::filesystem::path(task.cwd) / search_path.substr(start, end - start) / program;
    if (is_executable_file(candidate)) return candidate.string();
    start = end + 1;
  }
  return fail(ErrorCode::not_found, "cannot start '{}': {} (searched PATH={})", program,
              std::strerror(ENOENT), search_path);
}

Result<ProcessIdentity> start_task(const spec::TaskLaunch& task, ProcessGroup group) {
  const auto program = resolve_program(task);
  if (!program) return fail(program.error());
  const auto log = open_fd(task.log_file, O_WRONLY | O_CREAT | O_APPEND);
  if (!log)
    return fail(ErrorCode::io, "cannot start '{}': {}", task.argv.front(), log.error().message);
  const auto null_input = open_fd("/dev/null", O_RDONLY);
  if (!null_input) return fail(null_input.error());
  auto pipe = make_report_pipe();
  if (!pipe) return fail(pipe.error());

  // Everything the child needs is built before fork: it only calls async-signal-safe functions.
  std::vector<std::string> argv_strings = task.argv;
  std::vector<std::string> env_strings = environment_strings(task);
  const auto argv = exec_array(argv_strings);
  const auto envp = exec_array(env_strings);

  const pid_t pid = ::fork();
  if (pid < 0)
    return fail(ErrorCode::internal, "cannot start '{}': fork: {}", task.argv.front(),
                std::strerror(errno));
  const bool own_group = group == ProcessGroup::own;
  if (pid == 0) {
    if (own_group) ::setpgid(0, 0);
    prepare_child_for_exec(null_input->get(), log->get());
    if (::chdir(task.cwd.c_str()) != 0) {
      send_report(pipe->write_end.get(), {k_chdir_failed, errno});
      ::_exit(127);
    }
    ::execve(program->c_str(), argv.data(), envp.data());
    send_report(pipe->write_end.get(), {k_exec_failed, errno});
    ::_exit(127);
  }
  if (own_group) ::setpgid(pid, pid);  // also here, so the group exists before anyone signals it
  pipe->write_end.reset();
  const auto reports = receive_reports(pipe->read_end.get());
  if (!reports.empty()) {
    ::waitpid(pid, nullptr, 0);
    return fail(ErrorCode::not_found, "{}", failure_message(task, reports.front()));
  }
  return identify_process(pid).value_or(ProcessIdentity{pid, 0});
}

void record_end(TaskObservation& task, int wait_status, int64_t at_ms) {
  task.ended_at_ms = at_ms;
  if (WIFSIGNALED(wait_status)) {
    task.state = task_state::k_killed;
    task.signal = WTERMSIG(wait_status);
    task.exit_code = 128 + WTERMSIG(wait_status);
  } else {
    task.state = task_state::k_exited;
    task.exit_code = WEXITSTATUS(wait_status);
  }
}

}  // namespace trainctl::service::engines
