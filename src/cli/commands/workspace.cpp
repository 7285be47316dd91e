// `trainctl workspace create|list|show|delete`.
#include "trainctl/cli/commands/workspace.hpp"

#include <fmt/format.h>

#include "command_table.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/cli/resources.hpp"

namespace trainctl::cli {

Result<void> validate(const WorkspaceOptions& options) {
  return api::validate_name("workspace", options.name);
}

Result<int> run_workspace_create(Session& session, const WorkspaceOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto workspace = (*client)->create_workspace(options.name, options.description);
  if (!workspace) return fail(workspace.error());
  session.printer().print_resource(workspace_kind(), *workspace);
  return exit_code::k_success;
}

Result<int> run_workspace_list(Session& session) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto list = (*client)->list_workspaces();
  if (!list) return fail(list.error());
  session.printer().print_list(workspace_kind(), list->value("items", nlohmann::json::array()));
  return exit_code::k_success;
}

Result<int> run_workspace_show(Session& session, const WorkspaceOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto workspace = (*client)->get_workspace(options.name);
  if (!workspace) return fail(workspace.error());
  session.printer().print_resource(workspace_kind(), *workspace);
  return exit_code::k_success;
}

Result<int> run_workspace_delete(Session& session, const WorkspaceOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  if (auto deleted = (*client)->delete_workspace(options.name); !deleted) {
    return fail(deleted.error());
  }
  session.printer().message(fmt::format("workspace {} deleted", options.name));
  return exit_code::k_success;
}

void add_workspace_commands(CLI::App& app, Action& selected) {
  auto* group = app.add_subcommand("workspace", "Create, list, show or delete workspaces");
  group->alias("ws");
  group->require_subcommand(1);
  group->footer(R"(
Every run belongs to a workspace; "default" always exists. Select one with -w or TRAINCTL_WORKSPACE.

Examples:
  trainctl workspace create vision --description "image models"
  trainctl workspace list -o wide
  trainctl workspace delete vision)");

  auto create_options = std::make_shared<WorkspaceOptions>();
  auto* create = group->add_subcommand("create", "Create a workspace");
  create->add_option("NAME", create_options->name, "Workspace name")->required();
  create->add_option("--description", create_options->description, "What it holds");
  on_parsed(create, selected, create_options, run_workspace_create);

  on_parsed(group->add_subcommand("list", "List workspaces"), selected, run_workspace_list);

  auto show_options = std::make_shared<WorkspaceOptions>();
  auto* show = group->add_subcommand("show", "Show a workspace");
  show->add_option("NAME", show_options->name, "Workspace name")->required();
  on_parsed(show, selected, show_options, run_workspace_show);

  auto delete_options = std::make_shared<WorkspaceOptions>();
  auto* remove = group->add_subcommand("delete", "Delete a workspace and its finished runs");
  remove->add_option("NAME", delete_options->name, "Workspace name")->required();
  on_parsed(remove, selected, delete_options, run_workspace_delete);
}

}  // namespace trainctl::cli
