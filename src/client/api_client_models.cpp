// The model registry part of the ApiClient (docs/rest-api.md, Models).
#include "api_client_paths.hpp"
#include "trainctl/client/api_client.hpp"

namespace trainctl::client {

namespace {

using detail::encode_path;
using detail::percent_encode;
using detail::workspace_path;

std::string model_path(const std::string& workspace, const std::string& name) {
  return workspace_path(workspace) + "/models/" + percent_encode(name);
}

std::string model_version_path(const std::string& workspace, const std::string& name,
                               const std::string& version) {
  return model_path(workspace, name) + "/versions/" + percent_encode(version);
}

}  // namespace

Result<nlohmann::json> ApiClient::register_model(const std::string& workspace,
                                                 const nlohmann::json& body) {
  return exchange_json(make_json_request("POST", workspace_path(workspace) + "/models", body));
}

Result<nlohmann::json> ApiClient::list_models(const std::string& workspace) {
  return exchange_json(make_request("GET", workspace_path(workspace) + "/models"));
}

Result<nlohmann::json> ApiClient::get_model(const std::string& workspace,
                                            const std::string& name) {
  return exchange_json(make_request("GET", model_path(workspace, name)));
}

Result<nlohmann::json> ApiClient::get_model_version(const std::string& workspace,
                                                    const std::string& name,
                                                    const std::string& version) {
  return exchange_json(make_request("GET", model_version_path(workspace, name, version)));
}

Result<void> ApiClient::delete_model(const std::string& workspace, const std::string& name,
                                     const std::string& version) {
  const auto target = version.empty() ? model_path(workspace, name)
                                      : model_version_path(workspace, name, version);
  auto response = exchange(make_request("DELETE", target));
  if (!response) return std::unexpected(std::move(response.error()));
  return {};
}

Result<void> ApiClient::download_model_file(const std::string& workspace, const std::string& name,
                                            const std::string& version, const std::string& path,
                                            const std::filesystem::path& dest,
                                            const DownloadOptions& options) {
  return download(make_request("GET",
                               model_version_path(workspace, name, version) + "/files/" +
                                   encode_path(path),
                               "application/octet-stream"),
                  dest, options);
}

}  // namespace trainctl::client
