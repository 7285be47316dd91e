// The launch plan of a single-process run: argv, environment, paths, and its JSON form.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

#include "trainctl/spec/launch_plan.hpp"

using trainctl::spec::build_launch_plan;
using trainctl::spec::JobSpec;
using trainctl::spec::LaunchPlan;
using trainctl::spec::RunLayout;

namespace {

RunLayout example_layout() {
  RunLayout layout;
  layout.run_id = "run-abc";
  layout.run_dir = "/runs/run-abc";
  layout.snapshot_dir = "/runs/run-abc/snapshot";
  layout.outputs_dir = "/runs/run-abc/outputs";
  layout.logs_dir = "/runs/run-abc/logs";
  layout.base_env = {
      {"PATH", "/usr/bin"}, {"TRAINCTL_TOKEN", "secret"}, {"MODE", "base"}, {"HOME", "/root"}};
  layout.grace_seconds = 7;
  return layout;
}

JobSpec example_spec(std::string entry_script) {
  JobSpec spec;
  spec.estimator.entry_script = std::move(entry_script);
  spec.estimator.script_params = {"--lr", "0.1"};
  spec.environment_variables = {{"MODE", "spec"}, {"EXTRA", "1"}};
  spec.limits.max_run_duration_seconds = 60;
  return spec;
}

}  // namespace

TEST_CASE("A single-process run has one task, main", "[spec][launch]") {
  GIVEN("a Python entry script") {
    const auto plan = build_launch_plan(example_spec("src/train.py"), example_layout());
    REQUIRE(plan.has_value());
    REQUIRE(plan->tasks.size() == 1);
    const auto& task = plan->tasks[0];
    THEN("the interpreter runs it from the snapshot, logging to logs/main.log") {
      CHECK(task.name == "main");
      CHECK(task.node_rank == 0);
      CHECK(task.argv ==
            std::vector<std::string>{"/usr/bin/python3", "src/train.py", "--lr", "0.1"});
      CHECK(task.cwd == "/runs/run-abc/snapshot");
      CHECK(task.log_file == "/runs/run-abc/logs/main.log");
      CHECK(plan->run_id == "run-abc");
      CHECK(plan->max_duration_seconds == 60);
      CHECK(plan->grace_seconds == 7);
    }
    THEN(
        "the environment is sorted, has the run's variables, lets the spec win, and has no token") {
      const std::vector<std::pair<std::string, std::string>> expected{
          {"EXTRA", "1"},
          {"HOME", "/root"},
          {"MODE", "spec"},
          {"PATH", "/usr/bin"},
          {"PYTHONUNBUFFERED", "1"},
          {"TRAINCTL_NODE_RANK", "0"},
          {"TRAINCTL_OUTPUTS_DIR", "/runs/run-abc/outputs"},
          {"TRAINCTL_RUN_ID", "run-abc"},
          {"TRAINCTL_TASK", "main"},
      };
      CHECK(task.env == expected);
    }
  }
  GIVEN("an executable entry script") {
    const auto plan = build_launch_plan(example_spec("bin/run.sh"), example_layout());
    THEN("it is started directly by its path in the snapshot") {
      REQUIRE(plan.has_value());
      CHECK(plan->tasks[0].argv ==
            std::vector<std::string>{"/runs/run-abc/snapshot/bin/run.sh", "--lr", "0.1"});
    }
  }
  GIVEN("a spec with a backend this version cannot launch") {
    JobSpec spec = example_spec("train.py");
    spec.estimator.distributed.backend = trainctl::spec::Backend::mpi;
    THEN("no plan is made") {
      const auto plan = build_launch_plan(spec, example_layout());
      REQUIRE_FALSE(plan.has_value());
      CHECK(plan.error().code == trainctl::ErrorCode::invalid_spec);
    }
  }
}

TEST_CASE("A launch plan round-trips through JSON", "[spec][launch]") {
  GIVEN("a plan") {
    const auto plan = build_launch_plan(example_spec("train.py"), example_layout()).value();
    WHEN("it is written to JSON and read back") {
      const auto back = LaunchPlan::from_json(plan.to_json());
      THEN("it is the same plan") {
        REQUIRE(back.has_value());
        CHECK(back->to_json() == plan.to_json());
        CHECK(back->tasks[0].env == plan.tasks[0].env);
        CHECK(back->tasks[0].argv == plan.tasks[0].argv);
      }
    }
    WHEN("a field is missing or of the wrong type") {
      auto json = plan.to_json();
      json["tasks"][0].erase("argv");
      THEN("reading fails cleanly") {
        const auto back = LaunchPlan::from_json(json);
        REQUIRE_FALSE(back.has_value());
        CHECK(back.error().code == trainctl::ErrorCode::invalid_argument);
      }
    }
  }
}
