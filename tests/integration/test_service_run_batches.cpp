// POST /v1/workspaces/{ws}/runs/batch through the real trainctld: a batch is made whole, in
// order, or not at all; a retried batch makes nothing twice and only what it lacks.
#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;

namespace {

using nlohmann::json;

const std::string k_batch_route = "/v1/workspaces/default/runs/batch";

RawResponse submit_batch(const ServiceFixture& service, const json& payloads,
                         const std::string& key = {}) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
  return http_request(service, "POST", k_batch_route, json{{"runs", payloads}}.dump(), headers);
}

size_t run_count(const ServiceFixture& service) {
  return body_json(http_request(service, "GET", "/v1/workspaces/default/runs?limit=1000"))["items"]
      .size();
}

std::vector<std::string> ids_of(const RawResponse& response) {
  std::vector<std::string> ids;
  const auto body = body_json(response);
  for (const auto& run : body["items"]) ids.push_back(run.value("id", ""));
  return ids;
}

// Payloads of experiments e0, e1, ... of `snapshot`.
json payloads(const std::string& snapshot, int count) {
  json list = json::array();
  for (int i = 0; i < count; ++i) list.push_back(script_payload(snapshot, fmt::format("e{}", i)));
  return list;
}

}  // namespace

SCENARIO("a batch of runs is made whole, in order, or not at all", "[service][runs][batch]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"train.py", "print('hi')\n"}});

  GIVEN("three valid payloads") {
    const auto response = submit_batch(service, payloads(snapshot, 3));
    THEN("201 with the three runs in request order, each queued on its own") {
      REQUIRE(response.status == 201);
      const auto body = body_json(response);
      CHECK(body["created"] == 3);
      CHECK(body["replayed"] == 0);
      REQUIRE(body["items"].size() == 3);
      for (int i = 0; i < 3; ++i) CHECK(body["items"][i]["experiment"] == fmt::format("e{}", i));
      const auto ids = ids_of(response);
      CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == 3);
      CHECK(run_count(service) == 3);
      CHECK(wait_for_run(service, ids[2])["status"] == "Completed");
    }
  }
  GIVEN("a batch of which two items are invalid in different ways") {
    auto list = payloads(snapshot, 4);
    list[1]["estimator"]["node_count"] = 99;
    list[3]["snapshot_id"] = std::string(64, 'f');
    const auto response = submit_batch(service, list, "ci-atomic");
    THEN("422 naming every problem with its item, and no run is made") {
      REQUIRE(response.status == 422);
      const auto error = body_json(response)["error"];
      CHECK_THAT(error["message"].get<std::string>(), Catch::Contains("2 of the 4 runs"));
      std::set<std::string> paths;
      for (const auto& detail : error["details"]) paths.insert(detail.value("path", ""));
      CHECK(paths.contains("runs[1].estimator.node_count"));
      CHECK(paths.contains("runs[3].snapshot_id"));
      CHECK(run_count(service) == 0);
      AND_WHEN("it is fixed and sent again with the same key") {
        list[1]["estimator"]["node_count"] = 1;
        list[3]["snapshot_id"] = snapshot;
        const auto fixed = submit_batch(service, list, "ci-atomic");
        THEN("every run is made") {
          CHECK(fixed.status == 201);
          CHECK(run_count(service) == 4);
        }
      }
    }
  }
  GIVEN("a payload with a sweep section among the items") {
    auto list = payloads(snapshot, 2);
    list[1]["sweep"] = {{"sampling", "random"},
                        {"max_total_trials", 2},
                        {"primary_metric", "loss"},
                        {"goal", "minimize"},
                        {"search_space", {{"--a", {{"type", "choice"}, {"values", {"1", "2"}}}}}}};
    const auto response = submit_batch(service, list);
    THEN("422 for that item: a sweep is submitted on its own") {
      CHECK(response.status == 422);
      CHECK_THAT(response.body, Catch::Contains("runs[1].sweep"));
      CHECK(run_count(service) == 0);
    }
  }
}

SCENARIO("a retried batch makes nothing twice and only the runs it lacks", "[service][runs][batch]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"train.py", "print('hi')\n"}});
  const auto list = payloads(snapshot, 3);

  GIVEN("a batch submitted with a key") {
    const auto first = submit_batch(service, list, "ci-42");
    REQUIRE(first.status == 201);
    WHEN("the same batch is sent again with the key") {
      const auto again = submit_batch(service, list, "ci-42");
      THEN("200, marked a replay, with the same runs in the same order, and none made") {
        CHECK(again.status == 200);
        CHECK(header_of(again, "Idempotent-Replay") == "true");
        CHECK(body_json(again)["replayed"] == 3);
        CHECK(ids_of(again) == ids_of(first));
        CHECK(run_count(service) == 3);
      }
    }
    WHEN("an item of it is changed and the batch sent again with the key") {
      auto changed = list;
      changed[2]["experiment"] = "other";
      const auto conflict = submit_batch(service, changed, "ci-42");
      THEN("409 naming the item, and nothing made") {
        CHECK(conflict.status == 409);
        CHECK_THAT(body_json(conflict)["error"]["message"].get<std::string>(),
                   Catch::StartsWith("runs[2]:"));
        CHECK(run_count(service) == 3);
      }
    }
  }
  GIVEN("the first item of a batch made before the rest (a batch that half failed)") {
    const auto half = submit_batch(service, json::array({list[0]}), "ci-43");
    REQUIRE(half.status == 201);
    WHEN("the whole batch is sent with the key") {
      const auto whole = submit_batch(service, list, "ci-43");
      THEN("only the missing runs are made; the first is the run made before") {
        CHECK(whole.status == 201);
        CHECK(body_json(whole)["created"] == 2);
        CHECK(body_json(whole)["replayed"] == 1);
        CHECK(ids_of(whole)[0] == ids_of(half)[0]);
        CHECK(run_count(service) == 3);
      }
    }
  }
}

SCENARIO("batch requests are checked like every other request", "[service][runs][batch]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"train.py", "print('hi')\n"}});
  const auto body = json{{"runs", payloads(snapshot, 1)}}.dump();

  WHEN("the token is missing") {
    THEN("401, and no run") {
      CHECK(http_request(service, "POST", k_batch_route, body, {}, false).status == 401);
      CHECK(run_count(service) == 0);
    }
  }
  WHEN("the batch holds more runs than the cap") {
    const auto response = submit_batch(service, payloads(snapshot, 1001));
    THEN("400 saying the cap, and no run") {
      CHECK(response.status == 400);
      CHECK_THAT(response.body, Catch::Contains("at most 1000 runs"));
      CHECK(run_count(service) == 0);
    }
  }
  WHEN("the body is not a list of payloads") {
    THEN("400") {
      CHECK(http_request(service, "POST", k_batch_route, R"({"runs": []})").status == 400);
      CHECK(http_request(service, "POST", k_batch_route, R"({"runs": [1]})").status == 400);
      CHECK(http_request(service, "POST", k_batch_route, "[]").status == 400);
    }
  }
  WHEN("the body nests deeper than JSON bodies may") {
    const auto deep = R"({"runs": [)" + std::string(70, '[') + std::string(70, ']') + "]}";
    const auto response = http_request(service, "POST", k_batch_route, deep);
    THEN("400 before it is parsed") {
      CHECK(response.status == 400);
      CHECK_THAT(response.body, Catch::Contains("nested deeper"));
    }
  }
  WHEN("the key holds a space (the idempotency-key rule the CLI applies too)") {
    THEN("400, on the batch route and the single one alike") {
      CHECK(submit_batch(service, payloads(snapshot, 1), "ci 42").status == 400);
      CHECK(http_request(service, "POST", "/v1/workspaces/default/runs",
                         script_payload(snapshot).dump(), {{"Idempotency-Key", "ci 42"}})
                .status == 400);
      CHECK(run_count(service) == 0);
    }
  }
}
