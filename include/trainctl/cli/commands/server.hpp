#pragma once
// `trainctl server start|stop|status`: the local trainctld of $TRAINCTL_HOME.
#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// Starts the service unless one answers; prints its endpoint and pid.
Result<int> run_server_start(Session& session);
// Stops the recorded service; a no-op (exit 0) when none runs.
Result<int> run_server_stop(Session& session);
// Prints endpoint, pid, version and uptime; ErrorCode::unavailable (exit 8) when not running.
Result<int> run_server_status(Session& session);

}  // namespace trainctl::cli
