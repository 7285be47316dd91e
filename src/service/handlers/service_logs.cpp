// Deployment logs: whole lines from a byte offset per replica, status changes while following,
// heartbeats, and an end event (at once without follow=true; when the deployment is deleted or
// the service stops with it).
#include "service_logs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <map>
#include <memory>

#include "handlers.hpp"
#include "trainctl/service/deployments.hpp"

namespace trainctl::service::handlers {

namespace {

using util::UniqueFd;

constexpr size_t k_chunk_bytes = 64 * 1024;
constexpr auto k_poll_interval = std::chrono::milliseconds(100);
using SteadyClock = std::chrono::steady_clock;

struct LogCursor {
  std::string task;  // "replica-0"
  std::filesystem::path file;
  uint64_t offset = 0;
  UniqueFd fd;  // opened once the file exists
};

bool write_event(httplib::DataSink& sink, const nlohmann::json& event) {
  const std::string line =
      event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return sink.write(line.data(), line.size());
}

// Sends the whole lines written since the cursor (every byte when `everything`).
bool send_available(httplib::DataSink& sink, LogCursor& cursor, bool everything, bool& wrote) {
  if (cursor.fd.get() < 0) {
    const int fd = ::open(cursor.file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return true;  // not written yet
    cursor.fd = UniqueFd(fd);
  }
  std::string buffer(k_chunk_bytes, '\0');
  while (true) {
    const ssize_t n = ::pread(cursor.fd.get(), buffer.data(), buffer.size(),
                              static_cast<off_t>(cursor.offset));
    if (n <= 0) return true;
    size_t length = static_cast<size_t>(n);
    const size_t last_newline = std::string_view(buffer.data(), length).rfind('\n');
    if (!everything && length < buffer.size()) {
      if (last_newline == std::string_view::npos) return true;  // wait for the line's end
      length = last_newline + 1;
    }
    if (!write_event(sink, {{"type", "log"},
                            {"task", cursor.task},
                            {"offset", cursor.offset},
                            {"next_offset", cursor.offset + length},
                            {"data", std::string(buffer.data(), length)}})) {
      return false;
    }
    cursor.offset += length;
    wrote = true;
  }
}

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

Result<uint64_t> parse_offset(std::string_view text) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return fail(ErrorCode::invalid_argument, "offset must be a byte count");
  }
  return value;
}

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
  std::map<std::string, uint64_t> offsets;
  const std::string offset_text = request.get_param_value("offset");
  if (!offset_text.empty() && offset_text.find(':') == std::string::npos) {
    if (replicas.size() != 1) {
      return fail(ErrorCode::invalid_argument, "with several replicas, give offsets as replica-N:offset");
    }
    auto offset = parse_offset(offset_text);
    if (!offset) return fail(offset.error());
    offsets[fmt::format("replica-{}", replicas.front())] = *offset;
  } else {
    for (size_t start = 0; start < offset_text.size();) {
      const size_t comma = std::min(offset_text.find(',', start), offset_text.size());
      const std::string item = offset_text.substr(start, comma - start);
      const size_t colon = item.rfind(':');
      if (colon == std::string::npos) return fail(ErrorCode::invalid_argument, "bad offset '{}'", item);
      auto offset = parse_offset(std::string_view(item).substr(colon + 1));
      if (!offset) return fail(offset.error());
      offsets[item.substr(0, colon)] = *offset;
      start = comma + 1;
    }
  }
  std::vector<LogCursor> cursors;
  for (const int index : replicas) {
    const std::string task = fmt::format("replica-{}", index);
    const auto offset = offsets.find(task);
    cursors.push_back({task, context.deployments->log_file(deployment.workspace, deployment.name, index),
                       offset == offsets.end() ? 0 : offset->second, UniqueFd()});
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
