#pragma once
// Wakes the run watcher as soon as a run's supervisor replaces its state file, instead of at
// the next tick of its interval (inotify, IN_MOVED_TO on each active run's directory), and as
// soon as a followed run's log grows (IN_MODIFY on its logs/ directory: whoever appends, the
// task itself or the service for a node agent's piece), so log followers get a line when it is
// written. The interval stays the upper bound, so nothing depends on an event arriving: a
// directory that cannot be watched, or a kernel without inotify, only makes the watcher slower.
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

  // What ended a wait(); neither when it timed out.
  struct Woken {
    bool state = false;  // a state file was renamed into a run directory, or wake() was called
    bool logs = false;   // a watched log (a *.log file of a watched logs directory) was written
  };

  // Watches exactly the directories of `runs` (id -> run directory) from now on.
  void track(const std::map<std::string, std::filesystem::path>& runs);
  // Watches exactly the logs directories of `logs` (id -> logs directory) from now on. Returns
  // true when a log may have grown unseen: a watch was (re)placed this call (the directory is
  // new, or a retried attempt's was archived and a fresh one made), or a directory that exists
  // cannot be watched, or inotify is unavailable and `logs` is not empty. A directory that does
  // not exist yet is watched once it does.
  bool track_logs(const std::map<std::string, std::filesystem::path>& logs);
  // Sleeps until a watched directory gets a file renamed into it, a watched log is written,
  // wake() is called, or `timeout` passes.
  Woken wait(std::chrono::milliseconds timeout);
  // Ends the current or next wait() at once; callable from any thread.
  void wake();

 private:
  util::UniqueFd m_inotify;
  util::UniqueFd m_wakeup;  // an eventfd
  std::map<std::string, int> m_watches;      // run id -> watch descriptor of its directory
  std::map<std::string, int> m_log_watches;  // run id -> watch descriptor of its logs/
  std::set<int> m_log_descriptors;           // the values of m_log_watches
};

}  // namespace trainctl::service
