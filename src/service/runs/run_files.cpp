#include "trainctl/service/runs/run_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "trainctl/api/names.hpp"

namespace trainctl::service {

namespace fs = std::filesystem;

namespace {

constexpr int k_dir_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr unsigned k_max_list_depth = 64;

std::string errno_text() { return std::strerror(errno); }

// Opens a component under `parent` without following symlinks; not_found when it is missing or
// is a symlink.
Result<UniqueFd> open_component(int parent, const std::string& name, int flags) {
  const int fd = ::openat(parent, name.c_str(), flags);
  if (fd >= 0) return UniqueFd(fd);
  if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) {
    return fail(ErrorCode::not_found, "no such file: {}", name);
  }
  return fail(ErrorCode::io, "cannot open {}: {}", name, errno_text());
}

// The names in a directory, "." and ".." left out; empty when it cannot be read.
std::vector<std::string> entry_names(int dir_fd) {
  std::vector<std::string> names;
  const int walk_fd = ::dup(dir_fd);
  if (walk_fd < 0) return names;
  DIR* dir = ::fdopendir(walk_fd);
  if (dir == nullptr) {
    ::close(walk_fd);
    return names;
  }
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(dir);
  return names;
}

void list_directory(int dir_fd, const std::string& prefix, unsigned depth,
                    std::vector<RunFileEntry>& out) {
  if (depth > k_max_list_depth) return;
  for (const auto& name : entry_names(dir_fd)) {
    struct stat info {};
    if (::fstatat(dir_fd, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) continue;
    const std::string path = prefix + "/" + name;
    if (S_ISREG(info.st_mode)) {
      out.push_back({path, static_cast<uint64_t>(info.st_size)});
    } else if (S_ISDIR(info.st_mode)) {
      if (auto child = open_component(dir_fd, name, k_dir_flags)) {
        list_directory(child->get(), path, depth + 1, out);
      }
    }
  }
}

// Whether a name is an attempt number as attempt_dir writes it: 1, 2, ... without a sign or a
// leading zero.
bool is_attempt_name(const std::string& name) {
  return !name.empty() && name.size() <= 9 && name[0] != '0' &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The files a run serves: outputs/**, logs/** and attempts/<n>/logs/**.
bool is_served_path(const std::vector<std::string>& parts) {
  if (parts.size() >= 2 && (parts[0] == "outputs" || parts[0] == "logs")) return true;
  return parts.size() >= 4 && parts[0] == "attempts" && is_attempt_name(parts[1]) &&
         parts[2] == "logs";
}

// Adds the logs of the run's earlier attempts (attempts/<n>/logs/**) to `out`.
void list_attempt_logs(int run_fd, std::vector<RunFileEntry>& out) {
  auto attempts = open_component(run_fd, "attempts", k_dir_flags);
  if (!attempts) return;
  for (const auto& name : entry_names(attempts->get())) {
    if (!is_attempt_name(name)) continue;
    auto attempt = open_component(attempts->get(), name, k_dir_flags);
    if (!attempt) continue;
    if (auto logs = open_component(attempt->get(), "logs", k_dir_flags)) {
      list_directory(logs->get(), "attempts/" + name + "/logs", 0, out);
    }
  }
}

Result<void> make_directory(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return {};
  return fail(ErrorCode::io, "cannot create directory {}: {}", dir.string(), errno_text());
}

Result<void> copy_file_contents(const fs::path& from, const fs::path& to, unsigned mode) {
  std::error_code ec;
  fs::copy_file(from, to, ec);
  if (ec) {
    const auto code = ec == std::errc::no_space_on_device ? ErrorCode::insufficient_storage
                                                          : ErrorCode::io;
    return fail(code, "cannot copy a snapshot file: {}", ec.message());
  }
  ::chmod(to.c_str(), mode);
  return {};
}

Result<void> place_file(const BlobStore& blobs, const std::string& sha256, const fs::path& target,
                        unsigned mode) {
  const fs::path blob = blobs.path_of(sha256);
  const bool executable = (mode & 0111) != 0;
  if (!executable) {
    if (::link(blob.c_str(), target.c_str()) == 0) return {};
    if (errno != EXDEV && errno != EMLINK && errno != EPERM) {
      return fail(ErrorCode::io, "cannot link a snapshot file: {}", errno_text());
    }
  }
  return copy_file_contents(blob, target, executable ? 0555 : 0444);
}

}  // namespace

Result<std::vector<RunFileEntry>> list_run_files(const fs::path& run_dir) {
  auto root = open_component(AT_FDCWD, run_dir.string(), k_dir_flags);
  if (!root) return fail(ErrorCode::not_found, "the run has no files yet");
  std::vector<RunFileEntry> out;
  for (const std::string top : {"logs", "outputs"}) {
    if (auto dir = open_component(root->get(), top, k_dir_flags)) {
      list_directory(dir->get(), top, 0, out);
    }
  }
  list_attempt_logs(root->get(), out);
  std::sort(out.begin(), out.end(),
            [](const RunFileEntry& a, const RunFileEntry& b) { return a.path < b.path; });
  return out;
}

Result<OpenedFile> open_run_file(const fs::path& run_dir, const std::string& relative_path) {
  auto parts = api::split_relative_path(relative_path);
  if (!parts) return fail(parts.error());
  if (!is_served_path(*parts)) {
    return fail(ErrorCode::invalid_argument,
                "a run file path starts with outputs/, logs/ or attempts/<n>/logs/");
  }
  return open_file_below(run_dir, relative_path);
}

Result<OpenedFile> open_file_below(const fs::path& run_dir, const std::string& relative_path) {
  auto parts = api::split_relative_path(relative_path);
  if (!parts) return fail(parts.error());
  auto current = open_component(AT_FDCWD, run_dir.string(), k_dir_flags);
  if (!current) return fail(ErrorCode::not_found, "no such file: {}", relative_path);
  for (size_t i = 0; i + 1 < parts->size(); ++i) {
    auto next = open_component(current->get(), (*parts)[i], k_dir_flags);
    if (!next) return fail(ErrorCode::not_found, "no such file: {}", relative_path);
    current = std::move(next);
  }
  auto file = open_component(current->get(), parts->back(),
                             O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (!file) return fail(ErrorCode::not_found, "no such file: {}", relative_path);
  struct stat info {};
  if (::fstat(file->get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return fail(ErrorCode::not_found, "no such file: {}", relative_path);
  }
  return OpenedFile{std::move(*file), static_cast<uint64_t>(info.st_size)};
}

Result<void> materialize_snapshot(const BlobStore& blobs, const nlohmann::json& files,
                                  const fs::path& snapshot_dir) {
  if (::mkdir(snapshot_dir.c_str(), 0755) != 0) {
    return fail(ErrorCode::io, "cannot create the snapshot directory: {}", errno_text());
  }
  std::set<fs::path> directories{snapshot_dir};
  for (const auto& file : files) {
    auto parts = api::split_relative_path(file.at("path").get<std::string>());
    if (!parts) return fail(parts.error());
    fs::path target = snapshot_dir;
    for (size_t i = 0; i + 1 < parts->size(); ++i) {
      target /= (*parts)[i];
      if (directories.insert(target).second) {
        if (auto made = make_directory(target); !made) return made;
      }
    }
    target /= parts->back();
    const auto mode = file.at("mode").get<unsigned>() & 0777;
    const auto sha256 = file.at("sha256").get<std::string>();
    if (!blobs.intact(sha256)) {
      return fail(ErrorCode::io,
                  "{} (blob {}) is missing from the blob store; upload it again (submit the run "
                  "again: the CLI uploads what the service reports missing)",
                  file.at("path").get<std::string>(), sha256);
    }
    if (auto placed = place_file(blobs, sha256, target, mode); !placed) {
      return fail(placed.error().code, "{}: {}", file.at("path").get<std::string>(),
                  placed.error().message);
    }
  }
  // Deepest first, so a parent is sealed after its children.
  for (auto it = directories.rbegin(); it != directories.rend(); ++it) ::chmod(it->c_str(), 0555);
  return {};
}

Result<void> remove_tree(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) return {};
  ::chmod(dir.c_str(), 0755);
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0755);
  }
  fs::remove_all(dir, ec);
  if (ec) return fail(ErrorCode::io, "cannot remove a run directory: {}", ec.message());
  return {};
}

}  // namespace trainctl::service
