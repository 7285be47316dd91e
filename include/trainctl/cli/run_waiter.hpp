#pragma once
// Waiting for runs to end: `run wait RUN...` and `submit --wait` / `--stream` of a batch.
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/cli/printer.hpp"
#include "trainctl/client/api_client.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

enum class WaitFor {
  all,  // until every run has ended
  any,  // until one of them has
};

// Waits for the runs `ids` (of `workspace`) as `mode` says, or until `deadline`. Returns each
// run as last seen, in the order of `ids`. A service that is away or busy meanwhile is waited
// out (a notice through `printer` says so). ErrorCode::timeout when the deadline passes first
// (naming a run that has not ended), ErrorCode::interrupted on Ctrl-C (within an
// InterruptScope); the error of the first run that cannot be read (not_found, ...).
Result<std::vector<nlohmann::json>> wait_for_runs(client::ApiClient& client, Printer& printer,
                                                  const std::string& workspace,
                                                  const std::vector<std::string>& ids, WaitFor mode,
                                                  std::chrono::steady_clock::time_point deadline);

// The exit code of runs waited for (docs/exit-codes.md): 0 when every one that ended Completed;
// otherwise the code of the worst outcome among them, Failed (3) before TimedOut (5) before
// Canceled (4). Runs that have not ended are not counted.
int exit_code_for_runs(const std::vector<nlohmann::json>& runs);

}  // namespace trainctl::cli
