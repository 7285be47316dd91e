// Log streaming through the real trainctld: NDJSON events, resume by offset, followers that drop.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;

namespace {

struct Stream {
  std::vector<nlohmann::json> events;
  std::string data;  // the log bytes, in order
};

// Follows the run's logs from `offset`; stops after `max_log_events` log events (0: to the end).
Stream follow_logs(const ServiceFixture& service, const std::string& run_id, const std::string& offset,
                   size_t max_log_events = 0) {
  httplib::Client client("127.0.0.1", service.port());
  client.set_read_timeout(std::chrono::seconds(60));
  Stream stream;
  NdjsonLines lines;
  size_t log_events = 0;
  client.Get(("/v1/workspaces/default/runs/" + run_id + "/logs?follow=true&offset=" + offset).c_str(),
             {{"Authorization", "Bearer " + service.token()}},
             [&](const char* data, size_t size) {
               return lines.feed(data, size, [&](nlohmann::json event) {
                 if (event["type"] == "log") {
                   stream.data += event["data"].get<std::string>();
                   ++log_events;
                 }
                 stream.events.push_back(std::move(event));
                 return max_log_events == 0 || log_events < max_log_events;
               });
             });
  return stream;
}

// Connects, asks to follow the run's logs, reads the first bytes of the answer and hangs up, as
// a client that goes away does. Returns those bytes.
std::string follow_and_drop(const ServiceFixture& service, const std::string& run_id) {
  const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(service.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = fmt::format(
        "GET /v1/workspaces/default/runs/{}/logs?follow=true HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n"
        "Authorization: Bearer {}\r\n\r\n",
        run_id, service.port(), service.token());
    char buffer[256];
    if (::send(sock, request.data(), request.size(), MSG_NOSIGNAL) > 0) {
      const ssize_t n = ::recv(sock, buffer, sizeof buffer, 0);
      if (n > 0) answer.assign(buffer, static_cast<size_t>(n));
    }
  }
  ::close(sock);
  return answer;
}

size_t open_sockets(pid_t pid) {
  size_t count = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    if (std::filesystem::read_symlink(entry.path(), ec).string().starts_with("socket:")) ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("following a run's log and resuming by offset returns every byte exactly once",
          "[service][logs]") {
  ServiceFixture service;
  const auto run = submit_script(service,
                                 "import time\n"
                                 "for i in range(40):\n"
                                 "    print('line %02d' % i, flush=True)\n"
                                 "    time.sleep(0.02)\n");
  const std::string id = run["id"];
  std::string expected;
  for (int i = 0; i < 40; ++i) expected += fmt::format("line {:02d}\n", i);

  const auto first = follow_logs(service, id, "", 1);
  REQUIRE_FALSE(first.data.empty());
  const auto& last_log = *std::find_if(first.events.rbegin(), first.events.rend(),
                                       [](const auto& event) { return event["type"] == "log"; });
  CHECK(first.data.back() == '\n');  // whole lines only

  const auto rest = follow_logs(service, id, std::to_string(last_log["next_offset"].get<uint64_t>()));
  CHECK(first.data + rest.data == expected);
  REQUIRE_FALSE(rest.events.empty());
  CHECK(rest.events.back()["type"] == "end");
  CHECK(rest.events.back()["status"] == "Completed");
  CHECK(rest.events.back()["exit_code"] == 0);
  uint64_t offset = last_log["next_offset"];
  for (const auto& event : rest.events) {
    if (event["type"] != "log") continue;
    CHECK(event["offset"] == offset);
    offset = event["next_offset"];
  }
}

TEST_CASE("logs without follow end at what exists, and unknown tasks are 404", "[service][logs]") {
  ServiceFixture service;
  const auto run = submit_script(service, "print('a')\nprint('b')\n");
  const std::string id = run["id"];
  wait_for_run(service, id);
  const std::string base = "/v1/workspaces/default/runs/" + id + "/logs";
  const auto all = http_request(service, "GET", base);
  CHECK(all.status == 200);
  CHECK(all.body.find(R"("data":"a\nb\n")") != std::string::npos);
  CHECK(all.body.find(R"("type":"end")") != std::string::npos);
  CHECK(http_request(service, "GET", base + "?task=nope").status == 404);
  CHECK(http_request(service, "GET", base + "?offset=nope:3").status == 404);
  CHECK(http_request(service, "GET", base + "?offset=x").status == 400);
}

TEST_CASE("200 followers that connect and drop leave the service answering", "[service][logs]") {
  ServiceFixture service;
  const auto run = submit_script(service, "import time\nprint('start', flush=True)\ntime.sleep(60)\n");
  const std::string id = run["id"];
  REQUIRE(eventually([&] {
    return body_json(http_request(service, "GET", "/v1/workspaces/default/runs/" + id))["status"] == "Running";
  }));
  const size_t sockets_before = open_sockets(service.pid());

  std::vector<std::thread> followers;
  std::atomic<int> answered{0};
  for (int i = 0; i < 200; ++i) {
    followers.emplace_back([&] {
      if (follow_and_drop(service, id).starts_with("HTTP/1.1 200")) ++answered;
    });
  }
  for (auto& follower : followers) follower.join();
  CHECK(answered == 200);

  const auto started = std::chrono::steady_clock::now();
  CHECK(http_request(service, "GET", "/v1/workspaces/default/runs/" + id).status == 200);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
  // Dropped followers are noticed at their next heartbeat at the latest.
  CHECK(eventually([&] { return open_sockets(service.pid()) <= sockets_before; }, 15));
  http_request(service, "POST", "/v1/workspaces/default/runs/" + id + "/cancel", "{}");
}

namespace {

// Submits train.py as a run of `backend` with two ranks on one node; returns the run id.
std::string submit_two_ranks(const ServiceFixture& service, const std::string& backend,
                             const std::string& script) {
  auto payload = script_payload(upload_snapshot(service, {{"train.py", script}}));
  payload["estimator"]["process_count_per_node"] = 2;
  payload["estimator"]["distributed_training"] = {{"backend", backend}};
  return body_json(http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump()))
      .value("id", "");
}

}  // namespace

TEST_CASE("an unknown task is 404 naming the run's tasks, mpirun included", "[service][logs]") {
  ServiceFixture service;
  const auto id = submit_two_ranks(service, "mpi", "print('hi from a rank')\n");
  REQUIRE_FALSE(id.empty());
  const std::string base = "/v1/workspaces/default/runs/" + id + "/logs";

  const auto unknown = http_request(service, "GET", base + "?task=worker-9");
  CHECK(unknown.status == 404);
  CHECK(body_json(unknown)["error"]["message"] ==
        "run " + id + " has no task 'worker-9'; its tasks are rank-0, rank-1, mpirun");
  CHECK(http_request(service, "GET", base + "?offset=rank-7:0").status == 404);
  CHECK(http_request(service, "GET", base + "?task=rank-0&offset=rank-1:0").status == 400);

  wait_for_run(service, id);
  const auto launcher = http_request(service, "GET", base + "?task=mpirun");
  CHECK(launcher.status == 200);
  CHECK(launcher.body.find(R"("type":"end")") != std::string::npos);
  const auto rank = http_request(service, "GET", base + "?task=rank-1");
  CHECK(rank.body.find(R"("data":"hi from a rank\n")") != std::string::npos);
}

TEST_CASE("the merged log of a run ends even when a task's log never appeared",
          "[service][logs]") {
  ServiceFixture service;
  const auto id =
      submit_two_ranks(service, "pytorch", "import os\nprint('rank', os.environ['RANK'])\n");
  REQUIRE(wait_for_run(service, id)["status"] == "Completed");
  std::filesystem::remove(service.home() / "runs" / id / "logs" / "rank-0.log");

  const auto followed = follow_logs(service, id, "");
  REQUIRE_FALSE(followed.events.empty());
  CHECK(followed.events.back()["type"] == "end");
  CHECK(followed.events.back()["status"] == "Completed");
  CHECK(followed.data == "rank 1\n");
  for (const auto& event : followed.events) {
    if (event["type"] == "log") CHECK(event["task"] == "rank-1");
  }
}

namespace {

// Follows the run's merged logs to the end event; `on_line(task, line)` is called for each whole
// line as the follower receives it.
Stream follow_lines(const ServiceFixture& service, const std::string& run_id,
                    const std::function<void(const std::string&, const std::string&)>& on_line) {
  httplib::Client client("127.0.0.1", service.port());
  client.set_read_timeout(std::chrono::seconds(60));
  Stream stream;
  NdjsonLines lines;
  std::map<std::string, std::string> partial;  // by task: bytes after its last newline
  client.Get(("/v1/workspaces/default/runs/" + run_id + "/logs?follow=true").c_str(),
             {{"Authorization", "Bearer " + service.token()}},
             [&](const char* data, size_t size) {
               return lines.feed(data, size, [&](nlohmann::json event) {
                 if (event["type"] == "log") {
                   const std::string task = event["task"];
                   stream.data += event["data"].get<std::string>();
                   auto& text = partial[task];
                   text += event["data"].get<std::string>();
                   for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n')) {
                     on_line(task, text.substr(0, end));
                     text.erase(0, end + 1);
                   }
                 }
                 stream.events.push_back(std::move(event));
                 return true;
               });
             });
  return stream;
}

std::string run_status(const ServiceFixture& service, const std::string& run_id) {
  return body_json(http_request(service, "GET", "/v1/workspaces/default/runs/" + run_id))
      .value("status", "");
}

bool is_finished(const std::string& status) {
  return status == "Completed" || status == "Failed" || status == "Canceled" || status == "TimedOut";
}

// Python lines, indented by `indent` spaces, that wait until the file named by the expression
// `gate` exists in the directory `gates`.
std::string wait_for_gate(const std::filesystem::path& gates, const std::string& gate, int indent) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  return fmt::format("{0}while not os.path.exists(os.path.join('{1}', {2})):\n{0}    time.sleep(0.01)\n",
                     pad, gates.string(), gate);
}

}  // namespace

TEST_CASE("a follower gets each line of every task while the run runs, not when it ends",
          "[service][logs]") {
  ServiceFixture service;
  const TempDir gates_dir;  // outside the service's home, which tasks do not see
  const auto gates = gates_dir.path();
  // Each rank prints a line, then waits for the follower to open that line's gate before it
  // prints the next: the run only ends if every line reaches the follower while it runs.
  const auto id = submit_two_ranks(
      service, "pytorch",
      "import os, time\n"
      "rank = os.environ['RANK']\n"
      "for step in range(3):\n"
      "    print(f'rank {rank} step {step}', flush=True)\n"
      "    gate = f'{rank}-{step}'\n" +
          wait_for_gate(gates, "gate", 4));
  REQUIRE_FALSE(id.empty());

  std::vector<std::string> lines;
  const auto followed = follow_lines(service, id, [&](const std::string& task, const std::string& line) {
    lines.push_back(task + ": " + line);
    CHECK_FALSE(is_finished(run_status(service, id)));
    // "rank R step S" opens gate "R-S".
    const auto rank = line.substr(5, line.find(' ', 5) - 5);
    const auto step = line.substr(line.rfind(' ') + 1);
    std::ofstream(gates / (rank + "-" + step)).close();
  });
  REQUIRE_FALSE(followed.events.empty());
  CHECK(followed.events.back()["type"] == "end");
  CHECK(followed.events.back()["status"] == "Completed");
  std::sort(lines.begin(), lines.end());
  CHECK(lines == std::vector<std::string>{"rank-0: rank 0 step 0", "rank-0: rank 0 step 1",
                                          "rank-0: rank 0 step 2", "rank-1: rank 1 step 0",
                                          "rank-1: rank 1 step 1", "rank-1: rank 1 step 2"});
}

TEST_CASE("a follower gets a retried run's lines of each attempt while it runs",
          "[service][logs]") {
  ServiceFixture service;
  const TempDir gates_dir;  // outside the service's home, which tasks do not see
  const auto gates = gates_dir.path();
  // The first attempt prints a line, waits for its gate, then is killed; the second (a marker
  // in outputs/ tells them apart) prints a line and waits for its own gate.
  auto payload = script_payload(upload_snapshot(
      service,
      {{"train.py",
        "import os, signal, time\n"
        "marker = os.path.join(os.environ['TRAINCTL_OUTPUTS_DIR'], 'tried')\n"
        "first = not os.path.exists(marker)\n"
        "open(marker, 'w').close()\n"
        "name = 'first' if first else 'second'\n"
        "print('attempt', name, flush=True)\n" +
            wait_for_gate(gates, "name", 0) +
            "if first:\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"}}));
  payload["limits"] = {{"max_retries", 1}};
  const std::string id =
      body_json(http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump()))
          .value("id", "");
  REQUIRE_FALSE(id.empty());

  std::vector<std::string> lines;
  const auto followed = follow_lines(service, id, [&](const std::string&, const std::string& line) {
    lines.push_back(line);
    CHECK_FALSE(is_finished(run_status(service, id)));
    std::ofstream(gates / line.substr(line.rfind(' ') + 1)).close();
  });
  CHECK(lines == std::vector<std::string>{"attempt first", "attempt second"});
  REQUIRE_FALSE(followed.events.empty());
  CHECK(followed.events.back()["type"] == "end");
  CHECK(followed.events.back()["status"] == "Completed");
  const auto attempts = std::count_if(followed.events.begin(), followed.events.end(),
                                      [](const auto& event) { return event["type"] == "attempt"; });
  CHECK(attempts == 2);
}
