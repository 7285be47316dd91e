#pragma once
// Runs a program to completion (service::run_program), handing its merged stdout and stderr to
// the caller line by line as they are produced.
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainctl/service/program.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::environments {

// Called once per line, the newline included; the last line may lack one.
using LineSink = std::function<void(std::string_view line)>;

using service::ProgramEnd;
using service::StopWhen;

// run_program with the program's stdout and stderr, merged in order, cut into lines.
Result<ProgramEnd> run_with_lines(std::vector<std::string> argv,
                                  const std::vector<std::pair<std::string, std::string>>& env,
                                  const LineSink& on_line, const StopWhen& stop_when = {});

}  // namespace trainctl::service::environments
