#include "trainctl/service/blob_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "trainctl/api/names.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/random.hpp"
#include "trainctl/util/sha256.hpp"

namespace trainctl::service {

namespace {

constexpr mode_t k_temp_file_mode = 0600;
constexpr mode_t k_blob_mode = 0444;
// A blob's modification time from the moment it is stored: a write to it (through any of its
// hard links) changes it, and so does nothing the service does. Blobs stored before this seal
// existed are hashed once, then sealed.
constexpr timespec k_sealed_mtime{1, 0};  // 1970-01-01T00:00:01Z
constexpr unsigned k_tmp_dir_mode = 0700;
constexpr unsigned k_blobs_dir_mode = 0755;

// <blobs_dir>/<aa>/<sha256>, built as a string: a submit by snapshot id checks every blob of
// the snapshot, and a std::filesystem::path would parse each one into components.
std::string blob_path(const std::filesystem::path& blobs_dir, std::string_view sha256) {
  const std::string& dir = blobs_dir.native();
  std::string path;
  path.reserve(dir.size() + sha256.size() + 5);
  path += dir;
  if (!path.ends_with('/')) path += '/';
  path += sha256.substr(0, 2);
  path += '/';
  path += sha256;
  return path;
}

// The error for a failed write-side system call; `error` is its errno. Messages name no
// server path: they reach the client.
Error write_error(int error, std::string_view doing) {
  if (error == ENOSPC || error == EDQUOT) {
    return Error{ErrorCode::insufficient_storage,
                 fmt::format("the disk is full: cannot {}; free space and retry", doing)};
  }
  return Error{ErrorCode::io, fmt::format("cannot {}: {}", doing, std::strerror(error))};
}

// Creates blobs/<aa>/ when missing; a new one is made durable by fsyncing blobs/ too.
Result<void> ensure_shard_directory(const std::filesystem::path& blobs_dir,
                                    const std::filesystem::path& shard) {
  if (::mkdir(shard.c_str(), k_blobs_dir_mode) == 0) return util::fsync_directory(blobs_dir);
  if (errno == EEXIST) return {};
  if (errno == ENOENT) {  // no blobs/ yet
    if (auto made = util::make_directories(shard, k_blobs_dir_mode); !made) return made;
    return util::fsync_directory(blobs_dir);
  }
  return std::unexpected(write_error(errno, "create a blob directory"));
}

int open_temp_file(const std::filesystem::path& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, k_temp_file_mode);
}

// Streams into a temp file while hashing; commit() moves it into place.
class TempFileWriter final : public BlobStore::Writer {
 public:
  TempFileWriter(int fd, std::filesystem::path temp_path, std::filesystem::path blobs_dir,
                 uint64_t max_size)
      : m_fd(fd),
        m_temp_path(std::move(temp_path)),
        m_blobs_dir(std::move(blobs_dir)),
        m_max_size(max_size) {}
  ~TempFileWriter() override { discard(); }
  TempFileWriter(const TempFileWriter&) = delete;
  TempFileWriter& operator=(const TempFileWriter&) = delete;

  Result<void> write(const char* data, size_t size) override;
  Result<uint64_t> commit(const std::string& expected_sha256) override;
  Result<std::string> commit_as_written() override;

 private:
  // Closes and removes the temp file: the upload is abandoned. Idempotent.
  void discard();
  std::unexpected<Error> discard_with(Error error);
  Result<void> write_all(const char* data, size_t size);
  // fchmod 0444, fsync and close the temp file.
  Result<void> seal();
  // Seals the temp file and renames it to the blob `sha256`, durably; discarded on failure.
  Result<void> move_into_place(const std::string& sha256);

  int m_fd;
  std::filesystem::path m_temp_path;  // empty once committed or discarded
  const std::filesystem::path m_blobs_dir;
  const uint64_t m_max_size;
  uint64_t m_size = 0;
  util::Sha256 m_hasher;
};

void TempFileWriter::discard() {
  if (m_fd >= 0) ::close(std::exchange(m_fd, -1));
  if (!m_temp_path.empty()) ::unlink(m_temp_path.c_str());
  m_temp_path.clear();
}

std::unexpected<Error> TempFileWriter::discard_with(Error error) {
  discard();
  return std::unexpected(std::move(error));
}

Result<void> TempFileWriter::write_all(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(m_fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(write_error(errno, "store the upload"));
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
  return {};
}

Result<void> TempFileWriter::write(const char* data, size_t size) {
  if (m_temp_path.empty()) return fail(ErrorCode::internal, "the upload is already finished");
  if (size > m_max_size - m_size) {
    return discard_with(
        Error{ErrorCode::payload_too_large,
              fmt::format("the blob is larger than the limit of {} bytes", m_max_size)});
  }
  if (auto written = write_all(data, size); !written) return discard_with(written.error());
  m_hasher.update(data, size);
  m_size += size;
  return {};
}

Result<void> TempFileWriter::seal() {
  const timespec times[2] = {{0, UTIME_OMIT}, k_sealed_mtime};
  if (::fchmod(m_fd, k_blob_mode) != 0 || ::futimens(m_fd, times) != 0 || ::fsync(m_fd) != 0) {
    return std::unexpected(write_error(errno, "store the upload"));
  }
  if (::close(std::exchange(m_fd, -1)) != 0) {
    return std::unexpected(write_error(errno, "store the upload"));
  }
  return {};
}

Result<void> TempFileWriter::move_into_place(const std::string& sha256) {
  if (auto sealed = seal(); !sealed) return discard_with(sealed.error());
  const std::filesystem::path target = blob_path(m_blobs_dir, sha256);
  if (auto shard = ensure_shard_directory(m_blobs_dir, target.parent_path()); !shard) {
    return discard_with(shard.error());
  }
  // An identical blob stored meanwhile is replaced by the same bytes: harmless.
  if (::rename(m_temp_path.c_str(), target.c_str()) != 0) {
    return discard_with(write_error(errno, "move the upload into place"));
  }
  m_temp_path.clear();
  return util::fsync_directory(target.parent_path());
}

Result<uint64_t> TempFileWriter::commit(const std::string& expected_sha256) {
  if (m_temp_path.empty()) return fail(ErrorCode::internal, "the upload is already finished");
  const auto actual = m_hasher.hex_digest();
  if (actual != expected_sha256) {
    return discard_with(Error{ErrorCode::invalid_argument,
                              fmt::format("the content's SHA-256 is {}, not {}; nothing was kept",
                                          actual, expected_sha256)});
  }
  if (auto moved = move_into_place(actual); !moved) return fail(moved.error());
  return m_size;
}

Result<std::string> TempFileWriter::commit_as_written() {
  if (m_temp_path.empty()) return fail(ErrorCode::internal, "the upload is already finished");
  auto actual = m_hasher.hex_digest();
  if (auto moved = move_into_place(actual); !moved) return fail(moved.error());
  return actual;
}

}  // namespace

BlobStore::BlobStore(std::filesystem::path blobs_dir, std::filesystem::path tmp_dir)
    : m_blobs_dir(std::move(blobs_dir)), m_tmp_dir(std::move(tmp_dir)) {}

std::filesystem::path BlobStore::path_of(const std::string& sha256) const {
  return blob_path(m_blobs_dir, sha256);
}

bool BlobStore::exists(const std::string& sha256) const {
  if (!api::is_sha256_hex(sha256)) return false;
  struct stat info {};
  return ::stat(blob_path(m_blobs_dir, sha256).c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

bool BlobStore::intact(const std::string& sha256) const {
  if (!api::is_sha256_hex(sha256)) return false;
  const std::string path = blob_path(m_blobs_dir, sha256);
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return false;
  if ((info.st_mode & 07777) == k_blob_mode && info.st_mtim.tv_sec == k_sealed_mtime.tv_sec &&
      info.st_mtim.tv_nsec == k_sealed_mtime.tv_nsec) {
    return true;
  }
  // Changed since it was stored, or stored before blobs were sealed: its content decides.
  return verify(sha256);
}

std::vector<std::string> BlobStore::not_intact(std::span<const std::string> hashes) const {
  constexpr size_t k_checks_per_thread = 1000;
  constexpr size_t k_max_threads = 4;
  const size_t cores = std::max<size_t>(1, std::thread::hardware_concurrency());
  const size_t threads =
      std::clamp<size_t>(hashes.size() / k_checks_per_thread, 1, std::min(cores, k_max_threads));
  std::vector<char> lost(hashes.size(), 0);
  const auto check = [&](size_t first, size_t last) {
    for (size_t i = first; i < last; ++i) lost[i] = intact(hashes[i]) ? 0 : 1;
  };
  {
    std::vector<std::jthread> helpers;
    const size_t share = (hashes.size() + threads - 1) / threads;
    for (size_t t = 1; t < threads; ++t) {
      helpers.emplace_back(check, t * share, std::min(hashes.size(), (t + 1) * share));
    }
    check(0, std::min(hashes.size(), share));
  }  // the helpers are joined here
  std::vector<std::string> result;
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (lost[i] != 0) result.push_back(hashes[i]);
  }
  return result;
}

BlobStore::Check BlobStore::verify_all() const {
  Check check;
  std::error_code ec;
  for (std::filesystem::directory_iterator shard(m_blobs_dir, ec), end; !ec && shard != end;
       shard.increment(ec)) {
    if (!shard->is_directory(ec)) continue;
    for (std::filesystem::directory_iterator blob(shard->path(), ec), last; !ec && blob != last;
         blob.increment(ec)) {
      const std::string name = blob->path().filename().string();
      if (!api::is_sha256_hex(name)) continue;
      ++check.checked;
      if (!verify(name)) check.quarantined.push_back(name);
    }
  }
  return check;
}

bool BlobStore::verify(const std::string& sha256) const {
  const auto path = path_of(sha256);
  const auto actual = util::sha256_file(path);
  if (actual && *actual == sha256) {
    const timespec times[2] = {{0, UTIME_OMIT}, k_sealed_mtime};
    ::chmod(path.c_str(), k_blob_mode);
    ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
    return true;
  }
  const auto quarantine = m_blobs_dir.parent_path() / "quarantine";
  std::error_code ec;
  std::filesystem::create_directories(quarantine, ec);
  const auto kept = quarantine / (sha256 + "." + util::random_hex(4));
  if (::rename(path.c_str(), kept.c_str()) != 0) ::unlink(path.c_str());
  spdlog::error("blob {} no longer matches its name (its content hashes to {}): moved to {}; it "
                "counts as missing, and the client uploads it again",
                sha256, actual ? *actual : std::string("nothing readable"), kept.string());
  return false;
}

Result<std::unique_ptr<BlobStore::Writer>> BlobStore::begin_write(uint64_t max_size) {
  const auto temp_path = m_tmp_dir / util::random_hex(16);
  int fd = open_temp_file(temp_path);
  if (fd < 0 && errno == ENOENT) {
    if (auto made = util::make_directories(m_tmp_dir, k_tmp_dir_mode); !made) {
      return std::unexpected(made.error());
    }
    fd = open_temp_file(temp_path);
  }
  if (fd < 0) return std::unexpected(write_error(errno, "start the upload"));
  return std::make_unique<TempFileWriter>(fd, temp_path, m_blobs_dir, max_size);
}

Result<void> BlobStore::remove_stale_temp_files() {
  if (auto made = util::make_directories(m_tmp_dir, k_tmp_dir_mode); !made) return made;
  std::error_code error;
  std::vector<std::filesystem::path> stale;
  for (auto it = std::filesystem::directory_iterator(m_tmp_dir, error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    stale.push_back(it->path());
  }
  for (const auto& path : stale) {
    if (!error) std::filesystem::remove_all(path, error);
  }
  if (error) {
    return fail(ErrorCode::io, "cannot remove stale temporary files in {}: {}", m_tmp_dir.string(),
                error.message());
  }
  return {};
}

}  // namespace trainctl::service
