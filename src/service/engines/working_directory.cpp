#include "trainctl/service/engines/working_directory.hpp"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace trainctl::service::engines {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_outputs = "outputs";
constexpr std::string_view k_logs = "logs";
constexpr mode_t k_folder_mode = 0755;
// Beside the working directory, for an overlay: its upper layer (the run's writes) and the
// overlay's own work folder.
constexpr std::string_view k_upper_suffix = ".upper";
constexpr std::string_view k_overlay_suffix = ".overlay";

fs::path sibling(const fs::path& path, std::string_view suffix) {
  fs::path result = path;
  result += suffix;
  return result;
}

Result<void> link(const fs::path& target, const fs::path& link_path) {
  if (::symlink(target.c_str(), link_path.c_str()) != 0) {
    return fail(ErrorCode::io, "cannot link {} to {}: {}", link_path.string(), target.string(),
                std::strerror(errno));
  }
  return {};
}

Result<void> make_folder(const fs::path& path) {
  if (::mkdir(path.c_str(), k_folder_mode) != 0) {
    return fail(ErrorCode::io, "cannot make {}: {}", path.string(), std::strerror(errno));
  }
  return {};
}

Result<void> remove_tree(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error) return fail(ErrorCode::io, "cannot remove {}: {}", path.string(), error.message());
  return {};
}

bool is_run_folder_name(const fs::path& relative) {
  return relative == k_outputs || relative == k_logs;
}

// Folders of `source` become folders of `work`, files become relative links to the source's
// files (short targets: ext4 keeps a link of up to 60 bytes in its inode, a longer one costs a
// block of its own and ~40x the time); the top-level names of the run's own folders are skipped.
Result<void> mirror(const fs::path& source, const fs::path& work) {
  const fs::path source_from_work = source.lexically_relative(work);
  const fs::path source_base = source_from_work.empty() ? source : source_from_work;
  std::error_code error;
  fs::recursive_directory_iterator entries(source, error);
  for (const fs::recursive_directory_iterator end; !error && entries != end;
       entries.increment(error)) {
    const fs::path relative = entries->path().lexically_relative(source);
    if (entries.depth() == 0 && is_run_folder_name(relative)) {
      entries.disable_recursion_pending();
      continue;
    }
    const fs::path to = work / relative;
    if (entries->is_directory(error)) {
      if (auto made = make_folder(to); !made) return made;
      continue;
    }
    fs::path target;
    if (source_from_work.empty()) {
      target = entries->path();
    } else {
      for (int up = 0; up < entries.depth(); ++up) target /= "..";
      target /= source_base / relative;
    }
    if (auto linked = link(target, to); !linked) return linked;
  }
  if (error) {
    return fail(ErrorCode::io, "cannot read the snapshot {}: {}", source.string(), error.message());
  }
  return {};
}

// Characters mount(2)'s overlay options cannot carry in a path.
bool fits_overlay_options(const fs::path& path) {
  return path.native().find_first_of(",:\\") == std::string::npos;
}

// Mounts an overlay of `source` (read-only, lower) and `<work>.upper` (the run's writes) on
// `work`, and takes the run's folder names out of the merged view.
Result<void> mount_overlay(const fs::path& source, const fs::path& work) {
  const fs::path upper = sibling(work, k_upper_suffix);
  const fs::path overlay = sibling(work, k_overlay_suffix);
  for (const auto& path : {source, upper, overlay}) {
    if (!fits_overlay_options(path)) {
      return fail(ErrorCode::invalid_argument, "{} has a character overlay options cannot hold",
                  path.string());
    }
  }
  if (auto made = make_folder(upper); !made) return made;
  if (auto made = make_folder(overlay); !made) return made;
  const std::string options =
      fmt::format("lowerdir={},upperdir={},workdir={}", source.string(), upper.string(),
                  overlay.string());
  if (::mount("overlay", work.c_str(), "overlay", MS_NODEV | MS_NOSUID, options.c_str()) != 0) {
    return fail(ErrorCode::io, "cannot mount an overlay on {}: {}", work.string(),
                std::strerror(errno));
  }
  for (const std::string_view name : {k_outputs, k_logs}) {
    if (auto removed = remove_tree(work / name); !removed) return removed;
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
      // Across file systems (an overlay's upper layer is on the run's own, so this is rare):
      // copy, then let the removal of the working directory take the original.
      fs::copy(entry.path(), target, fs::copy_options::recursive, error);
    }
    if (error) {
      return fail(ErrorCode::io, "cannot move {} into {}: {}", entry.path().string(),
                  collected.string(), error.message());
    }
  }
  if (error) return fail(ErrorCode::io, "cannot read {}: {}", replaced.string(), error.message());
  return {};
}

// Removes the working directory and an overlay's folders beside it.
Result<void> clear(const fs::path& work) {
  for (const auto& path : {work, sibling(work, k_upper_suffix), sibling(work, k_overlay_suffix)}) {
    if (auto removed = remove_tree(path); !removed) return removed;
  }
  return {};
}

}  // namespace

Result<SourceLayer> make_working_directory(const spec::WorkingDirectory& dir, SourceLayer layer) {
  if (dir.path.empty()) return layer;
  const fs::path work(dir.path);
  if (auto cleared = clear(work); !cleared) return fail(cleared.error());
  if (auto made = make_folder(work); !made) return fail(made.error());
  bool mounted = false;
  if (layer == SourceLayer::overlay) {
    auto overlay = mount_overlay(dir.source_dir, work);
    if (!overlay) {
      spdlog::warn("{}; the working directory links to the source files instead",
                   overlay.error().message);
      ::umount2(work.c_str(), MNT_DETACH);
      if (auto cleared = clear(work); !cleared) return fail(cleared.error());
      if (auto made = make_folder(work); !made) return fail(made.error());
    }
    mounted = overlay.has_value();
  }
  if (!mounted) {
    if (auto mirrored = mirror(dir.source_dir, work); !mirrored) return fail(mirrored.error());
  }
  if (auto linked = link(dir.outputs_dir, work / k_outputs); !linked) return fail(linked.error());
  if (auto linked = link(dir.logs_dir, work / k_logs); !linked) return fail(linked.error());
  return mounted ? SourceLayer::overlay : SourceLayer::links;
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
  ::umount2(work.c_str(), MNT_DETACH);  // an overlay's; EINVAL when there is none
  if (auto cleared = clear(work); !cleared && result) result = cleared;
  return result;
}

}  // namespace trainctl::service::engines
