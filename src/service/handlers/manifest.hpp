#pragma once
// File manifests, shared by snapshots and dataset versions: [{"path","sha256","size","mode"}],
// checked entry by entry and identified by the hash of their canonical form.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "handlers.hpp"
#include "trainctl/service/blob_store.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::handlers {

// `files` (the request's "files" array; anything else is refused) checked and sorted by path: each entry an object with a
// path that passes api::split_relative_path, a SHA-256, a size >= 0 and permission bits (0 to
// 0777); no path twice, and none both a file and a directory. invalid_argument otherwise, with
// the field path ("files[3].path") in details; `what` ("snapshot", "dataset") names the manifest
// in messages.
Result<nlohmann::json> checked_manifest(const nlohmann::json& files, std::string_view what);

// sha256 of the canonical manifest: the path, sha256, size and mode of each entry, in path order
// (other fields, such as a dataset file's "url", are left out). A snapshot's id; a dataset
// version's content_hash.
std::string manifest_hash(const nlohmann::json& files);

// The sum of the entries' sizes.
int64_t manifest_total_size(const nlohmann::json& files);

// invalid_argument, naming up to 20 of the missing hashes in details, unless every blob the
// manifest refers to is uploaded.
Result<void> require_uploaded_blobs(Store& store, const nlohmann::json& files);

// The blobs of `hashes` the service lacks: no row, or a file that is gone or no longer holds its
// content (BlobStore::not_intact), so that the client uploads them again. Rows missing first.
Result<std::vector<std::string>> absent_blobs(Store& store, const BlobStore& blobs,
                                              const std::vector<std::string>& hashes);

// The blob of the manifest entry whose path is exactly `path`, opened for a file route: no file
// system path is made from the request, so nothing outside the manifest's blobs can be reached.
// not_found, naming `owner` ("dataset mnist:2"), when no entry has that path.
Result<FileReply> open_manifest_file(const BlobStore& blobs, const nlohmann::json& files,
                                     const std::string& path, std::string_view owner);

}  // namespace trainctl::service::handlers
