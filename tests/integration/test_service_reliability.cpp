// Faults and abuse against the real trainctld (RELIABILITY 21, 24, 29, 30, 35, 36, 43): the token
// stays in its file, concurrent submits lose nothing, a killed upload leaves nothing behind, a slow
// reader misses nothing, and deep, compressed or NUL-carrying bodies are refused.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <latch>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <sqlite3.h>

#include "test_service_helpers.hpp"
#include "trainctl/service/blob_store.hpp"

using namespace trainctl::testing;
namespace fs = std::filesystem;

namespace {

const std::string k_runs = "/v1/workspaces/default/runs";

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Sets an environment variable of this process (and so of services it starts) for a scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : m_name(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(m_name); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* m_name;
};

// The regular files under `root` (relative paths) holding `needle`, and every file read.
struct Scan {
  std::vector<std::string> containing;
  std::set<std::string> read;
};
Scan scan_for(const fs::path& root, const std::string& needle) {
  Scan scan;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file() || entry.is_symlink()) continue;
    const auto relative = fs::relative(entry.path(), root).string();
    scan.read.insert(relative);
    if (slurp(entry.path()).find(needle) != std::string::npos) scan.containing.push_back(relative);
  }
  return scan;
}

bool retry_later(const RawResponse& response) {
  return (response.status == 429 || response.status == 503) &&
         !header_of(response, "Retry-After").empty();
}

// Sends `count` submits of `payload` at once, each from its own thread and connection; the
// key of submit i is key_of(i).
template <typename KeyOf>
std::vector<RawResponse> submit_concurrently(const ServiceFixture& service,
                                             const nlohmann::json& payload, int count,
                                             KeyOf key_of) {
  std::vector<RawResponse> responses(static_cast<size_t>(count));
  std::vector<std::thread> threads;
  std::latch start(1);
  const std::string body = payload.dump();
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      start.wait();
      responses[static_cast<size_t>(i)] =
          http_request(service, "POST", k_runs, body, {{"Idempotency-Key", key_of(i)}});
    });
  }
  start.count_down();
  for (auto& thread : threads) thread.join();
  return responses;
}

std::set<std::string> listed_run_ids(const ServiceFixture& service) {
  std::set<std::string> ids;
  const auto page = body_json(http_request(service, "GET", k_runs + "?limit=1000"));
  for (const auto& run : page["items"]) {
    ids.insert(run["id"].get<std::string>());
  }
  return ids;
}

void cancel_runs(const ServiceFixture& service, const std::set<std::string>& ids) {
  for (const auto& id : ids) http_request(service, "POST", k_runs + "/" + id + "/cancel", "{}");
}

// A TCP connection to the service on loopback, closed on destruction.
class RawConnection {
 public:
  explicit RawConnection(int port) : m_fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    m_connected = ::connect(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawConnection() { ::close(m_fd); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends all of `bytes`; false if the connection failed.
  bool send_all(std::string_view bytes) {
    while (m_connected && !bytes.empty()) {
      const ssize_t sent = ::send(m_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(sent));
    }
    return m_connected;
  }

 private:
  int m_fd;
  bool m_connected = false;
};

bool has_nonempty_file(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec) && entry.file_size(ec) > 0) return true;
  }
  return false;
}

bool is_empty_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_empty(dir, ec) && !ec;
}

nlohmann::json missing_blobs(const ServiceFixture& service, const std::string& hash) {
  return body_json(http_request(service, "POST", "/v1/workspaces/default/blobs/missing",
                                nlohmann::json{{"hashes", {hash}}}.dump()))["missing"];
}

// The "error" object of a reply, or an empty object when the reply is no JSON error.
nlohmann::json error_of(const RawResponse& response) {
  const auto body = body_json(response);
  return body.is_object() ? body.value("error", nlohmann::json::object())
                          : nlohmann::json::object();
}

struct SlowStream {
  std::string data;  // the log bytes, in order
  std::vector<nlohmann::json> log_events;
  nlohmann::json end;
};

// Follows the run's logs to the end as a slow client does: a small receive buffer, and a pause
// after every piece read, so the service's writes block on the client.
SlowStream follow_slowly(const ServiceFixture& service, const std::string& run_id) {
  httplib::Client client("127.0.0.1", service.port());
  client.set_read_timeout(std::chrono::seconds(60));
  client.set_socket_options([](socket_t sock) {
    const int size = 4096;
    ::setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  });
  SlowStream stream;
  NdjsonLines lines;
  client.Get((k_runs + "/" + run_id + "/logs?follow=true").c_str(),
             {{"Authorization", "Bearer " + service.token()}}, [&](const char* data, size_t size) {
               lines.feed(data, size, [&](nlohmann::json event) {
                 if (event["type"] == "log") {
                   stream.data += event["data"].get<std::string>();
                   stream.log_events.push_back(std::move(event));
                 } else if (event["type"] == "end") {
                   stream.end = std::move(event);
                 }
                 return true;
               });
               std::this_thread::sleep_for(std::chrono::milliseconds(2));
               return true;
             });
  return stream;
}

}  // namespace

TEST_CASE("the token is in no file but <home>/token, nor in a run's environment",
          "[service][auth]") {
  ServiceFixture service;
  const std::string token = service.token();
  REQUIRE(token.size() >= 32);

  GIVEN("a service with its own token in TRAINCTL_TOKEN and a run dumping its environment") {
    service.stop();
    const ScopedEnv token_env("TRAINCTL_TOKEN", token);
    service.start();
    REQUIRE(service.token() == token);
    REQUIRE(slurp(fmt::format("/proc/{}/environ", service.pid())).find("TRAINCTL_TOKEN=" + token) !=
            std::string::npos);
    const auto run = submit_script(
        service,
        "import json, os, subprocess\n"
        "subprocess.run(['env'], check=True)\n"
        "print(dict(os.environ), flush=True)\n"
        "with open(os.path.join(os.environ['TRAINCTL_OUTPUTS_DIR'], 'environ.json'), 'w') as f:\n"
        "    json.dump(dict(os.environ), f)\n");
    const std::string id = run["id"];
    REQUIRE(wait_for_run(service, id)["status"] == "Completed");

    WHEN("error replies are forced too") {
      const auto not_found = http_request(service, "GET", k_runs + "/run-0000000000");
      const auto invalid = http_request(service, "POST", k_runs, R"({"experiment": "e"})");
      const auto unauthorized = http_request(service, "GET", k_runs, {},
                                             {{"Authorization", "Bearer " + token + "x"}}, false);
      REQUIRE(not_found.status == 404);
      REQUIRE(invalid.status == 422);
      REQUIRE(unauthorized.status == 401);
      const auto environ_json =
          http_request(service, "GET", k_runs + "/" + id + "/files/outputs/environ.json");
      REQUIRE(environ_json.status == 200);
      const auto while_running = scan_for(service.home(), token);
      service.stop();  // flushes its logs and checkpoints its database
      const auto after_stop = scan_for(service.home(), token);

      THEN("the run's environment has no TRAINCTL_TOKEN and no value holding the token") {
        const auto environment = body_json(environ_json);
        REQUIRE(environment.contains("PATH"));
        CHECK_FALSE(environment.contains("TRAINCTL_TOKEN"));
        CHECK(environ_json.body.find(token) == std::string::npos);
        AND_THEN("no reply and no file under the home but the token file holds the token") {
          for (const auto* reply : {&not_found, &invalid, &unauthorized}) {
            CHECK(reply->body.find(token) == std::string::npos);
          }
          CHECK(while_running.containing == std::vector<std::string>{"token"});
          CHECK(after_stop.containing == std::vector<std::string>{"token"});
          CHECK(while_running.read.contains("trainctl.db-wal"));
          CHECK(while_running.read.contains("server.json"));
          const fs::path run_dir = fs::path("runs") / id;
          for (const auto& expected :
               {fs::path("trainctl.db"), fs::path("trainctld.log"), run_dir / "launch.json",
                run_dir / "state.json", run_dir / "supervisor.log", run_dir / "logs" / "main.log",
                run_dir / "outputs" / "environ.json"}) {
            INFO(expected.string());
            CHECK(after_stop.read.contains(expected.string()));
          }
        }
      }
    }
  }
}

TEST_CASE("concurrent submits each get their run or a retry later, and none is lost",
          "[service][runs]") {
  ServiceFixture service;
  const auto payload = script_payload(upload_snapshot(service, {{"train.py", "pass\n"}}));

  WHEN("200 clients submit the same body with the same idempotency key at once") {
    const auto responses =
        submit_concurrently(service, payload, 200, [](int) { return "same-key"; });
    const auto listed = listed_run_ids(service);
    THEN("every answer is that one run (created once) or a retry later, and one run exists") {
      REQUIRE(listed.size() == 1);
      const std::string id = *listed.begin();
      int created = 0;
      for (const auto& response : responses) {
        INFO(response.status << " " << response.body);
        if (retry_later(response)) continue;
        CHECK((response.status == 201 || response.status == 200));
        CHECK(body_json(response).value("id", "") == id);
        created += response.status == 201 ? 1 : 0;
      }
      CHECK(created == 1);
    }
    cancel_runs(service, listed);
  }
  WHEN("100 clients submit with distinct keys at once") {
    const auto responses =
        submit_concurrently(service, payload, 100, [](int i) { return fmt::format("key-{}", i); });
    const auto listed = listed_run_ids(service);
    THEN("every created run is distinct and listed, and the others were told to retry") {
      std::set<std::string> created;
      size_t retried = 0;
      for (const auto& response : responses) {
        INFO(response.status << " " << response.body);
        if (retry_later(response)) {
          ++retried;
          continue;
        }
        REQUIRE(response.status == 201);
        created.insert(body_json(response).value("id", ""));
      }
      CHECK(created.size() + retried == 100);
      CHECK(listed == created);
    }
    cancel_runs(service, listed);
  }
}

TEST_CASE("kill -9 during a blob upload leaves no temp file and no blob", "[service][faults]") {
  ServiceFixture service;
  std::string content(8 << 20, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>('a' + (i * 7919 % 26));
  const std::string hash = trainctl::util::sha256_hex(content);
  const fs::path tmp = service.home() / "tmp";

  GIVEN("an upload killed with the service after half of its body") {
    {
      RawConnection connection(service.port());
      const std::string head = fmt::format(
          "PUT /v1/workspaces/default/blobs/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n"
          "Authorization: Bearer {}\r\nContent-Type: application/octet-stream\r\n"
          "Content-Length: {}\r\n\r\n",
          hash, service.port(), service.token(), content.size());
      REQUIRE(connection.send_all(head));
      REQUIRE(connection.send_all(std::string_view(content).substr(0, content.size() / 2)));
      REQUIRE(eventually([&] { return has_nonempty_file(tmp); }));
      service.kill9();
    }
    WHEN("the service starts again") {
      service.start();
      THEN("its temp folder is empty and the blob is still missing") {
        CHECK(is_empty_dir(tmp));
        CHECK(missing_blobs(service, hash) == nlohmann::json::array({hash}));
      }
      THEN("the same upload then succeeds") {
        const auto put = http_request(service, "PUT", "/v1/workspaces/default/blobs/" + hash,
                                      content, {}, true, "application/octet-stream");
        CHECK(put.status == 201);
        CHECK(body_json(put)["size"] == content.size());
        CHECK(missing_blobs(service, hash).empty());
        CHECK(is_empty_dir(tmp));
      }
    }
  }
}

TEST_CASE("a slow follower of a 2 MB log gets every byte once, in order", "[service][logs]") {
  ServiceFixture service;
  const auto run = submit_script(service,
                                 "import sys, time\n"
                                 "for i in range(20000):\n"
                                 "    sys.stdout.write('%08d %s\\n' % (i, 'x' * 91))\n"
                                 "    if i % 1000 == 999:\n"
                                 "        sys.stdout.flush()\n"
                                 "        time.sleep(0.05)\n");
  const std::string id = run["id"];
  std::string expected;
  for (int i = 0; i < 20000; ++i) expected += fmt::format("{:08d} {}\n", i, std::string(91, 'x'));

  const auto stream = follow_slowly(service, id);

  CHECK(stream.end.value("status", "") == "Completed");
  CHECK(stream.data.size() == expected.size());
  CHECK(stream.data == expected);
  const auto log = http_request(service, "GET", k_runs + "/" + id + "/files/logs/main.log");
  CHECK(log.body == stream.data);
  uint64_t offset = 0;
  for (const auto& event : stream.log_events) {
    REQUIRE(event["offset"] == offset);
    offset = event["next_offset"];
  }
  CHECK(offset == expected.size());
}

TEST_CASE("a JSON body nested 10,000 levels deep is refused on every route (RELIABILITY 35)",
          "[service][faults]") {
  ServiceFixture service;
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  const std::string workspace = "/v1/workspaces/default";
  auto run = script_payload(upload_snapshot(service, {{"train.py", "print('hi')\n"}}));
  run["estimator"]["script_params"] = "DEEP";
  const auto with_deep = [&](const nlohmann::json& body) {
    std::string text = body.dump();
    return text.replace(text.find("\"DEEP\""), 6, deep);
  };
  const std::vector<std::pair<std::string, std::string>> routes{
      {"POST /v1/workspaces", deep},
      {"POST /v1/workspaces", with_deep({{"name", "deep"}, {"description", "DEEP"}})},
      {"POST " + workspace + "/runs", with_deep(run)},
      {"POST " + workspace + "/blobs/missing", with_deep({{"hashes", "DEEP"}})},
      {"POST " + workspace + "/snapshots", with_deep({{"files", "DEEP"}})},
      {"POST " + workspace + "/datasets", with_deep({{"name", "d"}, {"files", "DEEP"}})},
      {"PUT " + workspace + "/computes/c", with_deep({{"type", "local"}, {"max_nodes", "DEEP"}})},
      {"POST " + workspace + "/models", with_deep({{"name", "m"}, {"tags", "DEEP"}})},
      {"PUT " + workspace + "/services/s", with_deep({{"models", "DEEP"}})},
  };
  for (const auto& [route, body] : routes) {
    const auto space = route.find(' ');
    const auto response =
        http_request(service, route.substr(0, space), route.substr(space + 1), body);
    INFO(route << " " << body.substr(0, 80));
    CHECK(response.status == 400);
    CHECK(error_of(response).value("code", "") == "invalid_argument");
    CHECK_THAT(error_of(response).value("message", ""),
               Catch::Contains("nested deeper than 64 levels"));
    REQUIRE(process_is_alive(service.pid()));
  }
  WHEN("a run's node agent sends the run's state nested 10,000 levels deep") {
    const std::string id = submit_script(service, "import time\ntime.sleep(30)\n").value("id", "");
    const fs::path run_dir = service.home() / "runs" / id;
    // Started: the agent routes read the run's launch file first, so the body is parsed only then.
    REQUIRE(eventually([&] { return fs::exists(run_dir / "launch.json"); }));
    // The run's agent credential as an engine issues it: its SHA-256 in the run directory.
    std::ofstream(run_dir / "agent.credential") << trainctl::util::sha256_hex("agent-secret");
    const auto response = http_request(service, "PUT", "/v1/agent/runs/" + id + "/state",
                                       with_deep({{"version", "DEEP"}}),
                                       {{"Authorization", "Bearer agent-secret"}}, false,
                                       "application/octet-stream");
    THEN("it is refused the same way") {
      CHECK(response.status == 400);
      CHECK_THAT(error_of(response).value("message", ""),
                 Catch::Contains("nested deeper than 64 levels"));
    }
  }
  THEN("a body nested 64 levels deep gets past the limit to the route's own checks") {
    const auto response = http_request(
        service, "POST", "/v1/workspaces",
        R"({"name":"w","description":)" + std::string(63, '[') + std::string(63, ']') + "}");
    CHECK(response.status == 400);
    CHECK_THAT(response.body, Catch::Contains("description"));
  }
  THEN("the service still answers") {
    CHECK(http_request(service, "GET", "/v1/health").status == 200);
    CHECK(http_request(service, "GET", "/v1/workspaces/default/runs").status == 200);
  }
}

TEST_CASE("a compressed body is refused before it is expanded (RELIABILITY 36)",
          "[service][faults]") {
  ServiceFixture service;
  const fs::path tmp = service.home() / "tmp";
  const std::string expanded(16u << 20, '0');  // twice the JSON cap; 16 KiB compressed
  const std::vector<std::pair<std::string, std::string>> gzipped{{"Content-Encoding", "gzip"}};

  WHEN("a workspace is created from a gzip body that expands past the JSON cap") {
    const auto bomb = gzip(R"({"name":"bomb","description":")" + expanded + "\"}");
    REQUIRE(bomb.size() < 64u << 10);
    const auto response = http_request(service, "POST", "/v1/workspaces", bomb, gzipped);
    THEN("it is 415 and no workspace is made") {
      CHECK(response.status == 415);
      CHECK(error_of(response).value("code", "") == "unsupported_media_type");
      CHECK_THAT(error_of(response).value("message", ""), Catch::Contains("Content-Encoding gzip"));
      CHECK(http_request(service, "GET", "/v1/workspaces/bomb").status == 404);
    }
  }
  WHEN("a blob is uploaded gzip-compressed") {
    const std::string hash = trainctl::util::sha256_hex(expanded);
    const auto response = http_request(service, "PUT", "/v1/workspaces/default/blobs/" + hash,
                                       gzip(expanded), gzipped, true, "application/octet-stream");
    THEN("it is 415 and nothing is stored") {
      CHECK(response.status == 415);
      CHECK(missing_blobs(service, hash) == nlohmann::json::array({hash}));
      CHECK(is_empty_dir(tmp));
    }
  }
  WHEN("a deployment is scored with a gzip body, whatever its key") {
    const auto response =
        http_request(service, "POST", "/v1/workspaces/default/services/s/score",
                     gzip(R"({"data":")" + expanded + "\"}"),
                     {{"Content-Encoding", "gzip"}, {"Authorization", "Bearer wrong"}}, false);
    THEN("it is 415 before the key is looked up") {
      CHECK(response.status == 415);
    }
  }
  WHEN("a body says it is sent as is") {
    const auto response = http_request(service, "POST", "/v1/workspaces", R"({"name":"plain"})",
                                       {{"Content-Encoding", "identity"}});
    THEN("it is taken") {
      CHECK(response.status == 201);
    }
  }
  THEN("the service still answers") {
    CHECK(http_request(service, "GET", "/v1/health").status == 200);
  }
}

TEST_CASE("a NUL in a run's or a deployment's arguments or variables is refused (RELIABILITY 43)",
          "[service]") {
  ServiceFixture service;
  WHEN("a run's variable and argument hold a NUL") {
    auto payload = script_payload(upload_snapshot(service, {{"train.py", "print('hi')\n"}}));
    payload["estimator"]["script_params"] = {"--data", std::string("a\0b", 3)};
    payload["environment_variables"] = {{"SEED", std::string("1\0; rm -rf ~", 12)}};
    const auto response = http_request(service, "POST", k_runs, payload.dump());
    THEN("the submit is refused with both paths and no run is made") {
      CHECK(response.status == 422);
      const auto details = error_of(response).value("details", nlohmann::json::array());
      REQUIRE(details.size() == 2);
      CHECK(details[0].value("path", "") == "estimator.script_params[1]");
      CHECK(details[1].value("path", "") == "environment_variables.SEED");
      CHECK(listed_run_ids(service).empty());
    }
  }
  WHEN("a deployment's variable holds a NUL") {
    const nlohmann::json body{{"models", {{{"name", "m"}, {"version", 1}}}},
                              {"entry_script", "score.py"},
                              {"snapshot_id", std::string(64, 'a')},
                              {"environment_variables", {{"MODE", std::string("fast\0slow", 9)}}}};
    const auto response =
        http_request(service, "PUT", "/v1/workspaces/default/services/s", body.dump());
    THEN("it is refused at its path before anything is looked up") {
      CHECK(response.status == 422);
      const auto details = error_of(response).value("details", nlohmann::json::array());
      REQUIRE(details.size() == 1);
      CHECK(details[0].value("path", "") == "environment_variables.MODE");
    }
  }
}

// RELIABILITY 37: a run's end that cannot be written while another process holds the database's
// write lock past the busy timeout is kept and recorded once the lock goes, never dropped; so are
// the metrics it logged just before it ended.
TEST_CASE("a run that ends while the database is locked ends with its true state once the lock goes",
          "[service][reliability][store]") {
  ServiceFixture service;
  const auto created = submit_script(service,
                                     "import time, trainctl\ntime.sleep(1.5)\n"
                                     "for step in range(300):\n"
                                     "    trainctl.log_metric('loss', 1.0 / (step + 1), step=step)\n"
                                     "print('done')\n");
  const std::string id = created.value("id", "");
  REQUIRE_FALSE(id.empty());
  REQUIRE(eventually([&] {
    return body_json(http_request(service, "GET", "/v1/workspaces/default/runs/" + id))["status"] ==
           "Running";
  }));

  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((service.home() / "trainctl.db").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  // The run ends (1.5 s) while the lock is held for longer than every change of its end waits:
  // Running, Finalizing and Completed each wait the busy timeout (5 s) and fail.
  std::this_thread::sleep_for(std::chrono::seconds(20));
  CHECK(sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);

  const auto ended = wait_for_run(service, id, 30);
  CHECK(ended["status"] == "Completed");
  CHECK(ended["exit_code"] == 0);
  // Every point: those the run's end could not record are recorded once the lock goes.
  nlohmann::json run;
  (void)eventually([&] {
    run = body_json(http_request(service, "GET", "/v1/workspaces/default/runs/" + id));
    return run["metrics"]["loss"].value("count", 0) == 300;
  });
  INFO(run.dump());
  CHECK(run["metrics"]["loss"].value("count", 0) == 300);
}

// RELIABILITY 44: a blob whose file was deleted from the store is reported missing, so the client
// uploads it again, and a run that needs it fails naming the file.
TEST_CASE("a blob deleted from the store is missing, and a run that needs it fails naming the file",
          "[service][reliability][blobs]") {
  ServiceFixture service;
  const std::string content = "print('from a lost blob')\n";
  const std::string hash = trainctl::util::sha256_hex(content);
  const std::string snapshot = upload_snapshot(service, {{"train.py", content}});
  const trainctl::service::BlobStore blobs(service.home() / "blobs", service.home() / "tmp");
  REQUIRE(std::filesystem::remove(blobs.path_of(hash)));

  const auto missing = [&] {
    return body_json(http_request(service, "POST", "/v1/workspaces/default/blobs/missing",
                                  nlohmann::json{{"hashes", {hash}}}.dump()))["missing"];
  };
  CHECK(missing() == nlohmann::json::array({hash}));

  auto payload = script_payload(snapshot);
  const auto created = body_json(
      http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump()));
  const auto failed = wait_for_run(service, created.value("id", ""), 30);
  CHECK(failed["status"] == "Failed");
  CHECK_THAT(failed.value("failure_reason", ""),
             Catch::Contains("train.py") && Catch::Contains("missing from the blob store"));

  // Uploaded again, it is whole, and runs use it.
  CHECK(http_request(service, "PUT", "/v1/workspaces/default/blobs/" + hash, content, {}, true,
                     "application/octet-stream")
            .status < 300);
  CHECK(missing().empty());
  const auto again = body_json(
      http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump()));
  CHECK(wait_for_run(service, again.value("id", ""), 30)["status"] == "Completed");
}

// Issue-found case: deleting trainctld.lock must not let a second trainctld serve the same home.
TEST_CASE("a second trainctld refuses a home another serves, even with its lock file deleted",
          "[service][reliability]") {
  ServiceFixture service;
  REQUIRE(std::filesystem::remove(service.home() / "trainctld.lock"));
  const auto second =
      run_command({TRAINCTLD_BINARY, "--home", service.home().string(), "--port", "0"}, {}, {}, {}, 20);
  CHECK(second.exit_code == 9);
  CHECK_THAT(second.err, Catch::Contains("another trainctld (pid " + std::to_string(service.pid())));
  // The first keeps serving, and its server.json is still there.
  CHECK(std::filesystem::exists(service.home() / "server.json"));
  CHECK(http_request(service, "GET", "/v1/health").status == 200);
}

namespace {

// The threads of process `pid` now (/proc/<pid>/status).
int thread_count(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("Threads:")) return std::atoi(line.c_str() + 8);
  }
  return -1;
}

// Whether the peer closed `fd` within `seconds` (recv sees the end, or the connection reset).
bool closed_by_peer(int fd, int seconds) {
  pollfd poll_fd{fd, POLLIN, 0};
  if (::poll(&poll_fd, 1, seconds * 1000) <= 0) return false;
  char buffer[256];
  return ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT) <= 0;
}

}  // namespace

// RELIABILITY 39: slowloris. Connections that send their request head a line at a time hold no
// thread of the service; real clients are answered meanwhile; a head that never ends is closed.
TEST_CASE("hundreds of slow connections hold no thread, and health and run list still answer",
          "[service][reliability][slowloris]") {
  ServiceFixture service;
  const int threads_before = thread_count(service.pid());
  REQUIRE(threads_before > 0);
  constexpr int k_slow_connections = 400;
  std::vector<int> slow;
  for (int i = 0; i < k_slow_connections; ++i) {
    const int fd = connect_and_send(service.port(), "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    REQUIRE(fd >= 0);
    slow.push_back(fd);
  }
  for (int round = 0; round < 3; ++round) {  // a header line from each, every second
    std::this_thread::sleep_for(std::chrono::seconds(1));
    for (const int fd : slow) {
      const std::string line = "X-Slow-" + std::to_string(round) + ": 1\r\n";
      (void)::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
    }
  }
  THEN("the service holds no thread for them and answers health and run list") {
    CHECK(thread_count(service.pid()) < threads_before + 50);
    CHECK(http_request(service, "GET", "/v1/health").status == 200);
    CHECK(http_request(service, "GET", k_runs).status == 200);
  }
  THEN("a connection whose head never ends is closed by the service") {
    CHECK(closed_by_peer(slow.front(), 60));
  }
  for (const int fd : slow) ::close(fd);
}

// RELIABILITY 45: an empty (truncated) or missing trainctl.db beside run directories is refused
// with what to do, never started as an empty service that knows none of those runs.
TEST_CASE("trainctld refuses an empty database beside run directories, saying what to do",
          "[service][reliability][store]") {
  ServiceFixture service;
  const auto created = submit_script(service, "print('hi')\n");
  const std::string id = created.value("id", "");
  REQUIRE_FALSE(id.empty());
  CHECK(wait_for_run(service, id, 60)["status"] == "Completed");
  service.stop();
  for (const char* file : {"trainctl.db-wal", "trainctl.db-shm"}) fs::remove(service.home() / file);
  std::ofstream(service.home() / "trainctl.db", std::ios::trunc).close();  // zero length

  const auto started = run_command({TRAINCTLD_BINARY, "--home", service.home().string(), "--port", "0"},
                                   {}, {}, {}, 30);
  THEN("it exits with an error naming the database, the runs and the way out") {
    CHECK(started.exit_code != 0);
    const std::string said = started.out + started.err;
    CHECK_THAT(said, Catch::Contains("trainctl.db is empty"));
    CHECK_THAT(said, Catch::Contains("1 run directories"));
    CHECK_THAT(said, Catch::Contains("Restore trainctl.db"));
    CHECK(fs::is_directory(service.home() / "runs" / id));
    CHECK(fs::file_size(service.home() / "trainctl.db") == 0);
  }
}

// RELIABILITY 45: one run whose row cannot be read is left out of the list (and logged); the
// other runs are still listed.
TEST_CASE("a run whose row is corrupt is left out of run list, which still lists the others",
          "[service][reliability][store]") {
  ServiceFixture service;
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    ids.push_back(submit_script(service, "print('hi')\n").value("id", ""));
    REQUIRE_FALSE(ids.back().empty());
    CHECK(wait_for_run(service, ids.back(), 60)["status"] == "Completed");
  }
  service.stop();
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((service.home() / "trainctl.db").c_str(), &db) == SQLITE_OK);
  const std::string corrupt = "UPDATE runs SET payload = '{not json' WHERE id = '" + ids[0] + "'";
  CHECK(sqlite3_exec(db, corrupt.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  service.start();

  const auto listed = http_request(service, "GET", k_runs);
  THEN("the list answers with the readable run, and the log names the unreadable one") {
    REQUIRE(listed.status == 200);
    const auto items = body_json(listed)["items"];
    REQUIRE(items.size() == 1);
    CHECK(items[0]["id"] == ids[1]);
    CHECK_THAT(slurp(service.home() / "trainctld.log"), Catch::Contains("run " + ids[0] + " is left out"));
  }
}

// RELIABILITY 40: a run's processes see their own run directory of the home, nothing else: not
// the token, the database, the blob store, nor another run. Needs root (a mount namespace).
TEST_CASE("a run cannot see the service's token, database, blobs or other runs",
          "[service][reliability][isolation]") {
  if (::geteuid() != 0) {
    WARN("skipped: hiding the home from runs needs root (a mount namespace); runs of a non-root "
         "trainctld run as its user");
    return;
  }
  ServiceFixture service;
  const std::string first = submit_script(service, "print('first')\n").value("id", "");
  REQUIRE(wait_for_run(service, first, 60)["status"] == "Completed");
  const std::string script = R"(import os
outputs = os.environ['TRAINCTL_OUTPUTS_DIR'].rstrip('/')
run_dir = os.path.dirname(outputs)
home = os.path.dirname(os.path.dirname(run_dir))
for name in ['token', 'trainctl.db', 'blobs', 'tmp']:
    print(name, 'visible' if os.path.exists(os.path.join(home, name)) else 'hidden')
print('runs', ','.join(sorted(os.listdir(os.path.join(home, 'runs')))))
with open(os.path.join(outputs, 'ok.txt'), 'w') as f:
    f.write('written')
)";
  const std::string second = submit_script(service, script).value("id", "");
  const auto ended = wait_for_run(service, second, 60);
  REQUIRE(ended["status"] == "Completed");
  const std::string log = slurp(service.home() / "runs" / second / "logs" / "main.log");
  INFO(log);
  CHECK_THAT(log, Catch::Contains("token hidden"));
  CHECK_THAT(log, Catch::Contains("trainctl.db hidden"));
  CHECK_THAT(log, Catch::Contains("blobs hidden"));
  CHECK_THAT(log, Catch::Contains("runs " + second + "\n"));  // only its own
  CHECK(slurp(service.home() / "runs" / second / "outputs" / "ok.txt") == "written");
  CHECK(fs::exists(service.home() / "token"));  // the service's own view is unchanged
}

// RELIABILITY 40: a blob changed after it was stored (chmod and append through a hard link) no
// longer matches its name: it is reported missing and moved aside, a run that needs it fails
// naming the file, and uploaded again it is whole.
TEST_CASE("a blob whose content no longer matches its name is noticed and uploaded again",
          "[service][reliability][blobs]") {
  ServiceFixture service;
  const std::string content = "print('from a tampered blob')\n";
  const std::string hash = trainctl::util::sha256_hex(content);
  const std::string snapshot = upload_snapshot(service, {{"train.py", content}});
  const trainctl::service::BlobStore blobs(service.home() / "blobs", service.home() / "tmp");
  const auto missing = [&] {
    return body_json(http_request(service, "POST", "/v1/workspaces/default/blobs/missing",
                                  nlohmann::json{{"hashes", {hash}}}.dump()))["missing"];
  };
  REQUIRE(missing().empty());
  fs::permissions(blobs.path_of(hash), fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(blobs.path_of(hash), std::ios::app) << "import os  # tampered\n";

  CHECK(missing() == nlohmann::json::array({hash}));
  CHECK_FALSE(fs::is_empty(service.home() / "quarantine"));
  auto payload = script_payload(snapshot);
  const auto created = body_json(
      http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump()));
  const auto failed = wait_for_run(service, created.value("id", ""), 30);
  CHECK(failed["status"] == "Failed");
  CHECK_THAT(failed.value("failure_reason", ""), Catch::Contains("train.py"));

  CHECK(http_request(service, "PUT", "/v1/workspaces/default/blobs/" + hash, content, {}, true,
                     "application/octet-stream")
            .status < 300);
  CHECK(missing().empty());
  const auto again = body_json(
      http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump()));
  CHECK(wait_for_run(service, again.value("id", ""), 30)["status"] == "Completed");
}

// RELIABILITY 40: `trainctld fsck HOME` hashes every blob, also one changed and then given back its
// mode and time (which the cheap check on use trusts); it is moved aside and then counts as missing.
TEST_CASE("trainctld fsck finds a blob changed behind the store's back", "[service][reliability][blobs]") {
  ServiceFixture service;
  const std::string content = "print('checked by fsck')\n";
  const std::string hash = trainctl::util::sha256_hex(content);
  upload_snapshot(service, {{"train.py", content}, {"other.py", "print('whole')\n"}});
  const trainctl::service::BlobStore blobs(service.home() / "blobs", service.home() / "tmp");
  const auto path = blobs.path_of(hash);
  const auto sealed = fs::last_write_time(path);
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(path, std::ios::app) << "# changed\n";
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::remove);
  fs::last_write_time(path, sealed);

  const auto checked = run_command({TRAINCTLD_BINARY, "fsck", service.home().string()});
  INFO(checked.out << checked.err);
  CHECK(checked.exit_code == 1);
  CHECK_THAT(checked.out, Catch::Contains("blob " + hash + " no longer matches its name"));
  CHECK_THAT(checked.out, Catch::Contains("2 blobs checked, 1 did not match"));
  const auto missing = body_json(http_request(service, "POST", "/v1/workspaces/default/blobs/missing",
                                              nlohmann::json{{"hashes", {hash}}}.dump()))["missing"];
  CHECK(missing == nlohmann::json::array({hash}));
  CHECK(run_command({TRAINCTLD_BINARY, "fsck", service.home().string()}).exit_code == 0);
}
