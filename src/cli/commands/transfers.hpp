#pragma once
// What the commands that move files share (private to src/cli): the hash cache of a source and
// one progress line for a transfer of many files.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "trainctl/cli/session.hpp"

namespace trainctl::cli {

// The hash cache file of one scanned source (a directory or a file) under the cache directory;
// empty (no cache, with a warning) when the directory cannot be made.
std::filesystem::path hash_cache_file(Session& session, const std::filesystem::path& source);

// One progress line for the files of a transfer: the bytes of the files done plus those of the
// file in flight, out of the total. Ends the line when destroyed.
class FilesProgress {
 public:
  FilesProgress(Printer& printer, std::string label, uint64_t total_bytes);
  ~FilesProgress();
  FilesProgress(const FilesProgress&) = delete;
  FilesProgress& operator=(const FilesProgress&) = delete;

  // For client::DownloadOptions::on_progress of the file in flight.
  std::function<void(uint64_t present)> for_file();
  // The file in flight (or skipped) is done: its `size` bytes count from now on.
  void file_done(uint64_t size);

 private:
  Printer& m_printer;
  std::string m_label;
  uint64_t m_total = 0;
  uint64_t m_done = 0;
};

}  // namespace trainctl::cli
