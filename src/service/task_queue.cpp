#include "trainctl/service/task_queue.hpp"

#include <thread>

namespace trainctl::service {

GrowingTaskQueue::GrowingTaskQueue(size_t max_threads, std::chrono::milliseconds idle_timeout)
    : m_max_threads(max_threads), m_idle_timeout(idle_timeout) {}

GrowingTaskQueue::~GrowingTaskQueue() { shutdown(); }

void GrowingTaskQueue::enqueue(std::function<void()> task) {
  std::lock_guard lock(m_mutex);
  m_tasks.push_back(std::move(task));
  if (m_idle >= m_tasks.size()) {
    m_work_ready.notify_one();
    return;
  }
  if (m_threads < m_max_threads) {
    ++m_threads;
    std::thread([this] { worker_loop(); }).detach();
  }
}

void GrowingTaskQueue::shutdown() {
  std::unique_lock lock(m_mutex);
  m_shutdown = true;
  m_work_ready.notify_all();
  m_all_exited.wait(lock, [this] { return m_threads == 0; });
}

void GrowingTaskQueue::worker_loop() {
  std::unique_lock lock(m_mutex);
  while (true) {
    ++m_idle;
    const bool has_work = m_work_ready.wait_for(
        lock, m_idle_timeout, [this] { return !m_tasks.empty() || m_shutdown; });
    --m_idle;
    if (m_tasks.empty() && (m_shutdown || !has_work)) break;
    auto task = std::move(m_tasks.front());
    m_tasks.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
  --m_threads;
  if (m_threads == 0) m_all_exited.notify_all();
}

}  // namespace trainctl::service
