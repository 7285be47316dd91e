#pragma once
// Starting child processes: the one place that forks and execs. Everything trainctld starts (a
// run's supervisor, a task, a rank, a helper program such as pip or sbatch, a deployment's
// replica, the node agent's supervisor) and the CLI's auto-started service go through
// start_process, so every child gets the same guarantees: exactly the environment it is given,
// no descriptor of the caller except those named, signals at their defaults, and a start failure
// (no such program, a working directory that cannot be entered) reported to the caller as an
// error instead of an exit status 127 discovered later.
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainctl/util/error.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::util {

// Where a new process goes, relative to its caller.
enum class Placement {
  callers_group,  // the caller's process group (a signal to the caller's group reaches it)
  own_group,      // a process group of its own, led by the child (kill(-pid) reaches its tree)
  own_session,    // a new session (no controlling terminal: a Ctrl-C at the caller's terminal
                  // does not reach it), still the caller's child
  detached,       // a new session, re-parented away from the caller (fork twice): it outlives
                  // the caller and is never its zombie
};

struct ProcessSpec {
  // The program's arguments, argv[0] included.
  std::vector<std::string> argv{};
  // The file to run: a path, not looked up in PATH (see find_program); empty: argv[0].
  std::string program{};
  // Exactly the environment the child gets, each "NAME=value".
  std::vector<std::string> environment{};
  // Where the child runs; empty: the caller's working directory.
  std::filesystem::path cwd{};
  // Descriptors of the caller that become the child's standard streams: -1 for stdin or stdout
  // is /dev/null, -1 for stderr is wherever stdout goes.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Further descriptors the child inherits: {descriptor of the caller, number in the child}.
  // Every other descriptor is closed at exec.
  std::vector<std::pair<int, int>> inherited{};
  Placement placement = Placement::own_group;
  // The child is killed (SIGKILL) when the thread that started it ends (prctl PDEATHSIG): for
  // helpers that must never outlive the service.
  bool die_with_parent = false;
};

// Starts `spec` and returns the child's pid once it runs the program (for Placement::detached,
// the pid of the re-parented process). When the program cannot start, nothing is left running
// and the error says why, for the user, naming argv[0]: "cannot start 'train': No such file or directory" or
// "cannot start 'train': cannot enter the working directory '/x': Permission denied".
// Safe to call from a multi-threaded process: the child only makes async-signal-safe calls.
Result<pid_t> start_process(const ProcessSpec& spec);

// The search path of a child whose environment has no PATH.
inline constexpr std::string_view k_default_search_path = "/usr/local/bin:/usr/bin:/bin";

// The file execve should run for `program`, looked up as execvp would, but on `search_path` (a
// PATH value: the child's, not the caller's) with relative entries taken from `cwd`: a name
// holding a '/' is taken as is. Not found: "cannot start 'train': No such file or directory
// (searched PATH=...)".
Result<std::string> find_program(const std::string& program, std::string_view search_path,
                                 const std::filesystem::path& cwd);

// Opens `path` close-on-exec; io error naming the path on failure.
Result<UniqueFd> open_fd(const std::filesystem::path& path, int flags, mode_t mode = 0644);

}  // namespace trainctl::util
