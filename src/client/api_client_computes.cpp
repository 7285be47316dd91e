// The compute targets part of the ApiClient (docs/rest-api.md, Compute targets).
#include "api_client_paths.hpp"
#include "trainctl/client/api_client.hpp"

namespace trainctl::client {

namespace {

using detail::percent_encode;
using detail::workspace_path;

constexpr int k_accepted = 202;

std::string compute_path(const std::string& workspace, const std::string& name) {
  return workspace_path(workspace) + "/computes/" + percent_encode(name);
}

}  // namespace

Result<nlohmann::json> ApiClient::put_compute(const std::string& workspace,
                                              const std::string& name,
                                              const nlohmann::json& body, bool create_only) {
  auto put = make_json_request("PUT", compute_path(workspace, name), body);
  if (create_only) put.headers.emplace_back("If-None-Match", "*");
  return exchange_json(put);
}

Result<nlohmann::json> ApiClient::list_computes(const std::string& workspace) {
  return exchange_json(make_request("GET", workspace_path(workspace) + "/computes"));
}

Result<nlohmann::json> ApiClient::get_compute(const std::string& workspace,
                                              const std::string& name) {
  return exchange_json(make_request("GET", compute_path(workspace, name)));
}

Result<std::optional<nlohmann::json>> ApiClient::delete_compute(const std::string& workspace,
                                                                const std::string& name,
                                                                bool force) {
  const auto target = compute_path(workspace, name) + (force ? "?force=true" : "");
  auto response = exchange(make_request("DELETE", target));
  if (!response) return std::unexpected(std::move(response.error()));
  if (response->status != k_accepted) return std::nullopt;
  auto draining = nlohmann::json::parse(response->body, nullptr, false);
  if (draining.is_discarded()) {
    return fail(ErrorCode::internal, "trainctld answered DELETE {} with a body that is not JSON",
                target);
  }
  return std::optional(std::move(draining));
}

}  // namespace trainctl::client
