#pragma once
// Starting one task of a launch plan as a process of its own.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "trainctl/service/process_tree.hpp"
#include "trainctl/spec/launch_plan.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::engines {

// The file execve should run for `program`, looked up as execvp would but on the PATH of the
// task's own environment (not the supervisor's): a name holding a '/' is taken as is; otherwise
// the first executable file of that name in PATH's directories. On failure the error message is
// for the user: "cannot start 'train': No such file or directory (searched PATH=...)".
Result<std::string> resolve_program(const spec::TaskLaunch& task);

// Starts `task`: the process leads a new process group, reads /dev/null, appends its stdout and
// stderr to task.log_file, runs in task.cwd with exactly task.env, and inherits no other
// descriptor. Returns once the program runs. When it cannot start, nothing is left running and
// the error message is for the user ("cannot start 'prog': <why>").
Result<ProcessIdentity> start_task(const spec::TaskLaunch& task);

}  // namespace trainctl::service::engines
