// `run list --columns/--sort` fields and `run compare` (run_metrics.hpp).
#include <catch2/catch.hpp>

#include "trainctl/cli/commands/run_metrics.hpp"

using namespace trainctl::cli;
using nlohmann::json;

TEST_CASE("run fields name metrics, params and tags", "[cli][metrics]") {
  const auto fields = parse_run_fields("metrics.val/accuracy,params.--lr,tags.team");
  REQUIRE(fields.has_value());
  REQUIRE(fields->size() == 3);
  CHECK((*fields)[0].pointer == "/metrics/val~1accuracy/last");
  CHECK((*fields)[1].pointer == "/params/--lr");
  CHECK((*fields)[2].pointer == "/tags/team");
  for (const char* bad : {"accuracy", "metrics.", "outputs.x", ""}) {
    INFO(bad);
    const auto parsed = parse_run_fields(bad);
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().code == trainctl::ErrorCode::usage);
  }
  CHECK(parse_run_sort("-metrics.accuracy")->descending);
  CHECK(parse_run_sort("created_at")->field.pointer == "/created_at");
  CHECK_FALSE(parse_run_sort("-bogus").has_value());
}

TEST_CASE("runs sort by a metric, those without it last", "[cli][metrics]") {
  json runs = json::array();
  runs.push_back({{"id", "a"}, {"metrics", {{"accuracy", {{"last", 0.5}}}}}});
  runs.push_back({{"id", "b"}, {"metrics", json::object()}});
  runs.push_back({{"id", "c"}, {"metrics", {{"accuracy", {{"last", 0.9}}}}}});
  runs.push_back({{"id", "d"}, {"metrics", {{"accuracy", {{"last", "NaN"}}}}}});
  runs.push_back({{"id", "e"}, {"metrics", {{"accuracy", {{"last", 0.7}}}}}});
  const auto ids = [&] {
    std::string out;
    for (const auto& run : runs) out += run["id"].get<std::string>();
    return out;
  };
  sort_runs(runs, *parse_run_sort("-metrics.accuracy"));
  CHECK(ids() == "cea" "bd");
  sort_runs(runs, *parse_run_sort("metrics.accuracy"));
  CHECK(ids() == "aec" "bd");

  SECTION("params sort as numbers when they are numbers") {
    json by_param = json::array({{{"id", "x"}, {"params", {{"--lr", "0.01"}}}},
                                 {{"id", "y"}, {"params", {{"--lr", "0.1"}}}},
                                 {{"id", "z"}, {"params", {{"--lr", "1e-3"}}}}});
    sort_runs(by_param, *parse_run_sort("params.--lr"));
    CHECK(by_param[0]["id"] == "z");
    CHECK(by_param[2]["id"] == "y");
  }
}

TEST_CASE("run compare marks the rows whose values differ", "[cli][metrics]") {
  const std::vector<json> runs{
      {{"id", "run-a"}, {"params", {{"--lr", "0.1"}, {"--C", "1"}}}, {"metrics", {{"accuracy", {{"last", 0.9}}}}}},
      {{"id", "run-b"}, {"params", {{"--lr", "0.1"}, {"--C", "10"}}}, {"metrics", {{"accuracy", {{"last", 0.95}}}}}}};
  const auto description = describe_comparison(runs);
  REQUIRE(description.sections.size() == 1);
  const auto& section = description.sections[0];
  CHECK(section.headers == std::vector<std::string>{"", "FIELD", "run-a", "run-b"});
  REQUIRE(section.rows.size() == 3);
  CHECK(section.rows[0] == std::vector<std::string>{"*", "params.--C", "1", "10"});
  CHECK(section.rows[1] == std::vector<std::string>{"", "params.--lr", "0.1", "0.1"});
  CHECK(section.rows[2] == std::vector<std::string>{"*", "metrics.accuracy", "0.9", "0.95"});
}
