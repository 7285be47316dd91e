#pragma once
// Reading a piece of a task's metrics file (docs/metrics.md, The metrics file) into a batch to
// record. Pure: no file, no clock; the ingester reads the bytes and records the batch.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "trainctl/service/store.hpp"

namespace trainctl::service {

// The longest line a metrics file may have; a longer one is rejected.
inline constexpr size_t k_max_metric_line = 64 * 1024;

struct MetricLinesRead {
  size_t consumed = 0;  // bytes of the piece read: whole lines only, unless at_end
};

// Adds the records of the whole lines of `bytes` to `batch` (points, params, tags) and counts
// the lines that are not records in batch.rejected, with why the last one was in
// batch.last_problem ("<file> line N: ..."; `first_line` is the number of the piece's first
// line). A line without its '\n' is left for later, unless `at_end` (the task has ended) or
// it is longer than k_max_metric_line. A point without a time gets `now_ms`. Empty lines are
// skipped. batch.lines and batch.to_offset grow by what was read.
MetricLinesRead read_metric_lines(std::string_view bytes, bool at_end, int64_t now_ms,
                                  int64_t first_line, std::string_view file_name,
                                  MetricBatch& batch);

}  // namespace trainctl::service
