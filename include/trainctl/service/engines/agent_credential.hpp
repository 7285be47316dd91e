#pragma once
// The credential of a run's node agent (docs/slurm.md): a secret made for one run when an engine
// starts it on machines that reach the service over the network. It opens that run's agent routes
// and nothing else (never the service token's routes), and stops working when the run ends. The
// run directory keeps only its SHA-256, readable by the service's user alone.
#include <filesystem>
#include <string>
#include <string_view>

#include "trainctl/util/error.hpp"
#include "trainctl/util/fs.hpp"

namespace trainctl::service::engines {

inline constexpr std::string_view k_agent_credential_file = "agent.credential";

// Makes a new credential for the run in `run_dir` (replacing any earlier one) and returns it.
Result<std::string> issue_agent_credential(const std::filesystem::path& run_dir,
                                           util::Sync sync = util::Sync::now);
// Whether `authorization` ("Bearer <secret>") holds the run's current credential.
bool agent_credential_matches(const std::filesystem::path& run_dir, std::string_view authorization);
// The credential stops working (the run has ended). Idempotent.
void revoke_agent_credential(const std::filesystem::path& run_dir);

}  // namespace trainctl::service::engines
