// Dataset inputs in a job spec: `${{inputs.NAME}}` in script_params and environment_variables,
// its checks (at their positions), and what the launch plan makes of it: <run>/inputs/NAME and
// TRAINCTL_INPUT_<NAME>.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "trainctl/spec/job_spec.hpp"
#include "trainctl/spec/launch_plan.hpp"

using trainctl::ErrorCode;
using trainctl::ErrorDetail;
using trainctl::spec::build_launch_plan;
using trainctl::spec::build_payload;
using trainctl::spec::job_spec_from_payload;
using trainctl::spec::JobSpec;
using trainctl::spec::LaunchPlan;
using trainctl::spec::parse_job_spec;
using trainctl::spec::ParseOptions;
using trainctl::spec::RunLayout;
using trainctl::spec::TaskLaunch;

namespace {

const std::string k_snapshot(64, 'a');

// A spec with two inputs, mnist (mounted) and labels (downloaded), that uses both.
const std::string k_two_inputs =
    "estimator:\n"
    "  entry_script: train.py\n"
    "  script_params:\n"
    "    --data-folder: ${{inputs.mnist}}\n"
    "    --labels: ${{inputs.labels}}/labels.csv\n"
    "    --both: \"${{inputs.mnist}}:${{ inputs.labels }}\"\n"
    "inputs:\n"
    "  mnist: {dataset: mnist, version: latest, mode: mount}\n"
    "  labels: {dataset: mnist-labels, version: 2, mode: download}\n"
    "environment_variables:\n"
    "  DATA_DIR: ${{inputs.mnist}}\n"
    "  PLAIN: no expression here\n";

// An error with its details, for a failure message.
std::string describe(const trainctl::Error& error) {
  std::string text = error.message;
  for (const ErrorDetail& detail : error.details) {
    text += '\n';  // appended apart: GCC 12 -O3 warns (-Wrestrict) on "\n" + string
    text += detail.to_string();
  }
  return text;
}

ParseOptions options() {
  ParseOptions parse_options;
  parse_options.file_name = "job.yaml";
  return parse_options;
}

JobSpec valid(const std::string& text) {
  auto spec = parse_job_spec(text, options());
  if (!spec) FAIL(describe(spec.error()));
  return *spec;
}

std::vector<ErrorDetail> problems_of(const std::string& text) {
  auto spec = parse_job_spec(text, options());
  REQUIRE_FALSE(spec.has_value());
  REQUIRE(spec.error().code == ErrorCode::invalid_spec);
  return spec.error().details;
}

RunLayout run_layout() {
  RunLayout layout;
  layout.run_id = "run-abc";
  layout.run_dir = "/runs/run-abc";
  layout.snapshot_dir = "/runs/run-abc/snapshot";
  layout.outputs_dir = "/runs/run-abc/outputs";
  layout.logs_dir = "/runs/run-abc/logs";
  layout.inputs_dir = "/runs/run-abc/inputs";
  return layout;
}

// The layout `trainctl submit --dry-run` uses: placeholders, and no inputs_dir of its own.
RunLayout dry_run_layout() {
  RunLayout layout;
  layout.run_id = "<run-id>";
  layout.run_dir = "<run>";
  layout.snapshot_dir = "<run>/snapshot";
  layout.outputs_dir = "<run>/outputs";
  layout.logs_dir = "<run>/logs";
  return layout;
}

LaunchPlan plan_of(const JobSpec& spec, const RunLayout& layout) {
  auto plan = build_launch_plan(spec, layout);
  if (!plan) FAIL(describe(plan.error()));
  return *plan;
}

std::map<std::string, std::string> env_of(const TaskLaunch& task) {
  return {task.env.begin(), task.env.end()};
}

}  // namespace

TEST_CASE("A spec with inputs is accepted and keeps its expressions as written", "[spec][inputs]") {
  GIVEN("two inputs used in script_params and an environment variable") {
    const JobSpec spec = valid(k_two_inputs);
    THEN("both inputs are read in order with their dataset, version and mode") {
      REQUIRE(spec.inputs.size() == 2);
      CHECK(spec.inputs[0].name == "mnist");
      CHECK(spec.inputs[0].mode == "mount");
      CHECK(spec.inputs[1].name == "labels");
      CHECK(spec.inputs[1].dataset == "mnist-labels");
      CHECK(spec.inputs[1].version == "2");
      CHECK(spec.inputs[1].mode == "download");
    }
    THEN("the payload carries the expressions unchanged, and the service reads it back") {
      const auto payload = build_payload(spec, k_snapshot);
      CHECK(payload["estimator"]["script_params"][1] == "${{inputs.mnist}}");
      CHECK(payload["inputs"]["labels"]["version"] == "2");
      const auto back = job_spec_from_payload(payload);
      REQUIRE(back.has_value());
      CHECK(back->estimator.script_params == spec.estimator.script_params);
    }
  }
}

TEST_CASE("The launch plan puts each input's path where it is referenced", "[spec][inputs]") {
  GIVEN("the spec with two inputs, planned for a real run directory") {
    const LaunchPlan plan = plan_of(valid(k_two_inputs), run_layout());
    REQUIRE(plan.tasks.size() == 1);
    const TaskLaunch& task = plan.tasks[0];
    THEN("script_params get <run>/inputs/NAME, every expression of a value replaced") {
      CHECK(task.argv ==
            std::vector<std::string>{"/usr/bin/python3", "train.py", "--data-folder",
                                     "/runs/run-abc/inputs/mnist", "--labels",
                                     "/runs/run-abc/inputs/labels/labels.csv", "--both",
                                     "/runs/run-abc/inputs/mnist:/runs/run-abc/inputs/labels"});
    }
    THEN("environment variable values get it too, other values are left alone") {
      const auto env = env_of(task);
      CHECK(env.at("DATA_DIR") == "/runs/run-abc/inputs/mnist");
      CHECK(env.at("PLAIN") == "no expression here");
    }
    THEN("every input has its TRAINCTL_INPUT_ variable") {
      const auto env = env_of(task);
      CHECK(env.at("TRAINCTL_INPUT_MNIST") == "/runs/run-abc/inputs/mnist");
      CHECK(env.at("TRAINCTL_INPUT_LABELS") == "/runs/run-abc/inputs/labels");
    }
  }
  GIVEN("the dry run's placeholder layout") {
    const LaunchPlan plan = plan_of(valid(k_two_inputs), dry_run_layout());
    THEN("the plan shows <run>/inputs/NAME") {
      CHECK(plan.tasks[0].argv[3] == "<run>/inputs/mnist");
      CHECK(env_of(plan.tasks[0]).at("TRAINCTL_INPUT_MNIST") == "<run>/inputs/mnist");
    }
  }
  GIVEN("an input whose name has lower-case letters, dots and dashes") {
    const LaunchPlan plan = plan_of(valid("estimator: {entry_script: train.py}\n"
                                          "inputs:\n  train.v2-data: {dataset: d}\n"),
                                    run_layout());
    THEN("its variable is upper-cased with '_' for the rest") {
      CHECK(env_of(plan.tasks[0]).at("TRAINCTL_INPUT_TRAIN_V2_DATA") ==
            "/runs/run-abc/inputs/train.v2-data");
    }
  }
  GIVEN("an MPI run with an input") {
    JobSpec spec = valid(
        "estimator:\n  entry_script: train.py\n  node_count: 2\n"
        "  distributed_training: {backend: mpi}\n"
        "inputs:\n  mnist: {dataset: mnist}\n");
    const LaunchPlan plan = plan_of(spec, run_layout());
    THEN("mpirun passes the input's variable on to every rank") {
      REQUIRE(plan.launcher.has_value());
      const auto& argv = plan.launcher->argv;
      CHECK(std::find(argv.begin(), argv.end(), "TRAINCTL_INPUT_MNIST") != argv.end());
      for (const auto& rank : plan.tasks) {
        CHECK(env_of(rank).at("TRAINCTL_INPUT_MNIST") == "/runs/run-abc/inputs/mnist");
      }
    }
  }
}

TEST_CASE("An expression that names no input is refused at its position", "[spec][inputs]") {
  GIVEN("a script parameter that misspells an input") {
    const auto details = problems_of(
        "estimator:\n"
        "  entry_script: train.py\n"
        "  script_params:\n"
        "    --data-folder: ${{inputs.mnst}}\n"
        "inputs:\n"
        "  mnist: {dataset: mnist}\n");
    THEN("the problem is at the value's line and column, with the nearest name suggested") {
      REQUIRE(details.size() == 1);
      CHECK(details[0].path == "estimator.script_params[1]");
      CHECK(details[0].file == "job.yaml");
      CHECK(details[0].line == 4);
      CHECK(details[0].column == 20);
      CHECK_THAT(details[0].message, Catch::Contains("'${{inputs.mnst}}' names no input"));
      CHECK_THAT(details[0].message, Catch::Contains("did you mean 'mnist'?"));
    }
  }
  GIVEN("script_params as a list and an environment variable, with no inputs at all") {
    const auto details = problems_of(
        "estimator:\n"
        "  entry_script: train.py\n"
        "  script_params: [--data, \"${{inputs.data}}\"]\n"
        "environment_variables:\n"
        "  DATA: x${{inputs.data}}\n");
    THEN("each is reported, in file order, saying the spec has no inputs") {
      REQUIRE(details.size() == 2);
      CHECK(details[0].path == "estimator.script_params[1]");
      CHECK(details[0].line == 3);
      CHECK(details[0].column == 27);
      CHECK(details[1].path == "environment_variables.DATA");
      CHECK(details[1].line == 5);
      CHECK_THAT(details[1].message, Catch::Contains("the spec has no inputs"));
    }
  }
  GIVEN("an expression that is not about inputs, and one left open") {
    const auto details = problems_of(
        "estimator:\n"
        "  entry_script: train.py\n"
        "  script_params: [\"${{outputs.model}}\", \"${{inputs.mnist\"]\n"
        "inputs:\n"
        "  mnist: {dataset: mnist}\n");
    THEN("both are refused rather than passed on as written") {
      REQUIRE(details.size() == 2);
      CHECK_THAT(details[0].message, Catch::Contains("write ${{inputs.NAME}}"));
      CHECK_THAT(details[1].message, Catch::Contains("is not closed"));
    }
  }
  GIVEN("a payload that names an unknown input") {
    JobSpec spec = valid(k_two_inputs);
    auto payload = build_payload(spec, k_snapshot);
    payload["environment_variables"]["DATA_DIR"] = "${{inputs.images}}";
    const auto back = job_spec_from_payload(payload);
    THEN("the service refuses it by the same rule, at the JSON path") {
      REQUIRE_FALSE(back.has_value());
      REQUIRE(back.error().details.size() == 1);
      CHECK(back.error().details[0].path == "environment_variables.DATA_DIR");
    }
  }
}

TEST_CASE("Two inputs may not share a variable name", "[spec][inputs]") {
  GIVEN("inputs train-data and train.data") {
    const auto details = problems_of(
        "estimator: {entry_script: train.py}\n"
        "inputs:\n"
        "  train-data: {dataset: a}\n"
        "  train.data: {dataset: b}\n");
    THEN("the second is refused, naming the variable and the first") {
      REQUIRE(details.size() == 1);
      CHECK(details[0].path == "inputs.train.data");
      CHECK(details[0].line == 4);
      CHECK_THAT(details[0].message, Catch::Contains("TRAINCTL_INPUT_TRAIN_DATA"));
      CHECK_THAT(details[0].message, Catch::Contains("'train-data'"));
    }
  }
}
