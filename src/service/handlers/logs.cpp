// Run logs as chunked NDJSON events (docs/rest-api.md, Run logs): whole lines from a byte offset,
// status changes, heartbeats, and an end event once the run is finished and every byte was sent.
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <memory>

#include <fmt/ranges.h>

#include "handlers.hpp"
#include "trainctl/service/run_files.hpp"
#include "trainctl/spec/job_spec.hpp"

namespace trainctl::service::handlers {

namespace {

constexpr size_t k_chunk_bytes = 64 * 1024;
constexpr auto k_max_wait = std::chrono::milliseconds(250);
using SteadyClock = std::chrono::steady_clock;

struct LogCursor {
  std::string task;
  std::filesystem::path file;
  uint64_t offset = 0;
  UniqueFd fd;  // opened once the file exists
};

// The tasks whose logs a run has, in plan order, the MPI launcher ("mpirun") included: a
// function of its validated payload (spec::task_names; no plan is built, so no port is taken).
// A payload that no longer validates falls back to the tasks the engine reported.
std::vector<std::string> task_names(const RunRecord& run) {
  if (auto spec = spec::job_spec_from_payload(run.payload)) return spec::task_names(*spec);
  std::vector<std::string> names;
  for (const auto& task : run.tasks) names.push_back(task.value("name", ""));
  return names;
}

// not_found naming the run's tasks: "run X has no task 'worker-9'; its tasks are chief-0, ...".
Error no_such_task(const RunRecord& run, const std::string& task,
                   const std::vector<std::string>& tasks) {
  return Error{ErrorCode::not_found, fmt::format("run {} has no task '{}'; its tasks are {}",
                                                 run.id, task, fmt::join(tasks, ", "))};
}

Result<uint64_t> parse_offset(std::string_view text) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return fail(ErrorCode::invalid_argument, "offset must be a byte count");
  }
  return value;
}

// `offset` is "" | "123" (one task) | "task:123,task:45".
Result<std::map<std::string, uint64_t>> parse_offsets(const std::string& text,
                                                      const std::vector<std::string>& tasks) {
  std::map<std::string, uint64_t> offsets;
  if (text.empty()) return offsets;
  if (text.find(':') == std::string::npos) {
    if (tasks.size() != 1) {
      return fail(ErrorCode::invalid_argument, "with several tasks, give offsets as task:offset");
    }
    auto offset = parse_offset(text);
    if (!offset) return fail(offset.error());
    offsets[tasks.front()] = *offset;
    return offsets;
  }
  for (size_t start = 0; start <= text.size();) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos) return fail(ErrorCode::invalid_argument, "bad offset '{}'", item);
    auto offset = parse_offset(std::string_view(item).substr(colon + 1));
    if (!offset) return fail(offset.error());
    offsets[item.substr(0, colon)] = *offset;
    start = comma + 1;
  }
  return offsets;
}

// Streams one request's events; owns the cursors.
class LogStream {
 public:
  LogStream(const ServiceContext& context, RunRecord run, std::vector<LogCursor> cursors, bool follow)
      : m_context(context), m_run(std::move(run)), m_cursors(std::move(cursors)), m_follow(follow) {}

  // Writes every event of the request to `sink`; returns false when the client went away.
  bool run(httplib::DataSink& sink) {
    std::optional<api::RunStatus> sent_status;
    auto last_write = SteadyClock::now();
    while (true) {
      const uint64_t seen = m_context.runs.generation();
      auto run = m_context.store.get_run(m_run.workspace, m_run.id);
      if (!run) break;  // deleted meanwhile
      const bool finished = api::is_terminal(run->status);
      if (m_follow && sent_status != run->status) {
        if (!write(sink, {{"type", "status"}, {"status", api::to_string(run->status)}})) return false;
        sent_status = run->status;
        last_write = SteadyClock::now();
      }
      bool wrote = false;
      for (auto& cursor : m_cursors) {
        if (!send_available(sink, cursor, finished, wrote)) return false;
      }
      if (wrote) last_write = SteadyClock::now();
      if (!m_follow || finished) {
        if (!write(sink, end_event(*run))) return false;
        break;
      }
      if (m_context.runs.stopping() || !sink.is_writable()) break;
      if (SteadyClock::now() - last_write >= m_context.config.heartbeat_interval) {
        if (!write(sink, {{"type", "heartbeat"}})) return false;
        last_write = SteadyClock::now();
      }
      m_context.runs.wait_for_change(seen, k_max_wait);
    }
    sink.done();
    return true;
  }

 private:
  static nlohmann::json end_event(const RunRecord& run) {
    return {{"type", "end"},
            {"status", api::to_string(run.status)},
            {"exit_code", run.exit_code ? nlohmann::json(*run.exit_code) : nullptr},
            {"failure_reason", run.failure_reason}};
  }

  static bool write(httplib::DataSink& sink, const nlohmann::json& event) {
    const std::string line =
        event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    return sink.write(line.data(), line.size());
  }

  // Sends the whole lines written since the cursor (every byte when the run is finished).
  bool send_available(httplib::DataSink& sink, LogCursor& cursor, bool finished, bool& wrote) {
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
      const bool full_chunk = length == buffer.size();
      if (last_newline != std::string_view::npos) {
        if (!finished) length = last_newline + 1;
      } else if (!finished && !full_chunk) {
        return true;  // an unfinished line: wait for its end
      }
      const nlohmann::json event{{"type", "log"},
                                 {"task", cursor.task},
                                 {"offset", cursor.offset},
                                 {"next_offset", cursor.offset + length},
                                 {"data", std::string(buffer.data(), length)}};
      if (!write(sink, event)) return false;
      cursor.offset += length;
      wrote = true;
    }
  }

  const ServiceContext& m_context;
  RunRecord m_run;
  std::vector<LogCursor> m_cursors;
  bool m_follow;
};

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The cursors a request asks for: one task (task=) or every task of the run, each from its
// offset. not_found for a task the run does not have.
Result<std::vector<LogCursor>> log_cursors(const ServiceContext& context, const RunRecord& run,
                                           const httplib::Request& request) {
  const std::vector<std::string> run_tasks = task_names(run);
  std::vector<std::string> tasks = run_tasks;
  if (const auto task = request.get_param_value("task"); !task.empty()) {
    if (!contains(run_tasks, task)) return fail(no_such_task(run, task, run_tasks));
    tasks = {task};
  }
  auto offsets = parse_offsets(request.get_param_value("offset"), tasks);
  if (!offsets) return fail(offsets.error());
  for (const auto& [task, offset] : *offsets) {
    if (!contains(run_tasks, task)) return fail(no_such_task(run, task, run_tasks));
    if (!contains(tasks, task)) {
      return fail(ErrorCode::invalid_argument, "offset names task '{}', which task= leaves out", task);
    }
  }
  std::vector<LogCursor> cursors;
  const auto logs_dir = context.runs.run_dir(run.id) / "logs";
  for (const auto& task : tasks) {
    const auto offset = offsets->find(task);
    cursors.push_back({task, logs_dir / (task + ".log"),
                       offset == offsets->end() ? 0 : offset->second, UniqueFd()});
  }
  return cursors;
}

void stream_logs(const ServiceContext& context, const httplib::Request& request,
                 httplib::Response& response) {
  auto workspace = name_param(request, 1, "workspace");
  if (!workspace) return send_error(response, workspace.error());
  auto id = name_param(request, 2, "run");
  if (!id) return send_error(response, id.error());
  auto run = context.store.get_run(*workspace, *id);
  if (!run) return send_error(response, run.error());
  auto cursors = log_cursors(context, *run, request);
  if (!cursors) return send_error(response, cursors.error());
  auto stream = std::make_shared<LogStream>(context, std::move(*run), std::move(*cursors),
                                            request.get_param_value("follow") == "true");
  response.set_chunked_content_provider(
      "application/x-ndjson",
      [stream](size_t, httplib::DataSink& sink) { return stream->run(sink); });
}

}  // namespace

void install_log_routes(httplib::Server& server, const ServiceContext& context) {
  server.Get(workspace_route("/runs/([^/]+)/logs"),
             [&context](const httplib::Request& request, httplib::Response& response) {
               stream_logs(context, request, response);
             });
}

}  // namespace trainctl::service::handlers
