#pragma once
// What both sides of the wire agree on about metrics (docs/metrics.md): the names a metric, a
// param or a tag may have, how a value that JSON cannot hold (NaN, infinities) is written, and
// the record a task appends to $TRAINCTL_METRICS_FILE.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "trainctl/util/error.hpp"

namespace trainctl::api {

// The file a task appends its records to, in its run's logs folder: "<task>.metrics.jsonl"
// (the value of $TRAINCTL_METRICS_FILE is that folder's path joined with it).
inline constexpr std::string_view k_metrics_file_suffix = ".metrics.jsonl";
inline std::string metrics_file_name(std::string_view task) {
  return std::string(task) + std::string(k_metrics_file_suffix);
}

// The longest metric, param or tag name; the longest param or tag value.
inline constexpr size_t k_max_metric_name = 255;
inline constexpr size_t k_max_param_value = 4096;

// A metric name: [A-Za-z0-9_][A-Za-z0-9_.:/-]{0,254} ("loss", "val/accuracy", "top-5"). Fails
// with invalid_argument saying what to change.
Result<void> validate_metric_name(std::string_view name);

// A param or tag name: 1-255 printable ASCII characters but ',' ("--lr", "batch size").
Result<void> validate_param_name(std::string_view kind, std::string_view name);

// A metric value as JSON: the number, or "NaN", "Infinity" or "-Infinity", which JSON has no
// number for.
nlohmann::json metric_value_json(double value);
// The value metric_value_json wrote (or any JSON number); nullopt for anything else.
std::optional<double> metric_value_from_json(const nlohmann::json& value);

// One line of a metrics file, read (docs/metrics.md, The metrics file):
//   {"metric": "loss", "value": 0.25, "step": 3, "time": 1764892800.5}   step and time optional
//   {"param": "--lr", "value": "0.1"}
//   {"tag": "stage", "value": "warmup"}
struct MetricRecord {
  enum class Kind { metric, param, tag };
  Kind kind = Kind::metric;
  std::string name;
  double value = 0;                  // metric
  std::optional<int64_t> step;       // metric: 0.., or the series' next step when absent
  std::optional<int64_t> at_ms;      // metric: when it was logged; absent: when it was read
  std::string text;                  // param and tag: the value as text
};

// The record a line holds, or invalid_argument saying what is wrong with it and what to do.
Result<MetricRecord> parse_metric_record(std::string_view line);

}  // namespace trainctl::api
