#include <spdlog/spdlog.h>

#include "handlers.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

nlohmann::json optional_time(int64_t unix_ms) {
  return unix_ms > 0 ? nlohmann::json(util::format_rfc3339(unix_ms)) : nlohmann::json(nullptr);
}

nlohmann::json payload_field(const RunRecord& run, const char* name) {
  return run.payload.contains(name) ? run.payload.at(name) : nlohmann::json::object();
}

// limits.max_retries of the run's (validated) payload.
int max_retries(const RunRecord& run) {
  const auto limits = payload_field(run, "limits");
  const auto retries = limits.find("max_retries");
  return retries != limits.end() && retries->is_number_integer() ? retries->get<int>() : 0;
}

}  // namespace

ErrorDetail field_problem(std::string path, std::string message) {
  ErrorDetail detail;
  detail.path = std::move(path);
  detail.message = std::move(message);
  return detail;
}

void send_json(httplib::Response& response, int status, const nlohmann::json& body) {
  response.status = status;
  if (status == 204) return;
  response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                       k_json_content_type);
}

namespace {

// What the client is told of an error. A server-side failure (internal, io) is logged and
// answered without its message, which may name server paths or quote a library.
Error client_view(const Error& error) {
  if (error.code != ErrorCode::internal && error.code != ErrorCode::io) return error;
  spdlog::error("request failed: {}", error.message);
  return Error{error.code, "internal error; the service log has the details"};
}

}  // namespace

void send_error(httplib::Response& response, const Error& server_error) {
  const Error error = client_view(server_error);
  auto details = nlohmann::json::array();
  for (const auto& detail : error.details) {
    details.push_back({{"path", detail.path}, {"message", detail.message}});
  }
  send_json(response, http_status_of(error.code),
            {{"error",
              {{"code", error_code_name(error.code)},
               {"message", error.message},
               {"details", details}}}});
  if (error.code == ErrorCode::unavailable || error.code == ErrorCode::too_many_requests) {
    response.set_header("Retry-After", "1");  // busy: the request may be sent again
  }
}

namespace {

void send_reply(httplib::Response& response, const Result<Reply>& reply) {
  if (!reply) return send_error(response, reply.error());
  for (const auto& [name, value] : reply->headers) response.set_header(name, value);
  send_json(response, reply->status, reply->body);
}

}  // namespace

httplib::Server::Handler json_route(JsonHandler handler) {
  return [handler = std::move(handler)](const httplib::Request& request,
                                        httplib::Response& response) {
    send_reply(response, handler(request));
  };
}

httplib::Server::HandlerWithContentReader json_body_route(const ServiceContext& context,
                                                          JsonBodyHandler handler) {
  return [&context, handler = std::move(handler)](const httplib::Request& request,
                                                  httplib::Response& response,
                                                  const httplib::ContentReader& read_body) {
    const size_t cap = context.config.max_json_bytes;
    bool too_large = request.get_header_value<uint64_t>("Content-Length") > cap;
    std::string body;
    const bool read = read_body([&](const char* data, size_t size) {
      too_large = too_large || size > cap - body.size();
      if (!too_large) body.append(data, size);
      return true;
    });
    if (too_large) {
      return send_error(response, Error{ErrorCode::payload_too_large,
                                        fmt::format("the request body is larger than {} bytes", cap)});
    }
    if (!read) return send_error(response, Error{ErrorCode::invalid_argument, "the body was cut short"});
    send_reply(response, handler(request, body));
  };
}

namespace {

// Whether `text` nests arrays and objects more than `limit` levels deep, counting the brackets
// outside strings. One pass, constant memory; meant to run before the text is parsed.
bool nested_deeper_than(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

}  // namespace

Result<nlohmann::json> parse_json_body(std::string_view body) {
  if (nested_deeper_than(body, k_max_json_depth)) {
    return fail(ErrorCode::invalid_argument, "the request body is nested deeper than {} levels",
                k_max_json_depth);
  }
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    return fail(ErrorCode::invalid_argument, "the request body is not valid JSON");
  }
  return parsed;
}

Result<nlohmann::json> parse_json_object(std::string_view body) {
  auto parsed = parse_json_body(body);
  if (!parsed) return parsed;
  if (!parsed->is_object()) {
    return fail(ErrorCode::invalid_argument, "the request body must be a JSON object");
  }
  return parsed;
}

Result<std::string> name_param(const httplib::Request& request, size_t index,
                               std::string_view kind) {
  std::string value = request.matches[static_cast<int>(index)];
  if (auto valid = api::validate_name(kind, value); !valid) return fail(valid.error());
  return value;
}

Result<std::string> existing_workspace(const ServiceContext& context,
                                       const httplib::Request& request) {
  auto name = name_param(request, 1, "workspace");
  if (!name) return name;
  if (auto workspace = context.store.get_workspace(*name); !workspace) {
    return fail(workspace.error());
  }
  return name;
}

std::string workspace_route(std::string_view suffix) {
  return fmt::format("/v1/workspaces/([^/]+){}", suffix);
}

nlohmann::json run_tags(const RunRecord& run) {
  nlohmann::json tags = payload_field(run, "tags");
  if (!tags.is_object()) tags = nlohmann::json::object();
  if (run.logged_tags.is_object()) tags.update(run.logged_tags);
  return tags;
}

nlohmann::json run_summary_json(const ServiceContext& context, const RunSummary& run,
                                QueuePlace place) {
  nlohmann::json duration = nullptr;
  if (run.started_at_ms > 0) {
    const int64_t end = run.ended_at_ms > 0 ? run.ended_at_ms : util::now_unix_ms();
    duration = end - run.started_at_ms;
  }
  nlohmann::json out{{"id", run.id},
                     {"workspace", run.workspace},
                     {"experiment", run.experiment},
                     {"name", run.name},
                     {"status", api::to_string(run.status)},
                     {"compute", run.compute},
                     {"snapshot_id", run.snapshot_id},
                     {"created_at", optional_time(run.created_at_ms)},
                     {"updated_at", optional_time(run.updated_at_ms)},
                     {"started_at", optional_time(run.started_at_ms)},
                     {"ended_at", optional_time(run.ended_at_ms)},
                     {"duration_ms", duration},
                     {"exit_code", run.exit_code ? nlohmann::json(*run.exit_code) : nullptr},
                     {"failure_reason", run.failure_reason},
                     {"priority", run.priority},
                     {"attempt", run.attempt},
                     {"queue", nullptr}};
  if (run.status == api::RunStatus::Queued && place == QueuePlace::shown) {
    if (const auto queue = context.runs.queue_info(run.id)) {
      const auto known = [](int value) { return value > 0 ? nlohmann::json(value) : nlohmann::json(nullptr); };
      out["queue"] = {{"position", known(queue->position)},
                      {"queue_length", known(queue->queue_length)},
                      {"reason", queue->reason}};
    }
  }
  return out;
}

nlohmann::json run_json(const ServiceContext& context, const RunRecord& run,
                        const std::vector<RunEvent>* events, QueuePlace place) {
  nlohmann::json out = run_summary_json(context, summary_of(run), place);
  out["estimator"] = payload_field(run, "estimator");
  out["environment_variables"] = payload_field(run, "environment_variables");
  out["limits"] = payload_field(run, "limits");
  out["tags"] = run_tags(run);
  out["params"] = run.params.is_object() ? run.params : nlohmann::json::object();
  out["metrics"] = run.metrics.is_object() ? run.metrics : nlohmann::json::object();
  out["tasks"] = run.tasks.is_array() ? run.tasks : nlohmann::json::array();
  out["inputs"] = inputs_json(run.inputs);
  out["nodes"] = run.nodes;
  out["max_attempts"] = 1 + max_retries(run);
  out["attempts"] = run.attempts.is_array() ? run.attempts : nlohmann::json::array();
  if (events != nullptr) {
    auto timeline = nlohmann::json::array();
    for (const auto& event : *events) {
      timeline.push_back({{"status", api::to_string(event.status)},
                          {"at", util::format_rfc3339(event.at_ms)},
                          {"message", event.message}});
    }
    out["timeline"] = std::move(timeline);
  }
  return out;
}

Result<nlohmann::json> run_json_with_timeline(const ServiceContext& context, const RunRecord& run,
                                              QueuePlace place) {
  auto events = context.store.run_events(run.id);
  if (!events) return fail(events.error());
  auto out = run_json(context, run, &*events, place);
  // The Slurm job of a run on a Slurm target: the first line of the run directory's slurm_job.
  out["slurm_job_id"] = nullptr;
  if (const auto job = util::read_file(context.runs.run_dir(run.id) / "slurm_job", 4096)) {
    const std::string first_line = job->substr(0, job->find('\n'));
    if (!first_line.empty()) out["slurm_job_id"] = first_line;
  }
  return out;
}

}  // namespace trainctl::service::handlers
