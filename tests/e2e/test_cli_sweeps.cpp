// A sweep as a user runs it (docs/sweeps.md): `submit --stream` of a spec with a sweep section
// shows trials start and end with the best so far; `sweep show` ranks them; `register --run
// SWEEP` takes the best trial's files.
#include <catch2/catch.hpp>

#include <regex>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"

using namespace trainctl::testing;
using nlohmann::json;

SCENARIO("a user sweeps a script param and registers the best trial", "[e2e][cli][sweeps]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project(
      "import os, sys, trainctl\n"
      "x = float(sys.argv[sys.argv.index('--x') + 1])\n"
      "trainctl.log_metric('score', -(x - 3) ** 2)\n"
      "os.makedirs('outputs/model', exist_ok=True)\n"
      "open('outputs/model/x.txt', 'w').write(str(x))\n",
      "sweep:\n"
      "  sampling: grid\n"
      "  search_space: {--x: {type: randint, min: 1, max: 4}}\n"
      "  objective: {primary_metric: score, goal: maximize}\n"
      "  limits: {max_concurrent_trials: 2}\n");

  WHEN("they validate it") {
    const auto validated = cli.run({"validate", project.spec()});
    THEN("the search space and the grid's size are printed") {
      INFO(validated.out << validated.err);
      CHECK(validated.exit_code == 0);
      CHECK(validated.out.find("trials: 4 (the grid has 4 points)") != std::string::npos);
      CHECK(validated.out.find("--x: randint 1 .. 4 (4 values)") != std::string::npos);
    }
  }
  WHEN("they submit it with --stream") {
    const auto streamed = cli.run({"submit", project.spec(), "--stream"}, project.dir(), 180);
    INFO(streamed.out << streamed.err);
    REQUIRE(streamed.exit_code == 0);
    std::smatch match;
    REQUIRE(std::regex_search(streamed.err, match, std::regex("submitted sweep (sweep-[a-z0-9]+)")));
    const std::string sweep = match[1];
    THEN("every trial is shown starting and ending, then the best and the end") {
      for (int trial = 0; trial < 4; ++trial) {
        CHECK(streamed.out.find(fmt::format("trial {} started", trial)) != std::string::npos);
        CHECK(streamed.out.find(fmt::format("trial {} Completed", trial)) != std::string::npos);
      }
      CHECK(streamed.out.find("best so far: trial") != std::string::npos);
      CHECK(streamed.out.find("sweep " + sweep + " Completed: 4 trials; best: run-") != std::string::npos);
    }
    THEN("sweep show ranks the trials, the best (x = 3) first") {
      const auto shown = cli.run({"sweep", "show", sweep, "-o", "json"});
      REQUIRE(shown.exit_code == 0);
      const auto document = json::parse(shown.out);
      CHECK(document["trials"].size() == 4);
      CHECK(document["trials"][0]["params"]["--x"] == "3");
      CHECK(document["best"]["objective"] == 0.0);
      CHECK(cli.run({"sweep", "list"}).out.find(sweep) != std::string::npos);
    }
    THEN("register --run SWEEP registers the best trial's files") {
      const auto registered = cli.run({"register", "--run", sweep, "--name", "best-x", "--path",
                                       "outputs/model"});
      INFO(registered.out << registered.err);
      REQUIRE(registered.exit_code == 0);
      const auto model = json::parse(cli.run({"model", "show", "best-x", "-o", "json"}).out);
      const auto shown = json::parse(cli.run({"sweep", "show", sweep, "-o", "json"}).out);
      CHECK(model.dump().find(shown["best"]["run_id"].get<std::string>()) != std::string::npos);
    }
  }
}
