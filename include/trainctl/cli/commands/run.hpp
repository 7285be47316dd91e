#pragma once
// `trainctl run list|show|cancel|wait|files|download`.
#include <string>

#include <nlohmann/json.hpp>

#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

struct RunListOptions {
  std::string experiment;
  std::string status;  // comma list of run statuses
  int limit = 100;     // rows (per page with --all)
  bool all = false;    // follow page tokens to the end
  std::string columns;  // extra columns: "metrics.accuracy,params.--lr" (run_metrics.hpp)
  std::string sort;     // "[-]metrics.accuracy": sorts the runs listed
};

struct RunOptions {
  std::string run_id;
};

struct RunWaitOptions {
  std::vector<std::string> run_ids;
  std::string timeout;  // a duration ("90s", "15m"); empty: wait forever
  bool any = false;     // --any: until one of the runs ends (default, --all: every one)
  bool all = false;
};

struct RunDownloadOptions {
  std::string run_id;
  std::string path;  // a file or folder of the run ("outputs/model"); empty: every file
  std::string dest = ".";
};

// Statuses must be run status names; limit within 1-1000; columns and sort name run fields.
Result<void> validate(const RunListOptions& options);
Result<void> validate(const RunOptions& options);
// Also: the timeout parses; --all and --any exclude each other.
Result<void> validate(const RunWaitOptions& options);
Result<void> validate(const RunDownloadOptions& options);

// What `run show` prints for people; `now_ms` ends the time spent in a stage still going on.
// `wide` (-o wide) adds the tasks' hosts and durations, the inputs, the estimator, parameters,
// tags, limits, environment variables and metrics.
Description describe_run(const nlohmann::json& run, int64_t now_ms, bool wide = false);

// The table of `run list` for `items`: run_kind(), plus a WAITING column after STATUS
// ("#2 of 3: waiting for 2 nodes (0 of 2 free)", format_queue) when one of them is queued.
ResourceKind run_list_kind(const nlohmann::json& items);

// The exit code for a run resource in a final status (0, 3, 4, 5); 1 when not final.
int exit_code_for_run(const nlohmann::json& run);

Result<int> run_run_list(Session& session, const RunListOptions& options);
Result<int> run_run_show(Session& session, const RunOptions& options);
// A second cancel, or a cancel of a finished run, is a no-op with exit 0.
Result<int> run_run_cancel(Session& session, const RunOptions& options);
// Exit code: the run's outcome; of several runs, that of the worst (exit_code_for_runs);
// ErrorCode::timeout when --timeout passes first.
Result<int> run_run_wait(Session& session, const RunWaitOptions& options);
Result<int> run_run_files(Session& session, const RunOptions& options);
Result<int> run_run_download(Session& session, const RunDownloadOptions& options);

}  // namespace trainctl::cli
