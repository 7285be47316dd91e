#pragma once
// The file system side of a run directory (<home>/runs/<id>): materializing the snapshot,
// listing and opening run files without ever following a symlink (RELIABILITY 10, 14), and
// removing a run directory whose snapshot was made read-only.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/service/blob_store.hpp"
#include "trainctl/util/error.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service {

using util::UniqueFd;

// <run>/logs/preparing.log: the output of the run's Preparing stage (its environment build);
// the logs route serves it as task "preparing".
inline constexpr std::string_view k_preparing_log = "preparing.log";

struct RunFileEntry {
  std::string path;  // "outputs/model.pkl"
  uint64_t size = 0;
};

// The regular files under <run_dir>/outputs, <run_dir>/logs and the logs of earlier attempts
// (<run_dir>/attempts/<n>/logs), sorted by path. Symlinks (and anything else that is not a
// regular file or a directory) are neither followed nor listed.
Result<std::vector<RunFileEntry>> list_run_files(const std::filesystem::path& run_dir);

// Opens <run_dir>/<relative_path> for reading, one component at a time with O_NOFOLLOW, so a
// symlink anywhere on the way is never followed. `relative_path` must start with "outputs/",
// "logs/" or "attempts/<n>/logs/" and pass api::split_relative_path (invalid_argument
// otherwise); missing files and symlinks are not_found. Returns the descriptor and the file's
// size.
struct OpenedFile {
  UniqueFd fd;
  uint64_t size = 0;
};
Result<OpenedFile> open_run_file(const std::filesystem::path& run_dir,
                                 const std::string& relative_path);
// The regular file at `relative_path` below `dir`, opened without following any link on the way;
// not_found otherwise. (open_run_file also limits which folders of a run may be read.)
Result<OpenedFile> open_file_below(const std::filesystem::path& dir, const std::string& relative_path);

// Fills `snapshot_dir` (which must not exist) from the blob store following a manifest
// [{"path","sha256","size","mode"}]: files are hard links to the blobs (copies when the mode has
// execute bits, or across file systems), read-only; directories are 0555 once filled.
Result<void> materialize_snapshot(const BlobStore& blobs, const nlohmann::json& files,
                                  const std::filesystem::path& snapshot_dir);

// Where attempt `attempt` of a run keeps its files once it was retried: <run_dir>/attempts/<n>.
std::filesystem::path attempt_dir(const std::filesystem::path& run_dir, int attempt);

// Makes room in `run_dir` for the run's next attempt (docs/runs.md, Retries): moves the
// attempt's logs/, tasks/ (when present) and the engine's files of it (launch.json, state.json,
// supervisor.log) into attempt_dir(run_dir, attempt), then recreates an empty logs/ (and tasks/
// when there was one), so the engine can start the run again in the same directory. outputs/,
// snapshot/ and inputs/ stay. state.json moves last: after an interruption, calling it again
// with the same attempt completes the move. conflict when the attempt's directory already holds
// what would be moved; io on a file system failure.
Result<void> archive_attempt(const std::filesystem::path& run_dir, int attempt);

// Removes a directory tree, making read-only directories writable first. Fine when absent.
Result<void> remove_tree(const std::filesystem::path& dir);

}  // namespace trainctl::service
