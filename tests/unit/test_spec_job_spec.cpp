// Reading a job spec from YAML: fields, types, rules, what is not supported yet, and --set.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

#include "trainctl/spec/job_spec.hpp"
#include "trainctl/util/fs.hpp"

using trainctl::ErrorCode;
using trainctl::ErrorDetail;
using trainctl::spec::Backend;
using trainctl::spec::JobSpec;
using trainctl::spec::parse_job_spec;
using trainctl::spec::ParseOptions;

namespace {

std::string fixture(const std::string& name) {
  return trainctl::util::read_file(std::string(TRAINCTL_SOURCE_DIR) + "/tests/data/specs/" + name)
      .value();
}

ParseOptions options_with(std::vector<std::string> overrides = {}) {
  ParseOptions options;
  options.file_name = "job.yaml";
  options.overrides = std::move(overrides);
  return options;
}

JobSpec valid(const std::string& text, std::vector<std::string> overrides = {}) {
  auto spec = parse_job_spec(text, options_with(std::move(overrides)));
  if (!spec) FAIL(spec.error().message);
  return *spec;
}

std::vector<ErrorDetail> problems_of(const std::string& text,
                                     std::vector<std::string> overrides = {}) {
  auto spec = parse_job_spec(text, options_with(std::move(overrides)));
  REQUIRE_FALSE(spec.has_value());
  REQUIRE(spec.error().code == ErrorCode::invalid_spec);
  return spec.error().details;
}

// The one detail of a spec with one problem.
ErrorDetail problem_of(const std::string& text, std::vector<std::string> overrides = {}) {
  const auto details = problems_of(text, std::move(overrides));
  INFO(details.front().to_string());
  REQUIRE(details.size() == 1);
  return details.front();
}

const std::string k_minimal = "estimator:\n  entry_script: train.py\n";

}  // namespace

TEST_CASE("A complete spec reads into every field", "[spec]") {
  GIVEN("the full example") {
    const JobSpec spec = valid(fixture("full.yaml"));
    THEN("each field holds what the file says") {
      CHECK(spec.experiment == "tf-mnist");
      CHECK(spec.name == "first-try");
      CHECK(spec.compute == "local");
      CHECK(spec.estimator.framework == "tensorflow");
      CHECK(spec.estimator.framework_version == "2.0");
      CHECK(spec.estimator.source_directory == "./tf-mnist");
      CHECK(spec.estimator.entry_script == "tf_mnist.py");
      CHECK(spec.estimator.script_params ==
            std::vector<std::string>{"--batch-size", "50", "--learning-rate", "0.01", "--verbose"});
      CHECK(spec.estimator.node_count == 1);
      CHECK(spec.estimator.distributed.backend == Backend::none);
      CHECK(spec.environment_variables == std::vector<std::pair<std::string, std::string>>{
                                              {"OMP_NUM_THREADS", "2"}, {"MODE", "fast"}});
      CHECK(spec.limits.max_run_duration_seconds == 7200);
      CHECK(spec.limits.max_retries == 0);
      CHECK(spec.tags == std::map<std::string, std::string>{{"purpose", "smoke"}, {"team", "ml"}});
    }
  }
  GIVEN("only an entry script") {
    const JobSpec spec = valid(fixture("minimal.yaml"));
    THEN("the defaults fill the rest") {
      CHECK(spec.experiment == "default");
      CHECK(spec.compute == "local");
      CHECK(spec.estimator.framework == "generic");
      CHECK(spec.estimator.source_directory == ".");
      CHECK(spec.limits.max_run_duration_seconds == 0);
    }
  }
  GIVEN("script_params written as a list") {
    const JobSpec spec = valid(k_minimal + "  script_params: [--lr, 0.1, --verbose]\n");
    THEN("the list is the argv") {
      CHECK(spec.estimator.script_params == std::vector<std::string>{"--lr", "0.1", "--verbose"});
    }
  }
}

TEST_CASE("Wrong types name the field path (RELIABILITY 2)", "[spec]") {
  GIVEN("node_count: \"two\"") {
    const auto detail = problem_of(k_minimal + "  node_count: \"two\"\n");
    THEN("the path, position and what was expected are given") {
      CHECK(detail.path == "estimator.node_count");
      CHECK(detail.file == "job.yaml");
      CHECK(detail.line == 3);
      CHECK(detail.column == 15);
      CHECK_THAT(detail.message, Catch::Contains("must be an integer"));
    }
  }
  GIVEN("a quoted number where an integer is expected") {
    const auto detail = problem_of(k_minimal + "  node_count: \"2\"\n");
    THEN("the quotes make it a string, which is refused") {
      CHECK(detail.path == "estimator.node_count");
      CHECK_THAT(detail.message, Catch::Contains("not the string \"2\""));
    }
  }
  GIVEN("a list where a mapping is expected, and a string where a boolean is") {
    const auto details = problems_of(k_minimal + "  use_gpu: \"no\"\nlimits: [1]\n");
    THEN("both are reported") {
      REQUIRE(details.size() == 2);
      CHECK(details[0].path == "estimator.use_gpu");
      CHECK(details[1].path == "limits");
      CHECK_THAT(details[1].message, Catch::Contains("must be a mapping"));
    }
  }
}

TEST_CASE("Unknown keys are errors with a suggestion (RELIABILITY 3)", "[spec]") {
  GIVEN("a misspelt node_count") {
    const auto detail = problem_of(k_minimal + "  node_cout: 1\n");
    THEN("the nearest known key is suggested") {
      CHECK(detail.path == "estimator.node_cout");
      CHECK(detail.line == 3);
      CHECK(detail.column == 3);
      CHECK_THAT(detail.message, Catch::Contains("did you mean 'node_count'?"));
    }
  }
  GIVEN("a key unlike any other") {
    const auto detail = problem_of(k_minimal + "colour: blue\n");
    THEN("no suggestion is made") {
      CHECK(detail.path == "colour");
      CHECK_THAT(detail.message, !Catch::Contains("did you mean"));
    }
  }
}

TEST_CASE("Counts are checked, never clamped (RELIABILITY 4, 5)", "[spec]") {
  GIVEN("node_count: -1") {
    const auto detail = problem_of(k_minimal + "  node_count: -1\n");
    THEN("it is refused") {
      CHECK(detail.path == "estimator.node_count");
      CHECK(detail.line == 3);
      CHECK_THAT(detail.message, Catch::Contains("at least 1"));
    }
  }
  GIVEN("process_count_per_node: 0, as for an MPI run with no processes") {
    const auto detail = problem_of(k_minimal + "  process_count_per_node: 0\n");
    THEN("it is refused") {
      CHECK(detail.path == "estimator.process_count_per_node");
    }
  }
  GIVEN("parameter_server with 0 workers") {
    const auto details = problems_of(fixture("distributed_parameter_server.yaml"));
    THEN("the missing workers are reported besides what is not supported yet") {
      const auto has = [&](const std::string& path, const std::string& text) {
        return std::any_of(details.begin(), details.end(), [&](const ErrorDetail& d) {
          return d.path == path && d.message.find(text) != std::string::npos;
        });
      };
      CHECK(has("estimator.distributed_training.worker_count", "at least 1"));
      CHECK(has("estimator.distributed_training.backend", "not supported"));
      CHECK(has("estimator.node_count", "not supported"));
    }
  }
  GIVEN("worker_count without the parameter_server backend") {
    const auto detail = problem_of(k_minimal + "  distributed_training: {worker_count: 2}\n");
    THEN("it is refused rather than ignored") {
      CHECK(detail.path == "estimator.distributed_training.worker_count");
      CHECK_THAT(detail.message, Catch::Contains("only used with backend parameter_server"));
    }
  }
}

TEST_CASE("Every problem is reported at once, in file order", "[spec]") {
  GIVEN("a spec with three problems") {
    const auto details = problems_of(fixture("three_problems.yaml"));
    THEN("there are three details, each at its line") {
      REQUIRE(details.size() == 3);
      CHECK(details[0].path == "estimator.node_cout");
      CHECK(details[0].line == 4);
      CHECK(details[1].path == "estimator.process_count_per_node");
      CHECK(details[1].line == 5);
      CHECK(details[2].path == "limits.max_run_duration");
      CHECK(details[2].line == 7);
    }
  }
}

TEST_CASE("A spec with very many problems lists the first hundred", "[spec]") {
  GIVEN("150 unknown keys") {
    std::string text = k_minimal;
    for (int i = 0; i < 150; ++i) text += "unknown_" + std::to_string(i) + ": 1\n";
    const auto spec = parse_job_spec(text, options_with());
    THEN("the count is all of them, the details the first 100") {
      REQUIRE_FALSE(spec.has_value());
      CHECK(spec.error().details.size() == 100);
      CHECK(spec.error().details.front().path == "unknown_0");
      CHECK_THAT(spec.error().message, Catch::Contains("150 problems"));
    }
  }
}

TEST_CASE("Features not implemented yet are refused, each with its path", "[spec]") {
  const auto message_for = [](const std::string& extra) { return problem_of(k_minimal + extra); };
  CHECK(message_for("  distributed_training: {backend: mpi}\n").message ==
        "distributed training (backend: mpi) is not supported by this version of trainctl yet");
  CHECK(message_for("  node_count: 2\n").path == "estimator.node_count");
  CHECK(message_for("  process_count_per_node: 4\n").path == "estimator.process_count_per_node");
  CHECK(message_for("  pip_packages: [numpy]\n").path == "estimator.pip_packages");
  CHECK(message_for("  conda_packages: [numpy]\n").path == "estimator.conda_packages");
  CHECK(message_for("  use_gpu: true\n").path == "estimator.use_gpu");
  CHECK(problem_of(k_minimal + "limits: {max_retries: 2}\n").path == "limits.max_retries");
  const auto inputs =
      problem_of(k_minimal + "inputs:\n  mnist: {dataset: mnist, version: latest, mode: mount}\n");
  CHECK(inputs.path == "inputs");
  CHECK(inputs.line == 4);
  CHECK_THAT(inputs.message, Catch::Contains("not supported by this version"));
}

TEST_CASE("Names, paths and environment variables follow the rules", "[spec]") {
  GIVEN("an entry script that climbs out of the source directory") {
    const auto detail = problem_of("estimator:\n  entry_script: ../x.py\n");
    THEN("it is refused") {
      CHECK(detail.path == "estimator.entry_script");
      CHECK(detail.line == 2);
    }
  }
  GIVEN("no entry script") {
    const auto detail = problem_of("experiment: x\nestimator: {framework: generic}\n");
    THEN("it is required, at the estimator's position") {
      CHECK(detail.path == "estimator.entry_script");
      CHECK(detail.line == 2);
    }
  }
  GIVEN("a reserved variable, a bad variable name, a bad experiment name and a bad tag") {
    const auto details = problems_of(k_minimal +
                                     "experiment: \"a b\"\n"
                                     "environment_variables: {TRAINCTL_TOKEN: x, 1X: y}\n"
                                     "tags: {\"-bad\": v}\n");
    THEN("each is reported") {
      REQUIRE(details.size() == 4);
      CHECK(details[0].path == "experiment");
      CHECK(details[1].path == "environment_variables.TRAINCTL_TOKEN");
      CHECK_THAT(details[1].message, Catch::Contains("reserved"));
      CHECK(details[2].path == "environment_variables.1X");
      CHECK(details[3].path == "tags.-bad");
    }
  }
  GIVEN("a framework with a typo") {
    const auto detail = problem_of(k_minimal + "  framework: tensorflw\n");
    THEN("the nearest framework is suggested") {
      CHECK_THAT(detail.message, Catch::Contains("did you mean 'tensorflow'"));
    }
  }
}

TEST_CASE("Durations read as users write them", "[spec]") {
  const auto duration_of = [](const std::string& text) {
    return valid(k_minimal + "limits: {max_run_duration: " + text + "}\n")
        .limits.max_run_duration_seconds;
  };
  CHECK(duration_of("2h") == 7200);
  CHECK(duration_of("90m") == 5400);
  CHECK(duration_of("1h30m") == 5400);
  CHECK(duration_of("45") == 45);
  CHECK(duration_of("\"30s\"") == 30);
  CHECK(problem_of(k_minimal + "limits: {max_run_duration: 2 hours}\n").path ==
        "limits.max_run_duration");
}

TEST_CASE("Overrides (--set) apply before validation", "[spec][overrides]") {
  GIVEN("overrides of a number, a variable, a tag and a duration") {
    const JobSpec spec = valid(
        fixture("full.yaml"), {"estimator.framework_version=2.1", "environment_variables.FOO=bar",
                               "tags.team=research", "limits.max_run_duration=30m", "name=second"});
    THEN("each replaces or adds its value") {
      CHECK(spec.estimator.framework_version == "2.1");
      CHECK(spec.environment_variables.back() == std::pair<std::string, std::string>{"FOO", "bar"});
      CHECK(spec.tags.at("team") == "research");
      CHECK(spec.limits.max_run_duration_seconds == 1800);
      CHECK(spec.name == "second");
    }
  }
  GIVEN("an override of a section the file does not have") {
    const JobSpec spec =
        valid(k_minimal, {"tags.team=ml", "estimator.script_params=[--lr, '0.1']"});
    THEN("the section is created") {
      CHECK(spec.tags.at("team") == "ml");
      CHECK(spec.estimator.script_params == std::vector<std::string>{"--lr", "0.1"});
    }
  }
  GIVEN("an override that fixes an invalid value") {
    THEN("the spec validates") {
      CHECK(
          valid(k_minimal + "  node_count: 0\n", {"estimator.node_count=1"}).estimator.node_count ==
          1);
    }
  }
  GIVEN("an override that breaks a rule") {
    const auto detail = problem_of(k_minimal, {"estimator.node_count=0"});
    THEN("the problem is reported against --set") {
      CHECK(detail.file == "--set");
      CHECK(detail.path == "estimator.node_count");
    }
  }
  GIVEN("an override of an unknown path") {
    const auto detail = problem_of(k_minimal, {"estimator.node_cout=2"});
    THEN("it is refused with a suggestion, against --set") {
      CHECK(detail.file == "--set");
      CHECK(detail.path == "estimator.node_cout");
      CHECK_THAT(detail.message, Catch::Contains("did you mean 'node_count'?"));
    }
  }
  GIVEN("malformed overrides") {
    const auto details = problems_of(k_minimal, {"estimator.node_count", "estimator..x=1", "=1"});
    THEN("each is reported") {
      REQUIRE(details.size() == 3);
      for (const auto& detail : details) {
        CHECK(detail.file == "--set");
        CHECK_THAT(detail.message, Catch::Contains("key=value"));
      }
    }
  }
  GIVEN("an override whose value is not valid YAML") {
    const auto detail = problem_of(k_minimal, {"tags.x=[a"});
    THEN("it is refused against --set") {
      CHECK(detail.file == "--set");
      CHECK(detail.path == "tags.x");
      CHECK_THAT(detail.message, Catch::Contains("does not parse"));
    }
  }
  GIVEN("an override through a value that is not a mapping") {
    const auto detail = problem_of(k_minimal, {"estimator.entry_script.x=1"});
    THEN("it is refused") {
      CHECK_THAT(detail.message, Catch::Contains("'estimator.entry_script' is not a mapping"));
    }
  }
}
