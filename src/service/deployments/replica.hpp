#pragma once
// One replica of a deployment: a harness process (scoring_harness.py) that trainctld starts,
// talks to over a socketpair (length-prefixed JSON frames on the child's descriptor 3), and
// supervises from a thread of its own: init() bounded by a timeout, a crash after init
// restarted with exponential backoff, and stop() that lets the request in flight finish.
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "trainctl/service/deployments.hpp"
#include "trainctl/util/error.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service::deployments {

struct ReplicaLaunch {
  std::vector<std::string> argv;  // argv[0] is the interpreter (a path, or a name on PATH)
  std::vector<std::string> env;   // "NAME=value", the whole environment
  std::filesystem::path cwd;
  std::filesystem::path log_file;  // stdout and stderr, appended
  std::chrono::milliseconds init_timeout{0};
  std::chrono::milliseconds request_timeout{0};
};

class Replica {
 public:
  // `on_change` is called (without any lock of the replica held) whenever the replica's state
  // changes or it becomes free for the next request.
  Replica(int index, ReplicaLaunch launch, std::function<void()> on_change);
  ~Replica();  // stop()
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  void start();  // starts the supervising thread, which starts the process
  // Takes no new request, waits for the one in flight, then SIGTERM (SIGKILL after a grace
  // period) to the replica's process group, and joins the thread. Idempotent.
  void stop();

  ReplicaStatus status() const;
  bool ready() const;
  bool failed() const;
  // Reserves the replica for one call() when it is ready and idle.
  bool try_acquire();
  // After a successful try_acquire: one run() call; frees the replica.
  Result<ScoreReply> call(const std::string& body);

 private:
  void supervise();
  // One process from fork to exit; false when the replica must not be started again.
  bool run_once();
  Result<pid_t> spawn(util::UniqueFd& channel) const;
  // Waits for the harness's first frame: ready, init_failed (invalid_argument with the
  // exception's last line), the channel's end (unavailable), or init_timeout (timeout).
  Result<void> await_ready(int channel);
  void set_state(std::string state, std::string message);
  std::string restarted_message() const;  // "" before the first restart
  void release();

  const int m_index;
  // SIGKILLs every process still holding the replica's marker in its environment: daemons its
  // processes started outside its process group. Called once its process has ended.
  void kill_left_processes() const;

  ReplicaLaunch m_launch;              // its env ends with m_marker
  const std::string m_marker;          // "TRAINCTL_REPLICA=<random>": this replica's processes
  const std::function<void()> m_on_change;
  mutable std::mutex m_mutex;
  std::condition_variable m_wake;  // busy released, pid reaped, or stop asked
  std::string m_state = "starting";
  std::string m_message;
  pid_t m_pid = 0;
  int m_restarts = 0;
  std::string m_last_exit;  // how the last process that had been ready ended
  bool m_busy = false;
  bool m_stopping = false;
  util::UniqueFd m_channel;  // used by the holder of m_busy while ready
  std::thread m_thread;
};

}  // namespace trainctl::service::deployments
