#pragma once
// Group commit: writes that arrive together share one BEGIN IMMEDIATE ... COMMIT, and so one
// fsync of the WAL, each in its own savepoint. With synchronous=FULL a commit costs a disk
// flush (milliseconds), so this is what lets many concurrent durable submissions through.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "sqlite.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::store {

class GroupCommitter {
 public:
  // An operation applies its changes on the connection and returns whether to keep them.
  using Operation = std::function<bool(Connection&)>;

  GroupCommitter(std::unique_ptr<Connection> connection, size_t max_batch);

  // Runs `operation` in a write transaction, possibly together with other threads' operations,
  // and returns once that transaction is durable. A rejected operation (false) rolls back its
  // own changes only. Operations in one transaction run one after another, so each sees the
  // changes of those before it. Fails, with every operation of the transaction undone, when
  // the transaction cannot begin (another process holds the lock past the busy timeout:
  // unavailable) or cannot commit.
  Result<void> run(const Operation& operation);

 private:
  struct Pending {
    const Operation* operation = nullptr;
    std::optional<Error> error;  // the transaction's failure, if it failed
    bool done = false;
    std::condition_variable wakeup;  // its thread's, while a leader commits
  };

  // Runs `batch` in one transaction; sets each one's error when the transaction fails.
  void commit_batch(const std::vector<Pending*>& batch);
  // Runs one operation inside a savepoint; fails only when the transaction itself is broken.
  Result<void> run_in_savepoint(const Operation& operation);

  std::unique_ptr<Connection> m_connection;
  const size_t m_max_batch;
  std::mutex m_mutex;
  std::deque<Pending*> m_queue;
  bool m_leader_active = false;  // one thread at a time commits batches on m_connection
};

}  // namespace trainctl::service::store
