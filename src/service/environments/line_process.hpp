#pragma once
// Runs a program to completion with an argv (never a shell) and an exact environment, handing
// its merged stdout and stderr to the caller line by line as they are produced, and stops it
// (its whole process group) at a deadline or when the caller gives up on it.
#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::service::environments {

// Called once per line, the newline included; the last line may lack one.
using LineSink = std::function<void(std::string_view line)>;

// When to stop waiting for the program. Either way the program's whole process group (it leads
// one of its own) is killed with SIGKILL and reaped before run_with_lines returns.
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

// Forks and execs argv[0] (an absolute path) with exactly `env`, stdin from /dev/null, every
// other descriptor of the service closed, as the leader of a process group of its own (and
// SIGKILLed should the calling thread die first: trainctld killed); waits for it, or stops it as
// `stop_when` says. io/internal error naming the program when it could not be
// started (not found, not executable).
Result<ProgramEnd> run_with_lines(std::vector<std::string> argv,
                                  const std::vector<std::pair<std::string, std::string>>& env,
                                  const LineSink& on_line, const StopWhen& stop_when = {});

}  // namespace trainctl::service::environments
