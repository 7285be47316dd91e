#pragma once
// File helpers with the durability rules of RELIABILITY.md 24: temp file, fsync, rename,
// fsync of the directory.
#include <filesystem>
#include <string>
#include <string_view>

#include "trainctl/util/error.hpp"

namespace trainctl::util {

// Replaces `path` with `content` atomically (readers see the old or the new file, never a mix).
// `mode` is the new file's permission bits.
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content,
                               unsigned mode = 0644);
Result<std::string> read_file(const std::filesystem::path& path, size_t max_size = 64u << 20);
Result<void> fsync_directory(const std::filesystem::path& dir);
// Creates the directory and its parents; the directory itself gets `mode` when this call made
// it. Fine when it exists (its mode is then left alone).
Result<void> make_directories(const std::filesystem::path& dir, unsigned mode = 0755);

}  // namespace trainctl::util
