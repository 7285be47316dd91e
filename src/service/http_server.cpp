#include "trainctl/service/http_server.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "trainctl/service/task_queue.hpp"

namespace trainctl::service {
namespace {

using Clock = std::chrono::steady_clock;

// Runs each task at once on the thread that enqueues it: cpp-httplib's accept loop, whose only
// task per connection is handing it to the event thread.
class InlineTaskQueue final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> task) override { task(); }
  void shutdown() override {}
};

// A request head ends at its first empty line; cpp-httplib takes "\n" line ends as well as "\r\n".
bool head_complete(std::string_view bytes) {
  return bytes.find("\n\r\n") != std::string_view::npos || bytes.find("\n\n") != std::string_view::npos;
}

constexpr size_t k_read_chunk = 16 * 1024;

struct Connection {
  int fd = -1;
  std::string buffer;  // bytes read from the socket; those from `offset` on are not consumed yet
  size_t offset = 0;
  Clock::time_point waiting_since;
  size_t requests_left = 1;
  bool active = false;  // being answered on a worker thread

  std::string_view unconsumed() const { return std::string_view(buffer).substr(offset); }
  void compact() {
    buffer.erase(0, offset);
    offset = 0;
  }
};

// cpp-httplib's view of a connection: the bytes the event thread read first, then the socket.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(Connection& connection, time_t read_sec, time_t read_usec, time_t write_sec,
                   time_t write_usec)
      : m_connection(connection),
        m_read_ms(static_cast<int>(read_sec * 1000 + read_usec / 1000)),
        m_write_ms(static_cast<int>(write_sec * 1000 + write_usec / 1000)) {}

  bool is_readable() const override {
    return m_connection.offset < m_connection.buffer.size() || wait_for(POLLIN, m_read_ms);
  }

  bool is_writable() const override { return wait_for(POLLOUT, m_write_ms) && is_alive(); }

  ssize_t read(char* ptr, size_t size) override {
    auto& connection = m_connection;
    if (connection.offset >= connection.buffer.size()) {
      if (!is_readable()) return -1;
      if (size >= k_read_chunk) return receive(ptr, size);
      connection.buffer.resize(k_read_chunk);
      connection.offset = 0;
      const ssize_t received = receive(connection.buffer.data(), k_read_chunk);
      connection.buffer.resize(received > 0 ? static_cast<size_t>(received) : 0);
      if (received <= 0) return received;
    }
    const size_t count = std::min(size, connection.buffer.size() - connection.offset);
    std::memcpy(ptr, connection.buffer.data() + connection.offset, count);
    connection.offset += count;
    return static_cast<ssize_t>(count);
  }

  // cpp-httplib writes a reply's head, then its body. A head announcing a body of known length
  // is held and goes out with the body's first bytes: one segment instead of two, and one
  // wake-up of the client. Other heads (chunked streams, empty bodies) go at once.
  ssize_t write(const char* ptr, size_t size) override {
    const std::string_view data(ptr, size);
    const bool first = std::exchange(m_first_write, false);
    if (first && announces_body(data)) {
      m_held_head.assign(data);
      return static_cast<ssize_t>(size);
    }
    return send_with_held_head(data);
  }

  // Sends a head still held (a HEAD request's, or one whose body never came).
  bool flush() { return m_held_head.empty() || send_with_held_head({}) >= 0; }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(::getsockname, ip, port);
  }
  socket_t socket() const override { return m_connection.fd; }

 private:
  // A reply head ("HTTP/1.1 200 OK\r\n...\r\n\r\n") with a Content-Length above 0.
  static bool announces_body(std::string_view data) {
    if (!data.starts_with("HTTP/1.") || !data.ends_with("\r\n\r\n")) return false;
    constexpr std::string_view k_length = "\r\nContent-Length: ";
    const size_t at = data.find(k_length);
    if (at == std::string_view::npos) return false;
    const char first = data[at + k_length.size()];
    return first >= '1' && first <= '9';
  }

  // Sends the held head, if any, then `body`, waiting up to the write timeout whenever the
  // socket is full. Returns the bytes of `body` sent (the head is always sent whole first), or
  // -1 when the peer is gone or the time is up (the head is dropped then: the reply is lost).
  ssize_t send_with_held_head(std::string_view body) {
    const ssize_t sent = send_parts(body);
    if (sent < 0) m_held_head.clear();
    return sent;
  }

  ssize_t send_parts(std::string_view body) {
    while (true) {
      iovec parts[2];
      int count = 0;
      if (!m_held_head.empty()) parts[count++] = {m_held_head.data(), m_held_head.size()};
      if (!body.empty()) parts[count++] = {const_cast<char*>(body.data()), body.size()};
      if (count == 0) return 0;
      msghdr message{};
      message.msg_iov = parts;
      message.msg_iovlen = static_cast<size_t>(count);
      const ssize_t sent = ::sendmsg(m_connection.fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0) {
        if (errno == EINTR) continue;
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_for(POLLOUT, m_write_ms)) return -1;
        continue;
      }
      const size_t of_head = std::min(static_cast<size_t>(sent), m_held_head.size());
      m_held_head.erase(0, of_head);
      if (!m_held_head.empty()) continue;
      return sent - static_cast<ssize_t>(of_head);
    }
  }

  bool wait_for(short events, int timeout_ms) const {
    pollfd poll_fd{m_connection.fd, events, 0};
    int ready;
    do {
      ready = ::poll(&poll_fd, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    return ready > 0;
  }

  // As cpp-httplib judges a socket alive: nothing to read, or something that is not the end.
  bool is_alive() const {
    if (!wait_for(POLLIN, 0)) return true;
    char byte;
    return ::recv(m_connection.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  ssize_t receive(char* ptr, size_t size) const {
    ssize_t received;
    do {
      received = ::recv(m_connection.fd, ptr, size, 0);
    } while (received < 0 && errno == EINTR);
    return received;
  }

  using NameFunction = int (*)(int, sockaddr*, socklen_t*);
  void address_of(NameFunction name_of, std::string& ip, int& port) const {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (name_of(m_connection.fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return;
    char host[NI_MAXHOST];
    char service[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&address), length, host, sizeof host, service,
                      sizeof service, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
      return;
    }
    ip = host;
    port = std::atoi(service);
  }

  Connection& m_connection;
  const int m_read_ms;
  const int m_write_ms;
  std::string m_held_head;  // a reply head waiting for its body's first bytes
  bool m_first_write = true;  // only a reply's first write can be its head
};

}  // namespace

namespace {

// `limits` with the connection cap lowered to what the open-file limit allows, with room for the
// database, logs and runs' files.
HttpServerLimits within_file_limit(HttpServerLimits limits) {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    const auto soft = static_cast<size_t>(files.rlim_cur);
    limits.max_connections = std::min(limits.max_connections, soft > 512 ? soft - 256 : soft / 2);
  }
  return limits;
}

}  // namespace

struct HttpServer::Gate {
  explicit Gate(HttpServerLimits limits_in)
      : limits(within_file_limit(limits_in)), workers(limits_in.max_request_threads) {}

  // Reads what the socket holds (stopping once a head is complete or the head cap is passed);
  // false when the peer is gone.
  bool read_available(Connection& connection) const {
    char chunk[k_read_chunk];
    while (true) {
      const ssize_t received = ::recv(connection.fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (received == 0) return false;
      if (received < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      connection.buffer.append(chunk, static_cast<size_t>(received));
      const std::string_view unconsumed = connection.unconsumed();
      if (head_complete(unconsumed) || unconsumed.size() > limits.max_head_bytes) return true;
    }
  }

  void watch_locked(int fd) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    event.data.fd = fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
  }

  void close_locked(int fd) {
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    connections.erase(fd);
  }

  void dispatch_locked(Connection& connection, bool watched) {
    connection.active = true;
    if (watched) ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, connection.fd, nullptr);
    const int fd = connection.fd;
    workers.enqueue([this, fd] { serve(fd); });
  }

  // A head that cannot be complete under the cap: 431 and closed.
  void refuse_head_locked(int fd) {
    constexpr std::string_view reply =
        "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
        "Content-Length: 92\r\nConnection: close\r\n\r\n"
        R"({"error":{"code":"invalid_argument","message":"the request head is over 64 KiB","details":[]}})";
    (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    close_locked(fd);
  }

  // Reads what the socket holds and acts on it: a complete head goes to a worker, a peer that
  // left or a head over the cap is closed. True when the connection still waits for its head.
  bool advance_locked(Connection& connection, bool watched) {
    if (!read_available(connection)) {
      close_locked(connection.fd);
    } else if (head_complete(connection.unconsumed())) {
      dispatch_locked(connection, watched);
    } else if (connection.unconsumed().size() > limits.max_head_bytes) {
      refuse_head_locked(connection.fd);
    } else {
      return true;
    }
    return false;
  }

  void on_readable(int fd) {
    std::lock_guard lock(mutex);
    const auto found = connections.find(fd);
    if (found == connections.end() || found->second->active) return;
    advance_locked(*found->second, /*watched=*/true);
  }

  void close_expired() {
    std::lock_guard lock(mutex);
    const auto now = Clock::now();
    std::vector<int> expired;
    for (const auto& [fd, connection] : connections) {
      if (!connection->active && now - connection->waiting_since > limits.head_deadline) {
        expired.push_back(fd);
      }
    }
    for (const int fd : expired) close_locked(fd);
  }

  void event_loop() {
    auto next_sweep = Clock::now();
    epoll_event ready_events[256];
    while (!stopping) {
      const int ready = ::epoll_wait(epoll_fd, ready_events, 256, 250);
      for (int i = 0; i < ready; ++i) {
        if (ready_events[i].data.fd != wake_fd) on_readable(ready_events[i].data.fd);
      }
      if (Clock::now() >= next_sweep) {
        close_expired();
        next_sweep = Clock::now() + std::chrono::milliseconds(250);
      }
    }
  }

  // Takes a new connection, closing the one waiting longest when at the cap. False when the
  // new one had to be closed instead.
  bool admit(int fd, size_t requests) {
    std::lock_guard lock(mutex);
    if (stopping) return false;
    if (connections.size() >= limits.max_connections) {
      int oldest = -1;
      auto oldest_since = Clock::time_point::max();
      for (const auto& [other, connection] : connections) {
        if (!connection->active && connection->waiting_since < oldest_since) {
          oldest = other;
          oldest_since = connection->waiting_since;
        }
      }
      if (oldest < 0) return false;
      close_locked(oldest);
    }
    auto connection = std::make_unique<Connection>();
    connection->fd = fd;
    connection->waiting_since = Clock::now();
    connection->requests_left = std::max<size_t>(requests, 1);
    Connection& added = *connections.emplace(fd, std::move(connection)).first->second;
    // A client sends its request as soon as it connects, so the head is usually here already:
    // then it goes to a worker at once, without a round through the event thread.
    if (advance_locked(added, /*watched=*/false)) watch_locked(fd);
    return true;
  }

  // Back from a worker: waits for the next head, or is closed when the service stops.
  void release(Connection& connection) {
    std::lock_guard lock(mutex);
    if (stopping) {
      close_locked(connection.fd);
      return;
    }
    connection.active = false;
    connection.waiting_since = Clock::now();
    watch_locked(connection.fd);
  }

  void close_active(int fd) {
    std::lock_guard lock(mutex);
    close_locked(fd);
  }

  Connection* find(int fd) {
    std::lock_guard lock(mutex);
    const auto found = connections.find(fd);
    return found == connections.end() ? nullptr : found->second.get();
  }

  const HttpServerLimits limits;
  int epoll_fd = -1;
  int wake_fd = -1;
  mutable std::mutex mutex;
  std::unordered_map<int, std::unique_ptr<Connection>> connections;
  std::atomic<bool> stopping{false};
  bool closed = false;
  std::function<void(int)> serve;
  std::thread events;
  GrowingTaskQueue workers;
};

HttpServer::HttpServer(HttpServerLimits limits) : m_gate(std::make_unique<Gate>(limits)) {
  new_task_queue = [] { return new InlineTaskQueue(); };
  m_gate->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  m_gate->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.fd = m_gate->wake_fd;
  ::epoll_ctl(m_gate->epoll_fd, EPOLL_CTL_ADD, m_gate->wake_fd, &wake);
  m_gate->serve = [this](int fd) { serve(fd); };
  m_gate->events = std::thread([gate = m_gate.get()] { gate->event_loop(); });
}

HttpServer::~HttpServer() { close_connections(); }

size_t HttpServer::connection_count() const {
  std::lock_guard lock(m_gate->mutex);
  return m_gate->connections.size();
}

void HttpServer::close_connections() {
  auto& gate = *m_gate;
  if (gate.closed) return;
  gate.closed = true;
  {
    std::lock_guard lock(gate.mutex);
    gate.stopping = true;
  }
  const uint64_t one = 1;
  (void)::write(gate.wake_fd, &one, sizeof one);
  if (gate.events.joinable()) gate.events.join();
  {
    std::lock_guard lock(gate.mutex);
    std::vector<int> waiting;
    for (const auto& [fd, connection] : gate.connections) {
      if (!connection->active) waiting.push_back(fd);
    }
    for (const int fd : waiting) gate.close_locked(fd);
  }
  gate.workers.shutdown();  // the requests being answered finish and close their connections
  ::close(gate.wake_fd);
  ::close(gate.epoll_fd);
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  ::fcntl(sock, F_SETFD, FD_CLOEXEC);
  if (!m_gate->admit(sock, keep_alive_max_count_)) {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return false;
  }
  return true;
}

void HttpServer::serve(int fd) {
  Connection* connection = m_gate->find(fd);
  if (connection == nullptr) return;
  while (true) {
    ConnectionStream stream(*connection, read_timeout_sec_, read_timeout_usec_, write_timeout_sec_,
                            write_timeout_usec_);
    const bool close_connection =
        connection->requests_left <= 1 || svr_sock_ == INVALID_SOCKET || m_gate->stopping;
    bool connection_closed = false;
    const bool processed = process_request(stream, close_connection, connection_closed, nullptr);
    const bool answered = processed && stream.flush();
    --connection->requests_left;
    if (!answered || connection_closed || close_connection) {
      m_gate->close_active(fd);
      return;
    }
    connection->compact();
    if (!head_complete(connection->unconsumed())) break;  // else the next request is here already
  }
  m_gate->release(*connection);
}

}  // namespace trainctl::service
