#include "trainctl/cli/app.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/ranges.h>

#include "commands/command_table.hpp"
#include "commands/format_rules.hpp"
#include "trainctl/cli/curl_handover.hpp"
#include "trainctl/cli/debug_log.hpp"
#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/config/config.hpp"
#include "trainctl/util/strings.hpp"
#include "trainctl/util/version.hpp"

namespace trainctl::cli {

namespace {

// The command groups and the top-level names each adds (a unit test checks them against the tree).
constexpr std::string_view k_server[] = {"server"};
constexpr std::string_view k_workspace[] = {"workspace", "ws"};
constexpr std::string_view k_spec[] = {"validate", "submit"};
constexpr std::string_view k_logs[] = {"logs"};
constexpr std::string_view k_run[] = {"run"};
constexpr std::string_view k_dataset[] = {"dataset"};
constexpr std::string_view k_compute[] = {"compute"};
constexpr std::string_view k_model[] = {"register", "model"};
constexpr std::string_view k_deploy[] = {"deploy"};
constexpr std::string_view k_sweep[] = {"sweep"};
constexpr std::string_view k_shell[] = {"completion", "__complete", "__man"};
constexpr std::string_view k_ui[] = {"ui"};
constexpr CommandGroup k_command_groups[] = {
    {k_server, add_server_commands},   {k_workspace, add_workspace_commands},
    {k_spec, add_spec_commands},       {k_logs, add_logs_commands},
    {k_run, add_run_commands},         {k_dataset, add_dataset_commands},
    {k_compute, add_compute_commands}, {k_model, add_model_commands},
    {k_deploy, add_deploy_commands},   {k_sweep, add_sweep_commands},
    {k_shell, add_shell_commands, true}, {k_ui, add_ui_commands},
};

constexpr std::string_view k_description =
    R"(trainctl submits and manages training runs on a trainctld service.

With no endpoint configured, trainctl uses the local service of $TRAINCTL_HOME
(default ~/.local/share/trainctl) and starts one when none is running.
)";

constexpr std::string_view k_examples = R"(
Examples:
  trainctl validate job.yaml                  check a job spec and show its launch plan
  trainctl submit job.yaml --stream           submit, follow the logs, exit with the outcome
  trainctl run list --status Running          the runs still going
  trainctl logs run-k3x9q2m7ab -f             follow a run's logs
  trainctl run show run-k3x9q2m7ab -o yaml    a run, for scripts
  trainctl run list -o jsonpath='{.items[*].id}'   fields of runs, for scripts
  source <(trainctl completion bash)          complete commands, options, run ids (also zsh, fish)

Exit codes: 0 ok, 1 error, 2 usage, 3 run failed, 4 run canceled, 5 run timed out,
6 invalid spec, 7 not found, 8 service unreachable, 9 conflict, 130 interrupted.)";

struct GlobalFlags {
  std::string workspace;
  std::string output;
  std::string endpoint;
  std::string token;
  bool verbose = false;
  bool quiet = false;
  bool no_headers = false;

  config::FlagValues as_config() const {
    config::FlagValues values;
    for (const auto& [key, value] : {std::pair{"workspace", &workspace},
                                     {"output", &output},
                                     {"endpoint", &endpoint},
                                     {"token", &token}}) {
      if (!value->empty()) values.emplace(key, *value);
    }
    return values;
  }
};

void add_global_flags(CLI::App& app, GlobalFlags& flags) {
  const auto* group = "Global options";
  app.add_option("-w,--workspace", flags.workspace, "Workspace (default: \"default\")")
      ->group(group);
  app.add_option("-o,--output", flags.output, "Output format: " + output_format_names())
      ->group(group);
  app.add_flag("--no-headers", flags.no_headers,
               "Tables (table, wide, custom-columns) without their header line")
      ->group(group);
  app.add_option("--endpoint", flags.endpoint, "Service URL (default: the local service)")
      ->group(group);
  app.add_option("--token", flags.token, "Bearer token (default: the local service's)")
      ->group(group);
  app.add_flag("-v,--verbose", flags.verbose, "Debug logging on stderr")->group(group);
  app.add_flag("-q,--quiet", flags.quiet, "No messages or progress, only results and errors")
      ->group(group);
  app.set_version_flag("--version", fmt::format("trainctl {}", k_version), "Print the version");
}

// The global options as a help section, for the help of every command: they apply there too.
std::string global_options_help(const CLI::App& app) {
  std::string text = "Global options (any command):\n";
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_group() != "Global options") continue;
    std::string names = option->get_name(false, true);
    if (option->get_type_size() != 0) names += " " + option->get_type_name();
    text += fmt::format("  {:<28}{}\n", names, option->get_description());
  }
  return text;
}

// Adds the global options to the footer of `command`'s help and of every command below it.
void show_global_options(CLI::App& command, const std::string& section) {
  for (CLI::App* sub : command.get_subcommands({})) {
    const std::string footer = sub->get_footer();
    sub->footer(footer.empty() ? section : footer + "\n\n" + section);
    show_global_options(*sub, section);
  }
}

// The command the arguments picked: the deepest parsed subcommand.
const CLI::App& picked_command(const CLI::App& app) {
  const CLI::App* command = &app;
  while (!command->get_subcommands().empty()) command = command->get_subcommands().front();
  return *command;
}

// The commands that never talk to a service: a configured endpoint that needs libcurl does not
// hand them to trainctl-curl, so they work from a static trainctl alone.
bool never_contacts_a_service(std::string_view path) {
  constexpr std::array<std::string_view, 3> k_offline{"validate", "completion", "__man"};
  return std::ranges::find(k_offline, path) != k_offline.end();
}

// Loads the configuration, applies it to the printer, and runs the selected command (`path`,
// e.g. "run show") unless it has no form for the -o format. A command whose endpoint needs
// libcurl, which the static trainctl lacks, is handed to trainctl-curl with `argv` first.
Result<int> run_selected(const Action& selected, const std::string& path, const GlobalFlags& flags,
                         Printer& printer, char** argv) {
  const auto sources = config::process_sources();
  if (debug_log_enabled()) {
    for (const auto& file : config::config_files(sources)) debug_log("config file {}", file.string());
  }
  auto config = config::load_config(sources, flags.as_config());
  if (!config) return fail(config.error());
  if (auto usable = config::check_endpoint(*config); !usable) return fail(usable.error());
  if (!never_contacts_a_service(path)) {
    if (auto kept = hand_over_if_curl_needed(config->endpoint, argv); !kept) return fail(kept.error());
  }
  auto format = parse_output_format(config->output);
  if (!format) {
    if (config->output_origin.empty()) return fail(format.error());
    return fail(ErrorCode::usage, "{} (from {})", format.error().message, config->output_origin);
  }
  const auto terminal = detect_terminal();
  printer.set_options(PrinterOptions{.format = format->format,
                                     .color = terminal.color,
                                     .error_color = terminal.error_color,
                                     .quiet = flags.quiet,
                                     .progress = terminal.progress,
                                     .charts = terminal.terminal,
                                     .columns = terminal.columns,
                                     .no_headers = flags.no_headers,
                                     .jsonpath = std::move(format->jsonpath),
                                     .custom_columns = std::move(format->custom_columns)});
  if (auto accepted = check_output_format(path, printer.options().format); !accepted) {
    return fail(accepted.error());
  }
  debug_log("endpoint \"{}\", workspace \"{}\", home {}", config->endpoint, config->workspace,
                config->home.string());
  Session session(std::move(*config), printer);
  return selected(session);
}

// The long names of the options `command` takes, its parents' global ones included.
std::vector<std::string> option_names(const CLI::App* command) {
  std::vector<std::string> names;
  for (; command != nullptr; command = command->get_parent()) {
    for (const CLI::Option* option : command->get_options()) {
      for (const auto& name : option->get_lnames()) names.push_back("--" + name);
    }
  }
  return names;
}

// A mistyped command or option, and what was probably meant: "unknown command 'lst' of 'trainctl
// run'; did you mean 'list'?". Empty when the arguments hold no such word (the parse failed for
// another reason: CLI11's own message says it).
std::string typo_hint(const CLI::App& app, int argc, char** argv) {
  const CLI::App* command = &app;
  std::string path = "trainctl";
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word == "--") break;
    if (word.starts_with("-")) {
      const std::string name(word.substr(0, word.find('=')));
      const CLI::Option* option = nullptr;
      for (const CLI::App* scope = command; scope != nullptr && option == nullptr; scope = scope->get_parent()) {
        option = scope->get_option_no_throw(name);
      }
      if (option == nullptr && name.starts_with("--")) {
        const auto names = option_names(command);
        const std::vector<std::string_view> candidates(names.begin(), names.end());
        const auto near = util::closest_match(name, candidates);
        return near ? fmt::format("unknown option '{}' of '{}'; did you mean '{}'?", name, path, *near)
                    : std::string();
      }
      // An option followed by its value: the value is no command.
      if (option != nullptr && option->get_type_size() != 0 && word.find('=') == std::string_view::npos) ++i;
      continue;
    }
    if (command->get_subcommands({}).empty()) continue;  // an argument of the command
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : command->get_subcommands({})) {
      if (sub->check_name(std::string(word))) next = sub;
    }
    if (next == nullptr) {
      std::vector<std::string> names;
      for (const CLI::App* sub : command->get_subcommands({})) names.push_back(sub->get_name());
      const std::vector<std::string_view> candidates(names.begin(), names.end());
      const auto near = util::closest_match(word, candidates);
      return fmt::format("unknown command '{}' of '{}'{}", word, path,
                         near ? fmt::format("; did you mean '{}'?", *near)
                              : fmt::format("; one of: {}", fmt::join(names, ", ")));
    }
    command = next;
    path += " " + command->get_name();
  }
  return {};
}

// The first word of the arguments that is neither an option of `app` nor an option's value: the
// command, when the arguments name one. Empty when there is none (or "--" comes first).
std::string_view command_word(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word == "--") return {};
    if (!word.starts_with("-") || word == "-") return word;
    if (word.starts_with("--")) {
      if (word.find('=') != std::string_view::npos) continue;
      const CLI::Option* option = app.get_option_no_throw(std::string(word));
      if (option != nullptr && option->get_type_size() != 0) ++i;  // its value follows
      continue;
    }
    // A cluster of short options, "-qo json" or "-ojson": a value-taking option in it takes
    // the rest of the word, or the next word when it is last.
    for (size_t at = 1; at < word.size(); ++at) {
      const CLI::Option* option = app.get_option_no_throw(std::string{'-', word[at]});
      if (option == nullptr || option->get_type_size() == 0) continue;
      if (at + 1 == word.size()) ++i;
      break;
    }
  }
  return {};
}

// Adds the command groups the arguments need: only the group of the command they name, all of
// them when they name none (for help and for "did you mean"), and none for a bare --version.
void add_commands(CLI::App& app, Action& selected, int argc, char** argv) {
  const std::string_view word = command_word(app, argc, argv);
  if (!word.empty()) {
    for (const auto& group : k_command_groups) {
      if (std::ranges::find(group.names, word) == group.names.end() || group.needs_all) continue;
      group.add(app, selected);
      return;
    }
  } else if (argc == 2 && std::string_view(argv[1]) == "--version") {
    return;
  }
  for (const auto& group : k_command_groups) group.add(app, selected);
}

int run_app(int argc, char** argv, Printer& printer) {
  CLI::App app{std::string(k_description), "trainctl"};
  app.footer(std::string(k_examples));
  app.require_subcommand(1);
  app.fallthrough();
  GlobalFlags flags;
  add_global_flags(app, flags);
  Action selected;
  add_commands(app, selected, argc, argv);
  show_global_options(app, global_options_help(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    printer.write(app.help());
    return exit_code::k_success;
  } catch (const CLI::CallForAllHelp&) {
    printer.write(app.help("", CLI::AppFormatMode::All));
    return exit_code::k_success;
  } catch (const CLI::CallForVersion& version) {
    printer.write(fmt::format("{}\n", version.what()));
    return exit_code::k_success;
  } catch (const CLI::ParseError& error) {
    const std::string hint = typo_hint(app, argc, argv);
    printer.error(Error{ErrorCode::usage, hint.empty() ? std::string(error.what()) : hint});
    printer.notice("Run 'trainctl --help' for usage.");
    return exit_code::k_usage;
  }
  enable_debug_log(flags.verbose);
  auto result = run_selected(selected, command_path(picked_command(app)), flags, printer, argv);
  if (!result) {
    // Ctrl-C is the user's own doing (e.g. to stop `logs -f`): exit 130 without an error line.
    if (result.error().code != ErrorCode::interrupted) printer.error(result.error());
    return exit_code_of(result.error().code);
  }
  return *result;
}

}  // namespace

std::span<const CommandGroup> command_groups() { return k_command_groups; }

int run_cli(int argc, char** argv) {
  Printer printer(std::cout, std::cerr);
  // The fast path: no CLI11 app, no configuration, no curl.
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    printer.write(fmt::format("trainctl {}\n", k_version));
    return exit_code::k_success;
  }
  try {
    return run_app(argc, argv, printer);
  } catch (const std::exception& e) {
    printer.error(Error{ErrorCode::internal, fmt::format("unexpected failure: {}", e.what())});
    return exit_code::k_error;
  }
}

}  // namespace trainctl::cli
