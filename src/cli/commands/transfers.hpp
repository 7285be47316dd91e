#pragma once
// What the commands that move files share (private to src/cli): the hash cache of a source,
// one progress line for a transfer of many files, the download of a manifest's files, --tag
// options, and the question before a delete.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/cli/session.hpp"
#include "trainctl/client/api_client.hpp"

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

// On a terminal (stdin and stderr), asks `question` and reads the answer: true for y/yes.
// Elsewhere (scripts, pipes) asks nothing: true.
bool confirmed(Printer& printer, std::string_view question);

// --tag options ("key=value", repeatable) as a JSON object; ErrorCode::usage for one without '='
// or with an empty key.
Result<nlohmann::json> tags_of(const std::vector<std::string>& tags);

// Fetches one file of a manifest to `dest` (an ApiClient download_*_file call).
using FetchFile = std::function<Result<void>(const std::string& path,
                                             const std::filesystem::path& dest,
                                             const client::DownloadOptions& expected)>;

struct ManifestDownload {
  uint64_t total_bytes = 0;
  size_t kept = 0;  // files already at their destination with the right content
};

// Makes the folders of `relative_path` below `dest_dir` (mode 0755) and returns where the file
// goes, refusing (ErrorCode::io, naming it) a folder or file below `dest_dir` that is a symbolic
// link or a folder that is not a directory: a download never writes through a link it finds in
// its destination. `dest_dir` itself may be a link the user chose.
Result<std::filesystem::path> download_destination(const std::filesystem::path& dest_dir,
                                                   const std::string& relative_path);

// Downloads every file of a manifest [{"path","size","sha256"}] to `dest_dir`/path with one
// progress line, each verified against its size and sha256: a file already there with that
// content is kept, a broken-off one resumes. A path that is not a clean relative path is
// ErrorCode::internal (the service never lists one).
Result<ManifestDownload> download_manifest(Printer& printer, const nlohmann::json& files,
                                           const std::filesystem::path& dest_dir,
                                           const FetchFile& fetch);

}  // namespace trainctl::cli
