#pragma once
// Content-addressed files under <home>/blobs/<aa>/<sha256>, read-only (0444). Writes go to
// <home>/tmp, are hashed while streamed, fsynced, renamed into place, and the directory fsynced,
// before the caller inserts the row (RELIABILITY 24, 25).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::service {

class BlobStore {
 public:
  class Writer {
   public:
    virtual ~Writer() = default;  // an uncommitted writer removes its temp file
    // Appends bytes; fails with payload_too_large past the cap, insufficient_storage on ENOSPC.
    virtual Result<void> write(const char* data, size_t size) = 0;
    // Verifies the hash (invalid_argument when it differs), then makes the blob durable.
    virtual Result<uint64_t> commit(const std::string& expected_sha256) = 0;
    // Makes the blob durable under the hash of what was written, for content whose hash is not
    // known beforehand (a download). Returns that SHA-256.
    virtual Result<std::string> commit_as_written() = 0;
  };

  BlobStore(std::filesystem::path blobs_dir, std::filesystem::path tmp_dir);

  std::filesystem::path path_of(const std::string& sha256) const;
  bool exists(const std::string& sha256) const;
  // Whether the blob is there with the content its name says (RELIABILITY 40). Cheap while the
  // blob is as stored (mode 0444 and the sealed modification time: a stat); after a write or a
  // chmod its content is hashed. A blob whose content no longer matches is moved to
  // <home>/quarantine (logged) and so is missing: the client uploads it again.
  bool intact(const std::string& sha256) const;
  // As intact(), hashing the content whatever the blob's mode and time say.
  bool verify(const std::string& sha256) const;
  // The hashes of `hashes` that are not intact(), in their order. Thousands of them (a resubmit
  // of a large tree by its snapshot id) are checked by a few threads at once, as git's
  // preload-index spreads its lstat calls: each check is a system call that waits on nothing.
  std::vector<std::string> not_intact(std::span<const std::string> hashes) const;

  struct Check {
    size_t checked = 0;
    std::vector<std::string> quarantined;  // blobs that no longer matched their names
  };
  // verify() of every blob in the store (`trainctld fsck`).
  Check verify_all() const;
  Result<std::unique_ptr<Writer>> begin_write(uint64_t max_size);
  // Removes temp files left by a crash (called at start).
  Result<void> remove_stale_temp_files();

 private:
  std::filesystem::path m_blobs_dir;
  std::filesystem::path m_tmp_dir;
};

}  // namespace trainctl::service
