#pragma once
// Linux process facts read from /proc: who a pid is (so a recorded pid that was reused is never
// signalled) and which processes descend from a given one (so a stop reaches every process a run
// started, including those that left their process group with setsid).
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trainctl::service {

// A process as it can be recognised later: its pid and the time it started (clock ticks after
// boot, /proc/<pid>/stat field 22). A pid that was reused has another start time.
struct ProcessIdentity {
  pid_t pid = 0;
  uint64_t start_time = 0;

  bool operator==(const ProcessIdentity&) const = default;
};

struct ProcessInfo {
  ProcessIdentity identity;
  pid_t parent = 0;
  char state = '?';  // 'R', 'S', 'D', 'Z' (zombie), ... as in /proc/<pid>/stat

  bool is_zombie() const { return state == 'Z' || state == 'X'; }
};

// The process `pid` now, or nullopt when there is none.
std::optional<ProcessInfo> read_process_info(pid_t pid);

// The identity of a live process, or nullopt when `pid` does not exist.
std::optional<ProcessIdentity> identify_process(pid_t pid);

// True when the process that `identity` recorded still runs: same pid, same start time, and
// not a zombie.
bool is_running(const ProcessIdentity& identity);

// Every process that descends from `root` through parent links, not counting `root` itself;
// zombies included, as they remain until their parent collects them. A snapshot: processes may
// appear or exit right after.
std::vector<pid_t> descendants_of(pid_t root);

// Every process whose environment holds `entry` ("NAME=value") exactly, found by reading
// /proc/<pid>/environ of the processes this process may read. A process inherits its parent's
// environment, so this finds every descendant of a process given a unique entry, also those
// that left its process group and session (setsid) and were re-parented.
std::vector<pid_t> processes_with_environment_entry(std::string_view entry);

// This machine's boot id (/proc/sys/kernel/random/boot_id): pids and start times recorded under
// another boot id name processes that no longer exist. Empty when unreadable.
std::string current_boot_id();

}  // namespace trainctl::service
