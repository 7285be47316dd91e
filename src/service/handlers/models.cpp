// The model registry (docs/rest-api.md, Models; docs/models.md): a version is registered from
// the files of a Completed run, copied into the blob store so it never changes afterwards; listed,
// shown with its lineage, downloaded file by file and deleted.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>

#include "handlers.hpp"
#include "manifest.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/service/runs/run_files.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

constexpr size_t k_max_files = 100'000;
constexpr size_t k_max_text = 4096;
constexpr double k_max_cpu = 1024;
constexpr double k_max_memory_gb = 65536;
constexpr size_t k_copy_buffer_bytes = 1 << 20;
// Where a model's files may come from: the run's outputs (kept across attempts).
constexpr std::string_view k_outputs_dir = "outputs";

const std::set<std::string> k_frameworks{"tensorflow", "pytorch", "sklearn", "onnx", "custom"};

// ---- the version resource -------------------------------------------------------------------

// A resource amount as the API shows it: null when not given (0).
nlohmann::json amount_json(double value) {
  return value > 0 ? nlohmann::json(value) : nlohmann::json(nullptr);
}

nlohmann::json version_json(const ModelVersionRecord& record) {
  return {{"name", record.name},
          {"version", record.version},
          {"description", record.description},
          {"tags", record.tags},
          {"framework", record.framework},
          {"framework_version", record.framework_version},
          {"cpu", amount_json(record.cpu)},
          {"memory_gb", amount_json(record.memory_gb)},
          {"run_id", record.run_id},
          {"experiment", record.experiment},
          {"snapshot_id", record.snapshot_id},
          {"path", record.source_path},
          {"inputs", record.inputs},
          {"file_count", record.file_count},
          {"total_size", record.total_size},
          {"created_at", util::format_rfc3339(record.created_at_ms)}};
}

nlohmann::json version_json_with_files(const ModelVersionRecord& record) {
  auto out = version_json(record);
  out["files"] = record.files;
  return out;
}

// ---- POST /models: the body -----------------------------------------------------------------

// Reads the body's fields into a draft, collecting every problem (422 with all of them).
class ModelBody {
 public:
  explicit ModelBody(const nlohmann::json& body) : m_body(body) {}

  Result<ModelVersionRecord> parse(std::string workspace) {
    static const std::set<std::string> k_fields{
        "name", "run_id",    "path",        "framework", "framework_version",
        "cpu",  "memory_gb", "description", "tags"};
    for (const auto& [key, value] : m_body.items()) {
      if (!k_fields.contains(key)) problem(key, "unknown field");
    }
    ModelVersionRecord draft;
    draft.workspace = std::move(workspace);
    draft.name = name("name", "model");
    draft.run_id = name("run_id", "run");
    draft.source_path = source_path();
    draft.framework = framework();
    draft.framework_version = text("framework_version");
    draft.cpu = amount("cpu", k_max_cpu);
    draft.memory_gb = amount("memory_gb", k_max_memory_gb);
    draft.description = text("description");
    draft.tags = tags();
    if (!m_problems.empty()) {
      return fail(Error{ErrorCode::invalid_spec,
                        fmt::format("the model has {} invalid field{}: {}", m_problems.size(),
                                    m_problems.size() == 1 ? "" : "s",
                                    m_problems.front().to_string()),
                        m_problems});
    }
    return draft;
  }

 private:
  void problem(std::string path, std::string message) {
    m_problems.push_back(field_problem(std::move(path), std::move(message)));
  }

  // A required string that is a valid resource name of `kind`.
  std::string name(const std::string& field, std::string_view kind) {
    const auto value = m_body.find(field);
    if (value == m_body.end() || !value->is_string()) {
      problem(field, "a string is required");
      return {};
    }
    if (auto valid = api::validate_name(kind, value->get<std::string>()); !valid) {
      problem(field, valid.error().message);
    }
    return value->get<std::string>();
  }

  // Required: a relative path under outputs/, checked component by component.
  std::string source_path() {
    const auto value = m_body.find("path");
    if (value == m_body.end() || !value->is_string()) {
      problem("path", "a string is required, e.g. \"outputs/model\"");
      return {};
    }
    const auto path = value->get<std::string>();
    auto parts = api::split_relative_path(path);
    if (!parts) {
      problem("path", parts.error().message);
    } else if (parts->front() != k_outputs_dir) {
      problem("path", "a model is registered from the run's outputs: the path starts with outputs/");
    }
    return path;
  }

  std::string framework() {
    const auto value = m_body.find("framework");
    if (value == m_body.end() || value->is_null()) return "custom";
    if (!value->is_string() || !k_frameworks.contains(value->get<std::string>())) {
      problem("framework", "one of tensorflow, pytorch, sklearn, onnx, custom is required");
      return {};
    }
    return value->get<std::string>();
  }

  // An optional string of at most k_max_text bytes.
  std::string text(const std::string& field) {
    const auto value = m_body.find(field);
    if (value == m_body.end() || value->is_null()) return {};
    if (!value->is_string() || value->get<std::string>().size() > k_max_text) {
      problem(field, fmt::format("a string of at most {} bytes is required", k_max_text));
      return {};
    }
    return value->get<std::string>();
  }

  // An optional amount above 0 and at most `max`; 0 when not given.
  double amount(const std::string& field, double max) {
    const auto value = m_body.find(field);
    if (value == m_body.end() || value->is_null()) return 0;
    if (!value->is_number() || value->get<double>() <= 0 || value->get<double>() > max) {
      problem(field, fmt::format("a number above 0 and at most {} is required", max));
      return 0;
    }
    return value->get<double>();
  }

  nlohmann::json tags() {
    const auto value = m_body.find("tags");
    if (value == m_body.end() || value->is_null()) return nlohmann::json::object();
    if (!value->is_object()) {
      problem("tags", "an object of strings is required");
      return nlohmann::json::object();
    }
    for (const auto& [key, tag] : value->items()) {
      if (auto valid = api::validate_name("tag", key); !valid) {
        problem("tags", valid.error().message);
      } else if (!tag.is_string()) {
        problem("tags." + key, "a string is required");
      }
    }
    return *value;
  }

  const nlohmann::json& m_body;
  std::vector<ErrorDetail> m_problems;
};

// ---- POST /models: the files ----------------------------------------------------------------

// The run the files come from: it must have Completed, so its outputs are final.
Result<RunRecord> completed_run(const ServiceContext& context, const std::string& workspace,
                                const std::string& run_id) {
  auto run = context.store.get_run(workspace, run_id);
  if (!run) return fail(run.error());
  if (run->status != api::RunStatus::Completed) {
    return fail(ErrorCode::conflict, "run {} is {}; a model is registered from a Completed run",
                run_id, api::to_string(run->status));
  }
  return run;
}

// The run's regular files at `source_path` (one file) or under it (a directory), never through a
// symlink (list_run_files follows none), paired with their paths relative to `source_path`.
Result<std::vector<std::pair<RunFileEntry, std::string>>> files_at(
    const std::filesystem::path& run_dir, const std::string& run_id,
    const std::string& source_path) {
  auto listed = list_run_files(run_dir);
  if (!listed) return fail(listed.error());
  const std::string prefix = source_path + "/";
  std::vector<std::pair<RunFileEntry, std::string>> files;
  for (auto& entry : *listed) {
    if (entry.path == source_path) {
      const auto slash = entry.path.rfind('/');
      files.emplace_back(entry, entry.path.substr(slash + 1));
    } else if (entry.path.starts_with(prefix)) {
      files.emplace_back(entry, entry.path.substr(prefix.size()));
    }
  }
  if (files.empty()) {
    return fail(ErrorCode::not_found,
                "run {} has no files at {} (symbolic links are not followed); see "
                "`trainctl run files {}`",
                run_id, source_path, run_id);
  }
  if (files.size() > k_max_files) {
    return fail(ErrorCode::payload_too_large, "a model version has at most {} files", k_max_files);
  }
  return files;
}

// Copies one run file (opened without following a symlink) into the blob store, fsynced, and
// records the blob; returns its manifest entry.
Result<nlohmann::json> store_file(const ServiceContext& context,
                                  const std::filesystem::path& run_dir, const RunFileEntry& entry,
                                  const std::string& manifest_path) {
  auto opened = open_run_file(run_dir, entry.path);
  if (!opened) return fail(opened.error());
  struct stat info {};
  if (::fstat(opened->fd.get(), &info) != 0) {
    return fail(ErrorCode::io, "cannot read {}: {}", entry.path, std::strerror(errno));
  }
  auto writer = context.blobs.begin_write(context.config.max_blob_bytes);
  if (!writer) return fail(writer.error());
  std::vector<char> buffer(k_copy_buffer_bytes);
  uint64_t size = 0;
  while (true) {
    const ssize_t got = ::read(opened->fd.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail(ErrorCode::io, "cannot read {}: {}", entry.path, std::strerror(errno));
    if (got == 0) break;
    if (auto written = (*writer)->write(buffer.data(), static_cast<size_t>(got)); !written) {
      return fail(written.error());
    }
    size += static_cast<uint64_t>(got);
  }
  auto sha256 = (*writer)->commit_as_written();
  if (!sha256) return fail(sha256.error());
  if (auto inserted = context.store.insert_blob(*sha256, static_cast<int64_t>(size)); !inserted) {
    return fail(inserted.error());
  }
  return nlohmann::json{{"path", manifest_path},
                        {"sha256", *sha256},
                        {"size", size},
                        {"mode", info.st_mode & 0777}};
}

// The manifest of the files at draft.source_path in the run's directory, sorted by path.
Result<nlohmann::json> registered_files(const ServiceContext& context,
                                        const ModelVersionRecord& draft) {
  const auto run_dir = context.runs.run_dir(draft.run_id);
  auto files = files_at(run_dir, draft.run_id, draft.source_path);
  if (!files) return fail(files.error());
  auto manifest = nlohmann::json::array();
  for (const auto& [entry, manifest_path] : *files) {
    auto stored = store_file(context, run_dir, entry, manifest_path);
    if (!stored) return fail(stored.error());
    manifest.push_back(std::move(*stored));
  }
  std::sort(manifest.begin(), manifest.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a.at("path").get<std::string>() < b.at("path").get<std::string>();
  });
  return manifest;
}

Result<Reply> register_model(const ServiceContext& context, const httplib::Request& request,
                             const std::string& text) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto body = parse_json_object(text);
  if (!body) return fail(body.error());
  auto draft = ModelBody(*body).parse(*workspace);
  if (!draft) return fail(draft.error());
  auto run = completed_run(context, draft->workspace, draft->run_id);
  if (!run) return fail(run.error());
  auto files = registered_files(context, *draft);
  if (!files) return fail(files.error());

  draft->experiment = run->experiment;
  draft->snapshot_id = run->snapshot_id;
  draft->inputs = inputs_json(run->inputs);
  draft->file_count = static_cast<int64_t>(files->size());
  draft->total_size = manifest_total_size(*files);
  draft->files = std::move(*files);
  auto stored = context.store.create_model_version(*draft);
  if (!stored) return fail(stored.error());
  return Reply{201,
               version_json_with_files(*stored),
               {{"Location", fmt::format("/v1/workspaces/{}/models/{}/versions/{}",
                                         stored->workspace, stored->name, stored->version)}}};
}

// ---- path parameters ------------------------------------------------------------------------

// A version parameter: a number from 1, or "latest" (0, as the store takes it) when allowed.
Result<int64_t> version_param(const httplib::Request& request, bool latest_allowed) {
  const std::string text = request.matches[3];
  if (latest_allowed && text == "latest") return 0;
  int64_t version = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (error != std::errc() || end != text.data() + text.size() || version < 1) {
    return fail(ErrorCode::invalid_argument, "a model version is a number from 1{}",
                latest_allowed ? ", or 'latest'" : "");
  }
  return version;
}

struct VersionRef {
  std::string workspace;
  std::string name;
  int64_t version = 0;  // 0: the latest, or every version
};

// The workspace (match 1, known to exist), the model name (match 2) and, when the route has
// one, the version (match 3).
Result<VersionRef> routed_model(const ServiceContext& context, const httplib::Request& request,
                                bool has_version, bool latest_allowed) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto name = name_param(request, 2, "model");
  if (!name) return fail(name.error());
  VersionRef ref{.workspace = std::move(*workspace), .name = std::move(*name), .version = 0};
  if (has_version) {
    auto version = version_param(request, latest_allowed);
    if (!version) return fail(version.error());
    ref.version = *version;
  }
  return ref;
}

// ---- reads and deletes ----------------------------------------------------------------------

Result<Reply> list_models(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto models = context.store.list_models(*workspace);
  if (!models) return fail(models.error());
  auto items = nlohmann::json::array();
  for (const auto& model : *models) {
    items.push_back({{"name", model.name},
                     {"description", model.description},
                     {"framework", model.framework},
                     {"latest_version", model.latest_version},
                     {"version_count", model.version_count},
                     {"updated_at", util::format_rfc3339(model.updated_at_ms)}});
  }
  return Reply{200, {{"items", std::move(items)}}, {}};
}

Result<Reply> show_model(const ServiceContext& context, const httplib::Request& request) {
  auto ref = routed_model(context, request, false, false);
  if (!ref) return fail(ref.error());
  auto versions = context.store.list_model_versions(ref->workspace, ref->name);
  if (!versions) return fail(versions.error());
  auto items = nlohmann::json::array();
  for (const auto& version : *versions) items.push_back(version_json(version));
  return Reply{200, {{"name", ref->name}, {"versions", std::move(items)}}, {}};
}

Result<ModelVersionRecord> routed_version(const ServiceContext& context,
                                          const httplib::Request& request) {
  auto ref = routed_model(context, request, true, true);
  if (!ref) return fail(ref.error());
  return context.store.get_model_version(ref->workspace, ref->name, ref->version);
}

Result<FileReply> open_model_file(const ServiceContext& context, const httplib::Request& request) {
  auto version = routed_version(context, request);
  if (!version) return fail(version.error());
  return open_manifest_file(context.blobs, version->files, request.matches[4],
                            fmt::format("model {}:{}", version->name, version->version));
}

Result<Reply> delete_model(const ServiceContext& context, const httplib::Request& request,
                           bool one_version) {
  auto ref = routed_model(context, request, one_version, false);
  if (!ref) return fail(ref.error());
  if (auto deleted = context.store.delete_model(ref->workspace, ref->name, ref->version);
      !deleted) {
    return fail(deleted.error());
  }
  return Reply{204, {}, {}};
}

}  // namespace

void install_model_routes(httplib::Server& server, const ServiceContext& context) {
  const auto models = workspace_route("/models");
  const auto model = workspace_route("/models/([^/]+)");
  const auto version = workspace_route("/models/([^/]+)/versions/([^/]+)");
  server.Post(models, json_body_route(context, [&context](const httplib::Request& request,
                                                          const std::string& text) {
                return register_model(context, request, text);
              }));
  server.Get(models, json_route([&context](const httplib::Request& request) {
               return list_models(context, request);
             }));
  server.Get(model, json_route([&context](const httplib::Request& request) {
               return show_model(context, request);
             }));
  server.Delete(model, json_route([&context](const httplib::Request& request) {
                  return delete_model(context, request, false);
                }));
  server.Get(version, json_route([&context](const httplib::Request& request) -> Result<Reply> {
               auto record = routed_version(context, request);
               if (!record) return fail(record.error());
               return Reply{200, version_json_with_files(*record), {}};
             }));
  server.Delete(version, json_route([&context](const httplib::Request& request) {
                  return delete_model(context, request, true);
                }));
  server.Get(workspace_route("/models/([^/]+)/versions/([^/]+)/files/(.+)"),
             file_route([&context](const httplib::Request& request) {
               return open_model_file(context, request);
             }));
}

}  // namespace trainctl::service::handlers
