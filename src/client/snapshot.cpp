#include "trainctl/client/snapshot.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "trainctl/api/manifest_digest.hpp"
#include "trainctl/client/hash_cache.hpp"
#include "trainctl/client/ignore_rules.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::client {

namespace {

constexpr size_t k_largest_files_named = 10;
constexpr size_t k_missing_blobs_batch = 10'000;

// A regular file found by the walk, not hashed yet.
struct FoundFile {
  std::string path;  // relative, '/'-separated
  std::string source;  // absolute; a string: a std::filesystem::path also keeps its components
  FileStamp stamp;
  unsigned mode = 0644;
};

FoundFile found_file(std::string path, std::string source, const struct stat& info) {
  return FoundFile{
      .path = std::move(path),
      .source = std::move(source),
      .stamp = {.size = static_cast<uint64_t>(info.st_size),
                .mtime_ns = int64_t{info.st_mtim.tv_sec} * 1'000'000'000 + info.st_mtim.tv_nsec,
                .inode = info.st_ino},
      .mode = (info.st_mode & 0111) != 0 ? 0755u : 0644u};
}

std::string human_size(uint64_t bytes) {
  static constexpr std::array k_units{"B", "KiB", "MiB", "GiB", "TiB"};
  auto value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < k_units.size()) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, k_units[unit]);
}

// Why a directory entry that is neither a file nor a directory is left out; `name` is relative
// to the directory open as `dir_fd`.
std::string special_file_reason(int dir_fd, const char* name, mode_t mode) {
  if (S_ISLNK(mode)) {
    char target[4096];
    const ssize_t length = ::readlinkat(dir_fd, name, target, sizeof target);
    return fmt::format("a symbolic link{} (links are not followed)",
                       length > 0 ? " to " + std::string(target, static_cast<size_t>(length)) : "");
  }
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISBLK(mode) || S_ISCHR(mode)) return "a device";
  return "not a regular file";
}

Result<std::filesystem::path> source_root(const std::filesystem::path& source_dir) {
  auto root = std::filesystem::absolute(source_dir).lexically_normal();
  if (!root.has_filename() && root.has_parent_path()) root = root.parent_path();
  struct stat info {};
  if (::stat(root.c_str(), &info) != 0) {
    const auto code = errno == ENOENT ? ErrorCode::not_found : ErrorCode::io;
    return fail(code, "cannot read the source directory {}: {}", root.string(),
                std::strerror(errno));
  }
  if (!S_ISDIR(info.st_mode)) {
    return fail(ErrorCode::invalid_argument, "the source directory {} is not a directory",
                root.string());
  }
  return root;
}

// Walks the tree under a root without following symlinks: every directory is opened relative to
// its parent with O_NOFOLLOW and every entry examined with fstatat, so a symlink swapped in
// during the walk is not followed either. Regular files are collected; `.git` and what the
// .trainctlignore files ignore are left out silently, other special files and unreadable
// directories with a warning each. An unreadable .trainctlignore fails the walk.
class TreeWalker {
 public:
  // `apply_ignore_rules` false: `.git` and .trainctlignore files are ordinary entries.
  TreeWalker(const std::filesystem::path& root, bool apply_ignore_rules,
             std::vector<std::string>& warnings)
      : m_root(root),
        m_root_prefix(root.native().ends_with('/') ? root.native() : root.native() + '/'),
        m_apply_ignore_rules(apply_ignore_rules),
        m_warnings(warnings) {}

  // `expected_files`: how many files the walk will probably find (room is made for them).
  Result<std::vector<FoundFile>> walk(size_t expected_files) {
    m_files.reserve(expected_files);
    const int fd = ::open(m_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      return fail(ErrorCode::io, "cannot read the source directory {}: {}", m_root.string(),
                  std::strerror(errno));
    }
    if (auto walked = walk_directory(fd, ""); !walked) return std::unexpected(walked.error());
    return std::move(m_files);
  }

 private:
  // Walks the directory open as `fd` (taken over), whose path relative to the root is `dir`.
  Result<void> walk_directory(int fd, const std::string& dir) {
    const std::unique_ptr<DIR, int (*)(DIR*)> stream(::fdopendir(fd), ::closedir);
    if (!stream) {
      m_warnings.push_back(fmt::format("skipped {}/: {}", dir, std::strerror(errno)));
      ::close(fd);
      return {};
    }
    if (m_apply_ignore_rules) {
      if (auto entered = m_ignore.enter(::dirfd(stream.get()), dir, m_warnings); !entered) {
        return entered;
      }
    }
    while (const dirent* entry = ::readdir(stream.get())) {
      const std::string_view name = entry->d_name;
      if (name == "." || name == ".." || (m_apply_ignore_rules && name == ".git")) continue;
      auto visited = visit(::dirfd(stream.get()), entry->d_name,
                           dir.empty() ? std::string(name) : dir + '/' + entry->d_name);
      if (!visited) return visited;
    }
    if (m_apply_ignore_rules) m_ignore.leave();
    return {};
  }

  Result<void> visit(int dir_fd, const char* name, std::string path) {
    struct stat info {};
    if (::fstatat(dir_fd, name, &info, AT_SYMLINK_NOFOLLOW) != 0) {
      m_warnings.push_back(fmt::format("skipped {}: {}", path, std::strerror(errno)));
      return {};
    }
    const bool is_directory = S_ISDIR(info.st_mode);
    if (m_apply_ignore_rules && m_ignore.is_ignored(path, is_directory)) return {};
    if (is_directory) {
      const int fd = ::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        m_warnings.push_back(fmt::format("skipped {}/: {}", path, std::strerror(errno)));
        return {};
      }
      return walk_directory(fd, path);
    }
    if (S_ISREG(info.st_mode)) {
      std::string source = m_root_prefix + path;
      m_files.push_back(found_file(std::move(path), std::move(source), info));
    } else {
      m_warnings.push_back(
          fmt::format("skipped {}: {}", path, special_file_reason(dir_fd, name, info.st_mode)));
    }
    return {};
  }

  const std::filesystem::path& m_root;
  const std::string m_root_prefix;  // the root with a trailing '/': a file's path goes after it
  bool m_apply_ignore_rules = true;
  IgnoreTree m_ignore;
  std::vector<std::string>& m_warnings;
  std::vector<FoundFile> m_files;
};

// Refuses a tree over a limit with a report that lets the user cut it down: the total, the
// largest files with their sizes (largest first) and how much of the total they make up, and the
// .trainctlignore to list them in.
Result<void> check_limits(const std::filesystem::path& root, std::vector<FoundFile>& files,
                          const SnapshotLimits& limits) {
  uint64_t total = 0;
  for (const auto& file : files) total += file.stamp.size;
  if (files.size() <= limits.max_files && total <= limits.max_total_bytes) return {};

  const size_t named = std::min(k_largest_files_named, files.size());
  std::partial_sort(
      files.begin(), files.begin() + static_cast<std::ptrdiff_t>(named), files.end(),
      [](const FoundFile& a, const FoundFile& b) { return a.stamp.size > b.stamp.size; });
  std::string largest;
  uint64_t largest_total = 0;
  for (size_t i = 0; i < named; ++i) {
    largest += fmt::format("\n  {:>10}  {}", human_size(files[i].stamp.size), files[i].path);
    largest_total += files[i].stamp.size;
  }
  return fail(ErrorCode::payload_too_large,
              "the source directory {} holds {} files and {}, over the limit of {} files and {}.\n"
              "The {} largest files ({} of the {}):{}\n"
              "Leave out what the run does not need by listing it in {} (gitignore syntax, e.g. "
              "`/data/` or `*.ckpt`); datasets belong in `inputs:`.",
              root.string(), files.size(), human_size(total), limits.max_files,
              human_size(limits.max_total_bytes), named, human_size(largest_total),
              human_size(total), largest, (root / k_ignore_file_name).string());
}

// Hashes the files the cache does not know; unreadable files are skipped with a warning.
void hash_files(std::vector<FoundFile>& found, HashCache* cache, SnapshotScan& scan) {
  scan.files.reserve(found.size());
  for (auto& file : found) {
    const std::string* cached = cache != nullptr ? cache->find(file.path, file.stamp) : nullptr;
    std::string sha256;
    uint64_t size = file.stamp.size;
    if (cached != nullptr) {
      sha256 = *cached;
    } else {
      auto hashed = util::sha256_file(file.source, &size);
      if (!hashed) {
        scan.warnings.push_back(fmt::format("skipped {}: {}", file.path, hashed.error().message));
        continue;
      }
      sha256 = std::move(*hashed);
      ++scan.hashed_files;
    }
    // A file that changed size while read is uploaded as read, but its stamp is not trusted.
    if (cache != nullptr && size == file.stamp.size) cache->record(file.path, file.stamp, sha256);
    scan.total_bytes += size;
    scan.files.push_back(SnapshotFile{.path = std::move(file.path),
                                      .sha256 = std::move(sha256),
                                      .size = size,
                                      .mode = file.mode,
                                      .source = std::move(file.source)});
  }
}

// The hash cache in `cache_file`; none when it is empty.
std::optional<HashCache> load_cache(const std::filesystem::path& cache_file,
                                   int64_t scan_start_ns) {
  if (cache_file.empty()) return std::nullopt;
  return HashCache::load(cache_file, scan_start_ns);
}

// hash_files with `cache` (loaded from `cache_file`), saved afterwards.
void hash_with_cache(std::vector<FoundFile>& found, std::optional<HashCache>& cache,
                     const std::filesystem::path& cache_file, SnapshotScan& scan) {
  hash_files(found, cache ? &*cache : nullptr, scan);
  if (!cache) return;
  if (auto saved = cache->save(cache_file); !saved) {
    scan.warnings.push_back(fmt::format("hash cache not saved: {}", saved.error().message));
  }
}

}  // namespace

nlohmann::json SnapshotScan::manifest() const {
  auto items = nlohmann::json::array();
  for (const auto& file : files) {
    items.push_back(
        {{"path", file.path}, {"sha256", file.sha256}, {"size", file.size}, {"mode", file.mode}});
  }
  return {{"files", std::move(items)}};
}

std::string SnapshotScan::digest() const {
  std::vector<api::ManifestEntry> entries;
  entries.reserve(files.size());
  for (const auto& file : files) {
    entries.push_back(
        {.path = file.path, .sha256 = file.sha256, .size = file.size, .mode = file.mode});
  }
  return api::manifest_digest(entries);
}

Result<SnapshotScan> scan_source_directory(const std::filesystem::path& source_dir,
                                           const ScanOptions& options) {
  const int64_t scan_start_ns = util::now_unix_ms() * 1'000'000;
  auto root = source_root(source_dir);
  if (!root) return std::unexpected(std::move(root.error()));
  SnapshotScan scan;
  // The cache first: how many files it knows is how many the walk will most likely find.
  auto cache = load_cache(options.hash_cache_file, scan_start_ns);
  auto found = TreeWalker(*root, options.apply_ignore_rules, scan.warnings)
                   .walk(cache ? cache->size() : 0);
  if (!found) return std::unexpected(std::move(found.error()));
  if (auto within = check_limits(*root, *found, options.limits); !within) {
    return std::unexpected(std::move(within.error()));
  }

  hash_with_cache(*found, cache, options.hash_cache_file, scan);
  std::ranges::sort(scan.files, {}, &SnapshotFile::path);
  return scan;
}

Result<SnapshotScan> scan_single_file(const std::filesystem::path& file,
                                      const ScanOptions& options) {
  const int64_t scan_start_ns = util::now_unix_ms() * 1'000'000;
  const auto source = std::filesystem::absolute(file).lexically_normal();
  struct stat info {};
  if (::stat(source.c_str(), &info) != 0) {
    const auto code = errno == ENOENT ? ErrorCode::not_found : ErrorCode::io;
    return fail(code, "cannot read {}: {}", source.string(), std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) {
    return fail(ErrorCode::invalid_argument, "{} is {}", source.string(),
                special_file_reason(AT_FDCWD, source.c_str(), info.st_mode));
  }
  std::vector<FoundFile> found{found_file(source.filename().string(), source.string(), info)};
  SnapshotScan scan;
  auto cache = load_cache(options.hash_cache_file, scan_start_ns);
  hash_with_cache(found, cache, options.hash_cache_file, scan);
  if (scan.files.empty()) return fail(ErrorCode::io, "cannot read {}", source.string());
  return scan;
}

namespace {

// Uploads `files` (bytes_to_upload in all), counting them into `report` and telling `progress`
// (its count starts at 0 for these files).
Result<void> upload_files(ApiClient& client, const std::string& workspace,
                          const std::vector<const SnapshotFile*>& files, uint64_t bytes_to_upload,
                          const UploadProgress& progress, UploadReport& report) {
  uint64_t done = 0;
  if (progress) progress(0, bytes_to_upload);
  for (const auto* file : files) {
    if (auto uploaded = client.upload_blob(workspace, file->sha256, file->source); !uploaded) {
      return std::unexpected(std::move(uploaded.error()));
    }
    ++report.uploaded_files;
    report.uploaded_bytes += file->size;
    done += file->size;
    if (progress) progress(done, bytes_to_upload);
  }
  return {};
}

}  // namespace

Result<UploadReport> upload_missing_blobs(ApiClient& client, const std::string& workspace,
                                          const SnapshotScan& scan,
                                          const UploadProgress& progress) {
  std::map<std::string, const SnapshotFile*> file_of_hash;
  std::vector<std::string> hashes;
  for (const auto& file : scan.files) {
    if (file_of_hash.emplace(file.sha256, &file).second) hashes.push_back(file.sha256);
  }

  std::vector<const SnapshotFile*> to_upload;
  uint64_t bytes_to_upload = 0;
  for (size_t start = 0; start < hashes.size(); start += k_missing_blobs_batch) {
    const auto end = std::min(hashes.size(), start + k_missing_blobs_batch);
    auto missing = client.missing_blobs(
        workspace, std::vector<std::string>(hashes.begin() + static_cast<std::ptrdiff_t>(start),
                                            hashes.begin() + static_cast<std::ptrdiff_t>(end)));
    if (!missing) return std::unexpected(std::move(missing.error()));
    for (const auto& hash : *missing) {
      const auto it = file_of_hash.find(hash);
      if (it == file_of_hash.end()) continue;  // not one we asked about
      to_upload.push_back(it->second);
      bytes_to_upload += it->second->size;
    }
  }

  UploadReport report;
  report.files = scan.files.size();
  if (auto uploaded = upload_files(client, workspace, to_upload, bytes_to_upload, progress, report);
      !uploaded) {
    return std::unexpected(std::move(uploaded.error()));
  }
  return report;
}

Result<UploadReport> upload_snapshot(ApiClient& client, const std::string& workspace,
                                     const SnapshotScan& scan, const UploadProgress& progress) {
  auto report = upload_missing_blobs(client, workspace, scan, progress);
  if (!report) return report;
  auto snapshot = client.create_snapshot(workspace, scan.manifest()["files"]);
  if (!snapshot) return std::unexpected(std::move(snapshot.error()));
  report->snapshot_id = snapshot->value("id", "");
  if (report->snapshot_id.empty()) {
    return fail(ErrorCode::internal, "trainctld created the snapshot without an id");
  }
  return report;
}

namespace {

// The attempts of create_run_with_snapshot: by id, with the files, with the files again after
// uploading the blobs the service named.
constexpr int k_max_submit_attempts = 3;

// Whether `error` is the service asking for the snapshot's files (it does not know the id).
bool asks_for_files(const Error& error) {
  return std::ranges::any_of(error.details,
                             [](const ErrorDetail& detail) { return detail.path == "snapshot.files"; });
}

// Uploads the blobs `error` names (content_missing: one detail per blob) that `scan` holds.
Result<void> upload_named_blobs(ApiClient& client, const std::string& workspace,
                                const SnapshotScan& scan, const Error& error,
                                const UploadProgress& progress, UploadReport& report) {
  std::map<std::string_view, const SnapshotFile*> file_of_hash;
  for (const auto& file : scan.files) file_of_hash.emplace(file.sha256, &file);
  std::vector<const SnapshotFile*> to_upload;
  uint64_t bytes_to_upload = 0;
  for (const auto& detail : error.details) {
    const auto it = file_of_hash.find(detail.path);
    if (it == file_of_hash.end()) continue;
    to_upload.push_back(it->second);
    bytes_to_upload += it->second->size;
    file_of_hash.erase(it);  // once each
  }
  if (to_upload.empty()) return std::unexpected(error);  // nothing this client can send
  return upload_files(client, workspace, to_upload, bytes_to_upload, progress, report);
}

// Whether `error` is a service that takes no inline snapshot (one older than this client)
// refusing the field, or the snapshot it does not have: a service that takes it answers
// content_missing instead.
bool refuses_inline_snapshot(const Error& error) {
  return error.code == ErrorCode::invalid_spec &&
         std::ranges::any_of(error.details, [](const ErrorDetail& detail) {
           return detail.path == "snapshot" || detail.path == "snapshot_id" ||
                  detail.path.starts_with("snapshot.");
         });
}

// The submission in the requests every service takes: the missing blobs, the snapshot, the run.
Result<SubmitOutcome> create_run_after_upload(ApiClient& client, const std::string& workspace,
                                              const SnapshotScan& scan, nlohmann::json payload,
                                              const std::string& idempotency_key,
                                              const UploadProgress& progress,
                                              UploadReport* report, SubmitReply reply) {
  auto uploaded = upload_snapshot(client, workspace, scan, progress);
  if (!uploaded) return std::unexpected(std::move(uploaded.error()));
  if (report != nullptr) *report = *uploaded;
  payload.erase("snapshot");
  payload["snapshot_id"] = uploaded->snapshot_id;
  return client.create_run(workspace, payload, idempotency_key, reply);
}

}  // namespace

Result<SubmitOutcome> create_run_with_snapshot(ApiClient& client, const std::string& workspace,
                                               const SnapshotScan& scan, nlohmann::json payload,
                                               const std::string& idempotency_key,
                                               const UploadProgress& progress,
                                               UploadReport* report, SubmitReply reply) {
  UploadReport uploads;
  uploads.files = scan.files.size();
  const std::string id = payload.value("snapshot_id", "");
  payload["snapshot"] = {{"id", id}};
  Result<SubmitOutcome> outcome = fail(ErrorCode::internal, "no submission was made");
  for (int attempt = 0; attempt < k_max_submit_attempts; ++attempt) {
    outcome = client.create_run(workspace, payload, idempotency_key, reply);
    if (attempt == 0 && !outcome && refuses_inline_snapshot(outcome.error())) {
      return create_run_after_upload(client, workspace, scan, std::move(payload), idempotency_key,
                                     progress, report, reply);
    }
    if (outcome || outcome.error().code != ErrorCode::content_missing ||
        attempt + 1 == k_max_submit_attempts) {
      break;
    }
    const bool files_sent = payload["snapshot"].contains("files");
    if (!files_sent) payload["snapshot"]["files"] = scan.manifest()["files"];
    if (files_sent || !asks_for_files(outcome.error())) {
      auto uploaded = upload_named_blobs(client, workspace, scan, outcome.error(), progress, uploads);
      if (!uploaded) return std::unexpected(std::move(uploaded.error()));
    }
  }
  uploads.snapshot_id = id;
  if (report != nullptr) *report = uploads;
  return outcome;
}

}  // namespace trainctl::client
