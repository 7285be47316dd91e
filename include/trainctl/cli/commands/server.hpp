#pragma once
// `trainctl server start|restart|stop|status`: the local trainctld of $TRAINCTL_HOME.
#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// Stops the recorded service; a no-op (exit 0) when none runs.
Result<int> run_server_stop(Session& session);
// Prints endpoint, pid, version, uptime and the options it runs with; ErrorCode::unavailable
// (exit 8) when not running.
Result<int> run_server_status(Session& session);

}  // namespace trainctl::cli
