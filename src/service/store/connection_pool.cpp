#include "connection_pool.hpp"

#include <chrono>
#include <utility>

namespace trainctl::service::store {

ConnectionPool::Lease::~Lease() {
  if (m_connection) m_pool->release(std::move(m_connection));
}

ConnectionPool::ConnectionPool(std::filesystem::path db_path, int busy_timeout_ms,
                               size_t max_connections)
    : m_db_path(std::move(db_path)),
      m_busy_timeout_ms(busy_timeout_ms),
      m_max_connections(max_connections) {}

Result<ConnectionPool::Lease> ConnectionPool::acquire() {
  std::unique_lock lock(m_mutex);
  const bool available =
      m_released.wait_for(lock, std::chrono::milliseconds(m_busy_timeout_ms),
                          [&] { return !m_idle.empty() || m_open_count < m_max_connections; });
  if (!available) return std::unexpected(database_busy());
  if (!m_idle.empty()) {
    auto connection = std::move(m_idle.back());
    m_idle.pop_back();
    return Lease(*this, std::move(connection));
  }
  ++m_open_count;
  lock.unlock();  // opening touches the file system: do not hold up the other threads
  auto connection = Connection::open(m_db_path, AccessMode::query_only, m_busy_timeout_ms);
  if (!connection) {
    lock.lock();
    --m_open_count;
    m_released.notify_one();
    return std::unexpected(connection.error());
  }
  return Lease(*this, std::move(*connection));
}

void ConnectionPool::release(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard lock(m_mutex);
    m_idle.push_back(std::move(connection));
  }
  m_released.notify_one();
}

}  // namespace trainctl::service::store
