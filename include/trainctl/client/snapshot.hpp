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
  std::filesystem::path source;  // absolute path on this machine
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
};

struct ScanOptions {
  SnapshotLimits limits;
  std::filesystem::path hash_cache_file;  // empty: no cache; one cache file per source directory
};

// Scans and hashes `source_dir` (a directory, or a symlink to one). Over a limit:
// ErrorCode::payload_too_large whose message lists the largest files and what to add to
// .trainctlignore. Files that cannot be read are skipped with a warning; the hash cache is saved
// after the scan (failing to save it is a warning).
Result<SnapshotScan> scan_source_directory(const std::filesystem::path& source_dir,
                                           const ScanOptions& options = {});

struct UploadReport {
  std::string snapshot_id;
  uint64_t files = 0;
  uint64_t uploaded_files = 0;
  uint64_t uploaded_bytes = 0;
};

// Uploads the blobs the service lacks (asking in batches), then creates the snapshot. `progress`
// gets the bytes uploaded so far and the bytes to upload, starting at (0, total).
Result<UploadReport> upload_snapshot(ApiClient& client, const std::string& workspace,
                                     const SnapshotScan& scan,
                                     const std::function<void(uint64_t done, uint64_t total)>& progress = {});

}  // namespace trainctl::client
