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

#include "trainctl/client/hash_cache.hpp"
#include "trainctl/client/ignore_rules.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::client {

namespace {

constexpr std::string_view k_ignore_file_name = ".trainctlignore";
constexpr size_t k_max_ignore_file_size = 1u << 20;
constexpr size_t k_largest_files_named = 5;
constexpr size_t k_missing_blobs_batch = 10'000;

// A regular file found by the walk, not hashed yet.
struct FoundFile {
  std::string path;  // relative, '/'-separated
  std::filesystem::path source;
  FileStamp stamp;
  unsigned mode = 0644;
};

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

Result<IgnoreRules> load_ignore_rules(const std::filesystem::path& root,
                                      std::vector<std::string>& warnings) {
  const auto file = root / k_ignore_file_name;
  struct stat info {};
  if (::lstat(file.c_str(), &info) != 0) return IgnoreRules{};
  if (!S_ISREG(info.st_mode)) {
    warnings.push_back(fmt::format("ignored {}: {}", k_ignore_file_name,
                                   special_file_reason(AT_FDCWD, file.c_str(), info.st_mode)));
    return IgnoreRules{};
  }
  auto text = util::read_file(file, k_max_ignore_file_size);
  if (!text) return std::unexpected(std::move(text.error()));
  return IgnoreRules::parse(*text);
}

// Walks the tree under a root without following symlinks: every directory is opened relative to
// its parent with O_NOFOLLOW and every entry examined with fstatat, so a symlink swapped in
// during the walk is not followed either. Regular files are collected; `.git` and ignored entries
// are left out silently, other special files and unreadable directories with a warning each.
class TreeWalker {
 public:
  TreeWalker(const std::filesystem::path& root, const IgnoreRules& rules,
             std::vector<std::string>& warnings)
      : m_root(root), m_rules(rules), m_warnings(warnings) {}

  Result<std::vector<FoundFile>> walk() {
    const int fd = ::open(m_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      return fail(ErrorCode::io, "cannot read the source directory {}: {}", m_root.string(),
                  std::strerror(errno));
    }
    walk_directory(fd, "");
    return std::move(m_files);
  }

 private:
  // Walks the directory open as `fd` (taken over), whose path relative to the root is `dir`.
  void walk_directory(int fd, const std::string& dir) {
    const std::unique_ptr<DIR, int (*)(DIR*)> stream(::fdopendir(fd), ::closedir);
    if (!stream) {
      m_warnings.push_back(fmt::format("skipped {}/: {}", dir, std::strerror(errno)));
      ::close(fd);
      return;
    }
    while (const dirent* entry = ::readdir(stream.get())) {
      const std::string_view name = entry->d_name;
      if (name == "." || name == ".." || name == ".git") continue;
      visit(::dirfd(stream.get()), entry->d_name,
            dir.empty() ? std::string(name) : dir + '/' + entry->d_name);
    }
  }

  void visit(int dir_fd, const char* name, std::string path) {
    struct stat info {};
    if (::fstatat(dir_fd, name, &info, AT_SYMLINK_NOFOLLOW) != 0) {
      m_warnings.push_back(fmt::format("skipped {}: {}", path, std::strerror(errno)));
      return;
    }
    const bool is_directory = S_ISDIR(info.st_mode);
    if (m_rules.is_ignored(path, is_directory)) return;
    if (is_directory) {
      const int fd = ::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        m_warnings.push_back(fmt::format("skipped {}/: {}", path, std::strerror(errno)));
        return;
      }
      walk_directory(fd, path);
    } else if (S_ISREG(info.st_mode)) {
      auto source = m_root / path;
      m_files.push_back(FoundFile{
          .path = std::move(path),
          .source = std::move(source),
          .stamp = {.size = static_cast<uint64_t>(info.st_size),
                    .mtime_ns = int64_t{info.st_mtim.tv_sec} * 1'000'000'000 + info.st_mtim.tv_nsec,
                    .inode = info.st_ino},
          .mode = (info.st_mode & 0111) != 0 ? 0755u : 0644u});
    } else {
      m_warnings.push_back(
          fmt::format("skipped {}: {}", path, special_file_reason(dir_fd, name, info.st_mode)));
    }
  }

  const std::filesystem::path& m_root;
  const IgnoreRules& m_rules;
  std::vector<std::string>& m_warnings;
  std::vector<FoundFile> m_files;
};

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
  for (size_t i = 0; i < named; ++i) {
    largest += fmt::format("{}{} ({})", i == 0 ? "" : ", ", files[i].path,
                           human_size(files[i].stamp.size));
  }
  return fail(ErrorCode::payload_too_large,
              "the source directory {} holds {} files and {}, over the limit of {} files and {}. "
              "The largest files: {}. Add what the run does not need to {} (gitignore syntax).",
              root.string(), files.size(), human_size(total), limits.max_files,
              human_size(limits.max_total_bytes), largest, (root / k_ignore_file_name).string());
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

}  // namespace

nlohmann::json SnapshotScan::manifest() const {
  auto items = nlohmann::json::array();
  for (const auto& file : files) {
    items.push_back(
        {{"path", file.path}, {"sha256", file.sha256}, {"size", file.size}, {"mode", file.mode}});
  }
  return {{"files", std::move(items)}};
}

Result<SnapshotScan> scan_source_directory(const std::filesystem::path& source_dir,
                                           const ScanOptions& options) {
  const int64_t scan_start_ns = util::now_unix_ms() * 1'000'000;
  auto root = source_root(source_dir);
  if (!root) return std::unexpected(std::move(root.error()));
  SnapshotScan scan;
  auto rules = load_ignore_rules(*root, scan.warnings);
  if (!rules) return std::unexpected(std::move(rules.error()));
  auto found = TreeWalker(*root, *rules, scan.warnings).walk();
  if (!found) return std::unexpected(std::move(found.error()));
  if (auto within = check_limits(*root, *found, options.limits); !within) {
    return std::unexpected(std::move(within.error()));
  }

  std::optional<HashCache> cache;
  if (!options.hash_cache_file.empty()) {
    cache = HashCache::load(options.hash_cache_file, scan_start_ns);
  }
  hash_files(*found, cache ? &*cache : nullptr, scan);
  if (cache) {
    if (auto saved = cache->save(options.hash_cache_file); !saved) {
      scan.warnings.push_back(fmt::format("hash cache not saved: {}", saved.error().message));
    }
  }
  std::ranges::sort(scan.files, {}, &SnapshotFile::path);
  return scan;
}

Result<UploadReport> upload_snapshot(ApiClient& client, const std::string& workspace,
                                     const SnapshotScan& scan,
                                     const std::function<void(uint64_t, uint64_t)>& progress) {
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
  if (progress) progress(0, bytes_to_upload);
  for (const auto* file : to_upload) {
    if (auto uploaded = client.upload_blob(workspace, file->sha256, file->source); !uploaded) {
      return std::unexpected(std::move(uploaded.error()));
    }
    ++report.uploaded_files;
    report.uploaded_bytes += file->size;
    if (progress) progress(report.uploaded_bytes, bytes_to_upload);
  }

  auto snapshot = client.create_snapshot(workspace, scan.manifest()["files"]);
  if (!snapshot) return std::unexpected(std::move(snapshot.error()));
  report.snapshot_id = snapshot->value("id", "");
  if (report.snapshot_id.empty()) {
    return fail(ErrorCode::internal, "trainctld created the snapshot without an id");
  }
  return report;
}

}  // namespace trainctl::client
