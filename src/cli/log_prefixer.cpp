#include "trainctl/cli/log_prefixer.hpp"

#include <fmt/format.h>

namespace trainctl::cli {

bool LogPrefixer::prefixes(std::string_view task) { return task != "main"; }

std::string LogPrefixer::apply(std::string_view task, std::string_view data) {
  if (!prefixes(task) || data.empty()) return std::string(data);
  const std::string prefix = fmt::format("[{}] ", task);
  const auto mid_line = m_mid_line.find(task);
  bool at_line_start = mid_line == m_mid_line.end();
  std::string out;
  out.reserve(data.size() + prefix.size());
  for (size_t start = 0; start < data.size();) {
    const size_t newline = data.find('\n', start);
    const size_t end = newline == std::string_view::npos ? data.size() : newline + 1;
    if (at_line_start) out += prefix;
    out.append(data.substr(start, end - start));
    at_line_start = newline != std::string_view::npos;
    start = end;
  }
  if (at_line_start && mid_line != m_mid_line.end()) m_mid_line.erase(mid_line);
  if (!at_line_start && mid_line == m_mid_line.end()) m_mid_line.emplace(task);
  return out;
}

}  // namespace trainctl::cli
