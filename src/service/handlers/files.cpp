// Run files: outputs/ and logs/, listed and downloaded without following symlinks.
#include "handlers.hpp"
#include "trainctl/service/runs/run_files.hpp"

namespace trainctl::service::handlers {

namespace {

// The run named by the route (matches 1 and 2), known to exist.
Result<RunRecord> routed_run(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = name_param(request, 1, "workspace");
  if (!workspace) return fail(workspace.error());
  auto id = name_param(request, 2, "run");
  if (!id) return fail(id.error());
  return context.store.get_run(*workspace, *id);
}

// The run file the route names (match 3), opened without following symlinks.
Result<FileReply> open_routed_run_file(const ServiceContext& context,
                                       const httplib::Request& request) {
  auto run = routed_run(context, request);
  if (!run) return fail(run.error());
  auto opened = open_run_file(context.runs.run_dir(run->id), request.matches[3]);
  if (!opened) return fail(opened.error());
  return FileReply{std::move(opened->fd), opened->size};
}

}  // namespace

void install_file_routes(httplib::Server& server, const ServiceContext& context) {
  server.Get(workspace_route("/runs/([^/]+)/files"),
             json_route([&context](const httplib::Request& request) -> Result<Reply> {
               auto run = routed_run(context, request);
               if (!run) return fail(run.error());
               auto files = list_run_files(context.runs.run_dir(run->id));
               auto items = nlohmann::json::array();
               for (const auto& file : files.value_or(std::vector<RunFileEntry>{})) {
                 items.push_back({{"path", file.path}, {"size", file.size}});
               }
               return Reply{200, {{"items", std::move(items)}}, {}};
             }));
  server.Get(workspace_route("/runs/([^/]+)/files/(.+)"),
             file_route([&context](const httplib::Request& request) {
               return open_routed_run_file(context, request);
             }));
}

}  // namespace trainctl::service::handlers
