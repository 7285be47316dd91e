#include "trainctl/cli/reconnect.hpp"

#include <algorithm>
#include <thread>

#include "trainctl/cli/session.hpp"

namespace trainctl::cli {
namespace {

void sleep_unless_interrupted(std::chrono::milliseconds delay) {
  constexpr std::chrono::milliseconds slice{100};
  for (auto left = delay; left.count() > 0 && !InterruptScope::interrupted(); left -= slice) {
    std::this_thread::sleep_for(std::min(left, slice));
  }
}

}  // namespace

Reconnect::Reconnect(std::chrono::milliseconds patience, Sleep sleep, OnOutage on_outage)
    : m_patience(patience),
      m_sleep(sleep ? std::move(sleep) : Sleep(sleep_unless_interrupted)),
      m_on_outage(std::move(on_outage)) {}

bool Reconnect::is_transient(const Error& error) {
  return error.code == ErrorCode::unavailable || error.code == ErrorCode::too_many_requests;
}

bool Reconnect::wait(const Error& error) {
  if (m_waited >= m_patience || InterruptScope::interrupted()) return false;
  if (!m_in_outage) {
    m_in_outage = true;
    if (m_on_outage) m_on_outage(error);
  }
  std::chrono::milliseconds delay = m_next_delay;
  if (error.retry_after_seconds > 0) {
    delay = std::chrono::seconds(error.retry_after_seconds);
  } else {
    m_next_delay = std::min(m_next_delay * 2, k_longest_delay);
  }
  delay = std::min(delay, m_patience - m_waited);
  m_sleep(delay);
  m_waited += delay;
  return true;
}

void Reconnect::reset() {
  m_next_delay = k_first_delay;
  m_waited = std::chrono::milliseconds(0);
  m_in_outage = false;
}

}  // namespace trainctl::cli
