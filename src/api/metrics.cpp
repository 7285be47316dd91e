#include "trainctl/api/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace trainctl::api {

namespace {

constexpr std::string_view k_nan = "NaN";
constexpr std::string_view k_infinity = "Infinity";
constexpr std::string_view k_minus_infinity = "-Infinity";
// The latest time a record may carry, in seconds: the year 9999.
constexpr double k_latest_time_seconds = 253402300799.0;

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || c == '.' || c == '-' || c == '/' || c == ':';
}

// A short, printable rendering of a name for a message.
std::string shown_name(std::string_view text) {
  constexpr size_t k_shown = 60;
  std::string shown;
  for (const char c : text.substr(0, k_shown)) {
    shown += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return fmt::format("'{}{}'", shown, text.size() > k_shown ? "..." : "");
}

// A param or tag value as text: strings as they are, numbers and booleans as JSON writes them.
Result<std::string> value_text(const nlohmann::json& value, std::string_view kind) {
  std::string text;
  if (value.is_string()) {
    text = value.get<std::string>();
  } else if (value.is_number() || value.is_boolean()) {
    text = value.dump();
  } else {
    return fail(ErrorCode::invalid_argument,
                "a {}'s \"value\" must be a string, a number or a boolean", kind);
  }
  if (text.size() > k_max_param_value) {
    return fail(ErrorCode::invalid_argument, "a {}'s value is {} bytes; the most is {}", kind,
                text.size(), k_max_param_value);
  }
  return text;
}

Result<MetricRecord> parse_metric(const nlohmann::json& line) {
  MetricRecord record;
  record.kind = MetricRecord::Kind::metric;
  const auto& name = line.at("metric");
  if (!name.is_string()) return fail(ErrorCode::invalid_argument, "\"metric\" must be a string");
  record.name = name.get<std::string>();
  if (auto valid = validate_metric_name(record.name); !valid) return fail(valid.error());
  const auto value = line.find("value");
  if (value == line.end()) {
    return fail(ErrorCode::invalid_argument, "metric {} has no \"value\"", shown_name(record.name));
  }
  const auto number = metric_value_from_json(*value);
  if (!number) {
    return fail(ErrorCode::invalid_argument,
                "metric {}: \"value\" must be a number, \"NaN\", \"Infinity\" or \"-Infinity\"",
                shown_name(record.name));
  }
  record.value = *number;
  if (const auto step = line.find("step"); step != line.end() && !step->is_null()) {
    if (!step->is_number_integer() || step->get<int64_t>() < 0) {
      return fail(ErrorCode::invalid_argument,
                  "metric {}: \"step\" must be a whole number from 0 up", shown_name(record.name));
    }
    record.step = step->get<int64_t>();
  }
  if (const auto time = line.find("time"); time != line.end() && !time->is_null()) {
    const double seconds = time->is_number() ? time->get<double>() : -1;
    if (!(seconds >= 0 && seconds <= k_latest_time_seconds)) {
      return fail(ErrorCode::invalid_argument,
                  "metric {}: \"time\" must be seconds since 1970 (a number, like time.time())",
                  shown_name(record.name));
    }
    record.at_ms = std::llround(seconds * 1000);
  }
  return record;
}

Result<MetricRecord> parse_named_text(const nlohmann::json& line, MetricRecord::Kind kind,
                                      std::string_view key) {
  MetricRecord record;
  record.kind = kind;
  const auto& name = line.at(std::string(key));
  if (!name.is_string()) {
    return fail(ErrorCode::invalid_argument, "\"{}\" must be a string", key);
  }
  record.name = name.get<std::string>();
  if (auto valid = validate_param_name(key, record.name); !valid) return fail(valid.error());
  const auto value = line.find("value");
  if (value == line.end()) {
    return fail(ErrorCode::invalid_argument, "{} {} has no \"value\"", key, shown_name(record.name));
  }
  auto text = value_text(*value, key);
  if (!text) return fail(text.error());
  record.text = std::move(*text);
  return record;
}

}  // namespace

Result<void> validate_metric_name(std::string_view name) {
  const bool valid = !name.empty() && name.size() <= k_max_metric_name &&
                     is_name_start(name.front()) &&
                     std::all_of(name.begin(), name.end(), is_name_char);
  if (valid) return {};
  return fail(ErrorCode::invalid_argument,
              "metric name {} is not valid: use 1-{} letters, digits and _ . - / : (starting with "
              "a letter, digit or _), e.g. \"loss\" or \"val/accuracy\"",
              shown_name(name), k_max_metric_name);
}

Result<void> validate_param_name(std::string_view kind, std::string_view name) {
  const bool valid = !name.empty() && name.size() <= k_max_metric_name &&
                     std::all_of(name.begin(), name.end(),
                                 [](char c) { return c >= 0x20 && c < 0x7f && c != ','; });
  if (valid) return {};
  return fail(ErrorCode::invalid_argument,
              "{} name {} is not valid: use 1-{} printable ASCII characters other than ','", kind,
              shown_name(name), k_max_metric_name);
}

nlohmann::json metric_value_json(double value) {
  if (std::isnan(value)) return k_nan;
  if (std::isinf(value)) return value > 0 ? k_infinity : k_minus_infinity;
  return value;
}

std::optional<double> metric_value_from_json(const nlohmann::json& value) {
  if (value.is_number()) return value.get<double>();
  if (!value.is_string()) return std::nullopt;
  const auto& text = value.get_ref<const std::string&>();
  if (text == k_nan) return std::numeric_limits<double>::quiet_NaN();
  if (text == k_infinity) return std::numeric_limits<double>::infinity();
  if (text == k_minus_infinity) return -std::numeric_limits<double>::infinity();
  return std::nullopt;
}

Result<MetricRecord> parse_metric_record(std::string_view line) {
  auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return fail(ErrorCode::invalid_argument,
                "not a JSON object; write one record per line, e.g. "
                "{{\"metric\": \"loss\", \"value\": 0.25, \"step\": 3}}");
  }
  const int kinds = static_cast<int>(json.contains("metric")) +
                    static_cast<int>(json.contains("param")) +
                    static_cast<int>(json.contains("tag"));
  if (kinds != 1) {
    return fail(ErrorCode::invalid_argument,
                "a record has exactly one of \"metric\", \"param\" or \"tag\"");
  }
  if (json.contains("metric")) return parse_metric(json);
  if (json.contains("param")) return parse_named_text(json, MetricRecord::Kind::param, "param");
  return parse_named_text(json, MetricRecord::Kind::tag, "tag");
}

}  // namespace trainctl::api
