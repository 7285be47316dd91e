// `trainctl server start|stop|restart|status`.
#include "trainctl/cli/commands/server.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "command_table.hpp"
#include "trainctl/cli/local_service.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::cli {

namespace {

using nlohmann::json;

const ResourceKind& server_kind() {
  static const ResourceKind kind{.name = "server", .columns = {}, .name_pointer = "/endpoint"};
  return kind;
}

json to_json(const ServerRecord& record) {
  return {{"endpoint", record.endpoint},
          {"pid", record.pid},
          {"version", record.version},
          {"started_at", record.started_at},
          {"config_file", record.config_file},
          {"config", record.config}};
}

std::string uptime_of(const ServerRecord& record) {
  const auto started = util::parse_rfc3339(record.started_at);
  if (!started) return "-";
  return util::format_duration_ms(util::now_unix_ms() - *started);
}

// "bind: 127.0.0.1", one row per trainctld option, lists comma-joined.
Description::Section configuration_section(const json& config) {
  Description::Section section{.title = "Configuration", .headers = {}, .rows = {}};
  for (const auto& [key, value] : config.items()) {
    std::string text;
    if (value.is_array()) {
      for (const auto& item : value) text += (text.empty() ? "" : ", ") + format_cell(item);
      if (text.empty()) text = "-";
    } else {
      text = format_cell(value);
    }
    section.rows.push_back({key + ":", text});
  }
  return section;
}

// The trainctld options given to start/restart (everything after the command that is not one of
// trainctl's own options), saved before the service starts.
struct StartOptions {
  std::vector<std::string> service_args;
};

Result<int> start(Session& session, const StartOptions& options, bool restart) {
  auto& printer = session.printer();
  if (!options.service_args.empty()) {
    if (auto saved = save_service_options(session.config(), options.service_args); !saved) {
      return fail(saved.error());
    }
    printer.notice(fmt::format("saved the options in {}",
                               (session.config().home / "trainctld.yaml").string()));
  }
  if (restart) {
    auto stopped = stop_service(session.config().home);
    if (!stopped) return fail(stopped.error());
    if (*stopped) printer.notice(fmt::format("stopped trainctld (pid {})", **stopped));
  }
  auto service = ensure_service(session.config());
  if (!service) return fail(service.error());
  const auto& record = service->record;
  if (!service->started && !options.service_args.empty()) {
    printer.warning("trainctld was running and keeps its options until it restarts: "
                    "trainctl server restart");
  }
  if (printer.for_people()) {
    printer.message(fmt::format("{} trainctld (pid {}) at {}",
                                service->started ? "started" : "already running:", record.pid,
                                record.endpoint));
  } else {
    printer.print_resource(server_kind(), to_json(record));
  }
  return exit_code::k_success;
}

Result<int> run_server_start(Session& session, const StartOptions& options) {
  return start(session, options, false);
}

Result<int> run_server_restart(Session& session, const StartOptions& options) {
  return start(session, options, true);
}

constexpr std::string_view k_start_footer = R"(
Any trainctld option may follow (trainctld --help, man trainctld), e.g. --bind ADDRESS,
--port N, --allow-url-network CIDR, --pip-find-links DIR, --host-gpus N, --config FILE.
They are checked, then saved in <home>/trainctld.yaml with the options saved before (a
value given replaces the saved one), so every later start of the local service, also the
one a command makes when none runs, uses them. Edit or delete that file to drop one.)";

// The arguments after `server start` that are not trainctl's global options (-o, -w, ...),
// which are applied to those options as if given before the command.
std::vector<std::string> service_arguments(const std::vector<std::string>& args, CLI::App& root) {
  std::vector<std::string> kept;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    const auto equals = arg.find('=');
    CLI::Option* option =
        arg.starts_with("-") ? root.get_option_no_throw(arg.substr(0, equals)) : nullptr;
    if (option == nullptr || arg == "--help" || arg == "-h") {
      kept.push_back(arg);
      continue;
    }
    if (option->get_expected_min() == 0) {
      option->add_result("true");
    } else if (equals != std::string::npos) {
      option->add_result(arg.substr(equals + 1));
    } else if (i + 1 < args.size()) {
      option->add_result(args[++i]);
    }
    option->run_callback();
  }
  return kept;
}

void add_start(CLI::App& server, Action& selected, const char* name, const char* description,
               Result<int> (*run)(Session&, const StartOptions&)) {
  auto options = std::make_shared<StartOptions>();
  auto* command = server.add_subcommand(name, description);
  // trainctld's options are not trainctl's: they stay with this command (no fall through to the
  // global options, which service_arguments picks out itself).
  command->allow_extras();
  command->fallthrough(false);
  command->footer(std::string(k_start_footer));
  CLI::App* root = server.get_parent();
  command->callback([&selected, options, command, root, run] {
    options->service_args = service_arguments(command->remaining(), *root);
    selected = [options, run](Session& session) { return run(session, *options); };
  });
}

}  // namespace

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
  Description description{.fields = {{"Endpoint", record->endpoint},
                                     {"PID", std::to_string(record->pid)},
                                     {"Version", record->version},
                                     {"Uptime", uptime_of(*record)},
                                     {"Home", session.config().home.string()},
                                     {"Config file", record->config_file.empty()
                                                         ? std::string("- (none)")
                                                         : record->config_file}},
                          .sections = {}};
  if (record->config.is_object() && !record->config.empty()) {
    description.sections.push_back(configuration_section(record->config));
  }
  session.printer().print_description(server_kind(), to_json(*record), description);
  return exit_code::k_success;
}

void add_server_commands(CLI::App& app, Action& selected) {
  auto* server = app.add_subcommand("server", "Start, stop or inspect the local trainctld");
  server->require_subcommand(1);
  server->footer(R"(
The local service keeps its state in $TRAINCTL_HOME (default ~/.local/share/trainctl),
records itself in <home>/server.json, logs to <home>/trainctld.log and reads its options
from <home>/trainctld.yaml (`server start --OPTION ...` saves them there). A restarted
service keeps its port when it is free.

Examples:
  trainctl server start
  trainctl server start --allow-url-network 127.0.0.0/8 --port 8080
  trainctl server restart
  trainctl server status -o json
  trainctl server stop)");
  add_start(*server, selected, "start",
            "Start trainctld in the background unless it runs; save the trainctld options given",
            run_server_start);
  add_start(*server, selected, "restart",
            "Stop trainctld if it runs, then start it (with the trainctld options given saved)",
            run_server_restart);
  on_parsed(server->add_subcommand("stop", "Stop the local trainctld (a no-op when stopped)"),
            selected, run_server_stop);
  on_parsed(server->add_subcommand(
                "status",
                "Endpoint, pid, version, uptime and configuration (exit 8 when stopped)"),
            selected, run_server_status);
}

}  // namespace trainctl::cli
