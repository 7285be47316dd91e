// Run files: outputs/ and logs/, listed and downloaded without following symlinks.
#include <unistd.h>

#include <memory>

#include "handlers.hpp"
#include "trainctl/service/run_files.hpp"

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

void download(const ServiceContext& context, const httplib::Request& request,
              httplib::Response& response) {
  auto run = routed_run(context, request);
  if (!run) return send_error(response, run.error());
  auto opened = open_run_file(context.runs.run_dir(run->id), request.matches[3]);
  if (!opened) return send_error(response, opened.error());
  auto fd = std::make_shared<UniqueFd>(std::move(opened->fd));
  response.set_content_provider(
      opened->size, "application/octet-stream",
      [fd](size_t offset, size_t length, httplib::DataSink& sink) {
        char buffer[65536];
        const ssize_t n = ::pread(fd->get(), buffer, std::min(length, sizeof buffer),
                                  static_cast<off_t>(offset));
        return n > 0 && sink.write(buffer, static_cast<size_t>(n));
      });
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
             [&context](const httplib::Request& request, httplib::Response& response) {
               download(context, request, response);
             });
}

}  // namespace trainctl::service::handlers
