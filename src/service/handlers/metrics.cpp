// Run metrics (docs/rest-api.md, Run metrics): the summary, params and tags of a run with its
// series; one metric's series, downsampled on request; and a stream of points as NDJSON events,
// followed live until the run has finished and every point it logged was sent.
#include <charconv>
#include <map>
#include <memory>

#include <fmt/ranges.h>

#include "handlers.hpp"
#include "log_chunks.hpp"
#include "trainctl/api/metrics.hpp"
#include "trainctl/service/metrics/metrics_ingester.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int64_t k_default_max_points = 1000;
constexpr int64_t k_most_max_points = 100'000;
constexpr int64_t k_points_per_read = 5000;
constexpr auto k_max_wait = std::chrono::milliseconds(250);

nlohmann::json time_json(int64_t unix_ms) { return util::format_rfc3339(unix_ms); }

nlohmann::json optional_value_json(const std::optional<double>& value) {
  return value ? api::metric_value_json(*value) : nlohmann::json(nullptr);
}

nlohmann::json series_json(const MetricSeriesRecord& series) {
  return {{"name", series.name},
          {"attempt", series.attempt},
          {"task", series.task},
          {"count", series.count},
          {"last", api::metric_value_json(series.last)},
          {"last_step", series.last_step},
          {"last_at", time_json(series.last_at_ms)},
          {"min", optional_value_json(series.min)},
          {"max", optional_value_json(series.max)}};
}

nlohmann::json point_json(const MetricPointRecord& point, bool downsampled) {
  nlohmann::json out{{"step", point.step},
                     {"value", api::metric_value_json(point.value)},
                     {"time", time_json(point.at_ms)}};
  if (downsampled) {
    out["points"] = point.last_index - point.index + 1;
    out["low"] = api::metric_value_json(point.low);
    out["high"] = api::metric_value_json(point.high);
  }
  return out;
}

Result<RunRecord> routed_run(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = name_param(request, 1, "workspace");
  if (!workspace) return fail(workspace.error());
  auto id = name_param(request, 2, "run");
  if (!id) return fail(id.error());
  return context.store.get_run(*workspace, *id);
}

Result<int64_t> integer_param(const httplib::Request& request, const char* name, int64_t fallback,
                              int64_t min, int64_t max) {
  if (!request.has_param(name)) return fallback;
  const std::string text = request.get_param_value(name);
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return fail(ErrorCode::invalid_argument, "{} must be an integer from {} to {}", name, min, max);
  }
  return value;
}

// The metric the request names (name=), which the run must have logged.
Result<std::string> requested_metric(const httplib::Request& request, bool required) {
  const std::string name = request.get_param_value("name");
  if (name.empty()) {
    if (required) return fail(ErrorCode::invalid_argument, "name= (a metric name) is required");
    return name;
  }
  if (auto valid = api::validate_metric_name(name); !valid) return fail(valid.error());
  return name;
}

// not_found naming what the run did log.
Error no_such_metric(const RunRecord& run, const std::string& name) {
  std::vector<std::string> names;
  for (const auto& [metric, summary] : run.metrics.items()) names.push_back(metric);
  return Error{ErrorCode::not_found,
               names.empty() ? fmt::format("run {} has logged no metric yet", run.id)
                             : fmt::format("run {} has no metric '{}'; its metrics are {}", run.id,
                                           name, fmt::join(names, ", "))};
}

// The series the request selects: of the metric, of one task (task=) and one attempt
// (attempt=) when given.
Result<std::vector<MetricSeriesRecord>> selected_series(const ServiceContext& context,
                                                        const RunRecord& run,
                                                        const httplib::Request& request,
                                                        const std::string& name) {
  auto attempt = integer_param(request, "attempt", 0, 0, run.attempt);
  if (!attempt) return fail(attempt.error());
  const std::string task = request.get_param_value("task");
  auto all = context.store.metric_series(
      run.id, name.empty() ? std::nullopt : std::optional<std::string>(name));
  if (!all) return fail(all.error());
  std::vector<MetricSeriesRecord> selected;
  for (auto& series : *all) {
    if (*attempt != 0 && series.attempt != *attempt) continue;
    if (!task.empty() && series.task != task) continue;
    selected.push_back(std::move(series));
  }
  return selected;
}

Result<Reply> get_metrics(const ServiceContext& context, const httplib::Request& request) {
  auto run = routed_run(context, request);
  if (!run) return fail(run.error());
  auto series = context.store.metric_series(run->id, std::nullopt);
  if (!series) return fail(series.error());
  auto files = context.store.metric_files(run->id);
  if (!files) return fail(files.error());
  auto series_list = nlohmann::json::array();
  for (const auto& one : *series) series_list.push_back(series_json(one));
  auto rejected = nlohmann::json::array();
  for (const auto& file : *files) {
    if (file.rejected == 0) continue;
    rejected.push_back({{"attempt", file.attempt},
                        {"task", file.task},
                        {"lines", file.rejected},
                        {"last_problem", file.last_problem}});
  }
  return Reply{200,
               {{"run_id", run->id},
                {"status", api::to_string(run->status)},
                {"metrics", run->metrics},
                {"params", run->params},
                {"tags", run_tags(*run)},
                {"series", std::move(series_list)},
                {"rejected", std::move(rejected)}},
               {}};
}

Result<Reply> get_metric_series(const ServiceContext& context, const httplib::Request& request) {
  auto run = routed_run(context, request);
  if (!run) return fail(run.error());
  auto name = requested_metric(request, /*required=*/true);
  if (!name) return fail(name.error());
  auto max_points = integer_param(request, "max_points", k_default_max_points, 1, k_most_max_points);
  if (!max_points) return fail(max_points.error());
  auto selected = selected_series(context, *run, request, *name);
  if (!selected) return fail(selected.error());
  if (selected->empty() && !run->metrics.contains(*name)) return fail(no_such_metric(*run, *name));
  auto out = nlohmann::json::array();
  for (const auto& series : *selected) {
    const bool downsampled = series.count > *max_points;
    auto points = downsampled ? context.store.downsampled_metric_points(series.id, *max_points)
                              : context.store.metric_points(series.id, 0, *max_points);
    if (!points) return fail(points.error());
    auto list = nlohmann::json::array();
    for (const auto& point : *points) list.push_back(point_json(point, downsampled));
    out.push_back({{"attempt", series.attempt},
                   {"task", series.task},
                   {"count", series.count},
                   {"downsampled", downsampled},
                   {"points", std::move(list)}});
  }
  return Reply{200, {{"run_id", run->id}, {"name", *name}, {"series", std::move(out)}}, {}};
}

// Sends every point of the run's series (of one metric with name=) as "point" events, then,
// following, the new ones as they are recorded, each burst closed by a "caught_up" event (every
// point recorded so far was sent: a client may redraw), with "status" events when the run's
// status changes and heartbeats while nothing moves. Ends with an "end" event: at once without
// follow, else once the run has finished (its attempt's metrics are read to their end before
// it is recorded finished) and every point was sent.
class PointStream {
 public:
  PointStream(const ServiceContext& context, RunRecord run, std::string name, bool follow)
      : m_context(context), m_run(std::move(run)), m_name(std::move(name)), m_follow(follow) {}

  bool run(httplib::DataSink& sink) {
    std::optional<api::RunStatus> sent_status;
    auto last_write = SteadyClock::now();
    while (true) {
      const uint64_t seen = m_context.metrics != nullptr ? m_context.metrics->generation() : 0;
      auto run = m_context.store.get_run(m_run.workspace, m_run.id);
      if (!run) break;  // deleted meanwhile
      const bool finished = api::is_terminal(run->status);
      if (m_follow && sent_status != run->status) {
        if (!write_event(sink, {{"type", "status"}, {"status", api::to_string(run->status)}})) {
          return false;
        }
        sent_status = run->status;
        last_write = SteadyClock::now();
      }
      bool wrote = false;
      if (!send_new_points(sink, wrote)) return false;
      if (wrote) {
        if (m_follow && !write_event(sink, {{"type", "caught_up"}})) return false;
        last_write = SteadyClock::now();
      }
      if (!m_follow || finished) {
        if (!write_event(sink, {{"type", "end"}, {"status", api::to_string(run->status)}})) {
          return false;
        }
        break;
      }
      if (m_context.runs.stopping() || !sink.is_writable()) break;
      if (SteadyClock::now() - last_write >= m_context.config.heartbeat_interval) {
        if (!write_event(sink, {{"type", "heartbeat"}})) return false;
        last_write = SteadyClock::now();
      }
      if (m_context.metrics != nullptr) {
        m_context.metrics->wait_for_change(seen, k_max_wait);
      } else {
        m_context.runs.wait_for_change(m_context.runs.generation(), k_max_wait);
      }
    }
    sink.done();
    return true;
  }

 private:
  bool send_new_points(httplib::DataSink& sink, bool& wrote) {
    auto series = m_context.store.metric_series(
        m_run.id, m_name.empty() ? std::nullopt : std::optional<std::string>(m_name));
    if (!series) return true;  // tried again on the next pass
    for (const auto& one : *series) {
      int64_t& sent = m_sent[one.id];
      while (sent < one.count) {
        auto points = m_context.store.metric_points(one.id, sent, k_points_per_read);
        if (!points || points->empty()) break;
        for (const auto& point : *points) {
          const nlohmann::json event{{"type", "point"},
                                     {"name", one.name},
                                     {"attempt", one.attempt},
                                     {"task", one.task},
                                     {"index", point.index},
                                     {"step", point.step},
                                     {"value", api::metric_value_json(point.value)},
                                     {"time", time_json(point.at_ms)}};
          if (!write_event(sink, event)) return false;
        }
        sent += static_cast<int64_t>(points->size());
        wrote = true;
      }
    }
    return true;
  }

  const ServiceContext& m_context;
  RunRecord m_run;
  std::string m_name;  // empty: every metric
  bool m_follow;
  std::map<int64_t, int64_t> m_sent;  // points sent, by series id
};

void stream_points(const ServiceContext& context, const httplib::Request& request,
                   httplib::Response& response) {
  auto run = routed_run(context, request);
  if (!run) return send_error(response, run.error());
  auto name = requested_metric(request, /*required=*/false);
  if (!name) return send_error(response, name.error());
  auto stream = std::make_shared<PointStream>(context, std::move(*run), std::move(*name),
                                              request.get_param_value("follow") == "true");
  response.set_chunked_content_provider(
      "application/x-ndjson",
      [stream](size_t, httplib::DataSink& sink) { return stream->run(sink); });
}

}  // namespace

void install_metric_routes(httplib::Server& server, const ServiceContext& context) {
  server.Get(workspace_route("/runs/([^/]+)/metrics"),
             json_route([&context](const httplib::Request& request) {
               return get_metrics(context, request);
             }));
  server.Get(workspace_route("/runs/([^/]+)/metrics/series"),
             json_route([&context](const httplib::Request& request) {
               return get_metric_series(context, request);
             }));
  server.Get(workspace_route("/runs/([^/]+)/metrics/points"),
             [&context](const httplib::Request& request, httplib::Response& response) {
               stream_points(context, request, response);
             });
}

}  // namespace trainctl::service::handlers
