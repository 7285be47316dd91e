#pragma once
// `trainctl logs RUN [-f] [--task T | --rank N] [--attempt N]`, and the log follower
// `submit --stream` shares.
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "trainctl/api/run_status.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

struct LogsOptions {
  std::string run_id;
  std::string task;         // empty: every task (unless rank)
  std::optional<int> rank;  // the task rank-N
  bool follow = false;
  std::optional<int> attempt;  // an earlier attempt of a retried run (following: from it on)
};

// A run id is needed; --task and --rank exclude each other; a rank is not negative; attempts
// count from 1.
Result<void> validate(const LogsOptions& options);

// The one task the options select ("worker-1"; "rank-3" for --rank 3), or "" for every task.
std::string selected_task(const LogsOptions& options);

using LogEventHandler = std::function<bool(const nlohmann::json& event)>;
// Where print_log_events reads NDJSON log events (docs/rest-api.md, Run logs) from: a run's or a
// deployment's logs route, asked for `query`.
using LogSource =
    std::function<Result<void>(const client::LogQuery& query, const LogEventHandler& on_event)>;

// The follower behind print_logs and `deploy logs`: writes the log bytes of `task` ("" for every
// task, merged and prefixed as print_logs says) through the printer; following, resumes a dropped
// connection from the last next_offset of each task. Returns the stream's "end" event, or nullopt
// when a stream that is not followed ended without one. `what` names the source in debug logs.
// ErrorCode::interrupted on Ctrl-C (within an InterruptScope).
// How the logs of several runs followed at once share one output: every line is prefixed with
// its run ("[run-x] ", or "[run-x/worker-1] " for a task other than main), notices too, and the
// printer is used under `mutex` only.
struct SharedLogOutput {
  std::string run_label;
  std::mutex* mutex = nullptr;
};
Result<std::optional<nlohmann::json>> print_log_events(const LogSource& source, Printer& printer,
                                                       const std::string& task, bool follow,
                                                       std::string_view what,
                                                       const SharedLogOutput* shared = nullptr);

// Writes the run's log bytes through the printer: one task's as written; every task's merged,
// each line prefixed with its task ("[worker-1] ", LogPrefixer; not for a run's only task
// "main"). Following, a dropped connection is resumed from the last next_offset of each task
// (no byte lost or repeated) until the run ends, through every retry of it (a notice on stderr
// says when the next attempt starts and how the one before ended); the result is the run's
// final status. Without follow, the status when the log was read (with --attempt N for an
// earlier attempt, how that attempt ended).
// ErrorCode::interrupted on Ctrl-C (within an InterruptScope).
Result<api::RunStatus> print_logs(client::ApiClient& client, Printer& printer,
                                  const std::string& workspace, const LogsOptions& options);

// Exit code: following, the run's outcome (docs/exit-codes.md); otherwise 0.
Result<int> run_logs(Session& session, const LogsOptions& options);

}  // namespace trainctl::cli
