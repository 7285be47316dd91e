// A kill -9 of trainctld loses nothing (RELIABILITY 23): runs keep going and are re-attached.
#include <fstream>

#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"
#include "trainctl/service/store.hpp"

using namespace trainctl::testing;

TEST_CASE("a run survives kill -9 of the service and finishes with its whole log", "[service][faults]") {
  ServiceFixture service;
  const auto run = submit_script(service,
                                 "import time\n"
                                 "for i in range(30):\n"
                                 "    print('tick', i, flush=True)\n"
                                 "    time.sleep(0.05)\n");
  const std::string id = run["id"];
  const auto log = service.home() / "runs" / id / "logs" / "main.log";
  REQUIRE(eventually([&] { return std::filesystem::exists(log) && std::filesystem::file_size(log) > 0; }));

  service.kill9();
  service.start();

  const auto done = wait_for_run(service, id);
  CHECK(done["status"] == "Completed");
  CHECK(done["exit_code"] == 0);
  std::string expected;
  for (int i = 0; i < 30; ++i) expected += fmt::format("tick {}\n", i);
  const auto logs = http_request(service, "GET", "/v1/workspaces/default/runs/" + id + "/files/logs/main.log");
  CHECK(logs.body == expected);
}

TEST_CASE("a run still queued at kill -9 is prepared again after the restart", "[service][faults]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"train.py", "print('ok')\n"}});
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(body_json(http_request(service, "POST", "/v1/workspaces/default/runs",
                                         script_payload(snapshot).dump()))["id"]);
  }
  service.kill9();
  service.start();
  for (const auto& id : ids) {
    const auto done = wait_for_run(service, id);
    INFO(done.dump());
    CHECK(done["status"] == "Completed");
  }
}

TEST_CASE("a cancel recorded just before kill -9 still stops the run after the restart",
          "[service][faults]") {
  ServiceFixture service({"--grace-seconds", "1"});
  const auto run = submit_script(service,
                                 "import time\n"
                                 "for i in range(600):\n"
                                 "    print('tick', i, flush=True)\n"
                                 "    time.sleep(0.1)\n");
  const std::string id = run["id"];
  REQUIRE(eventually([&] {
    return body_json(http_request(service, "GET", "/v1/workspaces/default/runs/" + id))["status"] ==
           "Running";
  }));

  GIVEN("the service died after recording CancelRequested but before it told the engine") {
    service.kill9();
    {
      auto store = trainctl::service::Store::open(service.home() / "trainctl.db");
      REQUIRE(store);
      trainctl::service::RunUpdate cancel;
      cancel.status = trainctl::api::RunStatus::CancelRequested;
      REQUIRE((*store)->update_run(id, cancel));
    }
    WHEN("it starts again") {
      service.start();
      THEN("the run is stopped and ends Canceled") {
        CHECK(wait_for_run(service, id, 30)["status"] == "Canceled");
      }
    }
  }
}

TEST_CASE("a run whose start was cut short by kill -9 is started again, not failed",
          "[service][faults]") {
  ServiceFixture service;
  const std::string done_id = submit_script(service, "print('ok')\n")["id"];
  REQUIRE(wait_for_run(service, done_id)["status"] == "Completed");

  GIVEN("the service died in Starting, after writing a launch plan but before a supervisor ran") {
    service.kill9();
    std::string id;
    {
      auto store = trainctl::service::Store::open(service.home() / "trainctl.db");
      REQUIRE(store);
      auto draft = (*store)->get_run("default", done_id);
      REQUIRE(draft);
      draft->id.clear();
      auto created = (*store)->create_run(*draft);
      REQUIRE(created);
      id = created->run.id;
      for (auto status : {trainctl::api::RunStatus::Preparing, trainctl::api::RunStatus::Starting}) {
        trainctl::service::RunUpdate update;
        update.status = status;
        REQUIRE((*store)->update_run(id, update));
      }
    }
    std::filesystem::create_directories(service.home() / "runs" / id);
    std::ofstream(service.home() / "runs" / id / "launch.json") << "{}\n";

    WHEN("it starts again") {
      service.start();
      THEN("the run is prepared again and completes with its log") {
        CHECK(wait_for_run(service, id, 60)["status"] == "Completed");
        const auto log =
            http_request(service, "GET", "/v1/workspaces/default/runs/" + id + "/files/logs/main.log");
        CHECK(log.body == "ok\n");
      }
    }
  }
}
