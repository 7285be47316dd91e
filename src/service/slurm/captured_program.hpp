#pragma once
// Runs a short program (a Slurm command) to its end (service::run_program), keeping what it
// writes to stdout and to stderr apart, and stops it (its whole process group) at a deadline.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::service::slurm {

struct CapturedOutput {
  bool timed_out = false;  // stopped at the deadline (SIGKILL to its process group)
  int status = 0;          // the exit code, or 128 + the signal that killed it
  std::string out;         // stdout, at most `max_bytes` of it
  std::string err;         // stderr, at most `max_bytes` of it
};

// Forks and execs argv[0] (an absolute path) with exactly `env`, stdin from /dev/null, every
// other descriptor of the service closed, as the leader of a process group of its own (SIGKILLed
// should the service die first); returns once it has ended, or once `deadline` has passed and
// its group has been killed and reaped. Output past `max_bytes` per stream is read and dropped.
// io error naming the program when it cannot be started (not found, not executable).
Result<CapturedOutput> run_captured(std::vector<std::string> argv,
                                    const std::vector<std::pair<std::string, std::string>>& env,
                                    std::chrono::steady_clock::time_point deadline,
                                    size_t max_bytes);

}  // namespace trainctl::service::slurm
