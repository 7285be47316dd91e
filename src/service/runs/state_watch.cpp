#include "trainctl/service/runs/state_watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <iterator>
#include <string_view>

#include <spdlog/spdlog.h>

namespace trainctl::service {

namespace {

// What a logs directory's watch reports: a log appended to, created, or moved in.
constexpr uint32_t k_log_events = IN_MODIFY | IN_CREATE | IN_MOVED_TO;

// A task's log (worker-0.log, preparing.log), not another file a run keeps in logs/ (its own
// event files, say), whose writes no follower reads.
bool is_log_event(const inotify_event& event) {
  return (event.mask & k_log_events) != 0 && event.len > 0 &&
         std::string_view(event.name).ends_with(".log");
}

}  // namespace

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

bool StateWatch::track_logs(const std::map<std::string, std::filesystem::path>& logs) {
  if (!m_inotify) return !logs.empty();
  const auto forget = [&](std::map<std::string, int>::iterator it) {
    ::inotify_rm_watch(m_inotify.get(), it->second);  // fails harmlessly if the dir is gone
    m_log_descriptors.erase(it->second);
    return m_log_watches.erase(it);
  };
  for (auto it = m_log_watches.begin(); it != m_log_watches.end();) {
    it = logs.contains(it->first) ? std::next(it) : forget(it);
  }
  bool unseen = false;
  for (const auto& [id, dir] : logs) {
    // Added on every call: the directory watched already keeps its descriptor, and one that
    // took its place (a retried attempt's old logs/ is archived, a fresh one made) gets a new one.
    const int watch = ::inotify_add_watch(m_inotify.get(), dir.c_str(), k_log_events | IN_ONLYDIR);
    const int error = errno;
    const auto known = m_log_watches.find(id);
    if (known != m_log_watches.end() && known->second == watch) continue;
    if (known != m_log_watches.end()) forget(known);
    if (watch < 0) {
      // Not made yet: nothing is written in it. Any other failure (the user's inotify watches
      // are used up, say): its followers are woken on every call instead.
      unseen = unseen || error != ENOENT;
      continue;
    }
    m_log_watches.emplace(id, watch);
    m_log_descriptors.insert(watch);
    unseen = true;
  }
  return unseen;
}

StateWatch::Woken StateWatch::wait(std::chrono::milliseconds timeout) {
  Woken woken;
  std::array<pollfd, 2> entries{pollfd{m_wakeup.get(), POLLIN, 0}, pollfd{m_inotify.get(), POLLIN, 0}};
  const nfds_t count = m_inotify ? 2 : 1;
  if (::poll(entries.data(), count, static_cast<int>(timeout.count())) <= 0) return woken;
  // Drain both: what changed is read from the state files and logs, not from the events; the
  // events only say which of them to look at.
  if (m_inotify) {
    alignas(inotify_event) std::array<char, 4096> buffer{};
    ssize_t size = 0;
    while ((size = ::read(m_inotify.get(), buffer.data(), buffer.size())) > 0) {
      for (ssize_t at = 0; at < size;) {
        const auto& event = *reinterpret_cast<const inotify_event*>(buffer.data() + at);
        at += static_cast<ssize_t>(sizeof(inotify_event) + event.len);
        if ((event.mask & IN_Q_OVERFLOW) != 0) {
          woken.state = woken.logs = true;  // events were lost: look at everything
        } else if (m_log_descriptors.contains(event.wd)) {
          woken.logs = woken.logs || is_log_event(event);
        } else {
          woken.state = true;
        }
      }
    }
  }
  uint64_t ignored = 0;
  while (::read(m_wakeup.get(), &ignored, sizeof ignored) > 0) woken.state = true;
  return woken;
}

void StateWatch::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(m_wakeup.get(), &one, sizeof one);
}

}  // namespace trainctl::service
