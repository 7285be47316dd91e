// Retries through the real trainctld (docs/job-spec.md, Retries): a run killed by a signal is
// started again while retries are left, exit codes 1-127 only when listed, and every attempt is
// kept with its logs.
#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;

namespace {

// A script that prints which attempt it is, then ends as `first_end` on its first attempt (a
// marker in outputs/, which attempts share, tells them apart) and exits 0 afterwards.
std::string flaky_script(const std::string& first_end) {
  return "import os, signal, sys\n"
         "marker = os.path.join(os.environ['TRAINCTL_OUTPUTS_DIR'], 'tried')\n"
         "first = not os.path.exists(marker)\n"
         "print('attempt', 'first' if first else 'again', flush=True)\n"
         "if first:\n"
         "    open(marker, 'w').close()\n"
         "    " + first_end + "\n";
}

nlohmann::json submit_with_limits(const ServiceFixture& service, const std::string& script,
                                  const nlohmann::json& limits) {
  auto payload = script_payload(upload_snapshot(service, {{"train.py", script}}));
  payload["limits"] = limits;
  return body_json(http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump()));
}

std::string attempt_log(const ServiceFixture& service, const std::string& run_id, int attempt) {
  const auto response = http_request(
      service, "GET",
      "/v1/workspaces/default/runs/" + run_id + "/logs?task=main&attempt=" + std::to_string(attempt));
  std::string data;
  NdjsonLines lines;
  lines.feed(response.body.data(), response.body.size(), [&](nlohmann::json event) {
    if (event.value("type", "") == "log") data += event.value("data", "");
    return true;
  });
  return data;
}

}  // namespace

TEST_CASE("retries: a run killed by SIGKILL on its first attempt completes on its second",
          "[service][retries]") {
  ServiceFixture service;
  const auto created = submit_with_limits(
      service, flaky_script("os.kill(os.getpid(), signal.SIGKILL)"), {{"max_retries", 2}});
  const std::string id = created.value("id", "");
  REQUIRE_FALSE(id.empty());
  const auto run = wait_for_run(service, id, 90);

  CHECK(run["status"] == "Completed");
  CHECK(run["attempt"] == 2);
  CHECK(run["max_attempts"] == 3);
  REQUIRE(run["attempts"].size() == 1);
  const auto& first = run["attempts"][0];
  CHECK(first["attempt"] == 1);
  CHECK(first["status"] == "Failed");
  CHECK(first["signal"] == 9);
  CHECK(first["first_failed_task"] == "main");

  SECTION("every attempt's log is kept and readable by attempt") {
    CHECK(attempt_log(service, id, 1) == "attempt first\n");
    CHECK(attempt_log(service, id, 2) == "attempt again\n");
    CHECK(read_run_logs(service, id).by_task["main"] == "attempt again\n");
  }
  SECTION("the run's files list the first attempt's log") {
    const auto files = body_json(
        http_request(service, "GET", "/v1/workspaces/default/runs/" + id + "/files"));
    std::vector<std::string> paths;
    for (const auto& item : files["items"]) paths.push_back(item["path"]);
    CHECK(std::find(paths.begin(), paths.end(), "attempts/1/logs/main.log") != paths.end());
  }
  SECTION("an attempt the run has not made is 404, a bad one 400") {
    const std::string base = "/v1/workspaces/default/runs/" + id + "/logs?attempt=";
    CHECK(http_request(service, "GET", base + "3").status == 404);
    CHECK(http_request(service, "GET", base + "0").status == 400);
    CHECK(http_request(service, "GET", base + "x").status == 400);
  }
  SECTION("the timeline went through Starting twice, the second with the retry's note") {
    std::vector<std::string> notes;
    for (const auto& event : run["timeline"]) {
      if (event["status"] == "Starting") notes.push_back(event.value("message", ""));
    }
    REQUIRE(notes.size() == 2);
    CHECK_THAT(notes[1], Catch::StartsWith("attempt 2 of 3: "));
  }
}

TEST_CASE("retries: exit code 1 is final unless retry_on_exit_codes lists it",
          "[service][retries]") {
  ServiceFixture service;
  SECTION("given max_retries but no listed code, exit 1 fails the run at once") {
    const auto created =
        submit_with_limits(service, flaky_script("sys.exit(1)"), {{"max_retries", 2}});
    const auto run = wait_for_run(service, created.value("id", ""), 60);
    CHECK(run["status"] == "Failed");
    CHECK(run["exit_code"] == 1);
    CHECK(run["attempt"] == 1);
    CHECK(run["attempts"].empty());
  }
  SECTION("given retry_on_exit_codes: [1], exit 1 is retried and the run completes") {
    const auto created = submit_with_limits(service, flaky_script("sys.exit(1)"),
                                            {{"max_retries", 1}, {"retry_on_exit_codes", {1}}});
    const std::string id = created.value("id", "");
    const auto run = wait_for_run(service, id, 90);
    CHECK(run["status"] == "Completed");
    CHECK(run["attempt"] == 2);
    REQUIRE(run["attempts"].size() == 1);
    CHECK(run["attempts"][0]["exit_code"] == 1);
    CHECK(attempt_log(service, id, 1) == "attempt first\n");
  }
}

TEST_CASE("retries: a run that keeps failing stops when its retries are spent",
          "[service][retries]") {
  ServiceFixture service;
  const auto created = submit_with_limits(
      service, "import os, signal\nprint('try', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n",
      {{"max_retries", 2}});
  const std::string id = created.value("id", "");
  const auto run = wait_for_run(service, id, 120);
  CHECK(run["status"] == "Failed");
  CHECK(run["attempt"] == 3);
  CHECK(run["attempts"].size() == 2);
  for (int attempt = 1; attempt <= 3; ++attempt) CHECK(attempt_log(service, id, attempt) == "try\n");
}
