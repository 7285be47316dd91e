// The real trainctl against a real trainctld (ServiceFixture), as a user or a script runs it.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
using nlohmann::json;

}  // namespace

TEST_CASE("e2e: submit --stream prints the run's output and exits with its outcome", "[e2e][cli]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);

  SECTION("given a script that prints lines and exits 0, the lines and exit 0") {
    Project project("print('hello from the run')\nprint('second line')\n");
    const auto result = cli.run({"submit", project.spec(), "--stream"});
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("hello from the run\nsecond line\n"));
    CHECK_THAT(result.err, Catch::Contains("submitted run"));
  }
  SECTION("given a script that exits 3, exit code 3 (run failed)") {
    Project project("import sys\nprint('failing')\nsys.exit(3)\n");
    const auto result = cli.run({"submit", project.spec(), "--stream"});
    INFO(result.err);
    CHECK(result.exit_code == 3);
    CHECK_THAT(result.out, Catch::Contains("failing"));
  }
  SECTION("given a run over its max_run_duration, exit code 5 (timed out)") {
    Project project("import time\ntime.sleep(60)\n", "limits:\n  max_run_duration: 1s\n");
    const auto result = cli.run({"submit", project.spec(), "--stream"});
    INFO(result.err);
    CHECK(result.exit_code == 5);
  }
}

TEST_CASE("e2e: errors map to their exit codes", "[e2e][cli]") {
  SECTION("given an invalid spec, exit 6 and file:line:col on stderr") {
    const CliEnvironment cli;
    Project project("print('x')\n", "  node_count: two\n");
    const auto result = cli.run({"validate", project.spec()});
    CHECK(result.exit_code == 6);
    CHECK_THAT(result.err,
               Catch::Contains(project.spec() + ":5:") && Catch::Contains("estimator.node_count"));
    CHECK(result.out.empty());
  }
  SECTION("given a run that does not exist, exit 7") {
    ServiceFixture service;
    const auto result = CliEnvironment::for_service(service).run({"run", "show", "run-nope"});
    CHECK(result.exit_code == 7);
    CHECK_THAT(result.err, Catch::StartsWith("error: "));
  }
  SECTION("given an endpoint nothing listens on, exit 8") {
    const CliEnvironment cli(EnvironmentVariables{{"TRAINCTL_ENDPOINT", "http://127.0.0.1:1"}});
    const auto result = cli.run({"run", "list"});
    CHECK(result.exit_code == 8);
  }
  SECTION("given an endpoint that is not an http:// or https:// URL, exit 2 before any request") {
    const CliEnvironment cli(EnvironmentVariables{{"TRAINCTL_ENDPOINT", "10.0.0.5:7070"}});
    const auto result = cli.run({"run", "list"});
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("not an http:// or https:// URL"));
  }
  SECTION("given an unknown flag, exit 2 with the parser's message") {
    const auto result = CliEnvironment().run({"run", "list", "--bogus"});
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("--bogus"));
  }
}

TEST_CASE("e2e: scripts get stable output and idempotent submits", "[e2e][cli]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project("print('ok')\n");

  SECTION("given -o json, the output parses") {
    const auto created = cli.run({"workspace", "create", "team-a", "-o", "json"});
    REQUIRE(created.exit_code == 0);
    CHECK(json::parse(created.out)["name"] == "team-a");
    const auto listed = cli.run({"workspace", "list", "-o", "json"});
    REQUIRE(listed.exit_code == 0);
    CHECK(json::parse(listed.out)["items"].size() >= 2);
  }
  SECTION("given the same --idempotency-key twice, the same run") {
    const auto first =
        cli.run({"submit", project.spec(), "--idempotency-key", "ci-42", "-o", "name"});
    const auto second =
        cli.run({"submit", project.spec(), "--idempotency-key", "ci-42", "-o", "name"});
    INFO(first.err << second.err);
    REQUIRE(first.exit_code == 0);
    REQUIRE(second.exit_code == 0);
    CHECK_THAT(trimmed(first.out), Catch::StartsWith("run-"));
    CHECK(trimmed(first.out) == trimmed(second.out));
    CHECK_THAT(second.err, Catch::Contains("already submitted"));
  }
  SECTION("given a submitted run, wait exits 0 and show, logs and files report it") {
    const auto run_id = trimmed(cli.run({"submit", project.spec(), "-o", "name"}).out);
    REQUIRE_THAT(run_id, Catch::StartsWith("run-"));
    CHECK(cli.run({"run", "wait", run_id, "--timeout", "60s"}).exit_code == 0);
    const auto shown = cli.run({"run", "show", run_id});
    CHECK_THAT(shown.out, Catch::Contains("Completed") && Catch::Contains("Timeline:"));
    CHECK(cli.run({"logs", run_id}).out == "ok\n");
    const auto files = cli.run({"run", "files", run_id, "-o", "name"});
    CHECK_THAT(files.out, Catch::Contains("logs/"));
    const auto listed = cli.run({"run", "list", "-o", "name"});
    CHECK_THAT(listed.out, Catch::Contains(run_id));
  }
}

TEST_CASE("e2e: cancel", "[e2e][cli]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project("import time\nprint('started', flush=True)\ntime.sleep(120)\n");

  SECTION("given a running run, cancel then wait exits 4, and a second cancel is a no-op") {
    const auto run_id = trimmed(cli.run({"submit", project.spec(), "-o", "name"}).out);
    REQUIRE_THAT(run_id, Catch::StartsWith("run-"));
    CHECK(cli.run({"run", "cancel", run_id}).exit_code == 0);
    CHECK(cli.run({"run", "wait", run_id, "--timeout", "60s"}).exit_code == 4);
    CHECK(cli.run({"run", "cancel", run_id}).exit_code == 0);
  }
}

TEST_CASE("e2e: a distributed run's logs, tasks and placement", "[e2e][cli][distributed]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project("import os\nprint('hello from rank', os.environ['RANK'], flush=True)\n",
                  "  node_count: 2\n  distributed_training:\n    backend: pytorch\n");

  const auto streamed = cli.run({"submit", project.spec(), "--stream"});
  INFO(streamed.err);
  REQUIRE(streamed.exit_code == 0);
  SECTION("given --stream, every line is prefixed with its rank") {
    CHECK_THAT(streamed.out, Catch::Contains("[rank-0] hello from rank 0\n") &&
                                 Catch::Contains("[rank-1] hello from rank 1\n"));
  }
  const auto run_id = trimmed(cli.run({"run", "list", "-o", "name"}).out);
  REQUIRE_THAT(run_id, Catch::StartsWith("run-"));
  SECTION("given --rank or --task, one task's log prints as written") {
    CHECK(cli.run({"logs", run_id, "--rank", "1"}).out == "hello from rank 1\n");
    CHECK(cli.run({"logs", run_id, "--task", "rank-0"}).out == "hello from rank 0\n");
  }
  SECTION("given both --task and --rank, a usage error") {
    CHECK(cli.run({"logs", run_id, "--task", "rank-0", "--rank", "1"}).exit_code == 2);
  }
  SECTION("given a task the run does not have, exit 7 and the run's tasks") {
    const auto unknown = cli.run({"logs", run_id, "--task", "worker-9"});
    CHECK(unknown.exit_code == 7);
    CHECK_THAT(unknown.err, Catch::Contains("its tasks are rank-0, rank-1"));
  }
  SECTION("given run show, the tasks with role and node, and each node's tasks") {
    const auto shown = cli.run({"run", "show", run_id});
    CHECK_THAT(shown.out, Catch::Contains("NAME     ROLE   NODE   STATE") &&
                              Catch::Contains("Placement:\n  node 0: rank-0\n  node 1: rank-1\n"));
  }
}

// Issue item 9: a trainctld restarted on its home comes back at the same address, and `logs -f`
// and `run wait` started before the restart reconnect and end with the run.
TEST_CASE("e2e: logs -f and run wait ride out a restart of trainctld", "[e2e][cli][restart]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project(
      "import time\nprint('before', flush=True)\ntime.sleep(6)\nprint('after the restart', flush=True)\n");
  const auto submitted = cli.run({"submit", project.spec(), "-o", "name"}, project.dir());
  INFO(submitted.err);
  REQUIRE(submitted.exit_code == 0);
  const std::string run_id = trimmed(submitted.out);
  const int port = service.port();

  auto follower = std::async(std::launch::async, [&] { return cli.run({"logs", "-f", run_id}, {}, 120); });
  auto waiter = std::async(std::launch::async, [&] { return cli.run({"run", "wait", run_id}, {}, 120); });
  std::this_thread::sleep_for(std::chrono::seconds(2));  // both are connected and waiting
  service.kill9();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // both lose the service for a while
  service.start();

  CHECK(service.port() == port);
  const auto followed = follower.get();
  const auto waited = waiter.get();
  INFO(followed.err << waited.err);
  CHECK(followed.exit_code == 0);
  CHECK_THAT(followed.out, Catch::Contains("before\n") && Catch::Contains("after the restart\n"));
  CHECK(waited.exit_code == 0);
  CHECK_THAT(waited.out, Catch::Contains("Completed"));
}
