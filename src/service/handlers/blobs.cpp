// Blobs (content-addressed uploads) and snapshots (manifests of blobs).
#include <set>

#include "handlers.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

Result<Reply> missing_blobs(const ServiceContext& context, const httplib::Request& request,
                    const std::string& text) {
  if (auto workspace = existing_workspace(context, request); !workspace) {
    return fail(workspace.error());
  }
  auto body = parse_json_object(text);
  if (!body) return fail(body.error());
  const auto hashes = body->find("hashes");
  if (hashes == body->end() || !hashes->is_array()) {
    return fail(ErrorCode::invalid_argument, "\"hashes\" (an array of SHA-256 hex strings) is required");
  }
  if (hashes->size() > context.config.max_missing_hashes) {
    return fail(ErrorCode::payload_too_large, "at most {} hashes per call",
                context.config.max_missing_hashes);
  }
  std::vector<std::string> list;
  for (const auto& hash : *hashes) {
    if (!hash.is_string() || !api::is_sha256_hex(hash.get<std::string>())) {
      return fail(ErrorCode::invalid_argument, "every hash must be 64 lower-case hex digits");
    }
    list.push_back(hash.get<std::string>());
  }
  auto missing = context.store.missing_blobs(list);
  if (!missing) return fail(missing.error());
  return Reply{200, {{"missing", *missing}}, {}};
}

// Streams the body into the blob store; the blob is committed only when its hash matches.
Result<Reply> put_blob(const ServiceContext& context, const httplib::Request& request,
                       const httplib::ContentReader& read_body) {
  if (auto workspace = existing_workspace(context, request); !workspace) {
    return fail(workspace.error());
  }
  const std::string sha256 = request.matches[2];
  if (!api::is_sha256_hex(sha256)) {
    return fail(ErrorCode::invalid_argument, "a blob is named by 64 lower-case hex digits");
  }
  auto known = context.store.has_blob(sha256);
  if (!known) return fail(known.error());
  auto writer = context.blobs.begin_write(context.config.max_blob_bytes);
  if (!writer) return fail(writer.error());
  std::optional<Error> write_error;
  const bool read = read_body([&](const char* data, size_t size) {
    auto written = (*writer)->write(data, size);
    if (!written) write_error = written.error();
    return written.has_value();
  });
  if (write_error) return fail(*write_error);
  if (!read) return fail(ErrorCode::invalid_argument, "the upload was interrupted");
  auto size = (*writer)->commit(sha256);
  if (!size) return fail(size.error());
  if (auto inserted = context.store.insert_blob(sha256, static_cast<int64_t>(*size)); !inserted) {
    return fail(inserted.error());
  }
  return Reply{*known ? 200 : 201, {{"sha256", sha256}, {"size", *size}}, {}};
}

// One manifest entry, checked; its path is returned in canonical form.
Result<nlohmann::json> checked_entry(const nlohmann::json& entry, size_t index) {
  const std::string where = fmt::format("files[{}]", index);
  auto invalid = [&](std::string_view field, std::string message) {
    const std::string path = field.empty() ? where : fmt::format("{}.{}", where, field);
    return fail(Error{ErrorCode::invalid_argument, "the snapshot manifest is invalid",
                      {field_problem(path, std::move(message))}});
  };
  if (!entry.is_object()) return invalid("", "must be an object");
  const auto path = entry.find("path");
  if (path == entry.end() || !path->is_string()) return invalid("path", "a string is required");
  auto parts = api::split_relative_path(path->get<std::string>());
  if (!parts) return invalid("path", parts.error().message);
  const auto sha256 = entry.find("sha256");
  if (sha256 == entry.end() || !sha256->is_string() || !api::is_sha256_hex(sha256->get<std::string>())) {
    return invalid("sha256", "64 lower-case hex digits are required");
  }
  const auto size = entry.find("size");
  if (size == entry.end() || !size->is_number_unsigned()) {
    return invalid("size", "a non-negative integer is required");
  }
  const auto mode = entry.find("mode");
  if (mode == entry.end() || !mode->is_number_unsigned() || mode->get<uint64_t>() > 0777) {
    return invalid("mode", "permission bits (0 to 0777) are required");
  }
  return nlohmann::json{{"path", path->get<std::string>()},
                        {"sha256", *sha256},
                        {"size", size->get<uint64_t>()},
                        {"mode", mode->get<uint64_t>()}};
}

// The manifest's files, checked and sorted by path: no duplicates, and no file that is also
// another file's directory.
Result<nlohmann::json> checked_manifest(const nlohmann::json& body) {
  const auto files = body.find("files");
  if (files == body.end() || !files->is_array()) {
    return fail(ErrorCode::invalid_argument, "\"files\" (an array) is required");
  }
  std::map<std::string, nlohmann::json> by_path;
  for (size_t i = 0; i < files->size(); ++i) {
    auto entry = checked_entry((*files)[i], i);
    if (!entry) return fail(entry.error());
    const std::string path = entry->at("path");
    if (!by_path.emplace(path, std::move(*entry)).second) {
      return fail(ErrorCode::invalid_argument, "the snapshot lists {} twice", path);
    }
  }
  for (auto it = by_path.begin(); it != by_path.end(); ++it) {
    const auto next = std::next(it);
    if (next != by_path.end() && next->first.starts_with(it->first + "/")) {
      return fail(ErrorCode::invalid_argument, "{} is both a file and a directory", it->first);
    }
  }
  auto sorted = nlohmann::json::array();
  for (auto& [path, entry] : by_path) sorted.push_back(std::move(entry));
  return sorted;
}

Result<Reply> create_snapshot(const ServiceContext& context, const httplib::Request& request,
                    const std::string& text) {
  if (auto workspace = existing_workspace(context, request); !workspace) {
    return fail(workspace.error());
  }
  auto body = parse_json_object(text);
  if (!body) return fail(body.error());
  auto files = checked_manifest(*body);
  if (!files) return fail(files.error());

  std::set<std::string> hashes;
  int64_t total_size = 0;
  for (const auto& file : *files) {
    hashes.insert(file.at("sha256").get<std::string>());
    total_size += file.at("size").get<int64_t>();
  }
  auto missing = context.store.missing_blobs({hashes.begin(), hashes.end()});
  if (!missing) return fail(missing.error());
  if (!missing->empty()) {
    Error error{ErrorCode::invalid_argument,
                fmt::format("{} blob(s) of the snapshot are not uploaded", missing->size())};
    for (const auto& hash : *missing) error.details.push_back(field_problem(hash, "blob is missing"));
    return fail(std::move(error));
  }

  SnapshotRecord snapshot;
  snapshot.id = util::sha256_hex(files->dump());
  snapshot.files = *files;
  snapshot.file_count = static_cast<int64_t>(files->size());
  snapshot.total_size = total_size;
  snapshot.created_at_ms = util::now_unix_ms();
  auto stored = context.store.put_snapshot(snapshot);
  if (!stored) return fail(stored.error());
  const auto& [record, created] = *stored;
  return Reply{created ? 201 : 200,
               {{"id", record.id}, {"file_count", record.file_count}, {"total_size", record.total_size}},
               {}};
}

}  // namespace

void install_blob_routes(httplib::Server& server, const ServiceContext& context) {
  server.Post(workspace_route("/blobs/missing"),
              json_body_route(context, [&context](const httplib::Request& request, const std::string& text) {
                return missing_blobs(context, request, text);
              }));
  server.Put(workspace_route("/blobs/([^/]+)"),
             [&context](const httplib::Request& request, httplib::Response& response,
                        const httplib::ContentReader& read_body) {
               auto reply = put_blob(context, request, read_body);
               if (!reply) {
                 send_error(response, reply.error());
                 response.set_header("Connection", "close");  // the body may be left unread
                 return;
               }
               send_json(response, reply->status, reply->body);
             });
  server.Post(workspace_route("/snapshots"),
              json_body_route(context, [&context](const httplib::Request& request, const std::string& text) {
                return create_snapshot(context, request, text);
              }));
}

}  // namespace trainctl::service::handlers
