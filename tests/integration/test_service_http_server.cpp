// HttpServer (trainctld's HTTP server) over real loopback sockets, with small limits: past the
// connection cap the connection waiting longest is closed and real requests are answered; a head
// over the cap is answered 431; replies of every shape (a head with its body, a HEAD's head, a
// streamed reply, a body larger than the socket's buffers) arrive whole and in order.
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
    m_server.Get("/big", [](const httplib::Request&, httplib::Response& response) {
      response.set_content(big_body(), "text/plain");
    });
    m_server.Get("/stream", [](const httplib::Request&, httplib::Response& response) {
      response.set_chunked_content_provider("text/plain", [](size_t, httplib::DataSink& sink) {
        sink.write("chunk", 5);
        sink.done();
        return true;
      });
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

  // 16 MiB, more than the sockets buffer: its sending waits for the reader.
  static const std::string& big_body() {
    static const std::string body = [] {
      std::string text;
      for (int i = 0; text.size() < (16u << 20); ++i) text += std::to_string(i) + "\n";
      return text;
    }();
    return body;
  }

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

TEST_CASE("replies arrive whole: a HEAD's head alone, a streamed reply, a body the reader takes "
          "slowly",
          "[service][http]") {
  PingServer ping;

  SECTION("a HEAD request gets the head alone, and the next request on the connection its reply") {
    const int fd = connect_and_send(
        ping.port(),
        "HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    REQUIRE(fd >= 0);
    const std::string reply = reply_of(fd);
    ::close(fd);
    const size_t second = reply.find("HTTP/1.1 200", 1);
    REQUIRE(reply.starts_with("HTTP/1.1 200"));
    REQUIRE(second != std::string::npos);
    const std::string head_reply = reply.substr(0, second);
    CHECK_THAT(head_reply, Catch::Contains("Content-Length: 4") && Catch::EndsWith("\r\n\r\n"));
    CHECK_THAT(reply.substr(second), Catch::EndsWith("\r\n\r\npong"));
  }

  SECTION("a streamed (chunked) reply arrives whole") {
    const int fd = connect_and_send(ping.port(),
                                    "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    REQUIRE(fd >= 0);
    const std::string reply = reply_of(fd);
    ::close(fd);
    CHECK_THAT(reply, Catch::StartsWith("HTTP/1.1 200") && Catch::Contains("Transfer-Encoding: chunked"));
    CHECK_THAT(reply, Catch::EndsWith("\r\n\r\n5\r\nchunk\r\n0\r\n\r\n"));
  }

  SECTION("a body far larger than the socket buffers arrives whole to a slow reader") {
    const int fd = connect_and_send(ping.port(),
                                    "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    REQUIRE(fd >= 0);
    std::this_thread::sleep_for(200ms);  // the server fills the buffers and waits
    const std::string reply = reply_of(fd);
    ::close(fd);
    const size_t body_at = reply.find("\r\n\r\n");
    REQUIRE(body_at != std::string::npos);
    CHECK_THAT(reply.substr(0, body_at),
               Catch::Contains("Content-Length: " + std::to_string(PingServer::big_body().size())));
    CHECK(reply.substr(body_at + 4) == PingServer::big_body());
  }
}
