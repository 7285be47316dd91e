// Both transports (libcurl's and the loopback one the CLI uses for a local service) over real
// HTTP, against an in-process cpp-httplib server: keep-alive, uploads, streaming, timeouts and
// unreachable services. Every test runs once with each.
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "support/service_fixture.hpp"
#include "trainctl/client/api_client.hpp"
#include "trainctl/util/fs.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::client::HttpRequest;
using trainctl::client::ClientOptions;
using trainctl::client::Transport;

// The transport under test: each test case runs once with each.
std::unique_ptr<Transport> transport_under_test(const ClientOptions& options) {
  const bool loopback = GENERATE(false, true);
  UNSCOPED_INFO((loopback ? "loopback transport" : "libcurl transport"));
  if (!loopback) return trainctl::client::make_curl_transport(options);
  auto transport = trainctl::client::make_loopback_transport(options);
  REQUIRE(transport != nullptr);
  return transport;
}

// An HTTP server on a free loopback port, serving until destroyed.
class TestServer {
 public:
  TestServer() {
    m_server.new_task_queue = [] { return new httplib::ThreadPool(4); };
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~TestServer() {
    m_server.stop();
    m_thread.join();
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  httplib::Server& routes() { return m_server; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(m_port); }

 private:
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
};

// A loopback port with nothing listening on it.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

HttpRequest get(std::string target) {
  HttpRequest request;
  request.method = "GET";
  request.target = std::move(target);
  return request;
}

}  // namespace

TEST_CASE("consecutive requests reuse one connection", "[client][transport]") {
  TestServer server;
  std::mutex mutex;
  std::set<int> client_ports;
  server.routes().Get("/v1/health", [&](const httplib::Request& request, httplib::Response& reply) {
    const std::lock_guard lock(mutex);
    client_ports.insert(request.remote_port);
    reply.set_header("X-Reply", "yes");
    reply.set_content(R"({"status":"ok"})", "application/json");
  });
  const auto transport = transport_under_test({.endpoint = server.endpoint(), .token = ""});

  for (int i = 0; i < 3; ++i) {
    const auto response = transport->send(get("/v1/health"));
    REQUIRE(response.has_value());
    CHECK(response->status == 200);
    CHECK(response->body == R"({"status":"ok"})");
    CHECK(response->header("x-reply") == "yes");
  }
  CHECK(client_ports.size() == 1);
}

TEST_CASE("an API call carries the token and its JSON body", "[client][transport]") {
  TestServer server;
  std::string authorization;
  std::string content_type;
  std::string body;
  server.routes().Post("/v1/workspaces",
                       [&](const httplib::Request& request, httplib::Response& reply) {
                         authorization = request.get_header_value("Authorization");
                         content_type = request.get_header_value("Content-Type");
                         body = request.body;
                         reply.status = 201;
                         reply.set_content(R"({"name":"ws1"})", "application/json");
                       });
  trainctl::client::ApiClient client(
      transport_under_test({.endpoint = server.endpoint(), .token = "tok"}), "tok");

  const auto created = client.create_workspace("ws1", "");

  REQUIRE(created.has_value());
  CHECK(authorization == "Bearer tok");
  CHECK(content_type == "application/json");
  CHECK(nlohmann::json::parse(body)["name"] == "ws1");
}

TEST_CASE("a file body is streamed with its length and without Expect", "[client][transport]") {
  TestServer server;
  const trainctl::testing::TempDir dir;
  const std::string content(3 << 20, 'z');
  const auto file = dir.path() / "blob.bin";
  REQUIRE(trainctl::util::write_file_atomic(file, content).has_value());
  httplib::Headers seen;
  size_t received = 0;
  server.routes().Put("/v1/workspaces/default/blobs/abc",
                      [&](const httplib::Request& request, httplib::Response& reply) {
                        seen = request.headers;
                        received = request.body.size();
                        reply.status = 201;
                      });
  HttpRequest upload;
  upload.method = "PUT";
  upload.target = "/v1/workspaces/default/blobs/abc";
  upload.headers = {{"Content-Type", "application/octet-stream"}};
  upload.body_file = file;

  const auto response =
      transport_under_test({.endpoint = server.endpoint(), .token = ""})->send(upload);

  REQUIRE(response.has_value());
  CHECK(response->status == 201);
  CHECK(received == content.size());
  CHECK(seen.find("Content-Length")->second == std::to_string(content.size()));
  CHECK(seen.count("Expect") == 0);
  CHECK(seen.count("Transfer-Encoding") == 0);
}

TEST_CASE("a streamed body arrives in pieces and the receiver can stop it", "[client][transport]") {
  TestServer server;
  server.routes().Get("/stream", [](const httplib::Request&, httplib::Response& reply) {
    reply.set_chunked_content_provider("application/x-ndjson",
                                       [](size_t offset, httplib::DataSink& sink) {
                                         if (offset >= 50) {
                                           sink.done();
                                           return true;
                                         }
                                         sink.write("line\n", 5);
                                         return true;
                                       });
  });
  server.routes().Get("/missing", [](const httplib::Request&, httplib::Response& reply) {
    reply.status = 404;
    reply.set_content(R"({"error":{"code":"not_found","message":"no such task"}})",
                      "application/json");
  });
  const auto transport = transport_under_test({.endpoint = server.endpoint(), .token = ""});
  std::string received;

  SECTION("to the end") {
    const auto response = transport->stream(get("/stream"), [&](std::string_view data) {
      received += data;
      return true;
    });
    REQUIRE(response.has_value());
    CHECK(response->status == 200);
    CHECK(response->body.empty());
    CHECK(received.size() == 50);
  }
  SECTION("stopped by the receiver") {
    const auto response = transport->stream(get("/stream"), [&](std::string_view data) {
      received += data;
      return false;
    });
    REQUIRE_FALSE(response.has_value());
    CHECK(response.error().code == ErrorCode::interrupted);
    AND_THEN("the transport still works") {
      CHECK(transport->send(get("/missing")).value().status == 404);
    }
  }
  SECTION("an error reply is returned whole instead of streamed") {
    const auto response = transport->stream(get("/missing"), [&](std::string_view data) {
      received += data;
      return true;
    });
    REQUIRE(response.has_value());
    CHECK(response->status == 404);
    CHECK_THAT(response->body, Catch::Contains("no such task"));
    CHECK(received.empty());
  }
}

TEST_CASE("a reply slower than the timeout is a timeout", "[client][transport]") {
  TestServer server;
  std::atomic<bool> released{false};
  server.routes().Get("/slow", [&](const httplib::Request&, httplib::Response& reply) {
    for (int i = 0; i < 50 && !released; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    reply.set_content("late", "text/plain");
  });
  auto request = get("/slow");
  request.timeout_seconds = 1;

  const auto response =
      transport_under_test({.endpoint = server.endpoint(), .token = ""})->send(request);
  released = true;

  REQUIRE_FALSE(response.has_value());
  CHECK(response.error().code == ErrorCode::timeout);
}

TEST_CASE("a service that is not running is unavailable, with what to do", "[client][transport]") {
  const auto endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
  trainctl::client::ApiClient client(transport_under_test({.endpoint = endpoint, .token = "t"}),
                                     "t");

  const auto health = client.health();

  REQUIRE_FALSE(health.has_value());
  CHECK(health.error().code == ErrorCode::unavailable);
  CHECK_THAT(health.error().message,
             Catch::Contains("cannot reach trainctld at " + endpoint + ": Connection refused") &&
                 Catch::Contains("trainctl server start"));
}

TEST_CASE("a remote service that does not answer is unavailable, with what to check there",
          "[client][transport]") {
  // The loopback address written as 127.1 is, for the client, another host (libcurl's).
  const auto endpoint = "http://127.1:" + std::to_string(closed_port());
  trainctl::client::ApiClient client(trainctl::client::make_transport({.endpoint = endpoint, .token = "t"}),
                                     "t");

  const auto health = client.health();

  REQUIRE_FALSE(health.has_value());
  CHECK(health.error().code == ErrorCode::unavailable);
  CHECK_THAT(health.error().message,
             Catch::Contains("cannot reach trainctld at " + endpoint) &&
                 Catch::Contains("check the endpoint, and that trainctld runs there") &&
                 !Catch::Contains("trainctl server start"));
}

TEST_CASE("a request is aborted soon after should_abort turns true", "[client][transport]") {
  TestServer server;
  std::atomic<bool> released{false};
  server.routes().Get("/silent", [&](const httplib::Request&, httplib::Response& reply) {
    for (int i = 0; i < 500 && !released; ++i) {  // silent for 10 s at most
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    reply.set_content("late", "text/plain");
  });
  std::atomic<bool> abort_requested{false};
  const auto transport =
      transport_under_test({.endpoint = server.endpoint(),
                           .token = "",
                           .should_abort = [&] { return abort_requested.load(); }});
  std::thread interrupter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    abort_requested = true;
  });

  SECTION("a stream that receives nothing") {
    const auto response = transport->stream(get("/silent"), [](std::string_view) { return true; });
    interrupter.join();
    released = true;
    REQUIRE_FALSE(response.has_value());
    CHECK(response.error().code == ErrorCode::interrupted);
  }
  SECTION("a request waiting for its reply") {
    const auto response = transport->send(get("/silent"));
    interrupter.join();
    released = true;
    REQUIRE_FALSE(response.has_value());
    CHECK(response.error().code == ErrorCode::interrupted);
  }
}

namespace {

// A server that answers every request with a fixed reply, byte for byte, and closes the
// connection after it when `close_after` is set: replies no library server would send.
class RawServer {
 public:
  RawServer(std::string reply, bool close_after)
      : m_reply(std::move(reply)), m_close_after(close_after) {
    m_listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(m_listener, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(m_listener, reinterpret_cast<sockaddr*>(&address), &length);
    m_port = ntohs(address.sin_port);
    ::listen(m_listener, 8);
    m_thread = std::thread([this] { serve(); });
  }
  ~RawServer() {
    ::shutdown(m_listener, SHUT_RDWR);
    m_thread.join();
    ::close(m_listener);
  }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(m_port); }
  int connections() const { return m_connections.load(); }

 private:
  void serve() {
    while (true) {
      const int connection = ::accept(m_listener, nullptr, nullptr);
      if (connection < 0) return;
      ++m_connections;
      std::string request;
      char buffer[4096];
      while (true) {
        const ssize_t got = ::recv(connection, buffer, sizeof buffer, 0);
        if (got <= 0) break;
        request.append(buffer, static_cast<size_t>(got));
        size_t end = 0;
        while ((end = request.find("\r\n\r\n")) != std::string::npos) {
          request.erase(0, end + 4);
          ::send(connection, m_reply.data(), m_reply.size(), MSG_NOSIGNAL);
        }
        if (m_close_after) break;
      }
      ::close(connection);
    }
  }

  std::string m_reply;
  bool m_close_after;
  int m_listener = -1;
  int m_port = 0;
  std::atomic<int> m_connections{0};
  std::thread m_thread;
};

}  // namespace

TEST_CASE("the loopback transport serves only plain-HTTP loopback endpoints", "[client][transport]") {
  using trainctl::client::make_loopback_transport;
  for (const auto* endpoint : {"http://127.0.0.1:8080", "http://127.0.0.2:1/", "http://localhost:9",
                               "http://[::1]:8080", "http://127.0.0.1:8080/prefix",
                               "HTTP://LocalHost:9"}) {
    INFO(endpoint);
    CHECK(make_loopback_transport({.endpoint = endpoint, .token = ""}) != nullptr);
    CHECK_FALSE(trainctl::client::needs_curl(endpoint));
  }
  for (const auto* endpoint : {"https://127.0.0.1:8080", "http://10.1.2.3:8080", "http://example.com",
                               "http://user@127.0.0.1:8080", "http://127.0.0.1:0", "http://127.0.0.1:99999",
                               "http://localhost.example.com:80", "127.0.0.1:8080"}) {
    INFO(endpoint);
    CHECK(make_loopback_transport({.endpoint = endpoint, .token = ""}) == nullptr);
  }
}

TEST_CASE("the loopback transport sends a new connection when the service closed the kept one",
          "[client][transport]") {
  RawServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", /*close_after=*/true);
  const auto transport = trainctl::client::make_loopback_transport({.endpoint = server.endpoint(), .token = ""});

  for (int i = 0; i < 3; ++i) {
    const auto response = transport->send(get("/v1/health"));
    REQUIRE(response.has_value());
    CHECK(response->body == "ok");
  }
  CHECK(server.connections() == 3);
}

TEST_CASE("the loopback transport reads chunked replies and replies that end with the connection",
          "[client][transport]") {
  SECTION("chunks with extensions and trailers, over one kept connection") {
    RawServer server(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=x\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n",
        /*close_after=*/false);
    const auto transport =
        trainctl::client::make_loopback_transport({.endpoint = server.endpoint(), .token = ""});
    std::string streamed;
    const auto first = transport->stream(get("/a"), [&](std::string_view data) {
      streamed += data;
      return true;
    });
    const auto second = transport->send(get("/b"));
    REQUIRE(first.has_value());
    REQUIRE(second.has_value());
    CHECK(streamed == "hello world");
    CHECK(second->body == "hello world");
    CHECK(server.connections() == 1);
  }
  SECTION("no length: the body is what comes before the close") {
    RawServer server("HTTP/1.0 200 OK\r\n\r\nuntil the end", /*close_after=*/true);
    const auto transport =
        trainctl::client::make_loopback_transport({.endpoint = server.endpoint(), .token = ""});
    const auto response = transport->send(get("/a"));
    REQUIRE(response.has_value());
    CHECK(response->body == "until the end");
  }
  SECTION("a reply cut short is a lost connection, not a short body") {
    RawServer server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", /*close_after=*/true);
    const auto transport =
        trainctl::client::make_loopback_transport({.endpoint = server.endpoint(), .token = ""});
    const auto response = transport->send(get("/a"));
    REQUIRE_FALSE(response.has_value());
    CHECK(response.error().code == ErrorCode::unavailable);
    CHECK_THAT(response.error().message, Catch::Contains("lost the connection"));
  }
}

TEST_CASE("an endpoint's path is put before every target", "[client][transport]") {
  TestServer server;
  server.routes().Get("/prefix/v1/health", [](const httplib::Request&, httplib::Response& reply) {
    reply.set_content("ok", "text/plain");
  });
  const auto transport = transport_under_test({.endpoint = server.endpoint() + "/prefix/", .token = ""});
  const auto response = transport->send(get("/v1/health"));
  REQUIRE(response.has_value());
  CHECK(response->status == 200);
  CHECK(response->body == "ok");
}

TEST_CASE("a file body the service stops reading is a lost connection, not the end of the program",
          "[client][transport]") {
  // The service answers as soon as it has the head and closes: the rest of the body meets a
  // closed connection (EPIPE), which must not raise SIGPIPE in the client.
  RawServer server("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                   /*close_after=*/true);
  const trainctl::testing::TempDir dir;
  const auto file = dir.path() / "big.bin";
  REQUIRE(trainctl::util::write_file_atomic(file, std::string(32u << 20, 'x')).has_value());
  HttpRequest upload;
  upload.method = "PUT";
  upload.target = "/v1/workspaces/default/blobs/abc";
  upload.body_file = file;
  const auto transport =
      trainctl::client::make_loopback_transport({.endpoint = server.endpoint(), .token = ""});

  const auto response = transport->send(upload);

  if (response.has_value()) {
    CHECK(response->status == 413);  // the reply came before the body met the closed connection
  } else {
    CHECK(response.error().code == ErrorCode::unavailable);
    CHECK_THAT(response.error().message, Catch::Contains("lost the connection"));
  }
  AND_THEN("the transport still works") {
    RawServer other("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", /*close_after=*/true);
    const auto again = trainctl::client::make_loopback_transport({.endpoint = other.endpoint(), .token = ""})
                           ->send(get("/v1/health"));
    REQUIRE(again.has_value());
    CHECK(again->body == "ok");
  }
}
