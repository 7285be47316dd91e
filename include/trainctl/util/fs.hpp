#pragma once
// File helpers that keep what was written through a crash or power loss: temp file, fsync,
// rename, fsync of the directory; and finding executables.
#include <filesystem>
#include <string>
#include <string_view>

#include "trainctl/util/error.hpp"

namespace trainctl::util {

// When a written file reaches the disk.
enum class Sync {
  now,       // before the call returns: the file and its directory entry survive a power loss
  deferred,  // later, by sync_file (the caller's choice, e.g. after a latency-critical step);
             // readers see the new file at once either way
};

// Replaces `path` with `content` atomically (readers see the old or the new file, never a mix).
// `mode` is the new file's permission bits.
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content,
                               unsigned mode = 0644, Sync sync = Sync::now);
// Makes a file written with Sync::deferred durable: its content, then its directory entry.
Result<void> sync_file(const std::filesystem::path& path);
Result<std::string> read_file(const std::filesystem::path& path, size_t max_size = 64u << 20);
Result<void> fsync_directory(const std::filesystem::path& dir);
// Creates the directory and its parents; the directory itself gets `mode` when this call made
// it. Fine when it exists (its mode is then left alone).
Result<void> make_directories(const std::filesystem::path& dir, unsigned mode = 0755);

// Whether `path` is (or links to) a regular file this process may execute.
bool is_executable_file(const std::filesystem::path& path);
// The first executable file named `program` in the directories of `search_path` (a $PATH value,
// ':'-separated; empty entries are skipped, not taken as the current directory); empty when
// there is none.
std::filesystem::path find_in_path(std::string_view program, std::string_view search_path);

}  // namespace trainctl::util
