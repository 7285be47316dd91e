// Sweeps through the real trainctld (docs/sweeps.md): a grid runs every point once with no more
// trials at once than allowed; a failing trial does not stop the sweep; kill -9 of the service
// loses and repeats no trial; median stopping cancels a trial whose curve is behind.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "test_service_helpers.hpp"
#include "trainctl/util/time.hpp"

using namespace trainctl::testing;
using nlohmann::json;

namespace {

// The trial script: its argv as --name value pairs; logs `score` = f(args) for `steps` steps.
const char* k_trial_script = R"(
import os, sys, time, trainctl
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
if args.get('--fail') == 'yes':
    sys.exit(3)
go = os.environ.get('GO_FILE')
if go:
    while not os.path.exists(go):
        time.sleep(0.02)
a = float(args.get('--a', '0')); b = float(args.get('--b', '0'))
curve = {'good': 0.9, 'fine': 0.8, 'bad': 0.1}.get(args.get('--curve', ''), a * 10 + b)
steps = int(args.get('--steps', '1'))
for step in range(steps):
    trainctl.log_metric('score', curve, step=step)
    time.sleep(float(args.get('--pause', '0')))
)";

json submit_sweep(const ServiceFixture& service, const json& sweep, const json& estimator_extra = json::object(),
                  const json& extra = json::object()) {
  auto payload = script_payload(upload_snapshot(service, {{"train.py", k_trial_script}}), "sweeping");
  payload["estimator"].update(estimator_extra);
  payload["sweep"] = sweep;
  payload.update(extra);
  return body_json(http_request(service, "POST", "/v1/workspaces/default/sweeps", payload.dump()));
}

json get_sweep(const ServiceFixture& service, const std::string& id) {
  return body_json(http_request(service, "GET", "/v1/workspaces/default/sweeps/" + id));
}

json wait_for_sweep(const ServiceFixture& service, const std::string& id, int seconds = 120) {
  json sweep;
  eventually([&] {
    sweep = get_sweep(service, id);
    return sweep.value("status", "") != "Running";
  }, seconds);
  return sweep;
}

json grid(const json& space, int concurrent) {
  return {{"sampling", "grid"},
          {"search_space", space},
          {"objective", {{"primary_metric", "score"}, {"goal", "maximize"}}},
          {"limits", {{"max_concurrent_trials", concurrent}}}};
}

// The most trials that ran at the same time, from their runs' start and end times.
int most_at_once(const ServiceFixture& service, const json& trials) {
  std::vector<std::pair<int64_t, int>> edges;
  for (const auto& trial : trials) {
    const auto run = body_json(http_request(service, "GET", "/v1/workspaces/default/runs/" +
                                                                trial["run_id"].get<std::string>()));
    const auto started = trainctl::util::parse_rfc3339(run.value("started_at", ""));
    const auto ended = trainctl::util::parse_rfc3339(run.value("ended_at", ""));
    if (!started || !ended) continue;
    edges.emplace_back(*started, 1);
    edges.emplace_back(*ended, -1);
  }
  std::sort(edges.begin(), edges.end());  // an end sorts before a start at the same time
  int now = 0;
  int most = 0;
  for (const auto& [at, change] : edges) most = std::max(most, now += change);
  return most;
}

}  // namespace

SCENARIO("a grid sweep runs every point once, never more trials at once than allowed",
         "[service][sweeps]") {
  ServiceFixture service;
  GIVEN("a grid of 3 x 2 points, at most 2 trials at once, each trial taking a while") {
    const auto created = submit_sweep(
        service, grid({{"--a", {{"type", "choice"}, {"values", {"1", "2", "3"}}}},
                       {"--b", {{"type", "randint"}, {"min", 1}, {"max", 2}}}},
                      2),
        {{"script_params", {"--steps", "3", "--pause", "0.1"}}});
    INFO(created.dump());
    const std::string id = created.value("id", "");
    REQUIRE_FALSE(id.empty());
    CHECK(created["max_total_trials"] == 6);

    WHEN("it has run") {
      const auto sweep = wait_for_sweep(service, id);
      INFO(sweep.dump());
      REQUIRE(sweep["status"] == "Completed");
      THEN("each of the 6 points ran once, as trials 0-5") {
        REQUIRE(sweep["trials"].size() == 6);
        std::set<std::pair<std::string, std::string>> points;
        std::set<int> numbers;
        for (const auto& trial : sweep["trials"]) {
          points.insert({trial["params"]["--a"].get<std::string>(),
                         trial["params"]["--b"].get<std::string>()});
          numbers.insert(trial["trial"].get<int>());
          CHECK(trial["status"] == "Completed");
        }
        CHECK(points.size() == 6);
        CHECK(numbers == std::set<int>{0, 1, 2, 3, 4, 5});
      }
      THEN("trials are ranked by score, the best is a=3 b=2, and at most 2 ran at once") {
        CHECK(sweep["best"]["params"] == json{{"--a", "3"}, {"--b", "2"}});
        CHECK(sweep["best"]["objective"] == 32.0);
        CHECK(sweep["trials"][5]["objective"] == 11.0);
        CHECK(most_at_once(service, sweep["trials"]) <= 2);
        CHECK(sweep["message"].get<std::string>().find("6 trials; best: " +
                                                       sweep["best"]["run_id"].get<std::string>()) == 0);
      }
    }
  }
}

SCENARIO("a trial that fails does not stop the sweep", "[service][sweeps]") {
  ServiceFixture service;
  const auto created = submit_sweep(
      service, grid({{"--fail", {{"type", "choice"}, {"values", {"yes", "no"}}}},
                     {"--a", {{"type", "choice"}, {"values", {"1", "2"}}}}},
                    1));
  const std::string id = created.value("id", "");
  REQUIRE_FALSE(id.empty());
  const auto sweep = wait_for_sweep(service, id);
  INFO(sweep.dump());
  CHECK(sweep["status"] == "Completed");
  REQUIRE(sweep["trials"].size() == 4);
  int failed = 0;
  for (const auto& trial : sweep["trials"]) failed += trial["status"] == "Failed";
  CHECK(failed == 2);
  CHECK(sweep["best"]["params"] == json{{"--fail", "no"}, {"--a", "2"}});
}

SCENARIO("kill -9 of trainctld mid-sweep loses and repeats no trial", "[service][sweeps][restart]") {
  ServiceFixture service;
  // Outside the service's home, which runs do not see.
  const TempDir gates;
  const std::string go = (gates.path() / "go").string();
  const auto created = submit_sweep(
      service, grid({{"--a", {{"type", "choice"}, {"values", {"1", "2", "3", "4", "5"}}}}}, 2), json::object(),
      {{"environment_variables", {{"GO_FILE", go}}}});
  const std::string id = created.value("id", "");
  REQUIRE_FALSE(id.empty());
  // Two trials wait for the go file: the sweep is mid-way.
  REQUIRE(eventually([&] { return get_sweep(service, id)["trials_started"] == 2; }, 60));

  service.kill9();
  trainctl::util::write_file_atomic(go, "");
  service.start();
  const auto sweep = wait_for_sweep(service, id);
  INFO(sweep.dump());
  CHECK(sweep["status"] == "Completed");
  THEN("trials 0-4 ran once each, and no other run names the sweep") {
    std::multiset<std::string> values;
    for (const auto& trial : sweep["trials"]) values.insert(trial["params"]["--a"].get<std::string>());
    CHECK(values == std::multiset<std::string>{"1", "2", "3", "4", "5"});
    const auto runs = body_json(http_request(service, "GET", "/v1/workspaces/default/runs?experiment=sweeping"));
    CHECK(runs["items"].size() == 5);
  }
}

SCENARIO("median stopping cancels a trial whose curve is behind", "[service][sweeps]") {
  ServiceFixture service;
  json sweep_section = grid({{"--curve", {{"type", "choice"}, {"values", {"good", "fine", "bad"}}}}}, 3);
  sweep_section["early_termination"] = {{"policy", "median_stopping"}, {"evaluation_interval", 1},
                                        {"delay_evaluation", 3}};
  const auto created = submit_sweep(service, sweep_section,
                                    {{"script_params", {"--steps", "40", "--pause", "0.1"}}});
  const std::string id = created.value("id", "");
  REQUIRE_FALSE(id.empty());
  const auto sweep = wait_for_sweep(service, id);
  INFO(sweep.dump());
  CHECK(sweep["status"] == "Completed");
  for (const auto& trial : sweep["trials"]) {
    if (trial["params"]["--curve"] == "bad") {
      CHECK(trial["status"] == "Canceled");
      CHECK(trial["failure_reason"] == "early termination");
    } else {
      CHECK(trial["status"] == "Completed");
    }
  }
  CHECK(sweep["best"]["params"]["--curve"] == "good");
}

TEST_CASE("a run payload with a sweep section is refused by POST runs", "[service][sweeps]") {
  ServiceFixture service;
  auto payload = script_payload(upload_snapshot(service, {{"train.py", k_trial_script}}));
  payload["sweep"] = grid({{"--a", {{"type", "choice"}, {"values", {"1"}}}}}, 1);
  const auto reply = http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump());
  CHECK(reply.status == 400);
  CHECK(reply.body.find("/v1/workspaces/default/sweeps") != std::string::npos);
}
