#include "trainctl/service/engines/read_only_mounts.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

}  // namespace trainctl::service::engines
