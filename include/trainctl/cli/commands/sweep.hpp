#pragma once
// `trainctl sweep list|show|cancel`, and following a sweep submitted with --stream
// (docs/sweeps.md).
#include <string>

#include <nlohmann/json.hpp>

#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/client/api_client.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

struct SweepOptions {
  std::string sweep_id;
};

Result<void> validate(const SweepOptions& options);

// What `sweep show` prints for people: the sweep, its best trial, and every trial ranked by the
// primary metric with its params and status.
Description describe_sweep(const nlohmann::json& sweep);

// Prints each trial as it starts and ends, with the best so far, until the sweep ends; exits 0
// when it Completed, 4 when it was Canceled.
Result<int> follow_sweep(client::ApiClient& client, Session& session, const std::string& sweep_id);

// A run id, or for a sweep id ("sweep-..."), the run of its best Completed trial.
Result<std::string> resolve_run_or_sweep(client::ApiClient& client, const std::string& workspace,
                                         const std::string& id);

Result<int> run_sweep_list(Session& session);
Result<int> run_sweep_show(Session& session, const SweepOptions& options);
Result<int> run_sweep_cancel(Session& session, const SweepOptions& options);

}  // namespace trainctl::cli
