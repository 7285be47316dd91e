// GET .../runs?view=summary through the real trainctld: the same runs, order and pages as the
// whole runs, each with only the fields a summary holds, and a clear 400 for a bad view.
#include <set>

#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;

namespace {

using nlohmann::json;

const std::set<std::string> k_summary_fields{
    "id",           "workspace",  "experiment", "name",     "status",       "compute",
    "snapshot_id",  "created_at", "updated_at", "started_at", "ended_at",   "duration_ms",
    "exit_code",    "failure_reason", "priority", "attempt", "queue"};

std::set<std::string> keys_of(const json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

// Every run of the list at `target` (a path with a query), following every page.
std::vector<json> every_page(const ServiceFixture& service, const std::string& target) {
  std::vector<json> runs;
  std::string token;
  for (int pages = 0; pages < 10; ++pages) {
    const auto page = body_json(
        http_request(service, "GET", target + (token.empty() ? "" : "&page_token=" + token)));
    for (const auto& run : page["items"]) runs.push_back(run);
    if (page["next_page_token"].is_null()) break;
    token = page["next_page_token"].get<std::string>();
  }
  return runs;
}

}  // namespace

TEST_CASE("runs listed as summaries are the whole runs' own fields, in the same order and pages",
          "[service][runs]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"train.py", "import sys\nsys.exit(3)\n"}});
  GIVEN("three finished runs with tags and environment variables, two of experiment 'a'") {
    std::vector<std::string> created;
    for (const auto* experiment : {"a", "b", "a"}) {
      auto payload = script_payload(snapshot, experiment);
      payload["tags"] = {{"team", "vision"}};
      payload["environment_variables"] = {{"SEED", "7"}};
      const auto run = body_json(
          http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump()));
      created.push_back(run["id"]);
      CHECK(wait_for_run(service, run["id"])["status"] == "Failed");
    }

    WHEN("they are listed two by two, as summaries and whole") {
      const auto summaries = every_page(service, "/v1/workspaces/default/runs?limit=2&view=summary");
      const auto whole = every_page(service, "/v1/workspaces/default/runs?limit=2");
      const auto explicit_full =
          every_page(service, "/v1/workspaces/default/runs?limit=2&view=full");

      THEN("both list the same runs, newest first") {
        REQUIRE(summaries.size() == 3);
        REQUIRE(whole.size() == 3);
        for (size_t i = 0; i < 3; ++i) {
          CHECK(summaries[i]["id"] == created[2 - i]);
          CHECK(whole[i]["id"] == created[2 - i]);
        }
      }
      THEN("a summary has exactly the summary's fields, each as the whole run has it") {
        for (size_t i = 0; i < summaries.size() && i < whole.size(); ++i) {
          CHECK(keys_of(summaries[i]) == k_summary_fields);
          for (const auto& field : k_summary_fields) {
            INFO(field);
            CHECK(summaries[i][field] == whole[i][field]);
          }
        }
        CHECK(summaries[0]["status"] == "Failed");
        CHECK(summaries[0]["exit_code"] == 3);
        CHECK_FALSE(summaries[0].contains("tags"));
        CHECK_FALSE(summaries[0].contains("tasks"));
      }
      THEN("view=full is the whole run, as with no view") {
        CHECK(explicit_full == whole);
        CHECK(whole[0]["tags"]["team"] == "vision");
        CHECK(whole[0]["environment_variables"]["SEED"] == "7");
      }
    }
    WHEN("summaries are filtered by experiment and status") {
      const auto of_a =
          every_page(service, "/v1/workspaces/default/runs?view=summary&experiment=a");
      const auto completed =
          every_page(service, "/v1/workspaces/default/runs?view=summary&status=Completed");
      THEN("only the runs that match are listed") {
        REQUIRE(of_a.size() == 2);
        CHECK(of_a[0]["id"] == created[2]);
        CHECK(of_a[1]["id"] == created[0]);
        CHECK(completed.empty());
      }
    }
  }
}

TEST_CASE("a view that is neither full nor summary is refused naming the parameter",
          "[service][runs]") {
  ServiceFixture service;
  for (const std::string view : {"Summary", "", "all", "summary,full", "%00"}) {
    const auto reply = http_request(service, "GET", "/v1/workspaces/default/runs?view=" + view);
    INFO(view);
    CHECK(reply.status == 400);
    const auto error = body_json(reply)["error"];
    CHECK(error["code"] == "invalid_argument");
    CHECK(error["message"].get<std::string>().find("view") != std::string::npos);
  }
  CHECK(http_request(service, "GET", "/v1/workspaces/default/runs?view=summary", {}, {}, false)
            .status == 401);
  CHECK(http_request(service, "GET", "/v1/workspaces/nope/runs?view=summary").status == 404);
}
