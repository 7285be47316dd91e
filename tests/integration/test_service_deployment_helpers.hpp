#pragma once
// Helpers of the deployment tests over a real trainctld (docs/deployments.md): train and
// register a model with a real run, create deployments, wait for their state, score them and
// read their logs, all through the REST API.
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "integration/test_service_helpers.hpp"

namespace trainctl::testing {

inline const std::string k_services = "/v1/workspaces/default/services/";

// The text of tests/data/deployments/<name>.
inline std::string deployment_file(const std::string& name) {
  auto text =
      util::read_file(std::filesystem::path(TRAINCTL_SOURCE_DIR) / "tests/data/deployments" / name);
  REQUIRE(text);
  return *text;
}

// Runs tests/data/deployments/<script> as a run's train.py with `arguments`; returns the run,
// which must have Completed.
inline nlohmann::json train(const ServiceFixture& service, const std::string& script,
                            const std::vector<std::string>& arguments = {},
                            const std::string& workspace = "default") {
  const auto snapshot =
      upload_snapshot(service, {{"train.py", deployment_file(script)}}, workspace);
  auto payload = script_payload(snapshot);
  payload["estimator"]["script_params"] = arguments;
  const auto created = body_json(
      http_request(service, "POST", "/v1/workspaces/" + workspace + "/runs", payload.dump()));
  const auto run = wait_for_run(service, created.value("id", ""), 60, workspace);
  INFO(run.dump());
  REQUIRE(run.value("status", "") == "Completed");
  return run;
}

// Registers the run's files at `path` as the next version of `model` with `framework`.
inline RawResponse register_model(const ServiceFixture& service, const nlohmann::json& run,
                                  const std::string& model, const std::string& path,
                                  const std::string& framework = "custom",
                                  const std::string& workspace = "default") {
  return http_request(
      service, "POST", "/v1/workspaces/" + workspace + "/models",
      nlohmann::json{
          {"name", model}, {"run_id", run["id"]}, {"path", path}, {"framework", framework}}
          .dump());
}

// Trains train.py (a real run) with `scale` and registers its outputs/model (weights.json) as a
// new version of `model`, in `workspace`; returns the version.
inline int64_t train_and_register(const ServiceFixture& service, double scale,
                                  const std::string& tag, const std::string& model = "digits",
                                  const std::string& workspace = "default") {
  const auto run = train(service, "train.py", {std::to_string(scale), tag}, workspace);
  const auto registered = register_model(service, run, model, "outputs/model", "custom", workspace);
  INFO(registered.body);
  REQUIRE(registered.status == 201);
  return body_json(registered).value("version", int64_t{0});
}

// The JSON file `path` of the run, or null.
inline nlohmann::json run_json_file(const ServiceFixture& service, const nlohmann::json& run,
                                    const std::string& path) {
  const auto response = http_request(
      service, "GET", "/v1/workspaces/default/runs/" + run.value("id", "") + "/files/" + path);
  return response.status == 200 ? body_json(response) : nlohmann::json();
}

inline RawResponse put_deployment(const ServiceFixture& service, const std::string& name,
                                  const nlohmann::json& body) {
  return http_request(service, "PUT", k_services + name, body.dump());
}

inline nlohmann::json get_deployment(const ServiceFixture& service, const std::string& name) {
  return body_json(http_request(service, "GET", k_services + name));
}

// Polls the deployment until its state is `state`; returns it as last seen.
inline nlohmann::json wait_for_state(const ServiceFixture& service, const std::string& name,
                                     const std::string& state, int seconds = 60) {
  nlohmann::json deployment;
  eventually(
      [&] {
        deployment = get_deployment(service, name);
        return deployment.value("state", "") == state;
      },
      seconds);
  return deployment;
}

inline RawResponse score(const ServiceFixture& service, const std::string& name,
                         const std::string& key, const std::string& body) {
  return http_request(service, "POST", k_services + name + "/score", body,
                      {{"Authorization", "Bearer " + key}}, false);
}

inline std::string read_logs(const ServiceFixture& service, const std::string& name) {
  std::string text;
  NdjsonLines lines;
  const auto response = http_request(service, "GET", k_services + name + "/logs");
  lines.feed(response.body.data(), response.body.size(), [&](const nlohmann::json& event) {
    if (event.value("type", "") == "log") text += event.value("data", "");
    return true;
  });
  return text;
}

inline std::set<pid_t> replica_pids(const nlohmann::json& deployment) {
  std::set<pid_t> pids;
  for (const auto& replica : deployment.value("replica_status", nlohmann::json::array())) {
    pids.insert(replica.value("pid", 0));
  }
  return pids;
}

}  // namespace trainctl::testing
