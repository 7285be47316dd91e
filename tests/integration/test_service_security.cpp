// trainctld's security rules (RELIABILITY 9, 10, 16, 17, 19, 20, 42, 46) against the real binary.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>

#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;

namespace {

struct Route {
  std::string method;
  std::string target;
};

const std::vector<Route> k_authenticated_routes{
    {"GET", "/v1/openapi.json"},
    {"GET", "/v1/workspaces"},
    {"POST", "/v1/workspaces"},
    {"GET", "/v1/workspaces/default"},
    {"DELETE", "/v1/workspaces/default"},
    {"POST", "/v1/workspaces/default/blobs/missing"},
    {"PUT", "/v1/workspaces/default/blobs/" + std::string(64, 'a')},
    {"POST", "/v1/workspaces/default/snapshots"},
    {"POST", "/v1/workspaces/default/runs"},
    {"POST", "/v1/workspaces/default/runs/batch"},
    {"GET", "/v1/workspaces/default/runs"},
    {"GET", "/v1/workspaces/default/runs/run-0000000000"},
    {"POST", "/v1/workspaces/default/runs/run-0000000000/cancel"},
    {"GET", "/v1/workspaces/default/runs/run-0000000000/logs?follow=true"},
    {"GET", "/v1/workspaces/default/runs/run-0000000000/files"},
    {"GET", "/v1/workspaces/default/runs/run-0000000000/files/outputs/x"},
    {"GET", "/v1/workspaces/default/runs/run-0000000000/metrics"},
    {"GET", "/v1/workspaces/default/runs/run-0000000000/metrics/series?name=loss"},
    {"GET", "/v1/workspaces/default/runs/run-0000000000/metrics/points?follow=true"},
    {"GET", "/v1/workspaces/default/sweeps"},
    {"POST", "/v1/workspaces/default/sweeps"},
    {"GET", "/v1/workspaces/default/sweeps/sweep-0000000000"},
    {"POST", "/v1/workspaces/default/sweeps/sweep-0000000000/cancel"},
    {"POST", "/v1/ui/codes"},
};

std::string error_code_of(const RawResponse& response) {
  return body_json(response)["error"].value("code", "");
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Whether `reply` holds a whole HTTP response: its head and Content-Length bytes of body.
bool is_whole_reply(const std::string& reply) {
  const auto head_end = reply.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  const auto length_at = reply.find("Content-Length: ");
  if (length_at == std::string::npos || length_at > head_end) return true;
  return reply.size() >= head_end + 4 + std::stoul(reply.substr(length_at + 16));
}

// Sends a request head announcing a large body, sends no body, and returns the service's reply
// (what arrived within 20 s).
std::string reply_to_head_without_body(const ServiceFixture& service, const std::string& method,
                                       const std::string& target) {
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(sock >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(service.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(sock, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  timeval timeout{20, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  const std::string head = fmt::format(
      "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n"
      "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n",
      method, target, service.port(), service.token());
  REQUIRE(::send(sock, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size()));
  std::string reply;
  char buffer[4096];
  for (ssize_t n; !is_whole_reply(reply) && (n = ::recv(sock, buffer, sizeof buffer, 0)) > 0;) {
    reply.append(buffer, static_cast<size_t>(n));
  }
  ::close(sock);
  return reply;
}

}  // namespace

TEST_CASE("every route but health needs the bearer token", "[service][auth]") {
  ServiceFixture service;

  GIVEN("requests without a token or with a wrong one") {
    for (const auto& route : k_authenticated_routes) {
      const auto type = route.target.find("/blobs/") != std::string::npos && route.method == "PUT"
                            ? "application/octet-stream"
                            : "application/json";
      const auto missing = http_request(service, route.method, route.target, "{}", {}, false, type);
      const auto wrong = http_request(service, route.method, route.target, "{}",
                                      {{"Authorization", "Bearer " + std::string(64, '0')}}, false, type);
      THEN(route.method + " " + route.target + " answers 401 with a JSON error") {
        CHECK(missing.status == 401);
        CHECK(error_code_of(missing) == "unauthorized");
        CHECK(wrong.status == 401);
      }
    }
  }
  WHEN("health is asked without a token") {
    const auto health = http_request(service, "GET", "/v1/health", {}, {}, false);
    THEN("it answers with the version") {
      CHECK(health.status == 200);
      CHECK(body_json(health)["status"] == "ok");
    }
  }
}

TEST_CASE("a non-loopback bind without auth refuses to start", "[service][auth]") {
  TempDir home;
  const auto result = run_command({TRAINCTLD_BINARY, "--home", home.path().string(), "--bind",
                                   "0.0.0.0", "--port", "0", "--no-auth"},
                                  {}, {}, {}, 20);
  CHECK(result.exit_code != 0);
  CHECK(result.err.find("loopback") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(home.path() / "server.json"));
}

TEST_CASE("a second trainctld on the same home exits with a clear message", "[service]") {
  ServiceFixture service;
  const auto second = run_command({TRAINCTLD_BINARY, "--home", service.home().string(), "--port", "0"},
                                  {}, {}, {}, 20);
  CHECK(second.exit_code == 9);
  CHECK(second.err.find("already running") != std::string::npos);
  CHECK(http_request(service, "GET", "/v1/health").status == 200);
}

TEST_CASE("mutations need JSON and every request a Host naming the service", "[service]") {
  ServiceFixture service;
  WHEN("a workspace is created with Content-Type text/plain") {
    const auto response = http_request(service, "POST", "/v1/workspaces", R"({"name":"w"})", {},
                                       true, "text/plain");
    THEN("415") {
      CHECK(response.status == 415);
      CHECK(error_code_of(response) == "unsupported_media_type");
    }
  }
  WHEN("a request names a foreign Host (DNS rebinding)") {
    const auto response =
        http_request(service, "GET", "/v1/workspaces", {}, {{"Host", "evil.example:" + std::to_string(service.port())}});
    THEN("403") { CHECK(response.status == 403); }
  }
  WHEN("a request names localhost with the service's port") {
    const auto response =
        http_request(service, "GET", "/v1/workspaces", {}, {{"Host", "localhost:" + std::to_string(service.port())}});
    THEN("it is served") { CHECK(response.status == 200); }
  }
}

TEST_CASE("a JSON body over the limit is refused with 413", "[service]") {
  ServiceFixture service;
  const std::string huge = R"({"name":"w","description":")" + std::string(9u << 20, 'x') + "\"}";
  const auto response = http_request(service, "POST", "/v1/workspaces", huge);
  CHECK(response.status == 413);
  CHECK(error_code_of(response) == "payload_too_large");
  CHECK(http_request(service, "GET", "/v1/workspaces/w").status == 404);
  CHECK(http_request(service, "GET", "/v1/health").status == 200);
}

TEST_CASE("traversal in names and run file paths is refused and touches nothing", "[service]") {
  ServiceFixture service;
  TempDir outside;
  const auto sentinel = outside.path() / "sentinel";
  std::ofstream(sentinel) << "keep";
  const auto run = submit_script(service, "print('hi')\n");
  const std::string run_id = run.value("id", "");
  REQUIRE_FALSE(run_id.empty());
  wait_for_run(service, run_id);
  const std::string files = "/v1/workspaces/default/runs/" + run_id + "/files/";

  const std::vector<std::string> bad_paths{
      "../x", "logs/../../x", "/etc/passwd", "a/../../b", "..%5Cx", "%2e%2e/x", "%252e%252e%252fx",
      "x%23/../", "x;/../", "logs/%00x", "", ".", "outputs/" + std::string(300, 'a'),
      "../../../../../../.." + sentinel.string()};
  for (const auto& path : bad_paths) {
    const auto response = http_request(service, "GET", files + path);
    INFO(path);
    CHECK(response.status == 400);
    CHECK(body_json(response)["error"].contains("message"));
  }
  const std::vector<std::string> bad_names{"..", "%2e%2e", "a%2f..%2f..%2fb", "x;%2f..", std::string(300, 'w'),
                                           "%e2%80%aeabc", "%ff", "%00"};
  for (const auto& name : bad_names) {
    INFO(name);
    CHECK(http_request(service, "GET", "/v1/workspaces/" + name).status == 400);
    CHECK(http_request(service, "DELETE", "/v1/workspaces/" + name).status == 400);
    CHECK(http_request(service, "POST", "/v1/workspaces", nlohmann::json{{"name", name}}.dump()).status == 400);
  }
  CHECK(slurp(sentinel) == "keep");
}

TEST_CASE("a symlink in outputs is neither listed nor followed", "[service]") {
  ServiceFixture service;
  const auto run = submit_script(
      service, "import os\nos.symlink('/etc/passwd', os.environ['TRAINCTL_OUTPUTS_DIR'] + '/link')\n"
               "open(os.environ['TRAINCTL_OUTPUTS_DIR'] + '/model.txt', 'w').write('weights')\n");
  const std::string run_id = run.value("id", "");
  REQUIRE(wait_for_run(service, run_id)["status"] == "Completed");
  const std::string base = "/v1/workspaces/default/runs/" + run_id + "/files";
  const auto listed = body_json(http_request(service, "GET", base));
  std::vector<std::string> paths;
  for (const auto& item : listed["items"]) paths.push_back(item["path"]);
  CHECK(std::find(paths.begin(), paths.end(), "outputs/model.txt") != paths.end());
  CHECK(std::find(paths.begin(), paths.end(), "outputs/link") == paths.end());
  CHECK(http_request(service, "GET", base + "/outputs/link").status == 404);
  const auto model = http_request(service, "GET", base + "/outputs/model.txt");
  CHECK(model.status == 200);
  CHECK(model.body == "weights");
}

TEST_CASE("the OpenAPI document is served to authenticated clients", "[service]") {
  ServiceFixture service;
  const auto response = http_request(service, "GET", "/v1/openapi.json");
  CHECK(response.status == 200);
  const auto document = body_json(response);
  CHECK(document["openapi"] == "3.1.0");
  CHECK(document["paths"].contains("/v1/workspaces/{ws}/runs/{id}/logs"));
}

TEST_CASE("a body no route reads is refused without being buffered", "[service]") {
  ServiceFixture service;
  WHEN("a POST to no route announces a 1 GB body") {
    const auto reply = reply_to_head_without_body(service, "POST", "/v1/no-such-route");
    THEN("it is answered 404 at once, not after reading the body") {
      CHECK(reply.starts_with("HTTP/1.1 404"));
      CHECK(reply.find("\"not_found\"") != std::string::npos);
    }
  }
  WHEN("a PUT to a route that only takes POST announces a 1 GB body") {
    const auto reply = reply_to_head_without_body(service, "PUT", "/v1/workspaces");
    THEN("it is answered 404 at once") { CHECK(reply.starts_with("HTTP/1.1 404")); }
  }
  WHEN("a DELETE announces a 1 GB body") {
    const auto reply = reply_to_head_without_body(service, "DELETE", "/v1/workspaces/w");
    THEN("it is refused with 413 at once") {
      CHECK(reply.starts_with("HTTP/1.1 413"));
      CHECK(reply.find("\"payload_too_large\"") != std::string::npos);
    }
  }
  THEN("the service still answers") { CHECK(http_request(service, "GET", "/v1/health").status == 200); }
}

TEST_CASE("a write that finds the database locked answers 503 with Retry-After", "[service]") {
  ServiceFixture service;
  GIVEN("another process holds the database's write lock") {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((service.home() / "trainctl.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    WHEN("a workspace is created") {
      const auto response = http_request(service, "POST", "/v1/workspaces", R"({"name":"busy"})");
      THEN("the client is told to retry later") {
        CHECK(response.status == 503);
        CHECK(error_code_of(response) == "unavailable");
        CHECK(header_of(response, "Retry-After") == "1");
      }
    }
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
}

TEST_CASE("a server-side failure is answered without server paths", "[service]") {
  ServiceFixture service;
  GIVEN("the service's temp directory was replaced by a dangling symlink") {
    const auto tmp = service.home() / "tmp";
    std::filesystem::remove_all(tmp);
    std::filesystem::create_directory_symlink(service.home() / "gone" / "tmp", tmp);
    WHEN("a blob is uploaded") {
      const std::string content = "data";
      const auto response =
          http_request(service, "PUT", "/v1/workspaces/default/blobs/" + trainctl::util::sha256_hex(content),
                       content, {}, true, "application/octet-stream");
      THEN("it fails with a JSON error that names no server path") {
        CHECK(response.status == 500);
        CHECK(body_json(response)["error"].contains("message"));
        CHECK(response.body.find(service.home().string()) == std::string::npos);
      }
    }
  }
}

namespace {

// The permission bits of `path` that anyone but its owner has.
std::filesystem::perms others_access(const std::filesystem::path& path) {
  using std::filesystem::perms;
  return std::filesystem::status(path).permissions() & (perms::group_all | perms::others_all);
}

}  // namespace

TEST_CASE("the database, its WAL and the token are readable by their owner only (RELIABILITY 42)",
          "[service]") {
  namespace fs = std::filesystem;
  ServiceFixture service;
  REQUIRE(http_request(service, "POST", "/v1/workspaces", R"({"name":"w"})").status == 201);
  const std::vector<fs::path> secrets{service.home() / "trainctl.db",
                                      service.home() / "trainctl.db-wal",
                                      service.home() / "trainctl.db-shm", service.home() / "token"};
  THEN("each is readable and writable by its owner and by no one else") {
    for (const auto& file : secrets) {
      INFO(file);
      REQUIRE(fs::exists(file));
      CHECK(others_access(file) == fs::perms::none);
      CHECK((fs::status(file).permissions() & fs::perms::owner_all) ==
            (fs::perms::owner_read | fs::perms::owner_write));
    }
  }
  WHEN("an older trainctld, killed, left them readable by all") {
    service.kill9();  // the WAL and shared-memory files stay
    for (const auto& file : secrets) {
      INFO(file);
      REQUIRE(fs::exists(file));
      fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                fs::perms::others_read);
    }
    service.start();
    THEN("the service makes them its owner's only at start, and serves the same data") {
      REQUIRE(http_request(service, "POST", "/v1/workspaces", R"({"name":"w2"})").status == 201);
      for (const auto& file : secrets) {
        INFO(file);
        CHECK(others_access(file) == fs::perms::none);
      }
      CHECK(http_request(service, "GET", "/v1/workspaces/w").status == 200);
    }
  }
}

namespace {

// Sends `request` as written on a new connection and returns the reply (what arrived within
// 20 s, or until a whole reply did).
std::string raw_exchange(const ServiceFixture& service, const std::string& request) {
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(sock >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(service.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(sock, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  timeval timeout{20, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  REQUIRE(::send(sock, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string reply;
  char buffer[4096];
  for (ssize_t n; !is_whole_reply(reply) && (n = ::recv(sock, buffer, sizeof buffer, 0)) > 0;) {
    reply.append(buffer, static_cast<size_t>(n));
  }
  ::close(sock);
  return reply;
}

}  // namespace

TEST_CASE("two Host headers, or a body length given twice, are refused (RELIABILITY 46)",
          "[service]") {
  ServiceFixture service;
  const std::string host = fmt::format("Host: 127.0.0.1:{}\r\n", service.port());
  const std::string auth = fmt::format("Authorization: Bearer {}\r\n", service.token());
  const std::string create =
      "POST /v1/workspaces HTTP/1.1\r\n" + host + auth + "Content-Type: application/json\r\n";
  WHEN("a request names the service in one Host header and another host in a second") {
    const auto reply = raw_exchange(service, "GET /v1/workspaces HTTP/1.1\r\n" + host +
                                                 "Host: evil.example\r\n" + auth + "\r\n");
    THEN("it is 400") {
      CHECK(reply.starts_with("HTTP/1.1 400"));
      CHECK_THAT(reply, Catch::Contains("\"invalid_argument\"") && Catch::Contains("Host"));
    }
  }
  WHEN("a body is sent chunked with a Content-Length as well") {
    const auto reply =
        raw_exchange(service, create +
                                  "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"
                                  "\r\n13\r\n{\"name\":\"smuggled\"}\r\n0\r\n\r\n");
    THEN("it is 400 and nothing is created") {
      CHECK(reply.starts_with("HTTP/1.1 400"));
      CHECK_THAT(reply, Catch::Contains("Transfer-Encoding"));
      CHECK(http_request(service, "GET", "/v1/workspaces/smuggled").status == 404);
    }
  }
  WHEN("a body has two Content-Length headers") {
    const auto reply = raw_exchange(
        service,
        create + "Content-Length: 20\r\nContent-Length: 2\r\n\r\n{\"name\":\"twice\"}    ");
    THEN("it is 400 and nothing is created") {
      CHECK(reply.starts_with("HTTP/1.1 400"));
      CHECK(http_request(service, "GET", "/v1/workspaces/twice").status == 404);
    }
  }
  THEN("the service still answers") {
    CHECK(http_request(service, "GET", "/v1/health").status == 200);
  }
}
