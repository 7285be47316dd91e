#pragma once
// The source directory of a run, as a manifest of content-addressed files: scanned (skipping
// .git and the patterns of .trainctlignore, never following symlinks or reading special files),
// hashed (with a cache keyed by path, size, mtime and inode), and uploaded (only missing blobs).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/client/api_client.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::client {

struct SnapshotFile {
  std::string path;  // relative, '/'-separated
  std::string sha256;
  uint64_t size = 0;
  unsigned mode = 0644;
  std::string source;  // absolute path on this machine
};

struct SnapshotLimits {
  uint64_t max_total_bytes = 2ull << 30;
  uint64_t max_files = 100'000;
};

struct SnapshotScan {
  std::vector<SnapshotFile> files;  // sorted by path
  std::vector<std::string> warnings;  // skipped symlinks, FIFOs, devices, unreadable files
  uint64_t total_bytes = 0;
  uint64_t hashed_files = 0;          // files read and hashed; the others came from the cache
  nlohmann::json manifest() const;    // {"files": [{"path","sha256","size","mode"}]}
  std::string digest() const;         // the snapshot's id: api::manifest_digest of the files
};

struct ScanOptions {
  SnapshotLimits limits;
  std::filesystem::path hash_cache_file;  // empty: no cache; one cache file per source directory
  bool apply_ignore_rules = true;  // skip .git and .trainctlignore's patterns; false: keep every file
};

// Scans and hashes `source_dir` (a directory, or a symlink to one). Over a limit:
// ErrorCode::payload_too_large whose message lists the largest files and what to add to
// .trainctlignore. Files that cannot be read are skipped with a warning; the hash cache is saved
// after the scan (failing to save it is a warning).
Result<SnapshotScan> scan_source_directory(const std::filesystem::path& source_dir,
                                           const ScanOptions& options = {});

// Scans and hashes one regular file (a symlink the user named is followed) as a one-file scan
// whose path is the file's base name. A special file is ErrorCode::invalid_argument; an unreadable
// one ErrorCode::io.
Result<SnapshotScan> scan_single_file(const std::filesystem::path& file,
                                      const ScanOptions& options = {});

struct UploadReport {
  std::string snapshot_id;  // upload_snapshot only
  uint64_t files = 0;
  uint64_t uploaded_files = 0;
  uint64_t uploaded_bytes = 0;
};

using UploadProgress = std::function<void(uint64_t done, uint64_t total)>;

// Uploads the blobs of `scan` the service lacks (asking in batches). `progress` gets the bytes
// uploaded so far and the bytes to upload, starting at (0, total).
Result<UploadReport> upload_missing_blobs(ApiClient& client, const std::string& workspace,
                                          const SnapshotScan& scan,
                                          const UploadProgress& progress = {});

// Uploads the blobs the service lacks (upload_missing_blobs), then creates the snapshot. `progress`
// gets the bytes uploaded so far and the bytes to upload, starting at (0, total).
Result<UploadReport> upload_snapshot(ApiClient& client, const std::string& workspace,
                                     const SnapshotScan& scan,
                                     const UploadProgress& progress = {});

// Creates the run `payload` describes, its snapshot that of `scan` (the payload's snapshot_id
// must be scan.digest()), in one request when the service has that snapshot in the workspace:
// the request names the snapshot by id. When the service answers content_missing, the request is
// sent again with the manifest and, when blobs are missing, after uploading exactly those; always
// with the same idempotency key, so a retry makes no second run. `report` (when given) gets what
// was uploaded; `progress` as for upload_missing_blobs, called only when something is uploaded.
// `reply` as for ApiClient::create_run.
Result<SubmitOutcome> create_run_with_snapshot(ApiClient& client, const std::string& workspace,
                                               const SnapshotScan& scan, nlohmann::json payload,
                                               const std::string& idempotency_key,
                                               const UploadProgress& progress = {},
                                               UploadReport* report = nullptr,
                                               SubmitReply reply = SubmitReply::run);

}  // namespace trainctl::client
