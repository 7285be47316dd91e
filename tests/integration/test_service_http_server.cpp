// HttpServer (trainctld's HTTP server) over real loopback sockets, with small limits: past the
// connection cap the connection waiting longest is closed and real requests are answered; a head
// over the cap is answered 431.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "support/service_fixture.hpp"
#include "trainctl/service/http_server.hpp"

using trainctl::service::HttpServer;
using namespace std::chrono_literals;
using trainctl::testing::connect_and_send;

namespace {

// What the peer sent on `fd` within 10 s, until it closed.
std::string reply_of(int fd) {
  std::string reply;
  char buffer[4096];
  pollfd poll_fd{fd, POLLIN, 0};
  while (::poll(&poll_fd, 1, 10'000) > 0) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    reply.append(buffer, static_cast<size_t>(n));
  }
  return reply;
}

class PingServer {
 public:
  PingServer()
      : m_server({.max_connections = 20, .head_deadline = 30s, .max_head_bytes = 1024,
                  .max_request_threads = 4}) {
    m_server.Get("/ping", [](const httplib::Request&, httplib::Response& response) {
      response.set_content("pong", "text/plain");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_listener = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~PingServer() {
    m_server.stop();
    m_listener.join();
    m_server.close_connections();
  }
  PingServer(const PingServer&) = delete;
  PingServer& operator=(const PingServer&) = delete;

  int port() const { return m_port; }
  HttpServer& server() { return m_server; }

 private:
  HttpServer m_server;
  int m_port = 0;
  std::thread m_listener;
};

}  // namespace

TEST_CASE("past its connection cap the server closes the longest-waiting connection and answers",
          "[service][http]") {
  PingServer ping;
  std::vector<int> idle;
  for (int i = 0; i < 40; ++i) {
    idle.push_back(connect_and_send(ping.port(), "GET /ping HTTP/1.1\r\n"));
    REQUIRE(idle.back() >= 0);
  }
  httplib::Client client("127.0.0.1", ping.port());
  const auto answered = client.Get("/ping");
  REQUIRE(answered);
  CHECK(answered->body == "pong");
  CHECK(ping.server().connection_count() <= 20);
  CHECK(reply_of(idle.front()).empty());  // the oldest was closed without a reply
  for (const int fd : idle) ::close(fd);
}

TEST_CASE("a request head over the cap is answered 431 and closed", "[service][http]") {
  PingServer ping;
  const int fd =
      connect_and_send(ping.port(), "GET /ping HTTP/1.1\r\nX-Big: " + std::string(2000, 'a'));
  REQUIRE(fd >= 0);
  CHECK_THAT(reply_of(fd), Catch::StartsWith("HTTP/1.1 431"));
  ::close(fd);
}

TEST_CASE("kept-alive and pipelined requests are answered in order", "[service][http]") {
  PingServer ping;
  const int fd = connect_and_send(
      ping.port(),
      "GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  REQUIRE(fd >= 0);
  const std::string reply = reply_of(fd);
  CHECK(reply.find("pong") != std::string::npos);
  CHECK(reply.find("pong", reply.find("pong") + 4) != std::string::npos);
  ::close(fd);
}
