#pragma once
// Starting one task of a launch plan as a process of its own.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "trainctl/service/engine.hpp"
#include "trainctl/service/process_tree.hpp"
#include "trainctl/spec/launch_plan.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::engines {

// The file execve should run for `program`, looked up as execvp would but on the PATH of the
// task's own environment (not the supervisor's): a name holding a '/' is taken as is; otherwise
// the first executable file of that name in PATH's directories. On failure the error message is
// for the user: "cannot start 'train': No such file or directory (searched PATH=...)".
Result<std::string> resolve_program(const spec::TaskLaunch& task);

// Where start_task puts the new process: a process group of its own (a task the supervisor
// starts), or the caller's (the rank a `trainctld rank` wrapper starts, which mpirun signals
// through the wrapper's group).
enum class ProcessGroup { own, callers };

// Starts `task`: the process reads /dev/null, appends its stdout and stderr to task.log_file,
// runs in task.cwd with exactly task.env, and inherits no other descriptor; it leads a new
// process group unless `group` says otherwise. Returns once the program runs. When it cannot
// start, nothing is left running and the error message is for the user ("cannot start 'prog':
// <why>").
Result<ProcessIdentity> start_task(const spec::TaskLaunch& task,
                                   ProcessGroup group = ProcessGroup::own);

// Records how a task's process ended, from its waitpid status, at `at_ms`: state exited with its
// exit code, or killed with the signal and exit code 128 + signal.
void record_end(TaskObservation& task, int wait_status, int64_t at_ms);

}  // namespace trainctl::service::engines
