#include "captured_program.hpp"

#include <algorithm>

#include "trainctl/service/program.hpp"

namespace trainctl::service::slurm {

Result<CapturedOutput> run_captured(std::vector<std::string> argv,
                                    const std::vector<std::pair<std::string, std::string>>& env,
                                    std::chrono::steady_clock::time_point deadline,
                                    size_t max_bytes) {
  CapturedOutput output;
  const auto keep_in = [max_bytes](std::string& sink) {
    return [&sink, max_bytes](std::string_view bytes) {
      sink.append(bytes.substr(0, max_bytes - std::min(max_bytes, sink.size())));
    };
  };
  auto end = run_program(std::move(argv), env,
                         {.out = keep_in(output.out), .err = keep_in(output.err)},
                         {.deadline = deadline, .abandoned = nullptr});
  if (!end) return fail(end.error());
  output.timed_out = end->reason == ProgramEnd::Reason::timed_out;
  output.status = end->status;
  return output;
}

}  // namespace trainctl::service::slurm
