#pragma once
// The one place the service runs a helper program to its end (pip and venv, the Python probe,
// Slurm's commands): with an argv (never a shell) and an exact environment, stdin from
// /dev/null, every other descriptor of the service closed, as the leader of a process group of
// its own (SIGKILLed should the service die first), its output handed to the caller as it is
// produced, and its whole group stopped at a deadline or when the caller gives up on it. Runs'
// own processes are started by their supervisor (engines/task_launcher.hpp), which outlives the
// service.
#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::service {

// When to stop waiting for the program. Either way the program's whole process group is killed
// with SIGKILL and reaped before run_program returns.
struct StopWhen {
  std::optional<std::chrono::steady_clock::time_point> deadline;  // none: no time limit
  // Set by another thread to stop the program now; checked at least every 100 ms.
  const std::atomic<bool>* abandoned = nullptr;
};

// How the program ended.
struct ProgramEnd {
  enum class Reason { exited, timed_out, abandoned };
  Reason reason = Reason::exited;
  int status = 0;  // the exit code, or 128 + the signal that killed it (SIGKILL when stopped)
};

// Receives the program's output as it is read, in pieces of any size.
using OutputSink = std::function<void(std::string_view bytes)>;

// Where the output goes: stdout to `out`; stderr to `err`, or, when `err` is empty, to `out`
// too, through the same pipe, so the two stay in the order the program wrote them.
struct ProgramOutput {
  OutputSink out;
  OutputSink err;
};

// Starts argv[0] (an absolute path; util::start_process) with exactly `env` and waits for it to end, or stops
// it as `stop_when` says. io error naming the program when it cannot be started (not found, not
// executable); internal error when the system refuses a pipe, a fork or a wait.
Result<ProgramEnd> run_program(std::vector<std::string> argv,
                               const std::vector<std::pair<std::string, std::string>>& env,
                               const ProgramOutput& output, const StopWhen& stop_when = {});

}  // namespace trainctl::service
