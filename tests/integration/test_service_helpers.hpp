#pragma once
// Helpers shared by the trainctld integration tests: JSON calls, snapshot upload of small
// scripts, submit, and waiting for a run, all through the real REST API.
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/service_fixture.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/sha256.hpp"

namespace trainctl::testing {

inline nlohmann::json body_json(const RawResponse& response) {
  return nlohmann::json::parse(response.body, nullptr, false);
}

inline std::string header_of(const RawResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return {};
}

// `text` compressed with gzip, the coding cpp-httplib expands, as a client would send a body
// with Content-Encoding: gzip.
inline std::string gzip(std::string_view text) {
  httplib::detail::gzip_compressor compressor;
  std::string compressed;
  compressor.compress(text.data(), text.size(), true, [&](const char* data, size_t size) {
    compressed.append(data, size);
    return true;
  });
  return compressed;
}

// Uploads `files` (path -> content) and returns the snapshot id.
inline std::string upload_snapshot(const ServiceFixture& service,
                                   const std::map<std::string, std::string>& files,
                                   const std::string& workspace = "default") {
  auto manifest = nlohmann::json::array();
  for (const auto& [path, content] : files) {
    const std::string hash = util::sha256_hex(content);
    http_request(service, "PUT", "/v1/workspaces/" + workspace + "/blobs/" + hash, content, {}, true,
                 "application/octet-stream");
    manifest.push_back({{"path", path}, {"sha256", hash}, {"size", content.size()}, {"mode", 0644}});
  }
  const auto created = http_request(service, "POST", "/v1/workspaces/" + workspace + "/snapshots",
                                    nlohmann::json{{"files", manifest}}.dump());
  return body_json(created).value("id", "");
}

inline nlohmann::json script_payload(const std::string& snapshot_id,
                                     const std::string& experiment = "exp") {
  return {{"experiment", experiment},
          {"snapshot_id", snapshot_id},
          {"estimator", {{"framework", "generic"}, {"entry_script", "train.py"}}}};
}

// Uploads train.py with `script` and submits it; returns the created run.
inline nlohmann::json submit_script(const ServiceFixture& service, const std::string& script,
                                    const std::string& workspace = "default") {
  const auto snapshot = upload_snapshot(service, {{"train.py", script}}, workspace);
  const auto created = http_request(service, "POST", "/v1/workspaces/" + workspace + "/runs",
                                    script_payload(snapshot).dump());
  return body_json(created);
}

// Long-polls the run until it is finished (or `seconds` pass); returns the run as last seen.
inline nlohmann::json wait_for_run(const ServiceFixture& service, const std::string& run_id,
                                   int seconds = 60, const std::string& workspace = "default") {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  nlohmann::json run;
  const std::set<std::string> terminal{"Completed", "Failed", "Canceled", "TimedOut"};
  while (std::chrono::steady_clock::now() < deadline) {
    run = body_json(http_request(service, "GET",
                                 "/v1/workspaces/" + workspace + "/runs/" + run_id + "?wait=true&timeout=5"));
    if (terminal.contains(run.value("status", ""))) break;
  }
  return run;
}

// Polls `condition` every 20 ms for at most `seconds`; returns whether it became true.
template <typename Condition>
bool eventually(Condition condition, int seconds = 20) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// Splits a chunked NDJSON body (the log stream) into events, whatever the chunk boundaries.
class NdjsonLines {
 public:
  // Appends a chunk and calls on_event(json) for every complete line; stops early, returning
  // false, when on_event does.
  template <typename OnEvent>
  bool feed(const char* data, size_t size, OnEvent&& on_event) {
    m_pending.append(data, size);
    for (size_t newline; (newline = m_pending.find('\n')) != std::string::npos;) {
      auto event = nlohmann::json::parse(m_pending.substr(0, newline));
      m_pending.erase(0, newline + 1);
      if (!on_event(std::move(event))) return false;
    }
    return true;
  }

 private:
  std::string m_pending;
};

// Distributed runs of tests/data/distributed/task.py (its docstring lists the arguments).

inline std::string distributed_task_script() {
  auto script = util::read_file(std::filesystem::path(TRAINCTL_SOURCE_DIR) /
                                "tests/data/distributed/task.py");
  return script ? *script : std::string();
}

// Submits task.py with `estimator` merged into the payload's estimator (node_count,
// distributed_training, ...) and `arguments` as its script_params; returns the created run.
inline nlohmann::json submit_distributed(const ServiceFixture& service,
                                         const nlohmann::json& estimator,
                                         const std::vector<std::string>& arguments) {
  auto payload =
      script_payload(upload_snapshot(service, {{"train.py", distributed_task_script()}}));
  payload["estimator"].update(estimator);
  payload["estimator"]["script_params"] = arguments;
  return body_json(http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump()));
}

// What `task` of the run recorded it saw (outputs/<task>.json), or null until it has.
inline nlohmann::json task_record(const ServiceFixture& service, const std::string& run_id,
                                  const std::string& task) {
  const auto response = http_request(
      service, "GET", "/v1/workspaces/default/runs/" + run_id + "/files/outputs/" + task + ".json");
  return response.status == 200 ? body_json(response) : nlohmann::json();
}

// Waits until every one of `tasks` recorded what it saw; the records by task (null if missing).
inline std::map<std::string, nlohmann::json> wait_for_task_records(
    const ServiceFixture& service, const std::string& run_id, const std::vector<std::string>& tasks,
    int seconds = 60) {
  std::map<std::string, nlohmann::json> records;
  eventually(
      [&] {
        for (const auto& task : tasks) {
          if (records[task].is_null()) records[task] = task_record(service, run_id, task);
          if (records[task].is_null()) return false;
        }
        return true;
      },
      seconds);
  return records;
}

// The run's tasks[] entry named `name`, or null.
inline nlohmann::json task_named(const nlohmann::json& run, const std::string& name) {
  if (!run.is_object()) return nullptr;
  for (const auto& task : run.value("tasks", nlohmann::json::array())) {
    if (task.value("name", "") == name) return task;
  }
  return nullptr;
}

// The names in the run's tasks[], in order.
inline std::vector<std::string> task_names_of(const nlohmann::json& run) {
  std::vector<std::string> names;
  if (!run.is_object()) return names;
  for (const auto& task : run.value("tasks", nlohmann::json::array())) {
    names.push_back(task.value("name", ""));
  }
  return names;
}

// The processes of the run still alive: every process with its TRAINCTL_RUN_ID.
inline std::vector<pid_t> processes_of_run(const std::string& run_id) {
  return processes_with_environment("TRAINCTL_RUN_ID=" + run_id);
}

// The log bytes of a run by task, from GET .../logs (without follow): every task merged, or
// only `task`. `status` is the HTTP status.
struct RunLogs {
  int status = 0;
  std::map<std::string, std::string> by_task;
};
inline RunLogs read_run_logs(const ServiceFixture& service, const std::string& run_id,
                             const std::string& task = {}) {
  const auto response = http_request(
      service, "GET",
      "/v1/workspaces/default/runs/" + run_id + "/logs" + (task.empty() ? "" : "?task=" + task));
  RunLogs logs{.status = response.status, .by_task = {}};
  if (response.status != 200) return logs;
  NdjsonLines lines;
  lines.feed(response.body.data(), response.body.size(), [&](nlohmann::json event) {
    if (event.value("type", "") == "log") {
      logs.by_task[event.value("task", "")] += event.value("data", "");
    }
    return true;
  });
  return logs;
}

}  // namespace trainctl::testing
