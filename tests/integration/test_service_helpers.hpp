#pragma once
// Helpers shared by the trainctld integration tests: JSON calls, snapshot upload of small
// scripts, submit, and waiting for a run, all through the real REST API.
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/service_fixture.hpp"
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

}  // namespace trainctl::testing
