#include "versioned_assets.hpp"

#include <fmt/format.h>

#include "transfers.hpp"

namespace trainctl::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr size_t k_hash_shown = 12;

}  // namespace

Result<void> validate_delete_ref(const Result<DatasetRef>& ref) {
  if (!ref) return fail(ref.error());
  if (ref->version == "latest") {
    return fail(ErrorCode::usage, "delete takes NAME or NAME:VERSION, not @latest");
  }
  return {};
}

std::string format_tags(const json& tags) {
  std::string text;
  for (const auto& [key, value] : tags.items()) {
    text += fmt::format("{}{}={}", text.empty() ? "" : ", ", key, format_cell(value));
  }
  return text.empty() ? "-" : text;
}

Description::Section files_section(const json& files, bool with_url) {
  Description::Section section{.title = "Files", .headers = {"PATH", "SIZE", "SHA256"}, .rows = {}};
  if (with_url) section.headers.emplace_back("URL");
  for (const auto& file : files) {
    std::vector<std::string> row{format_field(file, "path"),
                                 format_bytes(file.value("size", json())),
                                 file.value("sha256", "").substr(0, k_hash_shown)};
    if (with_url) row.push_back(format_field(file, "url"));
    section.rows.push_back(std::move(row));
  }
  return section;
}

Result<int> run_asset_list(Session& session, const VersionedAsset& asset) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto items = ((*client)->*asset.list)(session.workspace());
  if (!items) return fail(items.error());
  session.printer().print_list(asset.kind, items->value("items", json::array()));
  return exit_code::k_success;
}

Result<int> run_asset_show(Session& session, const VersionedAsset& asset, const DatasetRef& ref) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto& printer = session.printer();
  if (!ref.version.empty()) {
    auto version = ((*client)->*asset.get_version)(session.workspace(), ref.name, ref.version);
    if (!version) return fail(version.error());
    printer.print_description(asset.version_kind, *version, asset.describe_version(*version));
    return exit_code::k_success;
  }
  auto found = ((*client)->*asset.get)(session.workspace(), ref.name);
  if (!found) return fail(found.error());
  if (printer.for_people()) {
    printer.print_list(asset.version_kind, found->value("versions", json::array()));
  } else {
    printer.print_resource(asset.kind, *found);
  }
  return exit_code::k_success;
}

Result<int> run_asset_download(Session& session, const VersionedAsset& asset, const DatasetRef& ref,
                               const std::string& dest) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto version = ((*client)->*asset.get_version)(session.workspace(), ref.name,
                                                 ref.version.empty() ? "latest" : ref.version);
  if (!version) return fail(version.error());
  const auto number = std::to_string(version->value("version", int64_t{0}));
  const auto files = version->value("files", json::array());
  const fs::path dest_dir = dest.empty() ? fs::path(ref.name) : fs::path(dest);
  auto downloaded = download_manifest(
      session.printer(), files, dest_dir,
      [&](const std::string& path, const fs::path& to, const client::DownloadOptions& expected) {
        return ((*client)->*asset.download_file)(session.workspace(), ref.name, number, path, to,
                                                 expected);
      });
  if (!downloaded) return fail(downloaded.error());
  session.printer().message(fmt::format(
      "downloaded {} version {} ({} file{}, {}) to {}{}", ref.name, number, files.size(),
      files.size() == 1 ? "" : "s", format_bytes(json(downloaded->total_bytes)), dest_dir.string(),
      downloaded->kept == 0 ? std::string() : fmt::format("; {} already there", downloaded->kept)));
  return exit_code::k_success;
}

Result<int> run_asset_delete(Session& session, const VersionedAsset& asset, const DatasetRef& ref,
                             bool yes) {
  const auto what = ref.version.empty()
                        ? fmt::format("every version of {} {}", asset.noun, ref.name)
                        : fmt::format("{} {} version {}", asset.noun, ref.name, ref.version);
  if (!yes && !confirmed(session.printer(), fmt::format("delete {}?", what))) {
    return fail(ErrorCode::interrupted, "not deleted");
  }
  auto client = session.client();
  if (!client) return fail(client.error());
  if (auto deleted = ((*client)->*asset.remove)(session.workspace(), ref.name, ref.version);
      !deleted) {
    return fail(deleted.error());
  }
  session.printer().message(fmt::format("deleted {}", what));
  return exit_code::k_success;
}

}  // namespace trainctl::cli
