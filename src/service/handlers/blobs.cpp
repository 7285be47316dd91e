// Blobs (content-addressed uploads) and snapshots (manifests of blobs).
#include <string>
#include <vector>

#include "handlers.hpp"
#include "manifest.hpp"
#include "trainctl/api/names.hpp"
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
  // A blob whose row is there but whose file is gone (deleted by hand, a lost disk) or no longer
  // holds the content its name says (changed through a link) is missing too, so that the client
  // uploads it again.
  auto missing = absent_blobs(context.store, context.blobs, list);
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

Result<Reply> create_snapshot(const ServiceContext& context, const httplib::Request& request,
                    const std::string& text) {
  if (auto workspace = existing_workspace(context, request); !workspace) {
    return fail(workspace.error());
  }
  auto body = parse_json_object(text);
  if (!body) return fail(body.error());
  const auto listed = body->find("files");
  if (listed == body->end() || !listed->is_array()) {
    return fail(ErrorCode::invalid_argument, "\"files\" (an array) is required");
  }
  auto files = checked_manifest(*listed, "snapshot");
  if (!files) return fail(files.error());
  if (auto uploaded = require_uploaded_blobs(context.store, *files); !uploaded) {
    return fail(uploaded.error());
  }

  SnapshotRecord snapshot;
  snapshot.id = manifest_hash(*files);
  snapshot.files = *files;
  snapshot.file_count = static_cast<int64_t>(files->size());
  snapshot.total_size = manifest_total_size(*files);
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
