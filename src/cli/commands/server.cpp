// `trainctl server start|stop|status`.
#include "trainctl/cli/commands/server.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "command_table.hpp"
#include "trainctl/cli/local_service.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::cli {

namespace {

const ResourceKind& server_kind() {
  static const ResourceKind kind{.name = "server", .columns = {}, .name_pointer = "/endpoint"};
  return kind;
}

nlohmann::json to_json(const ServerRecord& record) {
  return {{"endpoint", record.endpoint},
          {"pid", record.pid},
          {"version", record.version},
          {"started_at", record.started_at}};
}

std::string uptime_of(const ServerRecord& record) {
  const auto started = util::parse_rfc3339(record.started_at);
  if (!started) return "-";
  return util::format_duration_ms(util::now_unix_ms() - *started);
}

}  // namespace

Result<int> run_server_start(Session& session) {
  auto service = ensure_service(session.config());
  if (!service) return fail(service.error());
  const auto& record = service->record;
  session.printer().message(
      fmt::format("{} trainctld (pid {}) at {}",
                  service->started ? "started" : "already running:", record.pid, record.endpoint));
  return exit_code::k_success;
}

Result<int> run_server_stop(Session& session) {
  auto stopped = stop_service(session.config().home);
  if (!stopped) return fail(stopped.error());
  session.printer().message(*stopped ? fmt::format("stopped trainctld (pid {})", **stopped)
                                     : std::string("trainctld is not running"));
  return exit_code::k_success;
}

Result<int> run_server_status(Session& session) {
  auto record = running_service(session.config().home);
  if (!record) return fail(record.error());
  if (!answers_health(record->endpoint)) {
    return fail(ErrorCode::unavailable, "trainctld (pid {}) is running but does not answer at {}",
                record->pid, record->endpoint);
  }
  const Description description{.fields = {{"Endpoint", record->endpoint},
                                           {"PID", std::to_string(record->pid)},
                                           {"Version", record->version},
                                           {"Uptime", uptime_of(*record)},
                                           {"Home", session.config().home.string()}},
                                .sections = {}};
  session.printer().print_description(server_kind(), to_json(*record), description);
  return exit_code::k_success;
}

void add_server_commands(CLI::App& app, Action& selected) {
  auto* server = app.add_subcommand("server", "Start, stop or inspect the local trainctld");
  server->require_subcommand(1);
  server->footer(R"(
The local service keeps its state in $TRAINCTL_HOME (default ~/.local/share/trainctl),
records itself in <home>/server.json and logs to <home>/trainctld.log.

Examples:
  trainctl server start
  trainctl server status -o json
  trainctl server stop)");
  on_parsed(server->add_subcommand("start", "Start trainctld in the background unless it runs"),
            selected, run_server_start);
  on_parsed(server->add_subcommand("stop", "Stop the local trainctld (a no-op when stopped)"),
            selected, run_server_stop);
  on_parsed(
      server->add_subcommand("status", "Endpoint, pid, version and uptime (exit 8 when stopped)"),
      selected, run_server_status);
}

}  // namespace trainctl::cli
