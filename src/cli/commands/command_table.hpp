#pragma once
// How command groups plug into the CLI11 app (private to src/cli). Each group file defines one
// add_<group>_commands; app.cpp lists them in one table.
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include <CLI/CLI.hpp>

#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// What the parsed command does; returns the process exit code.
using Action = std::function<Result<int>(Session&)>;

// Adds a group's commands to `app`; the command the user picked stores its action in `selected`.
using AddCommands = void (*)(CLI::App& app, Action& selected);

void add_server_commands(CLI::App& app, Action& selected);
void add_workspace_commands(CLI::App& app, Action& selected);
void add_spec_commands(CLI::App& app, Action& selected);  // validate, submit
void add_logs_commands(CLI::App& app, Action& selected);
void add_run_commands(CLI::App& app, Action& selected);
void add_dataset_commands(CLI::App& app, Action& selected);
void add_compute_commands(CLI::App& app, Action& selected);
void add_model_commands(CLI::App& app, Action& selected);  // register, model
void add_deploy_commands(CLI::App& app, Action& selected);
void add_sweep_commands(CLI::App& app, Action& selected);
void add_shell_commands(CLI::App& app, Action& selected);  // completion, __complete, __man
void add_ui_commands(CLI::App& app, Action& selected);

// A group and the top-level command names (and aliases) it adds, so that a run of the program
// builds only the commands the arguments name: building all of CLI11's tree costs about a
// millisecond, most of a short command's own time. `needs_all`: the group's commands read the
// whole tree (completion, man pages).
struct CommandGroup {
  std::span<const std::string_view> names;
  AddCommands add;
  bool needs_all = false;
};
std::span<const CommandGroup> command_groups();

// When `command` is parsed: validate(options) (usage errors), then run(session, options).
template <typename Options>
void on_parsed(CLI::App* command, Action& selected, std::shared_ptr<Options> options,
               Result<int> (*run)(Session&, const Options&)) {
  command->callback([&selected, options, run] {
    selected = [options, run](Session& session) -> Result<int> {
      if (auto valid = validate(*options); !valid) return fail(valid.error());
      return run(session, *options);
    };
  });
}

// For commands without options.
inline void on_parsed(CLI::App* command, Action& selected, Result<int> (*run)(Session&)) {
  command->callback([&selected, run] { selected = run; });
}

}  // namespace trainctl::cli
