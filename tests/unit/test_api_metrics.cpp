// The metric, param and tag rules both sides share (docs/metrics.md).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "trainctl/api/metrics.hpp"

using trainctl::ErrorCode;
using trainctl::api::metric_value_from_json;
using trainctl::api::metric_value_json;
using trainctl::api::MetricRecord;
using trainctl::api::parse_metric_record;
using trainctl::api::validate_metric_name;
using trainctl::api::validate_param_name;

TEST_CASE("metric names", "[api][metrics]") {
  for (const char* name : {"loss", "val/accuracy", "top-5", "a.b:c", "_x", "0"}) {
    CHECK(validate_metric_name(name).has_value());
  }
  CHECK(validate_metric_name(std::string(255, 'a')).has_value());
  for (const std::string& name : {std::string(), std::string("a b"), std::string("-x"),
                                  std::string("/x"), std::string("a,b"), std::string(256, 'a'),
                                  std::string("caf\xc3\xa9")}) {
    const auto result = validate_metric_name(name);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code == ErrorCode::invalid_argument);
    CHECK_THAT(result.error().message, Catch::Contains("letters, digits and _ . - / :"));
  }
}

TEST_CASE("param and tag names", "[api][metrics]") {
  CHECK(validate_param_name("param", "--lr").has_value());
  CHECK(validate_param_name("param", "batch size").has_value());
  CHECK_FALSE(validate_param_name("param", "a,b").has_value());
  CHECK_FALSE(validate_param_name("tag", "").has_value());
  CHECK_THAT(validate_param_name("tag", "\t").error().message, Catch::StartsWith("tag name"));
}

TEST_CASE("values JSON has no number for travel as strings", "[api][metrics]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(metric_value_json(0.25) == 0.25);
  CHECK(metric_value_json(nan) == "NaN");
  CHECK(metric_value_json(inf) == "Infinity");
  CHECK(metric_value_json(-inf) == "-Infinity");
  CHECK(std::isnan(*metric_value_from_json("NaN")));
  CHECK(*metric_value_from_json("-Infinity") == -inf);
  CHECK(*metric_value_from_json(3) == 3.0);
  CHECK_FALSE(metric_value_from_json("nan").has_value());
  CHECK_FALSE(metric_value_from_json(nlohmann::json::array()).has_value());
}

TEST_CASE("records of a metrics file", "[api][metrics]") {
  SECTION("a metric with step and time") {
    const auto record = parse_metric_record(
        R"({"metric": "loss", "value": 0.5, "step": 3, "time": 1764892800.25})");
    REQUIRE(record.has_value());
    CHECK(record->kind == MetricRecord::Kind::metric);
    CHECK(record->name == "loss");
    CHECK(record->value == 0.5);
    CHECK(record->step == 3);
    CHECK(record->at_ms == 1764892800250);
  }
  SECTION("a metric without step or time leaves them to the service") {
    const auto record = parse_metric_record(R"({"metric": "loss", "value": "NaN"})");
    REQUIRE(record.has_value());
    CHECK(std::isnan(record->value));
    CHECK_FALSE(record->step.has_value());
    CHECK_FALSE(record->at_ms.has_value());
  }
  SECTION("params and tags keep their value as text") {
    CHECK(parse_metric_record(R"({"param": "--lr", "value": 0.1})")->text == "0.1");
    CHECK(parse_metric_record(R"({"param": "opt", "value": "adam"})")->text == "adam");
    CHECK(parse_metric_record(R"({"tag": "ok", "value": true})")->kind == MetricRecord::Kind::tag);
  }
  SECTION("what is wrong is said, with what to do") {
    const std::pair<const char*, const char*> cases[] = {
        {"not json", "not a JSON object"},
        {"[1]", "not a JSON object"},
        {R"({"value": 1})", "exactly one of"},
        {R"({"metric": "a", "param": "b", "value": 1})", "exactly one of"},
        {R"({"metric": "a b", "value": 1})", "metric name 'a b' is not valid"},
        {R"({"metric": "loss"})", "has no \"value\""},
        {R"({"metric": "loss", "value": "1.5"})", "\"value\" must be a number"},
        {R"({"metric": "loss", "value": 1, "step": -1})", "\"step\" must be a whole number"},
        {R"({"metric": "loss", "value": 1, "step": 1.5})", "\"step\" must be a whole number"},
        {R"({"metric": "loss", "value": 1, "time": "now"})", "\"time\" must be seconds"},
        {R"({"param": "p", "value": {"a": 1}})", "must be a string, a number or a boolean"},
    };
    for (const auto& [line, problem] : cases) {
      INFO(line);
      const auto record = parse_metric_record(line);
      REQUIRE_FALSE(record.has_value());
      CHECK_THAT(record.error().message, Catch::Contains(problem));
    }
  }
}
