// `trainctl dataset create|list|show|download|delete`.
#include "trainctl/cli/commands/dataset.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "command_table.hpp"
#include "transfers.hpp"
#include "versioned_assets.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/cli/resources.hpp"
#include "trainctl/client/snapshot.hpp"

namespace trainctl::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr size_t k_max_version_digits = 9;
// Datasets are not snapshots: no size cap on the client, the service's file count limit.
constexpr client::SnapshotLimits k_dataset_limits{.max_total_bytes = UINT64_MAX,
                                                  .max_files = 100'000};

bool is_version_number(std::string_view text) {
  return !text.empty() && text.size() <= k_max_version_digits && text.front() != '0' &&
         std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; });
}

// Scans --path (a directory, every file in it; or one file) and uploads the blobs the service
// lacks; returns the manifest's files.
Result<json> upload_local_files(client::ApiClient& client, Session& session,
                                const fs::path& path) {
  std::error_code error;
  const auto source = fs::absolute(path, error).lexically_normal();
  const client::ScanOptions scan_options{.limits = k_dataset_limits,
                                         .hash_cache_file = hash_cache_file(session, source),
                                         .apply_ignore_rules = false};
  auto scan = fs::is_directory(source, error) ? client::scan_source_directory(source, scan_options)
                                              : client::scan_single_file(source, scan_options);
  if (!scan) return fail(scan.error());
  for (const auto& warning : scan->warnings) session.printer().warning(warning);
  if (scan->files.empty()) return fail(ErrorCode::invalid_argument, "{} holds no files", path.string());
  auto uploaded = client::upload_missing_blobs(
      client, session.workspace(), *scan,
      [&](uint64_t done, uint64_t total) { session.printer().progress("uploading", done, total); });
  session.printer().end_progress();
  if (!uploaded) return fail(uploaded.error());
  return scan->manifest()["files"];
}

const VersionedAsset& dataset_asset() {
  static const VersionedAsset asset{.noun = "dataset",
                                    .kind = dataset_kind(),
                                    .version_kind = dataset_version_kind(),
                                    .describe_version = describe_dataset_version,
                                    .list = &client::ApiClient::list_datasets,
                                    .get = &client::ApiClient::get_dataset,
                                    .get_version = &client::ApiClient::get_dataset_version,
                                    .remove = &client::ApiClient::delete_dataset,
                                    .download_file = &client::ApiClient::download_dataset_file};
  return asset;
}

// "created mnist version 3 (12 files, 4.1 MiB)" or the notice that nothing new was made.
std::string creation_message(const json& version) {
  const auto name = format_field(version, "name");
  const auto number = format_field(version, "version");
  if (!version.value("created", true)) {
    return fmt::format("{} version {} has the same content; use --new-version to make another",
                       name, number);
  }
  const auto files = version.value("file_count", int64_t{0});
  return fmt::format("created {} version {} ({} file{}, {})", name, number, files,
                     files == 1 ? "" : "s", format_bytes(version.value("total_size", json(0))));
}

}  // namespace

Result<DatasetRef> parse_dataset_ref(std::string_view text) {
  const auto separator = text.find_first_of(":@");
  DatasetRef ref{.name = std::string(text.substr(0, separator)), .version = {}};
  if (auto valid = api::validate_name("dataset", ref.name); !valid) {
    return fail(ErrorCode::usage, "{}", valid.error().message);
  }
  if (separator == std::string_view::npos) return ref;
  const auto version = text.substr(separator + 1);
  const bool valid = text[separator] == '@' ? version == "latest" : is_version_number(version);
  if (!valid) {
    return fail(ErrorCode::usage,
                "{}: expected NAME, NAME:VERSION (a version number from 1) or NAME@latest", text);
  }
  ref.version = std::string(version);
  return ref;
}

Result<void> validate(const DatasetCreateOptions& options) {
  if (auto valid = api::validate_name("dataset", options.name); !valid) {
    return fail(ErrorCode::usage, "{}", valid.error().message);
  }
  if (options.path.empty() == options.urls.empty()) {
    return fail(ErrorCode::usage, "give either --path FILE_OR_DIR or --url URL (one or more)");
  }
  if (auto tags = tags_of(options.tags); !tags) return fail(tags.error());
  return {};
}

Result<void> validate(const DatasetRefOptions& options) {
  if (auto ref = parse_dataset_ref(options.ref); !ref) return fail(ref.error());
  return {};
}

Result<void> validate(const DatasetDownloadOptions& options) {
  return validate(DatasetRefOptions{options.ref});
}

Result<void> validate(const DatasetDeleteOptions& options) {
  return validate_delete_ref(parse_dataset_ref(options.ref));
}

Description describe_dataset_version(const json& version) {
  return Description{
      .fields = {{"Name", format_field(version, "name")},
                 {"Version", format_field(version, "version")},
                 {"Description", format_field(version, "description")},
                 {"Tags", format_tags(version.value("tags", json::object()))},
                 {"Source", format_field(version, "source")},
                 {"Files", format_field(version, "file_count")},
                 {"Size", format_bytes(version.value("total_size", json()))},
                 {"Content hash", format_field(version, "content_hash")},
                 {"Created", format_time(version.value("created_at", json()))}},
      .sections = {files_section(version.value("files", json::array()), true)}};
}

Result<int> run_dataset_create(Session& session, const DatasetCreateOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  json body{{"name", options.name},
            {"description", options.description},
            {"tags", tags_of(options.tags).value()},
            {"create_new_version", options.new_version}};
  if (options.urls.empty()) {
    auto files = upload_local_files(**client, session, options.path);
    if (!files) return fail(files.error());
    body["files"] = std::move(*files);
  } else {
    body["urls"] = options.urls;
  }
  auto version = (*client)->create_dataset(session.workspace(), body);
  if (!version) return fail(version.error());
  auto& printer = session.printer();
  if (printer.for_people()) {
    printer.message(creation_message(*version));
  } else {
    printer.print_resource(dataset_version_kind(), *version);
  }
  return exit_code::k_success;
}

Result<int> run_dataset_list(Session& session) { return run_asset_list(session, dataset_asset()); }

Result<int> run_dataset_show(Session& session, const DatasetRefOptions& options) {
  return run_asset_show(session, dataset_asset(), parse_dataset_ref(options.ref).value());
}

Result<int> run_dataset_download(Session& session, const DatasetDownloadOptions& options) {
  return run_asset_download(session, dataset_asset(), parse_dataset_ref(options.ref).value(),
                            options.dest);
}

Result<int> run_dataset_delete(Session& session, const DatasetDeleteOptions& options) {
  return run_asset_delete(session, dataset_asset(), parse_dataset_ref(options.ref).value(),
                          options.yes);
}

void add_dataset_commands(CLI::App& app, Action& selected) {
  auto* group = app.add_subcommand("dataset", "Register, list, show, download and delete datasets");
  group->require_subcommand(1);
  group->footer(R"(
Examples:
  trainctl dataset create mnist --path ./data/mnist --tag source=yann.lecun.com
  trainctl dataset create iris --url https://example.com/iris.csv
  trainctl dataset show mnist:2
  trainctl dataset download mnist@latest --dest ./mnist
  trainctl dataset delete mnist:1 --yes)");

  auto create_options = std::make_shared<DatasetCreateOptions>();
  auto* create = group->add_subcommand(
      "create", "Register a new version from local files or URLs (same content: no new version)");
  create->add_option("NAME", create_options->name, "Dataset name")->required();
  create->add_option("--path", create_options->path, "A file or a directory (every file in it)");
  create->add_option("--url", create_options->urls, "An http(s) URL the service downloads");
  create->add_option("--description", create_options->description, "What the data is");
  create->add_option("--tag", create_options->tags, "key=value (repeatable)");
  create->add_flag("--new-version", create_options->new_version,
                   "Make a new version even when the content is the latest's");
  on_parsed(create, selected, create_options, run_dataset_create);

  auto* list = group->add_subcommand("list", "List datasets");
  list->alias("ls");
  on_parsed(list, selected, run_dataset_list);

  auto show_options = std::make_shared<DatasetRefOptions>();
  auto* show = group->add_subcommand(
      "show", "A dataset's versions (NAME), or one version with its files (NAME:N, NAME@latest)");
  show->add_option("DATASET", show_options->ref, "NAME, NAME:VERSION or NAME@latest")->required();
  on_parsed(show, selected, show_options, run_dataset_show);

  auto download_options = std::make_shared<DatasetDownloadOptions>();
  auto* download = group->add_subcommand(
      "download", "Download every file of a version (default: latest), verified and resumable");
  download->add_option("DATASET", download_options->ref, "NAME, NAME:VERSION or NAME@latest")
      ->required();
  download->add_option("--dest", download_options->dest, "Where to write (default: ./NAME)");
  on_parsed(download, selected, download_options, run_dataset_download);

  auto delete_options = std::make_shared<DatasetDeleteOptions>();
  auto* remove = group->add_subcommand(
      "delete", "Delete a version (NAME:N) or every version (NAME), unless an unfinished run uses it");
  remove->add_option("DATASET", delete_options->ref, "NAME or NAME:VERSION")->required();
  remove->add_flag("-y,--yes", delete_options->yes, "Do not ask on a terminal");
  on_parsed(remove, selected, delete_options, run_dataset_delete);
}

}  // namespace trainctl::cli
