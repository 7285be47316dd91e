// The attempts of a run kept in its directory: archive_attempt (run_files.hpp).
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/service/runs/run_files.hpp"
#include "trainctl/util/fs.hpp"

namespace trainctl::service {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_logs_dir = "logs";
constexpr std::string_view k_tasks_dir = "tasks";  // spec::LaunchPlan::status_dir

// What an attempt leaves in the run directory, in the order it is moved: the state file last,
// because the run manager reads an attempt as ended (and so as still to archive) while it is
// there.
constexpr std::array<std::string_view, 5> k_attempt_entries{
    k_logs_dir, k_tasks_dir, engines::k_supervisor_log, engines::k_launch_file,
    engines::k_state_file};

bool is_present(const fs::path& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

// Moves run_dir/<name> into `into`, when it is there and was not moved before.
Result<void> move_entry(const fs::path& run_dir, std::string_view name, const fs::path& into) {
  const fs::path from = run_dir / name;
  const fs::path to = into / name;
  if (!is_present(from)) return {};
  if (is_present(to)) {
    return fail(ErrorCode::conflict, "{} holds {} already", into.string(), std::string(name));
  }
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    return fail(ErrorCode::io, "cannot move {} to {}: {}", from.string(), to.string(),
                std::strerror(errno));
  }
  return {};
}

}  // namespace

fs::path attempt_dir(const fs::path& run_dir, int attempt) {
  return run_dir / "attempts" / std::to_string(attempt);
}

Result<void> archive_attempt(const fs::path& run_dir, int attempt) {
  const fs::path into = attempt_dir(run_dir, attempt);
  if (auto made = util::make_directories(into, 0755); !made) return made;
  for (const auto name : k_attempt_entries) {
    if (auto moved = move_entry(run_dir, name, into); !moved) return moved;
  }
  if (auto synced = util::fsync_directory(into); !synced) return synced;
  if (auto synced = util::fsync_directory(run_dir); !synced) return synced;
  if (auto made = util::make_directories(run_dir / k_logs_dir, 0755); !made) return made;
  if (is_present(into / k_tasks_dir)) return util::make_directories(run_dir / k_tasks_dir, 0755);
  return {};
}

}  // namespace trainctl::service
