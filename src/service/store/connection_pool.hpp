#pragma once
// A bounded pool of query-only connections. WAL lets them read concurrently with each other and
// with the writer; each keeps its own prepared-statement cache.
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "sqlite.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::store {

class ConnectionPool {
 public:
  // A connection lent to one thread; returned to the pool on destruction.
  class Lease {
   public:
    Lease(ConnectionPool& pool, std::unique_ptr<Connection> connection)
        : m_pool(&pool), m_connection(std::move(connection)) {}
    ~Lease();
    Lease(Lease&& other) noexcept = default;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;

    Connection& operator*() const { return *m_connection; }
    Connection* operator->() const { return m_connection.get(); }

   private:
    ConnectionPool* m_pool;
    std::unique_ptr<Connection> m_connection;
  };

  ConnectionPool(std::filesystem::path db_path, int busy_timeout_ms, size_t max_connections);

  // An idle connection, or a new one while fewer than max_connections exist. When all are
  // lent out, waits up to the busy timeout, then fails with unavailable.
  Result<Lease> acquire();

 private:
  void release(std::unique_ptr<Connection> connection);

  const std::filesystem::path m_db_path;
  const int m_busy_timeout_ms;
  const size_t m_max_connections;
  std::mutex m_mutex;
  std::condition_variable m_released;
  std::vector<std::unique_ptr<Connection>> m_idle;
  size_t m_open_count = 0;
};

}  // namespace trainctl::service::store
