// The metrics of runs in the store, on real SQLite (sqlite_store_metrics.cpp).
#include <cmath>
#include <limits>

#include "test_service_store_support.hpp"

using namespace trainctl::service;
using namespace trainctl::service::testing;
using trainctl::ErrorCode;

namespace {

MetricBatch batch_of(const std::string& run_id, int64_t from, int64_t to, std::string task = "main",
                     int attempt = 1) {
  MetricBatch batch;
  batch.run_id = run_id;
  batch.task = std::move(task);
  batch.attempt = attempt;
  batch.from_offset = from;
  batch.to_offset = to;
  return batch;
}

MetricPointDraft point(const std::string& name, double value, std::optional<int64_t> step = {},
                       int64_t at_ms = 1000) {
  return MetricPointDraft{.name = name, .value = value, .step = step, .at_ms = at_ms};
}

}  // namespace

SCENARIO("batches of metrics are recorded once, with the run's summary", "[service][store][metrics]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  auto created = store.create_run(draft_run("default"));
  REQUIRE(created.has_value());
  const std::string id = created->run.id;

  GIVEN("a batch of points, a param and a tag") {
    auto batch = batch_of(id, 0, 120);
    batch.lines = 5;
    batch.points = {point("loss", 3.0, 0), point("loss", 1.0), point("loss", 2.0, 10),
                    point("loss", std::numeric_limits<double>::quiet_NaN())};
    batch.params = {{"--lr", "0.1"}};
    batch.tags = {{"stage", "warmup"}};
    REQUIRE(store.record_metrics(batch).has_value());

    THEN("the run shows the summary, params and tags; a missing step follows the last one") {
      const auto run = store.get_run("default", id).value();
      CHECK(run.metrics["loss"]["count"] == 4);
      CHECK(run.metrics["loss"]["last"] == "NaN");
      CHECK(run.metrics["loss"]["last_step"] == 11);
      CHECK(run.metrics["loss"]["min"] == 1.0);
      CHECK(run.metrics["loss"]["max"] == 3.0);
      CHECK(run.params["--lr"] == "0.1");
      CHECK(run.logged_tags["stage"] == "warmup");
      const auto points = store.metric_points(store.metric_series(id, "loss").value()[0].id, 0, 10).value();
      REQUIRE(points.size() == 4);
      CHECK(points[1].step == 1);
      CHECK(points[2].step == 10);
      CHECK(std::isnan(points[3].value));
    }
    THEN("the same bytes again are refused as recorded, and change nothing") {
      auto again = store.record_metrics(batch);
      REQUIRE_FALSE(again.has_value());
      CHECK(again.error().code == ErrorCode::conflict);
      CHECK(store.get_run("default", id)->metrics["loss"]["count"] == 4);
    }
    WHEN("the next batch of the file follows, from another task and attempt too") {
      auto next = batch_of(id, 120, 200);
      next.points = {point("loss", 0.5, {}, 2000)};
      next.params = {{"--lr", "0.2"}};
      REQUIRE(store.record_metrics(next).has_value());
      auto other = batch_of(id, 0, 50, "worker-1", 2);
      other.points = {point("loss", 7.0, 0, 500)};
      REQUIRE(store.record_metrics(other).has_value());
      THEN("each task and attempt is a series; the last value is the latest attempt's") {
        const auto series = store.metric_series(id, std::nullopt).value();
        REQUIRE(series.size() == 2);
        CHECK(series[0].count == 5);
        CHECK(series[1].task == "worker-1");
        const auto run = store.get_run("default", id).value();
        CHECK(run.metrics["loss"]["last"] == 7.0);
        CHECK(run.metrics["loss"]["max"] == 7.0);
        CHECK(run.metrics["loss"]["count"] == 6);
        CHECK(run.params["--lr"] == "0.2");
        const auto files = store.metric_files(id).value();
        REQUIRE(files.size() == 2);
        CHECK(files[0].offset == 200);
        CHECK(files[0].lines == 5);
      }
    }
  }
  GIVEN("a batch for a run that does not exist") {
    auto batch = batch_of("run-nope", 0, 10);
    batch.points = {point("loss", 1)};
    THEN("it is not_found") {
      CHECK(store.record_metrics(batch).error().code == ErrorCode::not_found);
    }
  }
}

SCENARIO("a long series is downsampled to runs of consecutive points", "[service][store][metrics]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  const std::string id = store.create_run(draft_run("default"))->run.id;
  auto batch = batch_of(id, 0, 1);
  for (int i = 0; i < 1000; ++i) batch.points.push_back(point("x", i % 10, i));
  REQUIRE(store.record_metrics(batch).has_value());
  const int64_t series = store.metric_series(id, "x").value()[0].id;

  WHEN("asked for 30 points") {
    const auto points = store.downsampled_metric_points(series, 30).value();
    THEN("each stands for ceil(1000/30) = 34 points (the last for fewer): mean, low, high") {
      REQUIRE(points.size() == 30);
      CHECK(points[0].index == 0);
      CHECK(points[0].last_index == 33);
      CHECK(points[0].step == 33);
      CHECK(points[0].low == 0);
      CHECK(points[0].high == 9);
      CHECK(points.back().last_index == 999);
      CHECK(points[1].value == Approx((4.5 * 30 + (4 + 5 + 6 + 7)) / 34.0).epsilon(0.02));
    }
  }
  WHEN("asked for more points than it has") {
    THEN("every point comes as it is") {
      CHECK(store.downsampled_metric_points(series, 5000).value().size() == 1000);
    }
  }
}
