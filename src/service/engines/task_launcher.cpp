#include "trainctl/service/engines/task_launcher.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/util/process.hpp"

namespace trainctl::service::engines {

namespace {

std::string_view path_of(const spec::TaskLaunch& task) {
  for (const auto& [name, value] : task.env) {
    if (name == "PATH") return value;
  }
  return util::k_default_search_path;
}

}  // namespace

Result<std::string> resolve_program(const spec::TaskLaunch& task) {
  if (task.argv.empty() || task.argv.front().empty()) {
    return fail(ErrorCode::invalid_argument, "task '{}' has no program to run", task.name);
  }
  return util::find_program(task.argv.front(), path_of(task), task.cwd);
}

Result<ProcessIdentity> start_task(const spec::TaskLaunch& task, ProcessGroup group) {
  auto program = resolve_program(task);
  if (!program) return fail(program.error());
  const auto log = util::open_fd(task.log_file, O_WRONLY | O_CREAT | O_APPEND);
  if (!log)
    return fail(ErrorCode::io, "cannot start '{}': {}", task.argv.front(), log.error().message);
  util::ProcessSpec process{
      .argv = task.argv,
      .program = std::move(*program),
      .cwd = task.cwd,
      .stdout_fd = log->get(),
      .placement =
          group == ProcessGroup::own ? util::Placement::own_group : util::Placement::callers_group,
  };
  process.environment.reserve(task.env.size());
  for (const auto& [name, value] : task.env) process.environment.push_back(name + "=" + value);
  const auto pid = util::start_process(process);
  if (!pid) return fail(pid.error());
  return identify_process(*pid).value_or(ProcessIdentity{*pid, 0});
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
