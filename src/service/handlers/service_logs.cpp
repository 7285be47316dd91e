// Deployment logs: whole lines from a byte offset per replica, status changes while following,
// heartbeats, and an end event (at once without follow=true; when the deployment is deleted or
// the service stops with it).
#include "service_logs.hpp"

#include <memory>

#include "handlers.hpp"
#include "log_chunks.hpp"
#include "trainctl/service/deployments.hpp"

namespace trainctl::service::handlers {

namespace {

using util::UniqueFd;

constexpr auto k_poll_interval = std::chrono::milliseconds(100);
using SteadyClock = std::chrono::steady_clock;

class ServiceLogStream {
 public:
  ServiceLogStream(const ServiceContext& context, std::string workspace, std::string name,
                   std::vector<LogCursor> cursors, bool follow)
      : m_context(context),
        m_workspace(std::move(workspace)),
        m_name(std::move(name)),
        m_cursors(std::move(cursors)),
        m_follow(follow) {}

  bool run(httplib::DataSink& sink) {
    std::string sent_state;
    auto last_write = SteadyClock::now();
    while (true) {
      const bool exists = m_context.store.get_deployment(m_workspace, m_name).has_value();
      const std::string state =
          exists ? m_context.deployments->status(m_workspace, m_name).state : "Deleted";
      if (m_follow && state != sent_state) {
        if (!write_event(sink, {{"type", "status"}, {"status", state}})) return false;
        sent_state = state;
        last_write = SteadyClock::now();
      }
      const bool ending = !m_follow || !exists || m_context.runs.stopping();
      bool wrote = false;
      for (auto& cursor : m_cursors) {
        if (!send_available(sink, cursor, ending, wrote)) return false;
      }
      if (wrote) last_write = SteadyClock::now();
      if (ending) {
        if (!write_event(sink, {{"type", "end"}, {"status", state}})) return false;
        break;
      }
      if (!sink.is_writable()) break;
      if (SteadyClock::now() - last_write >= m_context.config.heartbeat_interval) {
        if (!write_event(sink, {{"type", "heartbeat"}})) return false;
        last_write = SteadyClock::now();
      }
      m_context.runs.wait_for_change(m_context.runs.generation(), k_poll_interval);
    }
    sink.done();
    return true;
  }

 private:
  const ServiceContext& m_context;
  std::string m_workspace;
  std::string m_name;
  std::vector<LogCursor> m_cursors;
  bool m_follow;
};

// The replicas asked for (replica=N, else all), each from its offset: `offset` is "" | "123"
// (with replica=) | "replica-0:123,replica-1:45".
Result<std::vector<LogCursor>> log_cursors(const ServiceContext& context,
                                           const DeploymentRecord& deployment,
                                           const httplib::Request& request) {
  std::vector<int> replicas;
  if (const auto replica = request.get_param_value("replica"); !replica.empty()) {
    auto index = parse_offset(replica);
    if (!index || *index >= static_cast<uint64_t>(deployment.replicas)) {
      return fail(ErrorCode::not_found, "deployment {} has replicas 0 to {}", deployment.name,
                  deployment.replicas - 1);
    }
    replicas.push_back(static_cast<int>(*index));
  } else {
    for (int index = 0; index < deployment.replicas; ++index) replicas.push_back(index);
  }
  std::vector<std::string> tasks;
  for (const int index : replicas) tasks.push_back(fmt::format("replica-{}", index));
  auto offsets = parse_offsets(request.get_param_value("offset"), tasks, "replicas", "replica-N");
  if (!offsets) return fail(offsets.error());
  std::vector<LogCursor> cursors;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto offset = offsets->find(tasks[i]);
    auto file = context.deployments->log_file(deployment.workspace, deployment.name, replicas[i]);
    cursors.push_back(
        {tasks[i], std::move(file), offset == offsets->end() ? 0 : offset->second, UniqueFd()});
  }
  return cursors;
}

void stream_service_logs(const ServiceContext& context, const httplib::Request& request,
                         httplib::Response& response) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return send_error(response, workspace.error());
  auto name = name_param(request, 2, "deployment");
  if (!name) return send_error(response, name.error());
  auto deployment = context.store.get_deployment(*workspace, *name);
  if (!deployment) return send_error(response, deployment.error());
  auto cursors = log_cursors(context, *deployment, request);
  if (!cursors) return send_error(response, cursors.error());
  auto stream = std::make_shared<ServiceLogStream>(context, *workspace, *name, std::move(*cursors),
                                                   request.get_param_value("follow") == "true");
  response.set_chunked_content_provider(
      "application/x-ndjson",
      [stream](size_t, httplib::DataSink& sink) { return stream->run(sink); });
}

}  // namespace

void install_service_log_route(httplib::Server& server, const ServiceContext& context) {
  server.Get(workspace_route("/services/([^/]+)/logs"),
             [&context](const httplib::Request& request, httplib::Response& response) {
               if (!context.deployments) {
                 return send_error(response, Error{ErrorCode::unavailable, "deployments are off"});
               }
               stream_service_logs(context, request, response);
             });
}

}  // namespace trainctl::service::handlers
