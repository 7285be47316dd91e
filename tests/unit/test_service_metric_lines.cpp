// Reading pieces of a task's metrics file into batches (metric_lines.hpp).
#include <catch2/catch.hpp>

#include <string>

#include "trainctl/service/metrics/metric_lines.hpp"

using trainctl::service::k_max_metric_line;
using trainctl::service::MetricBatch;
using trainctl::service::read_metric_lines;

namespace {

constexpr int64_t k_now = 1'000'000;

MetricBatch batch_from(int64_t offset) {
  MetricBatch batch;
  batch.from_offset = offset;
  batch.to_offset = offset;
  return batch;
}

}  // namespace

TEST_CASE("whole lines are read, and a line still being written waits", "[service][metrics]") {
  const std::string bytes =
      "{\"metric\":\"loss\",\"value\":1}\n{\"metric\":\"loss\",\"value\":2}\n{\"metric\":\"lo";
  auto batch = batch_from(100);
  const auto read = read_metric_lines(bytes, /*at_end=*/false, k_now, 1, "main.metrics.jsonl", batch);
  CHECK(read.consumed == bytes.rfind("{\"metric\":\"lo"));
  CHECK(batch.to_offset == 100 + static_cast<int64_t>(read.consumed));
  REQUIRE(batch.points.size() == 2);
  CHECK(batch.points[1].value == 2);
  CHECK(batch.points[0].at_ms == k_now);
  CHECK(batch.lines == 2);

  SECTION("at the end of the task, the last line counts without its newline") {
    auto last = batch_from(0);
    const std::string rest = "{\"metric\":\"loss\",\"value\":3}";
    CHECK(read_metric_lines(rest, /*at_end=*/true, k_now, 3, "main.metrics.jsonl", last).consumed ==
          rest.size());
    CHECK(last.points.size() == 1);
  }
}

TEST_CASE("bad lines are counted with the last problem and its line number", "[service][metrics]") {
  const std::string bytes =
      "{\"metric\":\"loss\",\"value\":1}\n"
      "\n"
      "garbage\r\n"
      "{\"param\":\"lr\",\"value\":\"0.1\"}\n"
      "{\"metric\":\"bad name\",\"value\":1}\n"
      "{\"tag\":\"t\",\"value\":\"v\"}\n";
  auto batch = batch_from(0);
  read_metric_lines(bytes, false, k_now, 10, "rank-1.metrics.jsonl", batch);
  CHECK(batch.points.size() == 1);
  CHECK(batch.params.size() == 1);
  CHECK(batch.tags.size() == 1);
  CHECK(batch.rejected == 2);
  CHECK(batch.lines == 6);
  CHECK_THAT(batch.last_problem,
             Catch::StartsWith("rank-1.metrics.jsonl line 14: metric name 'bad name'"));
}

TEST_CASE("a line longer than the limit is rejected without waiting for its end",
          "[service][metrics]") {
  const std::string bytes(k_max_metric_line + 10, 'x');
  auto batch = batch_from(0);
  const auto read = read_metric_lines(bytes, false, k_now, 1, "main.metrics.jsonl", batch);
  CHECK(read.consumed == bytes.size());
  CHECK(batch.rejected == 1);
  CHECK_THAT(batch.last_problem, Catch::Contains("longer than"));
}
