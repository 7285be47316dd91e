// A kill -9 of trainctld loses nothing (RELIABILITY 23): runs keep going and are re-attached.
#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"

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
  for (const auto& id : ids) CHECK(wait_for_run(service, id)["status"] == "Completed");
}
