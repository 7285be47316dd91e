#include "trainctl/service/runs/state_watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>

#include <spdlog/spdlog.h>

namespace trainctl::service {

StateWatch::StateWatch()
    : m_inotify(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)),
      m_wakeup(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!m_inotify) spdlog::warn("inotify unavailable ({}): runs are observed by interval only", errno);
}

void StateWatch::track(const std::map<std::string, std::filesystem::path>& runs) {
  if (!m_inotify) return;
  for (auto it = m_watches.begin(); it != m_watches.end();) {
    if (runs.contains(it->first)) {
      ++it;
      continue;
    }
    ::inotify_rm_watch(m_inotify.get(), it->second);  // fails harmlessly if the dir is gone
    it = m_watches.erase(it);
  }
  for (const auto& [id, dir] : runs) {
    if (m_watches.contains(id)) continue;
    const int watch = ::inotify_add_watch(m_inotify.get(), dir.c_str(), IN_MOVED_TO | IN_ONLYDIR);
    if (watch >= 0) m_watches.emplace(id, watch);
  }
}

void StateWatch::wait(std::chrono::milliseconds timeout) {
  std::array<pollfd, 2> entries{pollfd{m_wakeup.get(), POLLIN, 0}, pollfd{m_inotify.get(), POLLIN, 0}};
  const nfds_t count = m_inotify ? 2 : 1;
  if (::poll(entries.data(), count, static_cast<int>(timeout.count())) <= 0) return;
  // Drain both: what changed is read from the state files, not from the events.
  alignas(inotify_event) std::array<char, 4096> buffer{};
  if (m_inotify) {
    while (::read(m_inotify.get(), buffer.data(), buffer.size()) > 0) {
    }
  }
  uint64_t ignored = 0;
  while (::read(m_wakeup.get(), &ignored, sizeof ignored) > 0) {
  }
}

void StateWatch::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(m_wakeup.get(), &one, sizeof one);
}

}  // namespace trainctl::service
