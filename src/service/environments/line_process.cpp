#include "line_process.hpp"

namespace trainctl::service::environments {

Result<ProgramEnd> run_with_lines(std::vector<std::string> argv,
                                  const std::vector<std::pair<std::string, std::string>>& env,
                                  const LineSink& on_line, const StopWhen& stop_when) {
  std::string pending;  // the start of a line whose end has not come yet
  const auto cut_lines = [&](std::string_view bytes) {
    pending.append(bytes);
    size_t start = 0;
    for (size_t newline; (newline = pending.find('\n', start)) != std::string::npos; start = newline + 1) {
      on_line(std::string_view(pending).substr(start, newline + 1 - start));
    }
    pending.erase(0, start);
  };
  auto end = run_program(std::move(argv), env, {.out = cut_lines, .err = {}}, stop_when);
  if (!pending.empty()) on_line(pending);
  return end;
}

}  // namespace trainctl::service::environments
