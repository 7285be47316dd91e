#include "trainctl/service/engines/working_directory.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>

namespace trainctl::service::engines {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_outputs = "outputs";
constexpr std::string_view k_logs = "logs";
constexpr mode_t k_folder_mode = 0755;

Result<void> link(const fs::path& target, const fs::path& link_path) {
  if (::symlink(target.c_str(), link_path.c_str()) != 0) {
    return fail(ErrorCode::io, "cannot link {} to {}: {}", link_path.string(), target.string(),
                std::strerror(errno));
  }
  return {};
}

// Folders of `source` become folders of `work`, files become links to the source's files; the
// top-level names the run's own folders take are skipped.
Result<void> mirror(const fs::path& source, const fs::path& work) {
  std::error_code error;
  fs::recursive_directory_iterator entries(source, error);
  if (error) {
    return fail(ErrorCode::io, "cannot read the snapshot {}: {}", source.string(), error.message());
  }
  for (const fs::recursive_directory_iterator end; entries != end; entries.increment(error)) {
    if (error) break;
    const fs::path& from = entries->path();
    const fs::path relative = from.lexically_relative(source);
    if (entries.depth() == 0 && (relative == k_outputs || relative == k_logs)) {
      entries.disable_recursion_pending();
      continue;
    }
    const fs::path to = work / relative;
    if (entries->is_directory(error)) {
      if (::mkdir(to.c_str(), k_folder_mode) != 0) {
        return fail(ErrorCode::io, "cannot make {}: {}", to.string(), std::strerror(errno));
      }
    } else if (auto linked = link(from, to); !linked) {
      return linked;
    }
  }
  if (error) {
    return fail(ErrorCode::io, "cannot read the snapshot {}: {}", source.string(), error.message());
  }
  return {};
}

// Moves what a task put in `replaced` (a folder where the link to `collected` was) into
// `collected`, never over an entry already there.
Result<void> rescue(const fs::path& replaced, const fs::path& collected) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(replaced, error)) {
    fs::path target = collected / entry.path().filename();
    if (fs::symlink_status(target, error).type() != fs::file_type::not_found) {
      target += ".work";
    }
    fs::rename(entry.path(), target, error);
    if (error) {
      return fail(ErrorCode::io, "cannot move {} into {}: {}", entry.path().string(),
                  collected.string(), error.message());
    }
  }
  if (error) return fail(ErrorCode::io, "cannot read {}: {}", replaced.string(), error.message());
  return {};
}

}  // namespace

Result<void> make_working_directory(const spec::WorkingDirectory& dir) {
  if (dir.path.empty()) return {};
  const fs::path work(dir.path);
  std::error_code error;
  fs::remove_all(work, error);
  if (error) {
    return fail(ErrorCode::io, "cannot clear the working directory {}: {}", work.string(),
                error.message());
  }
  if (::mkdir(work.c_str(), k_folder_mode) != 0) {
    return fail(ErrorCode::io, "cannot make the working directory {}: {}", work.string(),
                std::strerror(errno));
  }
  if (auto mirrored = mirror(dir.source_dir, work); !mirrored) return mirrored;
  if (auto linked = link(dir.outputs_dir, work / k_outputs); !linked) return linked;
  return link(dir.logs_dir, work / k_logs);
}

Result<void> remove_working_directory(const spec::WorkingDirectory& dir) {
  if (dir.path.empty()) return {};
  const fs::path work(dir.path);
  Result<void> result;
  for (const auto& [name, collected] :
       {std::pair{k_outputs, dir.outputs_dir}, std::pair{k_logs, dir.logs_dir}}) {
    std::error_code error;
    if (fs::symlink_status(work / name, error).type() == fs::file_type::directory) {
      if (auto rescued = rescue(work / name, collected); !rescued && result) result = rescued;
    }
  }
  std::error_code error;
  fs::remove_all(work, error);
  if (error && result) {
    return fail(ErrorCode::io, "cannot remove the working directory {}: {}", work.string(),
                error.message());
  }
  return result;
}

}  // namespace trainctl::service::engines
