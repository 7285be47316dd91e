// Reading a job spec from YAML: fields, types, rules, distributed training, what is not supported
// yet, and --set.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "trainctl/spec/job_spec.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/strings.hpp"

using trainctl::ErrorCode;
using trainctl::ErrorDetail;
using trainctl::spec::Backend;
using trainctl::spec::JobSpec;
using trainctl::spec::parse_job_spec;
using trainctl::spec::ParseOptions;
using trainctl::spec::SuccessPolicy;
using trainctl::spec::task_names;

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
  GIVEN("parameter_server with 0 workers on two nodes") {
    const auto detail = problem_of(fixture("distributed_parameter_server.yaml"));
    THEN("the missing workers are the one problem, at their position") {
      CHECK(detail.path == "estimator.distributed_training.worker_count");
      CHECK(detail.line == 8);
      CHECK(detail.column == 19);
      CHECK(detail.message == "must be at least 1, not 0");
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

TEST_CASE("Integers past their range are refused, never wrapped (RELIABILITY 43)", "[spec]") {
  GIVEN("a priority of 2^64 + 1") {
    const auto detail = problem_of(k_minimal + "priority: 18446744073709551617\n");
    THEN("it is refused at its field, with the number as written") {
      CHECK(detail.path == "priority");
      CHECK(detail.line == 3);
      CHECK(detail.message == "18446744073709551617 is out of range");
    }
  }
  GIVEN("node_count: 2^63, one past the largest 64-bit integer") {
    const auto detail = problem_of(k_minimal + "  node_count: 9223372036854775808\n");
    THEN("it is out of range, not read as 0") {
      CHECK(detail.path == "estimator.node_count");
      CHECK(detail.message == "9223372036854775808 is out of range");
    }
  }
  GIVEN("a retry exit code below the smallest 64-bit integer") {
    const auto detail = problem_of(
        k_minimal + "limits: {max_retries: 1, retry_on_exit_codes: [-9223372036854775809]}\n");
    THEN("it is out of range at its index") {
      CHECK(detail.path == "limits.retry_on_exit_codes[0]");
      CHECK(detail.message == "-9223372036854775809 is out of range");
    }
  }
  GIVEN("a node count past 64 bits given with --set") {
    const auto detail = problem_of(k_minimal, {"estimator.node_count=99999999999999999999"});
    THEN("it is refused the same way") {
      CHECK(detail.path == "estimator.node_count");
      CHECK(detail.message == "99999999999999999999 is out of range");
    }
  }
  GIVEN("a time limit whose milliseconds would not fit in 64 bits") {
    std::string forever;
    for (int i = 0; i < 2000; ++i) forever += "99999999d";
    const auto detail = problem_of(k_minimal + "limits: {max_run_duration: " + forever + "}\n");
    THEN("it is refused with the longest limit allowed") {
      CHECK(detail.path == "limits.max_run_duration");
      CHECK_THAT(detail.message, Catch::StartsWith("must be at most 315360000 seconds (3650d)"));
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

TEST_CASE("Priority and the retry budget are checked, each with its path", "[spec]") {
  GIVEN("a spec with a priority, retries and the exit codes to retry") {
    auto spec = parse_job_spec(k_minimal + "priority: 10\n"
                               "limits: {max_retries: 3, retry_on_exit_codes: [1, 75]}\n");
    THEN("they are read as written") {
      REQUIRE(spec.has_value());
      CHECK(spec->priority == 10);
      CHECK(spec->limits.max_retries == 3);
      CHECK(spec->limits.retry_on_exit_codes == std::vector<int>{1, 75});
    }
  }
  GIVEN("values out of range") {
    const auto details = problems_of(k_minimal + "priority: 5000\n"
                                     "limits: {max_retries: 101, retry_on_exit_codes: [0, 256]}\n");
    THEN("each is reported at its field, never clamped") {
      std::vector<std::string> paths;
      for (const auto& detail : details) paths.push_back(detail.path);
      CHECK(paths == std::vector<std::string>{"priority", "limits.max_retries",
                                              "limits.retry_on_exit_codes[0]",
                                              "limits.retry_on_exit_codes[1]"});
    }
  }
  GIVEN("exit codes to retry without any retries") {
    const auto detail = problem_of(k_minimal + "limits: {retry_on_exit_codes: [1]}\n");
    THEN("the user is told the list does nothing") {
      CHECK(detail.path == "limits.retry_on_exit_codes");
      CHECK(detail.message.find("max_retries") != std::string::npos);
    }
  }
  GIVEN("pip packages, conda packages and use_gpu") {
    THEN("the spec accepts them: the service checks them against the compute target") {
      CHECK(parse_job_spec(k_minimal + "  pip_packages: [numpy]\n  use_gpu: true\n"
                           "  conda_packages: [numpy]\n")
                .has_value());
    }
  }
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

TEST_CASE("A NUL in an argument or a variable's value is refused (RELIABILITY 43)", "[spec]") {
  GIVEN("a variable's value and script arguments, as a list and as a mapping, holding a NUL") {
    const auto details = problems_of(k_minimal +
                                     "  script_params: [--data, \"a\\0b\"]\n"
                                     "environment_variables: {SEED: \"1\\0; rm -rf ~\"}\n");
    const auto mapped = problem_of(k_minimal + "  script_params: {--lr: \"0.1\\x00\"}\n");
    THEN("each is refused at its path, rather than cut short when the run starts") {
      REQUIRE(details.size() == 2);
      CHECK(details[0].path == "estimator.script_params[1]");
      CHECK(details[0].line == 3);
      CHECK_THAT(details[0].message, Catch::Contains("NUL"));
      CHECK(details[1].path == "environment_variables.SEED");
      CHECK(details[1].line == 4);
      CHECK(mapped.path == "estimator.script_params[1]");
      CHECK_THAT(mapped.message, Catch::Contains("NUL"));
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
    THEN("it is refused against --set, with how to pass it as a string") {
      CHECK(detail.file == "--set");
      CHECK(detail.path == "tags.x");
      CHECK_THAT(detail.message, Catch::Contains("does not parse"));
      CHECK_THAT(detail.message, Catch::EndsWith("quote it: tags.x='\"[a\"'"));
    }
  }
  GIVEN("an override whose value starts with '%', a YAML directive, quoted as the error says") {
    CHECK_THAT(problem_of(k_minimal, {"tags.t=%H:%M"}).message, Catch::Contains("quote it"));
    CHECK(valid(k_minimal, {"tags.t=\"%H:%M\""}).tags.at("t") == "%H:%M");
  }
  GIVEN("an override through a value that is not a mapping") {
    const auto detail = problem_of(k_minimal, {"estimator.entry_script.x=1"});
    THEN("it is refused") {
      CHECK_THAT(detail.message, Catch::Contains("'estimator.entry_script' is not a mapping"));
    }
  }
}

namespace {

// k_minimal with an estimator.distributed_training section of `fields` ("backend: mpi\n...").
std::string distributed(const std::string& estimator_fields, const std::string& fields) {
  std::string text = k_minimal + estimator_fields + "  distributed_training:\n";
  for (const auto part : trainctl::util::split(fields, '\n')) {
    if (!part.empty()) text += "    " + std::string(part) + "\n";
  }
  return text;
}

}  // namespace

TEST_CASE("Distributed specs read for every backend", "[spec][distributed]") {
  GIVEN("an MPI run of two nodes with four processes each") {
    const JobSpec spec =
        valid(distributed("  node_count: 2\n  process_count_per_node: 4\n", "backend: mpi\n"));
    THEN("the counts and the backend are read, the parameter-server fields keep their defaults") {
      CHECK(spec.estimator.node_count == 2);
      CHECK(spec.estimator.process_count_per_node == 4);
      CHECK(spec.estimator.distributed.backend == Backend::mpi);
      CHECK(spec.estimator.distributed.chief);
      CHECK(spec.estimator.distributed.success_policy == SuccessPolicy::chief);
    }
  }
  GIVEN("a parameter-server run with every field written") {
    const JobSpec spec = valid(distributed("  node_count: 2\n",
                                           "backend: parameter_server\n"
                                           "worker_count: 3\n"
                                           "parameter_server_count: 2\n"
                                           "chief: false\n"
                                           "evaluator: true\n"
                                           "success_policy: all_workers\n"));
    THEN("each field holds what the file says") {
      const auto& training = spec.estimator.distributed;
      CHECK(training.backend == Backend::parameter_server);
      CHECK(training.worker_count == 3);
      CHECK(training.parameter_server_count == 2);
      CHECK_FALSE(training.chief);
      CHECK(training.evaluator);
      CHECK(training.success_policy == SuccessPolicy::all_workers);
    }
  }
  GIVEN("a PyTorch run, and an MPI run that writes chief: true, the default") {
    THEN("both are valid") {
      CHECK(valid(distributed("  process_count_per_node: 2\n", "backend: pytorch\n"))
                .estimator.distributed.backend == Backend::pytorch);
      CHECK(valid(distributed("", "backend: mpi\nchief: true\n")).estimator.distributed.chief);
    }
  }
}

TEST_CASE("success_policy is chief or all_workers", "[spec][distributed]") {
  GIVEN("the names") {
    THEN("they parse exactly and print back") {
      CHECK(trainctl::spec::parse_success_policy("chief") == SuccessPolicy::chief);
      CHECK(trainctl::spec::parse_success_policy("all_workers") == SuccessPolicy::all_workers);
      CHECK_FALSE(trainctl::spec::parse_success_policy("All_Workers").has_value());
      CHECK(trainctl::spec::to_string(SuccessPolicy::all_workers) == "all_workers");
    }
  }
  GIVEN("a misspelt policy") {
    const auto detail = problem_of(
        distributed("",
                    "backend: parameter_server\nworker_count: 1\nparameter_server_count: 1\n"
                    "success_policy: all_worker\n"));
    THEN("the choices are listed with the nearest one, at the value's position") {
      CHECK(detail.path == "estimator.distributed_training.success_policy");
      CHECK(detail.line == 7);
      CHECK(detail.column == 21);
      CHECK(detail.message ==
            "'all_worker' is not one of chief, all_workers (did you mean 'all_workers'?)");
    }
  }
  GIVEN("a misspelt policy given with --set") {
    const auto detail = problem_of(distributed("",
                                               "backend: parameter_server\nworker_count: 1\n"
                                               "parameter_server_count: 1\n"),
                                   {"estimator.distributed_training.success_policy=chif"});
    THEN("it is reported against --set with a suggestion") {
      CHECK(detail.file == "--set");
      CHECK_THAT(detail.message, Catch::Contains("did you mean 'chief'?"));
    }
  }
}

TEST_CASE("Each backend's rules are checked (RELIABILITY 4, 5)", "[spec][distributed]") {
  GIVEN("parameter_server with no workers and no ps") {
    const auto details = problems_of(
        distributed("", "backend: parameter_server\nworker_count: 0\nparameter_server_count: 0\n"));
    THEN("both are reported") {
      REQUIRE(details.size() == 2);
      CHECK(details[0].path == "estimator.distributed_training.worker_count");
      CHECK(details[1].path == "estimator.distributed_training.parameter_server_count");
      CHECK(details[1].message == "must be at least 1, not 0");
    }
  }
  GIVEN("parameter_server with two processes per node") {
    const auto detail = problem_of(
        distributed("  process_count_per_node: 2\n",
                    "backend: parameter_server\nworker_count: 1\nparameter_server_count: 1\n"));
    THEN("it is refused: that count is for mpi and pytorch") {
      CHECK(detail.path == "estimator.process_count_per_node");
      CHECK(detail.line == 3);
      CHECK_THAT(detail.message,
                 Catch::StartsWith("must be 1 with backend parameter_server, not 2"));
      CHECK_THAT(detail.message, Catch::Contains("is for mpi and pytorch"));
    }
  }
  GIVEN("an MPI run with no processes") {
    const auto detail = problem_of(distributed("  process_count_per_node: 0\n", "backend: mpi\n"));
    THEN("it is refused") {
      CHECK(detail.path == "estimator.process_count_per_node");
      CHECK(detail.message == "must be at least 1, not 0");
    }
  }
  GIVEN("two nodes, or two processes, without a backend") {
    const auto nodes = problem_of(k_minimal + "  node_count: 2\n");
    const auto processes = problem_of(k_minimal + "  process_count_per_node: 2\n");
    THEN("the user is told to pick a distributed_training backend") {
      CHECK(nodes.path == "estimator.node_count");
      CHECK(nodes.line == 3);
      CHECK(nodes.message ==
            "is 2, but a run without a distributed_training backend is one process: pick "
            "backend mpi, parameter_server or pytorch");
      CHECK(processes.path == "estimator.process_count_per_node");
      CHECK_THAT(processes.message,
                 Catch::Contains("pick backend mpi, parameter_server or pytorch"));
    }
  }
  GIVEN("parameter-server fields set away from their defaults with other backends") {
    const auto policy = problem_of(distributed("", "backend: mpi\nsuccess_policy: all_workers\n"));
    const auto chief = problem_of(distributed("", "backend: pytorch\nchief: false\n"));
    const auto evaluator = problem_of(k_minimal + "  distributed_training: {evaluator: true}\n");
    THEN("each is refused rather than ignored") {
      CHECK(policy.path == "estimator.distributed_training.success_policy");
      CHECK(policy.line == 5);
      CHECK(policy.message == "is only used with backend parameter_server, not mpi");
      CHECK(chief.path == "estimator.distributed_training.chief");
      CHECK(chief.message == "is only used with backend parameter_server, not pytorch");
      CHECK(evaluator.path == "estimator.distributed_training.evaluator");
      CHECK(evaluator.message == "is only used with backend parameter_server, not none");
    }
  }
}

TEST_CASE("A run has at most 1024 tasks: larger counts are refused, never clamped",
          "[spec][distributed]") {
  GIVEN("an MPI run of a billion nodes") {
    const auto detail = problem_of(distributed("  node_count: 1000000000\n", "backend: mpi\n"));
    THEN("it is refused at node_count, with the number of ranks it would make") {
      CHECK(detail.path == "estimator.node_count");
      CHECK(detail.line == 3);
      CHECK(detail.message ==
            "node_count x process_count_per_node makes 1000000000 ranks; a run has at most "
            "1024 tasks");
    }
  }
  GIVEN("PyTorch with 32 nodes of 32 processes, and of 33") {
    THEN("1024 ranks are allowed, 1056 are not, reported at the larger count") {
      CHECK(valid(distributed("  node_count: 32\n  process_count_per_node: 32\n",
                              "backend: pytorch\n"))
                .estimator.process_count_per_node == 32);
      CHECK(problem_of(distributed("  node_count: 32\n  process_count_per_node: 33\n",
                                   "backend: pytorch\n"))
                .path == "estimator.process_count_per_node");
    }
  }
  GIVEN("the largest counts YAML can give, whose total does not fit an int") {
    const auto detail = problem_of(distributed("",
                                               "backend: parameter_server\n"
                                               "worker_count: 2147483647\n"
                                               "parameter_server_count: 2147483647\n"));
    THEN("the total is counted without overflowing") {
      CHECK(detail.path == "estimator.distributed_training.worker_count");
      CHECK(detail.message ==
            "makes 4294967295 tasks with the chief, ps and evaluator; a run has at most 1024");
    }
  }
  GIVEN("1023 workers and a ps, with and without a chief") {
    const std::string fields =
        "backend: parameter_server\nworker_count: 1023\n"
        "parameter_server_count: 1\n";
    THEN("the chief is the task too many") {
      CHECK(problems_of(distributed("", fields)).size() == 1);
      CHECK_FALSE(valid(distributed("", fields + "chief: false\n")).estimator.distributed.chief);
    }
  }
}

TEST_CASE("Every distributed problem is reported at once, at its position", "[spec][distributed]") {
  GIVEN("a parameter-server spec with four problems") {
    const auto details = problems_of(fixture("distributed_problems.yaml"));
    THEN("each is listed in file order with its line and column") {
      REQUIRE(details.size() == 4);
      CHECK(details[0].to_string() ==
            "job.yaml:4:27: estimator.process_count_per_node: must be 1 with backend "
            "parameter_server, not 2: it is for mpi and pytorch; use worker_count and "
            "parameter_server_count");
      CHECK(
          details[1].to_string() ==
          "job.yaml:7:19: estimator.distributed_training.worker_count: must be at least 1, not 0");
      CHECK(details[2].to_string() ==
            "job.yaml:8:29: estimator.distributed_training.parameter_server_count: must be at "
            "least 1, not 0");
      CHECK(details[3].to_string() ==
            "job.yaml:9:21: estimator.distributed_training.success_policy: 'first_worker' is not "
            "one of chief, all_workers");
    }
  }
}

TEST_CASE("task_names lists a run's tasks in launch-plan order", "[spec][distributed]") {
  using Names = std::vector<std::string>;
  GIVEN("a run without a backend") {
    THEN("it has one task, main") {
      CHECK(task_names(valid(k_minimal)) == Names{"main"});
    }
  }
  GIVEN("a parameter-server run with every task type") {
    const JobSpec spec = valid(distributed("",
                                           "backend: parameter_server\n"
                                           "worker_count: 2\n"
                                           "parameter_server_count: 2\n"
                                           "evaluator: true\n"));
    THEN("chief, ps, workers, then the evaluator") {
      CHECK(task_names(spec) ==
            Names{"chief-0", "ps-0", "ps-1", "worker-0", "worker-1", "evaluator-0"});
    }
    WHEN("the chief is left out") {
      JobSpec without_chief = spec;
      without_chief.estimator.distributed.chief = false;
      THEN("the list starts with the ps") {
        CHECK(task_names(without_chief).front() == "ps-0");
        CHECK(task_names(without_chief).size() == 5);
      }
    }
  }
  GIVEN("an MPI run of two nodes of two processes") {
    const JobSpec spec =
        valid(distributed("  node_count: 2\n  process_count_per_node: 2\n", "backend: mpi\n"));
    THEN("the ranks, then the launcher's log") {
      CHECK(task_names(spec) == Names{"rank-0", "rank-1", "rank-2", "rank-3", "mpirun"});
    }
  }
  GIVEN("a PyTorch run of three processes") {
    const JobSpec spec = valid(distributed("  process_count_per_node: 3\n", "backend: pytorch\n"));
    THEN("the ranks alone") {
      CHECK(task_names(spec) == Names{"rank-0", "rank-1", "rank-2"});
    }
  }
  GIVEN("a spec that does not validate, with a billion ranks") {
    JobSpec spec = valid(distributed("", "backend: mpi\n"));
    spec.estimator.node_count = 1'000'000'000;
    THEN("it has no task names, and nothing was allocated for them") {
      CHECK(task_names(spec).empty());
    }
  }
}

TEST_CASE("The example specs shipped in configs/examples validate", "[spec][distributed]") {
  GIVEN("every configs/examples/*/job.yaml") {
    const std::filesystem::path examples =
        std::filesystem::path(TRAINCTL_SOURCE_DIR) / "configs" / "examples";
    THEN("each parses without a problem") {
      for (const auto& entry : std::filesystem::directory_iterator(examples)) {
        const auto spec_file = entry.path() / "job.yaml";
        if (!std::filesystem::exists(spec_file)) continue;
        INFO(spec_file.string());
        const auto spec = parse_job_spec(trainctl::util::read_file(spec_file).value());
        CHECK((spec ? std::string() : spec.error().details.front().to_string()) == "");
      }
    }
  }
}

TEST_CASE("script_params become the run's params", "[spec][metrics]") {
  using trainctl::spec::script_param_values;
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(script_param_values({"--lr", "0.1", "--verbose", "--offset", "-1", "-k", "3"}) ==
        Pairs{{"--lr", "0.1"}, {"--verbose", ""}, {"--offset", "-1"}, {"-k", "3"}});
  CHECK(script_param_values({"data.csv", "--fast"}) == Pairs{{"arg0", "data.csv"}, {"--fast", ""}});
  CHECK(script_param_values({}).empty());
}

// Found by fuzzing: a key ending in ']' without a '[' made finding a problem's position loop
// forever (`trainctl validate` hung).
TEST_CASE("A key ending in a closing bracket is reported, not looped on", "[spec]") {
  GIVEN("a tag key 'l]' beside keys the spec does not know") {
    const auto parsed = trainctl::spec::parse_job_spec("r:\ns:\ntags:\n l]: s\n");
    THEN("the unknown keys are reported at their lines") {
      REQUIRE_FALSE(parsed.has_value());
      CHECK(parsed.error().code == ErrorCode::invalid_spec);
      CHECK_FALSE(parsed.error().details.empty());
    }
  }
}
