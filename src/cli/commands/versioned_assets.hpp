#pragma once
// What the dataset and model commands share (private to src/cli): both are registries of
// numbered versions, addressed as NAME, NAME:VERSION or NAME@latest (DatasetRef), and listed,
// shown, downloaded and deleted alike. Each group describes its kind once as a VersionedAsset.
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "trainctl/cli/commands/dataset.hpp"
#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/client/api_client.hpp"

namespace trainctl::cli {

struct VersionedAsset {
  using Client = client::ApiClient;
  std::string_view noun;             // "dataset", "model": in messages
  const ResourceKind& kind;          // the asset: NAME LATEST VERSIONS ...
  const ResourceKind& version_kind;  // one version
  // What `show NAME:VERSION` prints for people.
  Description (*describe_version)(const nlohmann::json& version);
  Result<nlohmann::json> (Client::*list)(const std::string& workspace);
  Result<nlohmann::json> (Client::*get)(const std::string& workspace, const std::string& name);
  Result<nlohmann::json> (Client::*get_version)(const std::string& workspace,
                                                const std::string& name,
                                                const std::string& version);
  Result<void> (Client::*remove)(const std::string& workspace, const std::string& name,
                                 const std::string& version);
  Result<void> (Client::*download_file)(const std::string& workspace, const std::string& name,
                                        const std::string& version, const std::string& path,
                                        const std::filesystem::path& dest,
                                        const client::DownloadOptions& options);
};

// ErrorCode::usage for a reference a delete does not take (NAME@latest); passes on a parse error.
Result<void> validate_delete_ref(const Result<DatasetRef>& ref);

// "key=value, key=value" of a tags object; "-" for none.
std::string format_tags(const nlohmann::json& tags);
// The "Files" section of a version's description: PATH SIZE SHA256 (shortened), and URL when
// `with_url`.
Description::Section files_section(const nlohmann::json& files, bool with_url);

// `list`: every asset of the workspace.
Result<int> run_asset_list(Session& session, const VersionedAsset& asset);
// `show`: one version (the reference names one) or the asset's versions.
Result<int> run_asset_show(Session& session, const VersionedAsset& asset, const DatasetRef& ref);
// `download`: every file of the version (default: latest) to `dest` (default: ./NAME), verified
// and resumable (download_manifest).
Result<int> run_asset_download(Session& session, const VersionedAsset& asset, const DatasetRef& ref,
                               const std::string& dest);
// `delete`: the version, or every version; on a terminal without `yes`, asks first.
Result<int> run_asset_delete(Session& session, const VersionedAsset& asset, const DatasetRef& ref,
                             bool yes);

}  // namespace trainctl::cli
