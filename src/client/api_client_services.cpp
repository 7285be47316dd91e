// The deployments part of the ApiClient (docs/rest-api.md, Deployments).
#include "api_client_paths.hpp"
#include "trainctl/client/api_client.hpp"

namespace trainctl::client {

namespace {

using detail::percent_encode;
using detail::query_string;
using detail::workspace_path;

constexpr int k_created = 201;

std::string service_path(const std::string& workspace, const std::string& name) {
  return workspace_path(workspace) + "/services/" + percent_encode(name);
}

// The `replica` query value of a task name: "replica-2" -> "2"; "" (every replica) -> "".
std::string replica_number(std::string_view task) {
  constexpr std::string_view k_prefix = "replica-";
  if (task.starts_with(k_prefix)) task.remove_prefix(k_prefix.size());
  return std::string(task);
}

// The key of a keys reply ({"primary_key": "..."}); internal error when it has none.
Result<std::string> primary_key_of(const Result<nlohmann::json>& keys, const std::string& name) {
  if (!keys) return std::unexpected(keys.error());
  const auto key = keys->find("primary_key");
  if (key == keys->end() || !key->is_string() || key->get<std::string>().empty()) {
    return fail(ErrorCode::internal, "trainctld answered the keys of {} without a primary_key",
                name);
  }
  return key->get<std::string>();
}

}  // namespace

Result<DeploymentOutcome> ApiClient::put_deployment(const std::string& workspace,
                                                    const std::string& name,
                                                    const nlohmann::json& body) {
  const auto put = make_json_request("PUT", service_path(workspace, name), body);
  auto response = exchange(put);
  if (!response) return std::unexpected(std::move(response.error()));
  auto deployment = nlohmann::json::parse(response->body, nullptr, false);
  if (deployment.is_discarded()) {
    return fail(ErrorCode::internal, "trainctld answered PUT {} with a body that is not JSON",
                put.target);
  }
  return DeploymentOutcome{.deployment = std::move(deployment),
                           .created = response->status == k_created};
}

Result<nlohmann::json> ApiClient::list_deployments(const std::string& workspace) {
  return exchange_json(make_request("GET", workspace_path(workspace) + "/services"));
}

Result<nlohmann::json> ApiClient::get_deployment(const std::string& workspace,
                                                 const std::string& name) {
  return exchange_json(make_request("GET", service_path(workspace, name)));
}

Result<void> ApiClient::delete_deployment(const std::string& workspace, const std::string& name) {
  auto response = exchange(make_request("DELETE", service_path(workspace, name)));
  if (!response) return std::unexpected(std::move(response.error()));
  return {};
}

Result<std::string> ApiClient::get_deployment_key(const std::string& workspace,
                                                  const std::string& name) {
  return primary_key_of(
      exchange_json(make_request("GET", service_path(workspace, name) + "/keys")), name);
}

Result<std::string> ApiClient::regenerate_deployment_key(const std::string& workspace,
                                                         const std::string& name) {
  return primary_key_of(
      exchange_json(make_json_request(
          "POST", service_path(workspace, name) + "/keys/regenerate", nlohmann::json::object())),
      name);
}

Result<void> ApiClient::stream_deployment_logs(
    const std::string& workspace, const std::string& name, const LogQuery& query,
    const std::function<bool(const nlohmann::json&)>& on_event) {
  return stream_ndjson(make_request("GET",
                                    service_path(workspace, name) + "/logs" +
                                        query_string({{"replica", replica_number(query.task)},
                                                      {"offset", query.offset},
                                                      {"follow", query.follow ? "true" : ""}}),
                                    "application/x-ndjson"),
                       on_event);
}

Result<nlohmann::json> ApiClient::score(const std::string& workspace, const std::string& name,
                                        const std::string& scoring_key, std::string body) {
  HttpRequest request;
  request.method = "POST";
  request.target = service_path(workspace, name) + "/score";
  request.headers = {{"Accept", "application/json"},
                     {"Content-Type", "application/json"},
                     {"Authorization", "Bearer " + scoring_key}};
  request.body = std::move(body);
  return exchange_json(request);
}

}  // namespace trainctl::client
