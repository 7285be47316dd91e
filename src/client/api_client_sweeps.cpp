// The sweeps part of the ApiClient (docs/rest-api.md, Sweeps).
#include "api_client_paths.hpp"
#include "trainctl/client/api_client.hpp"

namespace trainctl::client {

namespace {

using detail::percent_encode;
using detail::workspace_path;

std::string sweep_path(const std::string& workspace, const std::string& id) {
  return workspace_path(workspace) + "/sweeps/" + percent_encode(id);
}

}  // namespace

Result<nlohmann::json> ApiClient::create_sweep(const std::string& workspace,
                                               const nlohmann::json& payload) {
  return exchange_json(make_json_request("POST", workspace_path(workspace) + "/sweeps", payload));
}

Result<nlohmann::json> ApiClient::list_sweeps(const std::string& workspace) {
  return exchange_json(make_request("GET", workspace_path(workspace) + "/sweeps"));
}

Result<nlohmann::json> ApiClient::get_sweep(const std::string& workspace, const std::string& id) {
  return exchange_json(make_request("GET", sweep_path(workspace, id)));
}

Result<nlohmann::json> ApiClient::cancel_sweep(const std::string& workspace, const std::string& id) {
  return exchange_json(make_json_request("POST", sweep_path(workspace, id) + "/cancel",
                                         nlohmann::json::object()));
}

}  // namespace trainctl::client
