#pragma once
// trainctld's HTTP server (RELIABILITY 39): cpp-httplib's request handling, with the connections
// themselves kept by one event thread. A request gets a thread of the worker pool only once its
// whole head (request line and headers) has arrived; a connection waiting for its next request,
// or sending its head slowly, holds no thread. So thousands of slow or idle connections (slowloris)
// cost a file descriptor each, never a thread, and cannot starve real requests.
#include <chrono>
#include <cstddef>
#include <memory>

#include <httplib.h>

namespace trainctl::service {

struct HttpServerLimits {
  // Open connections in all (lowered to the open-file limit less 256 when that is smaller). At
  // the cap, a new connection closes the one that has waited longest for its next request head
  // (the new one is closed when every connection is being answered).
  size_t max_connections = 8192;
  // From accept, or from the end of the previous reply on a kept-alive connection, until the
  // request head has arrived in full; then the connection is closed without a reply.
  std::chrono::milliseconds head_deadline = std::chrono::seconds(10);
  // The largest request head; a longer one is answered 431 and closed.
  size_t max_head_bytes = 64 * 1024;
  // Requests answered at once (log followers and long polls hold theirs); past it they wait in
  // order.
  size_t max_request_threads = 2048;
};

class HttpServer final : public httplib::Server {
 public:
  explicit HttpServer(HttpServerLimits limits = {});
  ~HttpServer() override;  // close_connections() if not done yet

  // Connections open now (waiting for a head or being answered).
  size_t connection_count() const;

  // After listen_after_bind() has returned: closes every connection waiting for a request and
  // waits for the requests being answered to finish.
  void close_connections();

 private:
  // Called by cpp-httplib for each accepted connection: hands it to the event thread at once.
  bool process_and_close_socket(socket_t sock) override;

  struct Gate;
  void serve(int fd);  // on a worker thread: answers the connection's requests while heads are complete

  std::unique_ptr<Gate> m_gate;
};

}  // namespace trainctl::service
