#pragma once
// `trainctl logs RUN [-f] [--task T | --rank N]`, and the log follower `submit --stream` shares.
#include <optional>
#include <string>

#include "trainctl/api/run_status.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

struct LogsOptions {
  std::string run_id;
  std::string task;         // empty: every task (unless rank)
  std::optional<int> rank;  // the task rank-N
  bool follow = false;
};

// A run id is needed; --task and --rank exclude each other; a rank is not negative.
Result<void> validate(const LogsOptions& options);

// The one task the options select ("worker-1"; "rank-3" for --rank 3), or "" for every task.
std::string selected_task(const LogsOptions& options);

// Writes the run's log bytes through the printer: one task's as written; every task's merged,
// each line prefixed with its task ("[worker-1] ", LogPrefixer; not for a run's only task
// "main"). Following, a dropped connection is resumed from the last next_offset of each task
// (no byte lost or repeated) until the run ends; the result is the run's final status.
// Without follow, the status when the log was read.
// ErrorCode::interrupted on Ctrl-C (within an InterruptScope).
Result<api::RunStatus> print_logs(client::ApiClient& client, Printer& printer,
                                  const std::string& workspace, const LogsOptions& options);

// Exit code: following, the run's outcome (docs/exit-codes.md); otherwise 0.
Result<int> run_logs(Session& session, const LogsOptions& options);

}  // namespace trainctl::cli
