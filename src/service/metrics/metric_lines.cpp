#include "trainctl/service/metrics/metric_lines.hpp"

#include <fmt/format.h>

#include "trainctl/api/metrics.hpp"

namespace trainctl::service {

namespace {

void add_record(const api::MetricRecord& record, int64_t now_ms, MetricBatch& batch) {
  switch (record.kind) {
    case api::MetricRecord::Kind::metric:
      batch.points.push_back(MetricPointDraft{.name = record.name,
                                              .value = record.value,
                                              .step = record.step,
                                              .at_ms = record.at_ms.value_or(now_ms)});
      break;
    case api::MetricRecord::Kind::param: batch.params.emplace_back(record.name, record.text); break;
    case api::MetricRecord::Kind::tag: batch.tags.emplace_back(record.name, record.text); break;
  }
}

void reject(MetricBatch& batch, std::string_view file_name, int64_t line, std::string_view why) {
  ++batch.rejected;
  batch.last_problem = fmt::format("{} line {}: {}", file_name, line, why);
}

std::string_view without_carriage_return(std::string_view line) {
  return line.ends_with('\r') ? line.substr(0, line.size() - 1) : line;
}

}  // namespace

MetricLinesRead read_metric_lines(std::string_view bytes, bool at_end, int64_t now_ms,
                                  int64_t first_line, std::string_view file_name,
                                  MetricBatch& batch) {
  size_t start = 0;
  int64_t line_number = first_line;
  while (start < bytes.size()) {
    const size_t newline = bytes.find('\n', start);
    const bool complete = newline != std::string_view::npos;
    const size_t end = complete ? newline : bytes.size();
    const bool too_long = end - start > k_max_metric_line;
    if (!complete && !at_end && !too_long) break;  // the rest of the line is still to come
    const std::string_view line = without_carriage_return(bytes.substr(start, end - start));
    start = complete ? newline + 1 : bytes.size();
    ++batch.lines;
    if (too_long) {
      reject(batch, file_name, line_number++,
             fmt::format("the line is longer than {} bytes; log fewer or shorter records per "
                         "line", k_max_metric_line));
      continue;
    }
    ++line_number;
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank: skipped
    auto record = api::parse_metric_record(line);
    if (!record) {
      reject(batch, file_name, line_number - 1, record.error().message);
      continue;
    }
    add_record(*record, now_ms, batch);
  }
  batch.to_offset += static_cast<int64_t>(start);
  return MetricLinesRead{.consumed = start};
}

}  // namespace trainctl::service
