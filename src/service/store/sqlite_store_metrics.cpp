// SqliteStore: metrics (store.hpp; docs/metrics.md). Series and their points live in
// metric_series and metric_points (migration 7); how far each task's metrics file is recorded
// lives in metric_files; the run's summary, params and logged tags are JSON columns of the run,
// rewritten with each batch, so reading a run never reads a point.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "sqlite_store.hpp"
#include "store_rows.hpp"
#include "trainctl/api/metrics.hpp"

namespace trainctl::service::store {

namespace {

// NaN is stored as NULL.
std::optional<double> stored_value(double value) {
  return std::isnan(value) ? std::nullopt : std::optional(value);
}

double value_at(const Statement& row, int column) {
  return row.column_is_null(column) ? std::numeric_limits<double>::quiet_NaN()
                                    : row.column_double(column);
}

std::optional<double> optional_value_at(const Statement& row, int column) {
  return row.column_is_null(column) ? std::nullopt : std::optional(row.column_double(column));
}

constexpr std::string_view k_series_columns =
    "id, name, attempt, task, count, last_value, last_step, last_at_ms, min_value, max_value";

MetricSeriesRecord read_series(const Statement& row) {
  return MetricSeriesRecord{.id = row.column_int64(0),
                            .name = row.column_text(1),
                            .attempt = static_cast<int>(row.column_int64(2)),
                            .task = row.column_text(3),
                            .count = row.column_int64(4),
                            .last = value_at(row, 5),
                            .last_step = row.column_int64(6),
                            .last_at_ms = row.column_int64(7),
                            .min = optional_value_at(row, 8),
                            .max = optional_value_at(row, 9)};
}

Result<std::vector<MetricSeriesRecord>> read_all_series(Statement& statement) {
  std::vector<MetricSeriesRecord> series;
  while (true) {
    auto row = statement.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return series;
    series.push_back(read_series(statement));
  }
}

Result<std::vector<MetricSeriesRecord>> series_of_run(Connection& connection,
                                                      const std::string& run_id) {
  static const std::string k_sql = fmt::format(
      "SELECT {} FROM metric_series WHERE run_id = ?1 ORDER BY name, attempt, task",
      k_series_columns);
  auto statement = connection.prepare(k_sql);
  if (!statement) return std::unexpected(statement.error());
  return read_all_series(statement->bind(run_id));
}

// The series of (run, name, attempt, task), made empty when the run has none yet.
Result<MetricSeriesRecord> series_for(Connection& connection, const MetricBatch& batch,
                                      const std::string& name) {
  {
    static const std::string k_sql = fmt::format(
        "SELECT {} FROM metric_series WHERE run_id = ?1 AND name = ?2 AND attempt = ?3 AND "
        "task = ?4",
        k_series_columns);
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    statement->bind(batch.run_id, name, batch.attempt, batch.task);
    auto row = statement->step();
    if (!row) return std::unexpected(row.error());
    if (*row) return read_series(*statement);
  }
  auto statement = connection.prepare(
      "INSERT INTO metric_series (run_id, name, attempt, task, count, last_value, last_step,"
      " last_at_ms, min_value, max_value) VALUES (?1, ?2, ?3, ?4, 0, NULL, -1, 0, NULL, NULL)");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(batch.run_id, name, batch.attempt, batch.task);
  if (auto done = statement->execute(); !done) return std::unexpected(done.error());
  return MetricSeriesRecord{.id = connection.last_insert_rowid(),
                            .name = name,
                            .attempt = batch.attempt,
                            .task = batch.task,
                            .count = 0,
                            .last = 0,
                            .last_step = -1,
                            .last_at_ms = 0,
                            .min = std::nullopt,
                            .max = std::nullopt};
}

Result<void> insert_point(Connection& connection, MetricSeriesRecord& series,
                          const MetricPointDraft& point) {
  const int64_t step = point.step.value_or(series.last_step + 1);
  auto statement = connection.prepare(
      "INSERT INTO metric_points (series_id, idx, step, value, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(series.id, series.count, step, stored_value(point.value), point.at_ms);
  if (auto done = statement->execute(); !done) return done;
  ++series.count;
  series.last = point.value;
  series.last_step = step;
  series.last_at_ms = point.at_ms;
  if (!std::isnan(point.value)) {
    series.min = series.min ? std::min(*series.min, point.value) : point.value;
    series.max = series.max ? std::max(*series.max, point.value) : point.value;
  }
  return {};
}

Result<void> save_series(Connection& connection, const MetricSeriesRecord& series) {
  auto statement = connection.prepare(
      "UPDATE metric_series SET count = ?1, last_value = ?2, last_step = ?3, last_at_ms = ?4,"
      " min_value = ?5, max_value = ?6 WHERE id = ?7");
  if (!statement) return std::unexpected(statement.error());
  return statement
      ->bind(series.count, stored_value(series.last), series.last_step, series.last_at_ms,
             series.min, series.max, series.id)
      .execute();
}

// The file's record, when the service has read some of it.
Result<std::optional<MetricFileRecord>> file_record(Connection& connection,
                                                    const MetricBatch& batch) {
  auto statement = connection.prepare(
      "SELECT offset, lines, rejected, last_problem FROM metric_files"
      " WHERE run_id = ?1 AND attempt = ?2 AND task = ?3");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(batch.run_id, batch.attempt, batch.task);
  auto row = statement->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  return MetricFileRecord{.attempt = batch.attempt,
                          .task = batch.task,
                          .offset = statement->column_int64(0),
                          .lines = statement->column_int64(1),
                          .rejected = statement->column_int64(2),
                          .last_problem = statement->column_text(3)};
}

Result<void> save_file_record(Connection& connection, const MetricBatch& batch,
                              const MetricFileRecord& file) {
  auto statement = connection.prepare(
      "INSERT INTO metric_files (run_id, attempt, task, offset, lines, rejected, last_problem)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (run_id, attempt, task) DO UPDATE SET"
      " offset = excluded.offset, lines = excluded.lines, rejected = excluded.rejected,"
      " last_problem = excluded.last_problem");
  if (!statement) return std::unexpected(statement.error());
  return statement
      ->bind(batch.run_id, batch.attempt, batch.task, file.offset, file.lines, file.rejected,
             file.last_problem)
      .execute();
}

// Per metric name: the last value (of the series logged to last: the latest attempt, then the
// latest time), the least and greatest values and the point count over every series.
nlohmann::json summary_of(const std::vector<MetricSeriesRecord>& all_series) {
  struct Summary {
    const MetricSeriesRecord* latest = nullptr;
    std::optional<double> min;
    std::optional<double> max;
    int64_t count = 0;
  };
  std::map<std::string, Summary> by_name;
  for (const auto& series : all_series) {
    if (series.count == 0) continue;
    Summary& summary = by_name[series.name];
    if (summary.latest == nullptr ||
        std::pair(series.attempt, series.last_at_ms) >=
            std::pair(summary.latest->attempt, summary.latest->last_at_ms)) {
      summary.latest = &series;
    }
    if (series.min) summary.min = summary.min ? std::min(*summary.min, *series.min) : *series.min;
    if (series.max) summary.max = summary.max ? std::max(*summary.max, *series.max) : *series.max;
    summary.count += series.count;
  }
  const auto optional_json = [](const std::optional<double>& value) {
    return value ? api::metric_value_json(*value) : nlohmann::json(nullptr);
  };
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, summary] : by_name) {
    out[name] = {{"last", api::metric_value_json(summary.latest->last)},
                 {"last_step", summary.latest->last_step},
                 {"min", optional_json(summary.min)},
                 {"max", optional_json(summary.max)},
                 {"count", summary.count}};
  }
  return out;
}

// Rewrites the run's summary, and its params and tags with the batch's added.
Result<void> save_run_metrics(Connection& connection, const MetricBatch& batch) {
  auto statement = connection.prepare("SELECT params, logged_tags FROM runs WHERE id = ?1");
  if (!statement) return std::unexpected(statement.error());
  auto row = statement->bind(batch.run_id).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return fail(ErrorCode::not_found, "run {} not found", batch.run_id);
  auto params = parse_stored_json(statement->column_text(0), "run params");
  if (!params) return std::unexpected(params.error());
  auto tags = parse_stored_json(statement->column_text(1), "run logged tags");
  if (!tags) return std::unexpected(tags.error());
  for (const auto& [name, value] : batch.params) (*params)[name] = value;
  for (const auto& [name, value] : batch.tags) (*tags)[name] = value;
  auto series = series_of_run(connection, batch.run_id);
  if (!series) return std::unexpected(series.error());
  auto update = connection.prepare(
      "UPDATE runs SET params = ?1, logged_tags = ?2, metrics = ?3 WHERE id = ?4");
  if (!update) return std::unexpected(update.error());
  return update
      ->bind(dump_json(*params), dump_json(*tags), dump_json(summary_of(*series)), batch.run_id)
      .execute();
}

MetricPointRecord read_point(const Statement& row) {
  const double value = value_at(row, 2);
  return MetricPointRecord{.index = row.column_int64(0),
                           .step = row.column_int64(1),
                           .value = value,
                           .at_ms = row.column_int64(3),
                           .last_index = row.column_int64(0),
                           .low = value,
                           .high = value};
}

// Folds consecutive points into one (MetricPointRecord): the mean of the values that are not
// NaN (NaN when none is), their least and greatest, the last step and time.
class PointBucket {
 public:
  void add(const MetricPointRecord& point) {
    if (m_points == 0) m_first = point;
    m_last = point;
    ++m_points;
    if (std::isnan(point.value)) return;
    m_sum += point.value;
    ++m_values;
    m_low = m_values == 1 ? point.value : std::min(m_low, point.value);
    m_high = m_values == 1 ? point.value : std::max(m_high, point.value);
  }
  bool empty() const { return m_points == 0; }
  MetricPointRecord take() {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    MetricPointRecord point{.index = m_first.index,
                            .step = m_last.step,
                            .value = m_values > 0 ? m_sum / static_cast<double>(m_values) : nan,
                            .at_ms = m_last.at_ms,
                            .last_index = m_last.index,
                            .low = m_values > 0 ? m_low : nan,
                            .high = m_values > 0 ? m_high : nan};
    *this = PointBucket{};
    return point;
  }

 private:
  MetricPointRecord m_first;
  MetricPointRecord m_last;
  int64_t m_points = 0;
  int64_t m_values = 0;
  double m_sum = 0;
  double m_low = 0;
  double m_high = 0;
};

}  // namespace

Result<void> SqliteStore::record_metrics(const MetricBatch& batch) {
  return write([&](Connection& connection) -> Result<void> {
    auto exists = connection.prepare("SELECT 1 FROM runs WHERE id = ?1");
    if (!exists) return std::unexpected(exists.error());
    auto found = exists->bind(batch.run_id).step();
    if (!found) return std::unexpected(found.error());
    if (!*found) return fail(ErrorCode::not_found, "run {} not found", batch.run_id);
    auto file = file_record(connection, batch);
    if (!file) return std::unexpected(file.error());
    MetricFileRecord next = file->value_or(MetricFileRecord{});
    if (next.offset != batch.from_offset) {
      return fail(ErrorCode::conflict, "{} bytes of the metrics file of {} (attempt {}) are "
                  "recorded, not {}", next.offset, batch.task, batch.attempt, batch.from_offset);
    }
    std::map<std::string, MetricSeriesRecord> touched;
    for (const auto& point : batch.points) {
      auto it = touched.find(point.name);
      if (it == touched.end()) {
        auto series = series_for(connection, batch, point.name);
        if (!series) return std::unexpected(series.error());
        it = touched.emplace(point.name, std::move(*series)).first;
      }
      if (auto inserted = insert_point(connection, it->second, point); !inserted) return inserted;
    }
    for (const auto& [name, series] : touched) {
      if (auto saved = save_series(connection, series); !saved) return saved;
    }
    next.offset = batch.to_offset;
    next.lines += batch.lines;
    next.rejected += batch.rejected;
    if (!batch.last_problem.empty()) next.last_problem = batch.last_problem;
    if (auto saved = save_file_record(connection, batch, next); !saved) return saved;
    if (batch.points.empty() && batch.params.empty() && batch.tags.empty()) return {};
    return save_run_metrics(connection, batch);
  });
}

Result<std::vector<MetricFileRecord>> SqliteStore::metric_files(const std::string& run_id) {
  return read([&](Connection& connection) -> Result<std::vector<MetricFileRecord>> {
    auto statement = connection.prepare(
        "SELECT attempt, task, offset, lines, rejected, last_problem FROM metric_files"
        " WHERE run_id = ?1 ORDER BY attempt, task");
    if (!statement) return std::unexpected(statement.error());
    statement->bind(run_id);
    std::vector<MetricFileRecord> files;
    while (true) {
      auto row = statement->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) return files;
      files.push_back(MetricFileRecord{.attempt = static_cast<int>(statement->column_int64(0)),
                                       .task = statement->column_text(1),
                                       .offset = statement->column_int64(2),
                                       .lines = statement->column_int64(3),
                                       .rejected = statement->column_int64(4),
                                       .last_problem = statement->column_text(5)});
    }
  });
}

Result<std::vector<MetricSeriesRecord>> SqliteStore::metric_series(
    const std::string& run_id, const std::optional<std::string>& name) {
  return read([&](Connection& connection) -> Result<std::vector<MetricSeriesRecord>> {
    if (!name) return series_of_run(connection, run_id);
    static const std::string k_sql = fmt::format(
        "SELECT {} FROM metric_series WHERE run_id = ?1 AND name = ?2 ORDER BY attempt, task",
        k_series_columns);
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    return read_all_series(statement->bind(run_id, *name));
  });
}

Result<std::vector<MetricPointRecord>> SqliteStore::metric_points(int64_t series_id,
                                                                  int64_t from_index,
                                                                  int64_t limit) {
  return read([&](Connection& connection) -> Result<std::vector<MetricPointRecord>> {
    auto statement = connection.prepare(
        "SELECT idx, step, value, at_ms FROM metric_points"
        " WHERE series_id = ?1 AND idx >= ?2 ORDER BY idx LIMIT ?3");
    if (!statement) return std::unexpected(statement.error());
    statement->bind(series_id, from_index, limit);
    std::vector<MetricPointRecord> points;
    while (true) {
      auto row = statement->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) return points;
      points.push_back(read_point(*statement));
    }
  });
}

Result<std::vector<MetricPointRecord>> SqliteStore::downsampled_metric_points(int64_t series_id,
                                                                              int64_t max_points) {
  return read([&](Connection& connection) -> Result<std::vector<MetricPointRecord>> {
    auto count = connection.prepare("SELECT count FROM metric_series WHERE id = ?1");
    if (!count) return std::unexpected(count.error());
    auto row = count->bind(series_id).step();
    if (!row) return std::unexpected(row.error());
    const int64_t total = *row ? count->column_int64(0) : 0;
    const int64_t per_point = std::max<int64_t>(1, (total + max_points - 1) / max_points);
    auto statement = connection.prepare(
        "SELECT idx, step, value, at_ms FROM metric_points WHERE series_id = ?1 ORDER BY idx");
    if (!statement) return std::unexpected(statement.error());
    statement->bind(series_id);
    std::vector<MetricPointRecord> points;
    PointBucket bucket;
    while (true) {
      auto next = statement->step();
      if (!next) return std::unexpected(next.error());
      if (!*next) break;
      const auto point = read_point(*statement);
      if (!bucket.empty() && point.index / per_point != (point.index - 1) / per_point) {
        points.push_back(bucket.take());
      }
      bucket.add(point);
    }
    if (!bucket.empty()) points.push_back(bucket.take());
    return points;
  });
}

}  // namespace trainctl::service::store
