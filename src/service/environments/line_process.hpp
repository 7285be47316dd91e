#pragma once
// Runs a program to completion with an argv (never a shell) and an exact environment, handing
// its merged stdout and stderr to the caller line by line as they are produced.
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::service::environments {

// Called once per line, the newline included; the last line may lack one.
using LineSink = std::function<void(std::string_view line)>;

// Forks and execs argv[0] (an absolute path) with exactly `env`, stdin from /dev/null, every
// other descriptor of the service closed; waits for it. Returns its exit status: the exit code,
// or 128 + the signal that killed it. io/internal error naming the program when it could not be
// started (not found, not executable).
Result<int> run_with_lines(std::vector<std::string> argv,
                           const std::vector<std::pair<std::string, std::string>>& env,
                           const LineSink& on_line);

}  // namespace trainctl::service::environments
