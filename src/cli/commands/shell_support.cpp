// `trainctl completion bash|zsh|fish`, and the hidden commands behind it and the build:
// `__complete -- WORD...` (the candidates for the last word) and `__man DIR` (the man pages).
#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "command_table.hpp"
#include "trainctl/cli/completion.hpp"
#include "trainctl/cli/local_service.hpp"
#include "trainctl/cli/man_page.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/version.hpp"

namespace trainctl::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The service to ask for names: the configured endpoint, else the local service only when it is
// running already (completion never starts one). nullptr when there is none to ask.
std::unique_ptr<client::ApiClient> quiet_client(const config::Config& config) {
  client::ClientOptions options{.endpoint = config.endpoint,
                                .token = config.token,
                                .connect_timeout_ms = 300,
                                .timeout_seconds = 2};
  const bool local = options.endpoint.empty();
  if (local) {
    auto service = running_service(config.home);
    if (!service) return nullptr;
    options.endpoint = service->endpoint;
    if (options.token.empty()) {
      auto token = read_token(config.home);
      if (!token) return nullptr;
      options.token = *token;
    }
  }
  auto token = options.token;
  return std::make_unique<client::ApiClient>(
      local ? client::make_local_service_transport(options) : client::make_transport(options), token);
}

// The names of `resource` in `workspace`; empty when the service cannot say.
std::vector<std::string> resource_names(client::ApiClient& client, const std::string& resource,
                                        const std::string& workspace) {
  Result<json> listed = fail(ErrorCode::not_found, "no such kind");
  std::string key = "name";
  if (resource == "runs") {
    listed = client.list_runs(workspace, client::RunListQuery{.experiment = {}, .status = {},
                                                              .limit = 200, .page_token = {},
                                                              .summary = true});
    key = "id";
  } else if (resource == "sweeps") {
    listed = client.list_sweeps(workspace);
    key = "id";
  } else if (resource == "datasets") {
    listed = client.list_datasets(workspace);
  } else if (resource == "models") {
    listed = client.list_models(workspace);
  } else if (resource == "computes") {
    listed = client.list_computes(workspace);
  } else if (resource == "deployments") {
    listed = client.list_deployments(workspace);
  } else if (resource == "workspaces") {
    listed = client.list_workspaces();
  }
  std::vector<std::string> names;
  if (!listed) return names;
  for (const auto& item : listed->value("items", json::array())) {
    if (item.is_object() && item.contains(key) && item.at(key).is_string()) {
      names.push_back(item.at(key).get<std::string>());
    }
  }
  return names;
}

Result<int> run_complete(Session& session, const CLI::App& app, const std::vector<std::string>& words) {
  auto completion = complete_words(app, words);
  std::string out;
  if (completion.files) {
    out = "__files__\n";
  } else {
    if (!completion.resource.empty()) {
      if (auto client = quiet_client(session.config())) {
        const auto workspace = completion.workspace.empty() ? session.workspace() : completion.workspace;
        for (auto& name : resource_names(*client, completion.resource, workspace)) {
          if (name.starts_with(completion.prefix)) completion.candidates.push_back(std::move(name));
        }
      }
    }
    for (const auto& candidate : completion.candidates) out += candidate + "\n";
  }
  session.printer().write(out);
  return exit_code::k_success;
}

// Writes <dir>/<page>.1 for `command` and every visible command below it.
Result<int> write_man_pages(const CLI::App& command, const fs::path& dir) {
  const auto file = dir / (man_page_name(command) + ".1");
  if (auto written = util::write_file_atomic(file, man_page(command, fmt::format("trainctl {}", k_version)), 0644);
      !written) {
    return fail(written.error());
  }
  for (const CLI::App* sub : command.get_subcommands({})) {
    if (sub->get_group().empty()) continue;
    if (auto written = write_man_pages(*sub, dir); !written) return written;
  }
  return exit_code::k_success;
}

}  // namespace

void add_shell_commands(CLI::App& app, Action& selected) {
  auto shell = std::make_shared<std::string>();
  auto* completion = app.add_subcommand("completion", "Print a shell completion script (bash, zsh, fish)");
  completion->add_option("SHELL", *shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  completion->footer(R"(
The script completes commands, options, and the names of runs, sweeps, datasets, models,
compute targets, deployments and workspaces, which it asks the service for (a local service
that is not running is not started for it).

Examples:
  source <(trainctl completion bash)                        in ~/.bashrc
  trainctl completion zsh > "${fpath[1]}/_trainctl"         then restart zsh
  trainctl completion fish > ~/.config/fish/completions/trainctl.fish

Packages install them in the shells' own folders (share/bash-completion/completions,
share/zsh/vendor-completions, share/fish/vendor_completions.d).)");
  completion->callback([&selected, shell] {
    selected = [shell](Session& session) -> Result<int> {
      auto script = completion_script(*shell);
      if (!script) return fail(script.error());
      session.printer().write(*script);
      return exit_code::k_success;
    };
  });

  auto words = std::make_shared<std::vector<std::string>>();
  auto* complete = app.add_subcommand("__complete", "The completion candidates of the last word");
  complete->group("");  // hidden: the completion scripts call it, with the words after "--"
  complete->add_option("WORDS", *words, "The words after trainctl; the last is completed");
  complete->callback([&selected, &app, words] {
    selected = [&app, words](Session& session) { return run_complete(session, app, *words); };
  });

  auto dir = std::make_shared<std::string>();
  auto* man = app.add_subcommand("__man", "Write the man pages into a folder");
  man->group("");  // hidden: the build calls it
  man->add_option("DIR", *dir, "Folder")->required();
  man->callback([&selected, &app, dir] {
    selected = [&app, dir](Session&) -> Result<int> {
      if (auto made = util::make_directories(*dir, 0755); !made) return fail(made.error());
      return write_man_pages(app, *dir);
    };
  });
}

}  // namespace trainctl::cli
