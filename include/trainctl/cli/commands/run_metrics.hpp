#pragma once
// `trainctl run metrics|compare` and the metric columns of `run list` (docs/metrics.md).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

struct RunMetricsOptions {
  std::string run_id;
  std::string name;       // one metric: its points (and chart); empty: every metric's summary
  std::string task;       // one task's series; empty: every task
  int attempt = 0;        // one attempt's series; 0: every attempt
  int max_points = 1000;  // per series; more are downsampled by the service
  bool follow = false;    // print (or draw) the points as they are logged until the run ends
};

struct RunCompareOptions {
  std::vector<std::string> run_ids;  // two or more
};

// A column of `run list --columns`: "metrics.NAME" (the last value), "params.NAME" or
// "tags.NAME".
struct RunField {
  std::string key;      // as written: "metrics.accuracy"
  std::string pointer;  // into the run resource: "/metrics/accuracy/last"
};

// `run list --sort [-]FIELD`: a RunField, or a field of the run ("created_at", "status").
struct RunSort {
  RunField field;
  bool descending = false;
};

// The fields of a comma list; usage error naming the one that is not metrics.X, params.X or
// tags.X.
Result<std::vector<RunField>> parse_run_fields(const std::string& text);
Result<RunSort> parse_run_sort(const std::string& text);
// Sorts runs by the field: numbers by value, then text, then runs without it (always last).
void sort_runs(nlohmann::json& runs, const RunSort& sort);
// The run_list table with a column per field.
ResourceKind with_fields(ResourceKind kind, const std::vector<RunField>& fields);

Result<void> validate(const RunMetricsOptions& options);
Result<void> validate(const RunCompareOptions& options);

// What `run metrics RUN` prints for people: the summary of every metric, the params, the
// tags and the lines the service rejected.
Description describe_metrics(const nlohmann::json& metrics);
// What `run compare` prints for people: a row per param and per metric (its last value), a
// column per run; a row whose values differ is marked "*".
Description describe_comparison(const std::vector<nlohmann::json>& runs);

Result<int> run_run_metrics(Session& session, const RunMetricsOptions& options);
Result<int> run_run_compare(Session& session, const RunCompareOptions& options);

}  // namespace trainctl::cli
