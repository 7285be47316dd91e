#include "trainctl/service/engines/read_only_mounts.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service::engines {

Result<void> make_directories_read_only(const std::vector<std::string>& dirs) {
  if (dirs.empty() || ::geteuid() != 0) return {};
  if (::unshare(CLONE_NEWNS) != 0) {
    return fail(ErrorCode::internal, "cannot make a mount namespace: {}", std::strerror(errno));
  }
  // Mounts made from here on stay in this namespace, never reaching the service's.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return fail(ErrorCode::internal, "cannot make mounts private: {}", std::strerror(errno));
  }
  for (const std::string& dir : dirs) {
    if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
        ::mount(nullptr, dir.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      return fail(ErrorCode::internal, "cannot mount {} read-only: {}", dir, std::strerror(errno));
    }
  }
  return {};
}

namespace {

namespace fs = std::filesystem;

std::unexpected<Error> mount_error(std::string_view what, const fs::path& path) {
  return fail(ErrorCode::internal, "cannot {} {}: {}", what, path.string(), std::strerror(errno));
}

// Binds the directory open as `fd` (reached through /proc, so one hidden meanwhile still can be)
// at `target`, with what is mounted below it.
Result<void> bind_from_fd(int fd, const fs::path& target, bool read_only) {
  const std::string source = fmt::format("/proc/self/fd/{}", fd);
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    return mount_error("show again", target);
  }
  if (read_only &&
      ::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
    return mount_error("make read-only", target);
  }
  return {};
}

}  // namespace

Result<void> hide_home_from_run(const std::string& run_dir_text) {
  if (::geteuid() != 0) return {};
  const fs::path run_dir = fs::path(run_dir_text).lexically_normal();
  const fs::path home = run_dir.parent_path().parent_path();
  std::error_code ec;
  if (run_dir.parent_path().filename() != "runs" || !fs::exists(home / "trainctl.db", ec)) return {};
  const util::UniqueFd run_fd(::open(run_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (run_fd.get() < 0) return mount_error("open", run_dir);
  const fs::path environments = home / "environments";
  const util::UniqueFd environments_fd(::open(environments.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (::mount("tmpfs", home.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=0755,size=64k") != 0) {
    return mount_error("hide", home);
  }
  for (const fs::path& shown : {run_dir, environments}) {
    if (shown == environments && environments_fd.get() < 0) continue;
    if (!fs::create_directories(shown, ec) && ec) return mount_error("make", shown);
  }
  if (auto bound = bind_from_fd(run_fd.get(), run_dir, false); !bound) return bound;
  if (environments_fd.get() >= 0) {
    if (auto bound = bind_from_fd(environments_fd.get(), environments, true); !bound) return bound;
  }
  return {};
}

}  // namespace trainctl::service::engines
