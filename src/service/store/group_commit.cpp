#include "group_commit.hpp"

#include <utility>

namespace trainctl::service::store {

GroupCommitter::GroupCommitter(std::unique_ptr<Connection> connection, size_t max_batch)
    : m_connection(std::move(connection)), m_max_batch(max_batch) {}

Result<void> GroupCommitter::run(const Operation& operation) {
  Pending pending;
  pending.operation = &operation;
  std::unique_lock lock(m_mutex);
  m_queue.push_back(&pending);
  // Leader/follower: whoever finds no leader commits the oldest queued operations (its own
  // among them, or in a later batch); the others wait until theirs are done.
  while (!pending.done) {
    if (m_leader_active) {
      pending.wakeup.wait(lock);
      continue;
    }
    m_leader_active = true;
    std::vector<Pending*> batch;
    while (!m_queue.empty() && batch.size() < m_max_batch) {
      batch.push_back(m_queue.front());
      m_queue.pop_front();
    }
    lock.unlock();
    commit_batch(batch);
    lock.lock();
    // Each thread is woken once: when its operation is done, or when it is first in the queue
    // and so leads the next batch. Under the lock, as a done thread's Pending ends with it.
    for (auto* done : batch) {
      done->done = true;
      done->wakeup.notify_one();
    }
    m_leader_active = false;
    if (!m_queue.empty()) m_queue.front()->wakeup.notify_one();
  }
  if (pending.error) return std::unexpected(std::move(*pending.error));
  return {};
}

void GroupCommitter::commit_batch(const std::vector<Pending*>& batch) {
  auto fail_all = [&](const Error& error) {
    for (auto* pending : batch) pending->error = error;
  };
  if (auto begun = m_connection->execute("BEGIN IMMEDIATE"); !begun) return fail_all(begun.error());
  for (auto* pending : batch) {
    if (auto ran = run_in_savepoint(*pending->operation); !ran) {
      m_connection->rollback();
      return fail_all(ran.error());
    }
  }
  if (auto committed = m_connection->execute("COMMIT"); !committed) {
    m_connection->rollback();
    return fail_all(committed.error());
  }
}

Result<void> GroupCommitter::run_in_savepoint(const Operation& operation) {
  if (auto saved = m_connection->execute("SAVEPOINT operation"); !saved) return saved;
  if (operation(*m_connection)) return m_connection->execute("RELEASE operation");
  // Some failures (disk full, I/O errors) make SQLite roll back the whole transaction, and
  // with it the savepoint: then this fails and the batch is abandoned.
  return m_connection->exec("ROLLBACK TO operation; RELEASE operation");
}

}  // namespace trainctl::service::store
