// `trainctl run metrics|compare` and the metric columns and sort of `run list`.
#include "trainctl/cli/commands/run_metrics.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "trainctl/api/metrics.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/api/run_status.hpp"
#include "trainctl/cli/metric_chart.hpp"
#include "trainctl/util/strings.hpp"

namespace trainctl::cli {

namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr int k_chart_height = 10;
constexpr int k_follow_chart_height = 14;
constexpr size_t k_most_charts = 6;
constexpr int k_label_room = 14;  // the value labels and the axis beside a chart
constexpr auto k_redraw_interval = std::chrono::milliseconds(250);

// "~" and "/" escaped for a JSON pointer.
std::string pointer_token(std::string_view name) {
  std::string out;
  for (const char c : name) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string value_cell(const json& value) {
  if (value.is_number_float()) return fmt::format("{:.6g}", value.get<double>());
  return format_cell(value);
}

std::string cell_at(const json& object, const char* key) {
  return object.contains(key) ? value_cell(object.at(key)) : "-";
}

// The value at a field of a run; null when it has none.
json field_value(const json& run, const RunField& field) {
  const json::json_pointer pointer(field.pointer);
  return run.contains(pointer) ? run.at(pointer) : json();
}

int chart_width(const PrinterOptions& options) {
  return std::clamp(options.columns - k_label_room, 20, 200);
}

std::vector<ChartPoint> chart_points(const json& points) {
  std::vector<ChartPoint> out;
  for (const auto& point : points) {
    const auto value = api::metric_value_from_json(point.value("value", json()));
    out.push_back({static_cast<double>(point.value("step", int64_t{0})),
                   value.value_or(std::numeric_limits<double>::quiet_NaN())});
  }
  return out;
}

// The series a chart of one metric draws: the latest attempt's, of its first task.
const json* charted_series(const json& series_list) {
  const json* chosen = nullptr;
  for (const auto& series : series_list) {
    if (chosen == nullptr ||
        std::pair(series.value("attempt", 0), std::string()) >
            std::pair(chosen->value("attempt", 0), std::string()) ||
        (series.value("attempt", 0) == chosen->value("attempt", 0) &&
         series.value("task", "") < chosen->value("task", ""))) {
      chosen = &series;
    }
  }
  return chosen;
}

std::string chart_title(const std::string& name, const json& series, size_t series_count) {
  std::string title = fmt::format("{} (task {}, attempt {}, {} point{}{})", name,
                                  series.value("task", ""), series.value("attempt", 0),
                                  series.value("count", 0), series.value("count", 0) == 1 ? "" : "s",
                                  series.value("downsampled", false) ? ", downsampled" : "");
  if (series_count > 1) {
    title += fmt::format("; {} more series: --task, --attempt", series_count - 1);
  }
  return title;
}

void print_chart(Printer& printer, const std::string& title, const std::vector<ChartPoint>& points,
                 int height) {
  std::string text = title + "\n";
  for (const auto& line : render_chart(points, {chart_width(printer.options()), height})) {
    text += line + "\n";
  }
  printer.write(text);
}

// The points of one series as rows (for people, without a terminal).
Description::Section points_section(const json& series) {
  Description::Section section{
      .title = fmt::format("{} {}, attempt {}{}", "Task", series.value("task", ""),
                           series.value("attempt", 0),
                           series.value("downsampled", false) ? " (downsampled: mean of each run "
                                                                "of points, LOW and HIGH)"
                                                              : ""),
      .headers = {"STEP", "VALUE", "TIME"},
      .rows = {}};
  const bool downsampled = series.value("downsampled", false);
  if (downsampled) section.headers = {"STEP", "VALUE", "LOW", "HIGH", "POINTS", "TIME"};
  for (const auto& point : series.value("points", json::array())) {
    if (downsampled) {
      section.rows.push_back({cell_at(point, "step"), cell_at(point, "value"), cell_at(point, "low"),
                              cell_at(point, "high"), cell_at(point, "points"),
                              format_time(point.value("time", json()))});
    } else {
      section.rows.push_back({cell_at(point, "step"), cell_at(point, "value"),
                              format_time(point.value("time", json()))});
    }
  }
  return section;
}

Result<int> show_series(Session& session, client::ApiClient& client,
                        const RunMetricsOptions& options) {
  auto& printer = session.printer();
  const bool charts = printer.options().charts && printer.for_people();
  client::MetricSeriesQuery query{.name = options.name,
                                  .task = options.task,
                                  .attempt = options.attempt,
                                  .max_points = charts ? chart_width(printer.options()) * 2
                                                       : options.max_points};
  auto document = client.get_metric_series(session.workspace(), options.run_id, query);
  if (!document) return fail(document.error());
  const auto series_list = document->value("series", json::array());
  if (!printer.for_people()) {
    printer.print_document(*document, Description{});
    return exit_code::k_success;
  }
  if (charts) {
    if (const json* series = charted_series(series_list)) {
      print_chart(printer, chart_title(options.name, *series, series_list.size()),
                  chart_points(series->value("points", json::array())), k_follow_chart_height);
    }
    return exit_code::k_success;
  }
  Description description{.fields = {{"Run", options.run_id}, {"Metric", options.name}},
                          .sections = {}};
  for (const auto& series : series_list) description.sections.push_back(points_section(series));
  printer.print_document(*document, description);
  return exit_code::k_success;
}

Result<int> show_summary(Session& session, client::ApiClient& client,
                         const RunMetricsOptions& options) {
  auto& printer = session.printer();
  auto metrics = client.get_run_metrics(session.workspace(), options.run_id);
  if (!metrics) return fail(metrics.error());
  printer.print_document(*metrics, describe_metrics(*metrics));
  if (!(printer.options().charts && printer.for_people())) return exit_code::k_success;
  size_t drawn = 0;
  const auto summary = metrics->value("metrics", json::object());
  for (const auto& [name, values] : summary.items()) {
    if (values.value("count", 0) < 2) continue;
    if (drawn++ == k_most_charts) {
      printer.notice("more metrics: draw one with --name NAME");
      break;
    }
    client::MetricSeriesQuery query{.name = name, .task = options.task, .attempt = options.attempt,
                                    .max_points = chart_width(printer.options()) * 2};
    auto series = client.get_metric_series(session.workspace(), options.run_id, query);
    if (!series) return fail(series.error());
    const auto list = series->value("series", json::array());
    if (const json* chosen = charted_series(list)) {
      printer.write("\n");
      print_chart(printer, chart_title(name, *chosen, list.size()),
                  chart_points(chosen->value("points", json::array())), k_chart_height);
    }
  }
  return exit_code::k_success;
}

// Follows the run's points until it ends: one line per point for people and scripts (json:
// the events), or, on a terminal, a chart of the metric redrawn in place as points come.
class PointFollower {
 public:
  PointFollower(Printer& printer, const RunMetricsOptions& options)
      : m_printer(printer),
        m_options(options),
        m_chart(printer.options().charts && printer.for_people()) {}

  bool on_event(const json& event) {
    const std::string type = event.value("type", "");
    if (type == "point") {
      on_point(event);
    } else if (type == "status") {
      m_status = event.value("status", "");
      if (m_chart) redraw();
    } else if (type == "caught_up") {
      if (m_chart) redraw();
    } else if (type == "end") {
      m_status = event.value("status", "");
      m_end = api::parse_run_status(m_status);
      if (m_chart) redraw();
    }
    return !InterruptScope::interrupted();
  }

  std::optional<api::RunStatus> outcome() const { return m_end; }

 private:
  using SeriesKey = std::tuple<std::string, int, std::string>;  // name, attempt, task

  void on_point(const json& event) {
    const SeriesKey key{event.value("name", ""), event.value("attempt", 0), event.value("task", "")};
    if (!m_options.task.empty() && std::get<2>(key) != m_options.task) return;
    if (m_options.attempt != 0 && std::get<1>(key) != m_options.attempt) return;
    if (!m_chart) {
      if (m_printer.for_people()) {
        m_printer.write(fmt::format("{:>8}  {}  {}  (task {}, attempt {})\n",
                                    event.value("step", int64_t{0}), std::get<0>(key),
                                    value_cell(event.value("value", json())), std::get<2>(key),
                                    std::get<1>(key)));
      } else {
        m_printer.write(event.dump() + "\n");
      }
      return;
    }
    const auto value = api::metric_value_from_json(event.value("value", json()));
    m_points[key].push_back({static_cast<double>(event.value("step", int64_t{0})),
                             value.value_or(std::numeric_limits<double>::quiet_NaN())});
    if (SteadyClock::now() - m_drawn_at >= k_redraw_interval) redraw();
  }

  // The series the chart shows: of --name, else of the first metric by name; its latest
  // attempt, then its first task.
  const SeriesKey* shown() const {
    const SeriesKey* chosen = nullptr;
    for (const auto& [key, points] : m_points) {
      const auto& [name, attempt, task] = key;
      if (chosen == nullptr) {
        chosen = &key;
        continue;
      }
      if (name != std::get<0>(*chosen)) continue;
      if (attempt > std::get<1>(*chosen)) chosen = &key;
    }
    return chosen;
  }

  void redraw() {
    m_drawn_at = SteadyClock::now();
    std::vector<std::string> lines;
    if (const SeriesKey* key = shown()) {
      const auto& points = m_points.at(*key);
      lines.push_back(fmt::format("{} (task {}, attempt {}, {} point{})", std::get<0>(*key),
                                  std::get<2>(*key), std::get<1>(*key), points.size(),
                                  points.size() == 1 ? "" : "s"));
      auto chart = render_chart(points, {chart_width(m_printer.options()), k_follow_chart_height});
      lines.insert(lines.end(), chart.begin(), chart.end());
    } else {
      lines.push_back("(no points yet)");
    }
    lines.push_back(m_end ? fmt::format("run {} {}", m_options.run_id, m_status)
                          : fmt::format("following run {} ({}); Ctrl-C stops", m_options.run_id,
                                        m_status.empty() ? "-" : m_status));
    std::string text;
    // Back to the chart's first line, and clear from there down.
    if (m_drawn_lines > 0) text += fmt::format("\x1b[{}F\x1b[J", m_drawn_lines);
    for (const auto& line : lines) text += line + "\n";
    m_drawn_lines = lines.size();
    m_printer.write(text);
  }

  Printer& m_printer;
  const RunMetricsOptions& m_options;
  const bool m_chart;
  std::map<SeriesKey, std::vector<ChartPoint>> m_points;
  std::string m_status;
  std::optional<api::RunStatus> m_end;
  size_t m_drawn_lines = 0;
  SteadyClock::time_point m_drawn_at{};
};

Result<int> follow_points(Session& session, client::ApiClient& client,
                          const RunMetricsOptions& options) {
  InterruptScope interrupt_scope;
  PointFollower follower(session.printer(), options);
  auto streamed = client.stream_metric_points(
      session.workspace(), options.run_id, options.name, /*follow=*/true,
      [&follower](const json& event) { return follower.on_event(event); });
  if (!streamed) return fail(streamed.error());
  const auto outcome = follower.outcome();
  return outcome ? api::exit_code_for_outcome(*outcome) : exit_code::k_success;
}

// "0.1" -> 0.1 for sorting; nullopt when not a number.
std::optional<double> sortable_number(const json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    if (auto special = api::metric_value_from_json(value)) return special;
    const std::string& text = value.get_ref<const std::string&>();
    char* end = nullptr;
    const double number = std::strtod(text.c_str(), &end);
    if (!text.empty() && end == text.c_str() + text.size()) return number;
  }
  return std::nullopt;
}

}  // namespace

Result<std::vector<RunField>> parse_run_fields(const std::string& text) {
  std::vector<RunField> fields;
  for (const auto& key : util::split(text, ',')) {
    const auto dot = key.find('.');
    const std::string group = dot == std::string::npos ? std::string(key) : std::string(key.substr(0, dot));
    const std::string name = dot == std::string::npos ? std::string() : std::string(key.substr(dot + 1));
    if ((group != "metrics" && group != "params" && group != "tags") || name.empty()) {
      return fail(ErrorCode::usage,
                  "'{}' is not a run field: use metrics.NAME, params.NAME or tags.NAME (e.g. "
                  "metrics.accuracy, params.--lr)",
                  key);
    }
    fields.push_back(RunField{.key = std::string(key),
                              .pointer = fmt::format("/{}/{}{}", group, pointer_token(name),
                                                     group == "metrics" ? "/last" : "")});
  }
  if (fields.empty()) return fail(ErrorCode::usage, "--columns names no field");
  return fields;
}

Result<RunSort> parse_run_sort(const std::string& text) {
  RunSort sort;
  std::string key = text;
  if (key.starts_with('-')) {
    sort.descending = true;
    key.erase(0, 1);
  }
  if (key.find('.') == std::string::npos) {
    constexpr std::string_view k_run_fields[] = {"id", "experiment", "name", "status",
                                                 "created_at", "started_at", "ended_at",
                                                 "duration_ms", "priority"};
    if (std::find(std::begin(k_run_fields), std::end(k_run_fields), key) == std::end(k_run_fields)) {
      return fail(ErrorCode::usage,
                  "--sort {}: sort by metrics.NAME, params.NAME, tags.NAME or one of id, "
                  "experiment, name, status, created_at, started_at, ended_at, duration_ms, "
                  "priority; '-' first for descending",
                  text);
    }
    sort.field = RunField{.key = key, .pointer = "/" + key};
    return sort;
  }
  auto fields = parse_run_fields(key);
  if (!fields) return fail(ErrorCode::usage, "--sort {}: {}", text, fields.error().message);
  if (fields->size() != 1) return fail(ErrorCode::usage, "--sort takes one field");
  sort.field = fields->front();
  return sort;
}

void sort_runs(json& runs, const RunSort& sort) {
  struct SortKey {
    bool missing = true;
    std::optional<double> number;
    std::string text;
  };
  const auto key_of = [&](const json& run) {
    const json value = field_value(run, sort.field);
    SortKey key;
    key.number = sortable_number(value);
    key.missing = value.is_null() || (key.number && std::isnan(*key.number));
    if (!key.number) key.text = format_cell(value);
    return key;
  };
  // Runs with the field first (numbers, then text), the others after, in list order.
  std::stable_sort(runs.begin(), runs.end(), [&](const json& a, const json& b) {
    const SortKey left = key_of(a);
    const SortKey right = key_of(b);
    if (left.missing || right.missing) return !left.missing && right.missing;
    if (left.number.has_value() != right.number.has_value()) return left.number.has_value();
    const bool less = left.number ? *left.number < *right.number : left.text < right.text;
    const bool greater = left.number ? *right.number < *left.number : right.text < left.text;
    return sort.descending ? greater : less;
  });
}

ResourceKind with_fields(ResourceKind kind, const std::vector<RunField>& fields) {
  for (const auto& field : fields) {
    std::string header = field.key;
    std::transform(header.begin(), header.end(), header.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    kind.columns.push_back(Column{.header = std::move(header),
                                  .pointer = field.pointer,
                                  .wide_only = false,
                                  .format = value_cell,
                                  .style = CellStyle::plain});
  }
  return kind;
}

Result<void> validate(const RunMetricsOptions& options) {
  if (options.run_id.empty()) return fail(ErrorCode::usage, "a run id is required");
  if (!options.name.empty()) {
    if (auto valid = api::validate_metric_name(options.name); !valid) {
      return fail(ErrorCode::usage, "--name: {}", valid.error().message);
    }
  }
  if (options.max_points < 1 || options.max_points > 100'000) {
    return fail(ErrorCode::usage, "--max-points must be within 1-100000");
  }
  if (options.attempt < 0) return fail(ErrorCode::usage, "--attempt must be 1 or more");
  return {};
}

Result<void> validate(const RunCompareOptions& options) {
  if (options.run_ids.size() < 2) {
    return fail(ErrorCode::usage, "run compare takes two runs or more");
  }
  return {};
}

Description describe_metrics(const json& metrics) {
  Description description{.fields = {{"Run", format_field(metrics, "run_id")},
                                     {"Status", format_field(metrics, "status")}},
                          .sections = {}};
  Description::Section summary{.title = "Metrics",
                               .headers = {"NAME", "LAST", "STEP", "MIN", "MAX", "POINTS"},
                               .rows = {}};
  const json summaries = metrics.value("metrics", json::object());
  for (const auto& [name, values] : summaries.items()) {
    summary.rows.push_back({name, cell_at(values, "last"), cell_at(values, "last_step"),
                            cell_at(values, "min"), cell_at(values, "max"),
                            cell_at(values, "count")});
  }
  if (summary.rows.empty()) summary.rows.push_back({"(none logged yet)", "", "", "", "", ""});
  description.sections.push_back(std::move(summary));
  for (const auto& [title, key] : {std::pair{"Params", "params"}, std::pair{"Tags", "tags"}}) {
    Description::Section section{.title = title, .headers = {}, .rows = {}};
    const json values = metrics.value(key, json::object());
    for (const auto& [name, value] : values.items()) {
      section.rows.push_back({name + ":", format_cell(value)});
    }
    if (!section.rows.empty()) description.sections.push_back(std::move(section));
  }
  Description::Section rejected{.title = "Rejected lines (not recorded)",
                                .headers = {"TASK", "ATTEMPT", "LINES", "LAST PROBLEM"},
                                .rows = {}};
  for (const auto& file : metrics.value("rejected", json::array())) {
    rejected.rows.push_back({format_field(file, "task"), format_field(file, "attempt"),
                             format_field(file, "lines"), format_field(file, "last_problem")});
  }
  if (!rejected.rows.empty()) description.sections.push_back(std::move(rejected));
  return description;
}

Description describe_comparison(const std::vector<json>& runs) {
  std::vector<std::string> headers{"", "FIELD"};
  for (const auto& run : runs) headers.push_back(run.value("id", "-"));
  Description::Section section{.title = "Params and metrics (last values); * differs",
                               .headers = headers,
                               .rows = {}};
  for (const auto& [group, suffix] : {std::pair{"params", ""}, std::pair{"metrics", "/last"}}) {
    std::set<std::string> names;
    for (const auto& run : runs) {
      const json values = run.value(group, json::object());
      for (const auto& [name, value] : values.items()) names.insert(name);
    }
    for (const auto& name : names) {
      const json::json_pointer pointer(fmt::format("/{}/{}{}", group, pointer_token(name), suffix));
      std::vector<std::string> cells;
      for (const auto& run : runs) {
        cells.push_back(run.contains(pointer) ? value_cell(run.at(pointer)) : "-");
      }
      const bool differs = std::adjacent_find(cells.begin(), cells.end(),
                                              std::not_equal_to<>()) != cells.end();
      std::vector<std::string> row{differs ? "*" : "", fmt::format("{}.{}", group, name)};
      row.insert(row.end(), cells.begin(), cells.end());
      section.rows.push_back(std::move(row));
    }
  }
  return Description{.fields = {}, .sections = {std::move(section)}};
}

Result<int> run_run_metrics(Session& session, const RunMetricsOptions& options) {
  if (options.follow) {
    // Points come one by one: a line each for people, the event as a JSON line for scripts.
    if (auto accepted = accept_formats(session.printer().options().format,
                                       {OutputFormat::table, OutputFormat::wide, OutputFormat::json},
                                       "run metrics --follow", "prints each point as it comes");
        !accepted) {
      return fail(accepted.error());
    }
  }
  auto client = session.client();
  if (!client) return fail(client.error());
  if (options.follow) return follow_points(session, **client, options);
  if (!options.name.empty()) return show_series(session, **client, options);
  return show_summary(session, **client, options);
}

Result<int> run_run_compare(Session& session, const RunCompareOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  std::vector<json> runs;
  for (const auto& id : options.run_ids) {
    auto run = (*client)->get_run(session.workspace(), id);
    if (!run) return fail(run.error());
    runs.push_back(std::move(*run));
  }
  json document{{"runs", json::array()}};
  for (const auto& run : runs) {
    document["runs"].push_back({{"id", run.value("id", "")},
                                {"status", run.value("status", "")},
                                {"params", run.value("params", json::object())},
                                {"metrics", run.value("metrics", json::object())}});
  }
  session.printer().print_document(document, describe_comparison(runs));
  return exit_code::k_success;
}

}  // namespace trainctl::cli
