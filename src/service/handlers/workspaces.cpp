#include <spdlog/spdlog.h>

#include "handlers.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/service/deployments.hpp"
#include "trainctl/service/runs/run_files.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

nlohmann::json workspace_json(const WorkspaceRecord& workspace) {
  return {{"name", workspace.name},
          {"description", workspace.description},
          {"created_at", util::format_rfc3339(workspace.created_at_ms)},
          {"run_count", workspace.run_count}};
}

Result<Reply> create_workspace(const ServiceContext& context, const std::string& text) {
  auto body = parse_json_object(text);
  if (!body) return fail(body.error());
  if (!body->contains("name") || !body->at("name").is_string()) {
    return fail(ErrorCode::invalid_argument, "\"name\" (a string) is required");
  }
  const std::string name = body->at("name").get<std::string>();
  if (auto valid = api::validate_name("workspace", name); !valid) return fail(valid.error());
  std::string description;
  if (auto it = body->find("description"); it != body->end()) {
    if (!it->is_string()) return fail(ErrorCode::invalid_argument, "\"description\" must be a string");
    description = it->get<std::string>();
  }
  auto created = context.store.create_workspace(name, description);
  if (!created) return fail(created.error());
  return Reply{201, workspace_json(*created), {}};
}

// The ids of every run of a workspace, read before its rows are deleted.
Result<std::vector<std::string>> workspace_run_ids(const ServiceContext& context,
                                                   const std::string& workspace) {
  std::vector<std::string> ids;
  RunQuery query;
  query.workspace = workspace;
  query.limit = 1000;
  while (true) {
    auto page = context.store.list_run_summaries(query);
    if (!page) return fail(page.error());
    for (const auto& run : page->items) ids.push_back(run.id);
    if (!page->next_before_seq) return ids;
    query.before_seq = page->next_before_seq;
  }
}

Result<Reply> delete_workspace(const ServiceContext& context, const httplib::Request& request) {
  auto name = existing_workspace(context, request);
  if (!name) return fail(name.error());
  auto run_ids = workspace_run_ids(context, *name);
  if (!run_ids) return fail(run_ids.error());
  if (auto deleted = context.store.delete_workspace(*name); !deleted) return fail(deleted.error());
  // Its deployment records went with it; their replicas and files go now.
  if (context.deployments != nullptr) {
    if (auto removed = context.deployments->remove_workspace(*name); !removed) {
      spdlog::warn("workspace {}: {}", *name, removed.error().message);
    }
  }
  for (const auto& id : *run_ids) {
    if (auto removed = remove_tree(context.runs.run_dir(id)); !removed) {
      spdlog::warn("workspace {}: {}", *name, removed.error().message);
    }
  }
  return Reply{204, nullptr, {}};
}

}  // namespace

void install_workspace_routes(httplib::Server& server, const ServiceContext& context) {
  server.Post("/v1/workspaces", json_body_route(context, [&context](const httplib::Request&, const std::string& text) {
                return create_workspace(context, text);
              }));
  server.Get("/v1/workspaces", json_route([&context](const httplib::Request&) -> Result<Reply> {
               auto workspaces = context.store.list_workspaces();
               if (!workspaces) return fail(workspaces.error());
               auto items = nlohmann::json::array();
               for (const auto& workspace : *workspaces) items.push_back(workspace_json(workspace));
               return Reply{200, {{"items", items}}, {}};
             }));
  server.Get(workspace_route(""),
             json_route([&context](const httplib::Request& request) -> Result<Reply> {
               auto name = name_param(request, 1, "workspace");
               if (!name) return fail(name.error());
               auto workspace = context.store.get_workspace(*name);
               if (!workspace) return fail(workspace.error());
               return Reply{200, workspace_json(*workspace), {}};
             }));
  server.Delete(workspace_route(""), json_route([&context](const httplib::Request& request) {
                  return delete_workspace(context, request);
                }));
}

}  // namespace trainctl::service::handlers
