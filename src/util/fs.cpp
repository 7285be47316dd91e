#include "trainctl/util/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "trainctl/util/strings.hpp"

namespace trainctl::util {

namespace {
std::string errno_text() { return std::strerror(errno); }
}  // namespace

Result<void> fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(ErrorCode::io, "cannot open directory {}: {}", dir.string(), errno_text());
  ::fsync(fd);
  ::close(fd);
  return {};
}

namespace {

// What errno says of a failed write: no space (ENOSPC, EDQUOT: insufficient_storage), else io.
ErrorCode space_or_io() {
  return errno == ENOSPC || errno == EDQUOT ? ErrorCode::insufficient_storage : ErrorCode::io;
}

}  // namespace

Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content,
                               unsigned mode, Sync sync) {
  std::random_device random;
  const auto temp = path.parent_path() /
                    fmt::format(".{}.tmp-{:08x}", path.filename().string(), random());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return fail(space_or_io(), "cannot create {}: {}", temp.string(), errno_text());
  ::fchmod(fd, mode);  // not subject to the umask
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const auto code = space_or_io();
      const auto text = errno_text();
      ::close(fd);
      ::unlink(temp.c_str());
      return fail(code, "cannot write {}: {}", path.string(), text);
    }
    written += static_cast<size_t>(n);
  }
  if ((sync == Sync::now && ::fsync(fd) != 0) || ::close(fd) != 0) {
    const auto code = space_or_io();
    const auto text = errno_text();
    ::unlink(temp.c_str());
    return fail(code, "cannot write {}: {}", path.string(), text);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const auto code = space_or_io();
    const auto text = errno_text();
    ::unlink(temp.c_str());
    return fail(code, "cannot replace {}: {}", path.string(), text);
  }
  if (sync == Sync::deferred) return {};
  return fsync_directory(path.parent_path().empty() ? "." : path.parent_path());
}

Result<void> sync_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(space_or_io(), "cannot open {}: {}", path.string(), errno_text());
  const bool synced = ::fsync(fd) == 0;
  const auto code = space_or_io();
  const auto text = errno_text();
  ::close(fd);
  if (!synced) return fail(code, "cannot write {}: {}", path.string(), text);
  return fsync_directory(path.parent_path().empty() ? "." : path.parent_path());
}

Result<std::string> read_file(const std::filesystem::path& path, size_t max_size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const auto code = errno == ENOENT ? ErrorCode::not_found : ErrorCode::io;
    return fail(code, "cannot open {}: {}", path.string(), errno_text());
  }
  std::string out;
  // Sized once from the file's size: grown by doubling, a 1.2 MB file (the hash cache of a
  // 10,000-file tree) cost 2.4 MB of fresh pages and their copies.
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_size > 0) {
    out.reserve(std::min(static_cast<size_t>(info.st_size), max_size) + 1);
  }
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      const auto text = errno_text();
      ::close(fd);
      return fail(ErrorCode::io, "cannot read {}: {}", path.string(), text);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
    if (out.size() > max_size) {
      ::close(fd);
      return fail(ErrorCode::payload_too_large, "{} is larger than {} bytes", path.string(),
                  max_size);
    }
  }
  ::close(fd);
  return out;
}

Result<void> make_directories(const std::filesystem::path& dir, unsigned mode) {
  std::error_code ec;
  const bool created = std::filesystem::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::io, "cannot create directory {}: {}", dir.string(), ec.message());
  // Only a directory made here gets `mode`: an existing one (say /tmp) keeps its own bits.
  if (created && ::chmod(dir.c_str(), mode) != 0) {
    return fail(ErrorCode::io, "cannot set the mode of {}: {}", dir.string(), errno_text());
  }
  return {};
}

bool is_executable_file(const std::filesystem::path& path) {
  std::error_code ignored;
  return std::filesystem::is_regular_file(path, ignored) && ::access(path.c_str(), X_OK) == 0;
}

std::filesystem::path find_in_path(std::string_view program, std::string_view search_path) {
  for (const auto dir : split(search_path, ':')) {
    if (dir.empty()) continue;
    auto candidate = std::filesystem::path(dir) / program;
    if (is_executable_file(candidate)) return candidate;
  }
  return {};
}

}  // namespace trainctl::util
