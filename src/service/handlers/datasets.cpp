// Datasets (docs/rest-api.md, Datasets; docs/datasets.md): versions made from uploaded blobs or
// from URLs the service downloads; listed, shown, downloaded file by file and deleted.
#include <algorithm>
#include <charconv>
#include <set>

#include "handlers.hpp"
#include "manifest.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/service/url_fetcher.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

constexpr size_t k_max_files = 100'000;
constexpr size_t k_max_urls = 100;
constexpr int k_url_file_mode = 0644;

std::unexpected<Error> invalid_field(const std::string& path, const std::string& message) {
  return fail(Error{ErrorCode::invalid_argument,
                    fmt::format("{}: {}", path, message),
                    {field_problem(path, message)}});
}

// ---- the version resource -------------------------------------------------------------------

nlohmann::json version_json(const DatasetVersionRecord& record) {
  return {{"name", record.name},
          {"version", record.version},
          {"description", record.description},
          {"tags", record.tags},
          {"file_count", record.file_count},
          {"total_size", record.total_size},
          {"content_hash", record.content_hash},
          {"source", record.source},
          {"created_at", util::format_rfc3339(record.created_at_ms)}};
}

nlohmann::json version_json_with_files(const DatasetVersionRecord& record) {
  auto out = version_json(record);
  out["files"] = record.files;
  return out;
}

// ---- path parameters ------------------------------------------------------------------------

// A version parameter: a number from 1, or "latest" (0, as the store takes it) when allowed.
Result<int64_t> version_param(const httplib::Request& request, size_t index, bool latest_allowed) {
  const std::string text = request.matches[static_cast<int>(index)];
  if (latest_allowed && text == "latest") return 0;
  int64_t version = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (error != std::errc() || end != text.data() + text.size() || version < 1) {
    return fail(ErrorCode::invalid_argument, "a dataset version is a number from 1{}",
                latest_allowed ? ", or 'latest'" : "");
  }
  return version;
}

struct VersionRef {
  std::string workspace;
  std::string name;
  int64_t version = 0;  // 0: the latest
};

// The workspace (match 1, known to exist), the dataset name (match 2) and, when the route has
// one, the version (match 3).
Result<VersionRef> routed_dataset(const ServiceContext& context, const httplib::Request& request,
                                  bool has_version, bool latest_allowed) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto name = name_param(request, 2, "dataset");
  if (!name) return fail(name.error());
  VersionRef ref{.workspace = std::move(*workspace), .name = std::move(*name), .version = 0};
  if (has_version) {
    auto version = version_param(request, 3, latest_allowed);
    if (!version) return fail(version.error());
    ref.version = *version;
  }
  return ref;
}

// ---- POST /datasets: the request --------------------------------------------------------------

struct CreateRequest {
  DatasetVersionRecord draft;  // name, description and tags; files from "files" or "urls"
  bool create_new_version = false;
};

Result<nlohmann::json> checked_tags(const nlohmann::json& body) {
  const auto tags = body.find("tags");
  if (tags == body.end() || tags->is_null()) return nlohmann::json::object();
  if (!tags->is_object()) return invalid_field("tags", "an object of strings is required");
  for (const auto& [key, value] : tags->items()) {
    if (auto valid = api::validate_name("tag", key); !valid) {
      return invalid_field("tags", valid.error().message);
    }
    if (!value.is_string()) return invalid_field("tags." + key, "a string is required");
  }
  return *tags;
}

// The body's fields other than the files: name, description, tags, create_new_version.
Result<CreateRequest> checked_create_request(const nlohmann::json& body) {
  CreateRequest request;
  const auto name = body.find("name");
  if (name == body.end() || !name->is_string())
    return invalid_field("name", "a string is required");
  if (auto valid = api::validate_name("dataset", name->get<std::string>()); !valid) {
    return invalid_field("name", valid.error().message);
  }
  request.draft.name = name->get<std::string>();
  const auto description = body.find("description");
  if (description != body.end() && !description->is_null()) {
    if (!description->is_string()) return invalid_field("description", "a string is required");
    request.draft.description = description->get<std::string>();
  }
  auto tags = checked_tags(body);
  if (!tags) return fail(tags.error());
  request.draft.tags = std::move(*tags);
  const auto create_new_version = body.find("create_new_version");
  if (create_new_version != body.end() && !create_new_version->is_null()) {
    if (!create_new_version->is_boolean()) {
      return invalid_field("create_new_version", "true or false is required");
    }
    request.create_new_version = create_new_version->get<bool>();
  }
  return request;
}

// A non-empty array of at most `max` items under `key`.
Result<const nlohmann::json*> listed(const nlohmann::json& body, const std::string& key,
                                     size_t max) {
  const auto& list = body.at(key);
  if (!list.is_array() || list.empty()) return invalid_field(key, "a non-empty array is required");
  if (list.size() > max) {
    return fail(ErrorCode::payload_too_large, "a dataset version has at most {} {}", max, key);
  }
  return &list;
}

// The manifest of uploaded files, checked; every blob must be uploaded already.
Result<nlohmann::json> uploaded_manifest(const ServiceContext& context,
                                         const nlohmann::json& body) {
  auto files = listed(body, "files", k_max_files);
  if (!files) return fail(files.error());
  auto manifest = checked_manifest(**files, "dataset");
  if (!manifest) return fail(manifest.error());
  if (auto uploaded = require_uploaded_blobs(context.store, *manifest); !uploaded) {
    return fail(uploaded.error());
  }
  return manifest;
}

// `name` if no earlier file took it, else the first free of "data-2.csv", "data-3.csv", ...
std::string unique_file_name(const std::string& name, std::set<std::string>& taken) {
  if (taken.insert(name).second) return name;
  const size_t dot = name.rfind('.');
  const bool has_extension = dot != std::string::npos && dot > 0;
  const std::string stem = has_extension ? name.substr(0, dot) : name;
  const std::string extension = has_extension ? name.substr(dot) : "";
  for (int n = 2;; ++n) {
    auto candidate = fmt::format("{}-{}{}", stem, n, extension);
    if (taken.insert(candidate).second) return candidate;
  }
}

// Every URL checked first, then each downloaded into the blob store, in order; the manifest
// names each file after its URL (never after Content-Disposition) and records where it came from.
Result<nlohmann::json> downloaded_manifest(const ServiceContext& context,
                                           const nlohmann::json& body) {
  auto urls = listed(body, "urls", k_max_urls);
  if (!urls) return fail(urls.error());
  for (size_t i = 0; i < (*urls)->size(); ++i) {
    const auto& url = (**urls)[i];
    const std::string where = fmt::format("urls[{}]", i);
    if (!url.is_string()) return invalid_field(where, "a string is required");
    if (auto name = file_name_for_url(url.get<std::string>()); !name) {
      return invalid_field(where, name.error().message);
    }
  }
  std::set<std::string> taken;
  auto files = nlohmann::json::array();
  for (const auto& url : **urls) {
    auto fetched = fetch_url(url.get<std::string>(), context.url_policy, context.blobs);
    if (!fetched) return fail(fetched.error());
    if (auto inserted =
            context.store.insert_blob(fetched->sha256, static_cast<int64_t>(fetched->size));
        !inserted) {
      return fail(inserted.error());
    }
    files.push_back({{"path", unique_file_name(fetched->path, taken)},
                     {"sha256", fetched->sha256},
                     {"size", fetched->size},
                     {"mode", k_url_file_mode},
                     {"url", fetched->url}});
  }
  std::sort(files.begin(), files.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a.at("path").get<std::string>() < b.at("path").get<std::string>();
  });
  return files;
}

Result<Reply> create_dataset_version(const ServiceContext& context, const httplib::Request& request,
                                     const std::string& text) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto body = parse_json_object(text);
  if (!body) return fail(body.error());
  auto create = checked_create_request(*body);
  if (!create) return fail(create.error());
  const bool from_files = body->contains("files");
  if (from_files == body->contains("urls")) {
    return fail(ErrorCode::invalid_argument, "give exactly one of \"files\" and \"urls\"");
  }
  auto files = from_files ? uploaded_manifest(context, *body) : downloaded_manifest(context, *body);
  if (!files) return fail(files.error());

  auto& draft = create->draft;
  draft.workspace = *workspace;
  draft.source = from_files ? "files" : "urls";
  draft.content_hash = manifest_hash(*files);
  draft.file_count = static_cast<int64_t>(files->size());
  draft.total_size = manifest_total_size(*files);
  draft.files = std::move(*files);
  auto stored = context.store.create_dataset_version(draft, create->create_new_version);
  if (!stored) return fail(stored.error());
  const auto& [record, created] = *stored;
  auto reply = version_json(record);
  reply["created"] = created;
  return Reply{created ? 201 : 200,
               std::move(reply),
               {{"Location", fmt::format("/v1/workspaces/{}/datasets/{}/versions/{}",
                                         record.workspace, record.name, record.version)}}};
}

// ---- reads ----------------------------------------------------------------------------------

Result<Reply> list_datasets(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto datasets = context.store.list_datasets(*workspace);
  if (!datasets) return fail(datasets.error());
  auto items = nlohmann::json::array();
  for (const auto& dataset : *datasets) {
    items.push_back({{"name", dataset.name},
                     {"description", dataset.description},
                     {"latest_version", dataset.latest_version},
                     {"version_count", dataset.version_count},
                     {"updated_at", util::format_rfc3339(dataset.updated_at_ms)}});
  }
  return Reply{200, {{"items", std::move(items)}}, {}};
}

Result<Reply> show_dataset(const ServiceContext& context, const httplib::Request& request) {
  auto ref = routed_dataset(context, request, false, false);
  if (!ref) return fail(ref.error());
  auto versions = context.store.list_dataset_versions(ref->workspace, ref->name);
  if (!versions) return fail(versions.error());
  auto items = nlohmann::json::array();
  for (const auto& version : *versions) items.push_back(version_json(version));
  return Reply{200, {{"name", ref->name}, {"versions", std::move(items)}}, {}};
}

Result<DatasetVersionRecord> routed_version(const ServiceContext& context,
                                            const httplib::Request& request) {
  auto ref = routed_dataset(context, request, true, true);
  if (!ref) return fail(ref.error());
  return context.store.get_dataset_version(ref->workspace, ref->name, ref->version);
}

// The file of the version's manifest whose path is exactly match 4.
Result<FileReply> open_dataset_file(const ServiceContext& context,
                                    const httplib::Request& request) {
  auto version = routed_version(context, request);
  if (!version) return fail(version.error());
  return open_manifest_file(context.blobs, version->files, request.matches[4],
                            fmt::format("dataset {}:{}", version->name, version->version));
}

// ---- deletes --------------------------------------------------------------------------------

Result<Reply> delete_dataset(const ServiceContext& context, const httplib::Request& request,
                             bool one_version) {
  auto ref = routed_dataset(context, request, one_version, false);
  if (!ref) return fail(ref.error());
  if (auto deleted = context.store.delete_dataset(ref->workspace, ref->name, ref->version);
      !deleted) {
    return fail(deleted.error());
  }
  return Reply{204, {}, {}};
}

}  // namespace

void install_dataset_routes(httplib::Server& server, const ServiceContext& context) {
  const auto datasets = workspace_route("/datasets");
  const auto dataset = workspace_route("/datasets/([^/]+)");
  const auto version = workspace_route("/datasets/([^/]+)/versions/([^/]+)");
  server.Post(datasets, json_body_route(context, [&context](const httplib::Request& request,
                                                            const std::string& text) {
                return create_dataset_version(context, request, text);
              }));
  server.Get(datasets, json_route([&context](const httplib::Request& request) {
               return list_datasets(context, request);
             }));
  server.Get(dataset, json_route([&context](const httplib::Request& request) {
               return show_dataset(context, request);
             }));
  server.Delete(dataset, json_route([&context](const httplib::Request& request) {
                  return delete_dataset(context, request, false);
                }));
  server.Get(version, json_route([&context](const httplib::Request& request) -> Result<Reply> {
               auto record = routed_version(context, request);
               if (!record) return fail(record.error());
               return Reply{200, version_json_with_files(*record), {}};
             }));
  server.Delete(version, json_route([&context](const httplib::Request& request) {
                  return delete_dataset(context, request, true);
                }));
  server.Get(workspace_route("/datasets/([^/]+)/versions/([^/]+)/files/(.+)"),
             file_route([&context](const httplib::Request& request) {
               return open_dataset_file(context, request);
             }));
}

}  // namespace trainctl::service::handlers
