#pragma once
// Wakes the run watcher as soon as a run's supervisor replaces its state file, instead of at
// the next tick of its interval (inotify, IN_MOVED_TO on each active run's directory). The
// interval stays the upper bound, so nothing depends on an event arriving: a run directory
// that cannot be watched, or a kernel without inotify, only makes the watcher slower.
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service {

class StateWatch {
 public:
  StateWatch();

  // Watches exactly the directories of `runs` (id -> run directory) from now on.
  void track(const std::map<std::string, std::filesystem::path>& runs);
  // Sleeps until a watched directory gets a file renamed into it, wake() is called, or
  // `timeout` passes.
  void wait(std::chrono::milliseconds timeout);
  // Ends the current or next wait() at once; callable from any thread.
  void wake();

 private:
  util::UniqueFd m_inotify;
  util::UniqueFd m_wakeup;  // an eventfd
  std::map<std::string, int> m_watches;  // run id -> inotify watch descriptor
};

}  // namespace trainctl::service
