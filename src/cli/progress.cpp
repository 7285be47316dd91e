#include "trainctl/cli/progress.hpp"

#include <algorithm>
#include <ostream>
#include <string>

#include <fmt/format.h>

#include "trainctl/cli/printer.hpp"

namespace trainctl::cli {

namespace {

constexpr size_t k_bar_width = 30;
constexpr std::string_view k_erase_line = "\r\033[K";

// "  2.1 MiB/s" once some time has passed; "" before.
std::string rate_of(uint64_t bytes, std::chrono::steady_clock::duration elapsed) {
  const auto seconds = std::chrono::duration<double>(elapsed).count();
  if (seconds <= 0) return {};
  const auto per_second = static_cast<uint64_t>(static_cast<double>(bytes) / seconds);
  return fmt::format("  {}/s", format_bytes(per_second));
}

}  // namespace

ProgressReporter::ProgressReporter(std::ostream& err, bool enabled, Clock clock)
    : m_err(err), m_enabled(enabled), m_clock(std::move(clock)) {}

void ProgressReporter::update(std::string_view label, uint64_t done, uint64_t total) {
  if (!m_enabled || total == 0) return;
  const auto now = m_clock();
  if (!m_started) {
    m_started = true;
    m_start = now;
    m_start_done = done;
  } else if (m_drawn && now - m_last_draw < k_redraw_interval) {
    return;
  }
  const auto shown = std::min(done, total);
  const auto filled = static_cast<size_t>(k_bar_width * shown / total);
  m_err << fmt::format("{}{} [{}{}] {}/{}{}", k_erase_line, label, std::string(filled, '#'),
                       std::string(k_bar_width - filled, ' '), format_bytes(shown),
                       format_bytes(total), rate_of(done - std::min(done, m_start_done), now - m_start))
        << std::flush;
  m_drawn = true;
  m_last_draw = now;
}

void ProgressReporter::erase() {
  if (!m_drawn) return;
  m_err << k_erase_line << std::flush;
  m_drawn = false;
}

void ProgressReporter::finish() {
  erase();
  m_started = false;
}

}  // namespace trainctl::cli
