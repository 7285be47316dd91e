#pragma once
// The HTTP server's worker pool (RELIABILITY 29). It grows on demand: a task goes to an idle
// thread when there is one, else to a new thread, up to a cap; past the cap tasks wait in order.
// Threads idle for longer than the idle timeout exit. Long-lived requests (log followers, long
// polls) therefore never starve short ones.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include <httplib.h>

namespace trainctl::service {

class GrowingTaskQueue final : public httplib::TaskQueue {
 public:
  explicit GrowingTaskQueue(size_t max_threads = 2048,
                            std::chrono::milliseconds idle_timeout = std::chrono::seconds(30));
  ~GrowingTaskQueue() override;  // shuts down if not done yet

  void enqueue(std::function<void()> task) override;
  // Runs every queued task, then waits for every thread to exit.
  void shutdown() override;

 private:
  void worker_loop();

  const size_t m_max_threads;
  const std::chrono::milliseconds m_idle_timeout;
  std::mutex m_mutex;
  std::condition_variable m_work_ready;
  std::condition_variable m_all_exited;
  std::deque<std::function<void()>> m_tasks;
  size_t m_threads = 0;
  size_t m_idle = 0;
  bool m_shutdown = false;
};

}  // namespace trainctl::service
