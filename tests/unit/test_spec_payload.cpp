// The estimator payload: what the CLI sends, and the service's validation of it by the same rules.
#include <catch2/catch.hpp>
#include <string>

#include "trainctl/spec/job_spec.hpp"

using trainctl::ErrorCode;
using trainctl::spec::build_payload;
using trainctl::spec::job_spec_from_payload;
using trainctl::spec::JobSpec;
using trainctl::spec::SuccessPolicy;

namespace {

const std::string k_snapshot(64, 'a');

JobSpec example_spec() {
  JobSpec spec;
  spec.experiment = "tf-mnist";
  spec.name = "try-1";
  spec.estimator.framework = "tensorflow";
  spec.estimator.framework_version = "2.0";
  spec.estimator.entry_script = "src/train.py";
  spec.estimator.script_params = {"--lr", "0.1", "--verbose"};
  spec.environment_variables = {{"A_FIRST", "1"}, {"B_SECOND", "two words"}};
  spec.limits = {.max_run_duration_seconds = 7200, .max_retries = 2, .retry_on_exit_codes = {1}};
  spec.priority = 5;
  spec.tags = {{"team", "ml"}};
  return spec;
}

}  // namespace

TEST_CASE("A payload round-trips to the same spec", "[spec][payload]") {
  GIVEN("a spec") {
    const JobSpec spec = example_spec();
    WHEN("it is turned into a payload and read back as the service does") {
      const nlohmann::json payload = build_payload(spec, k_snapshot);
      const auto back = job_spec_from_payload(payload);
      THEN("every field survives") {
        REQUIRE(back.has_value());
        CHECK(back->experiment == spec.experiment);
        CHECK(back->name == spec.name);
        CHECK(back->compute == spec.compute);
        CHECK(back->estimator.framework == "tensorflow");
        CHECK(back->estimator.framework_version == "2.0");
        CHECK(back->estimator.entry_script == spec.estimator.entry_script);
        CHECK(back->estimator.script_params == spec.estimator.script_params);
        CHECK(back->environment_variables == spec.environment_variables);
        CHECK(back->limits.max_run_duration_seconds == 7200);
        CHECK(back->limits.max_retries == 2);
        CHECK(back->limits.retry_on_exit_codes == std::vector<int>{1});
        CHECK(back->priority == 5);
        CHECK(back->tags == spec.tags);
        CHECK(build_payload(*back, k_snapshot) == payload);
      }
      THEN("it has the documented shape") {
        CHECK(payload["snapshot_id"] == k_snapshot);
        CHECK(payload["estimator"]["distributed_training"]["backend"] == "none");
        CHECK(payload["environment_variables"]["B_SECOND"] == "two words");
        CHECK(payload["limits"]["max_run_duration_seconds"] == 7200);
        CHECK_FALSE(payload.contains("inputs"));
      }
    }
  }
}

TEST_CASE("The service refuses a bad payload with every problem and its JSON path",
          "[spec][payload]") {
  GIVEN("a payload with a quoted count, an unknown key, a reserved variable and no snapshot") {
    nlohmann::json payload = build_payload(example_spec(), k_snapshot);
    payload["estimator"]["node_count"] = "2";
    payload["estimator"]["nodes"] = 2;
    payload["environment_variables"]["TRAINCTL_TOKEN"] = "x";
    payload.erase("snapshot_id");
    const auto result = job_spec_from_payload(payload);
    THEN("each is reported, without positions") {
      REQUIRE_FALSE(result.has_value());
      CHECK(result.error().code == ErrorCode::invalid_spec);
      std::vector<std::string> paths;
      for (const auto& detail : result.error().details) {
        paths.push_back(detail.path);
        CHECK(detail.line == 0);
      }
      std::sort(paths.begin(), paths.end());
      CHECK(paths == std::vector<std::string>{"environment_variables.TRAINCTL_TOKEN",
                                              "estimator.node_count", "estimator.nodes",
                                              "snapshot_id"});
    }
  }
  GIVEN("a payload with a retry code out of range") {
    nlohmann::json payload = build_payload(example_spec(), k_snapshot);
    payload["limits"]["max_retries"] = 1;
    payload["limits"]["retry_on_exit_codes"] = {300};
    const auto result = job_spec_from_payload(payload);
    THEN("the same message as for a YAML spec is given, at the JSON path") {
      REQUIRE_FALSE(result.has_value());
      REQUIRE(result.error().details.size() == 1);
      CHECK(result.error().details[0].path == "limits.retry_on_exit_codes[0]");
      CHECK(result.error().details[0].message == "must be an exit code from 1 to 255, not 300");
    }
  }
  GIVEN("a payload that is not an object, or has a negative time limit") {
    nlohmann::json negative = build_payload(example_spec(), k_snapshot);
    negative["limits"]["max_run_duration_seconds"] = -1;
    THEN("both are refused") {
      CHECK_FALSE(job_spec_from_payload(nlohmann::json::array()).has_value());
      const auto result = job_spec_from_payload(negative);
      REQUIRE_FALSE(result.has_value());
      CHECK(result.error().details[0].path == "limits.max_run_duration_seconds");
    }
  }
}

namespace {

JobSpec parameter_server_spec() {
  JobSpec spec = example_spec();
  spec.estimator.node_count = 2;
  auto& training = spec.estimator.distributed;
  training.backend = trainctl::spec::Backend::parameter_server;
  training.worker_count = 3;
  training.parameter_server_count = 2;
  training.chief = false;
  training.evaluator = true;
  training.success_policy = SuccessPolicy::all_workers;
  return spec;
}

}  // namespace

TEST_CASE("The service refuses integers past their range, never wrapped (RELIABILITY 43)",
          "[spec][payload]") {
  GIVEN("a node count of 2^63 and a time limit of 2^63 - 1 seconds") {
    nlohmann::json payload = build_payload(example_spec(), k_snapshot);
    payload["estimator"]["node_count"] = 9223372036854775808u;
    payload["limits"]["max_run_duration_seconds"] = INT64_MAX;
    const auto result = job_spec_from_payload(payload);
    THEN("both are refused at their JSON paths") {
      REQUIRE_FALSE(result.has_value());
      REQUIRE(result.error().details.size() == 2);
      CHECK(result.error().details[0].path == "estimator.node_count");
      CHECK(result.error().details[0].message == "9223372036854775808 is out of range");
      CHECK(result.error().details[1].path == "limits.max_run_duration_seconds");
      CHECK(result.error().details[1].message ==
            "must be at most 315360000 seconds (3650d), not 9223372036854775807");
    }
  }
}

TEST_CASE("The service refuses a NUL in an argument or a variable's value (RELIABILITY 43)",
          "[spec][payload]") {
  nlohmann::json payload = build_payload(example_spec(), k_snapshot);
  payload["estimator"]["script_params"][1] = std::string("0.1\0x", 5);
  payload["environment_variables"]["B_SECOND"] = std::string("two\0words", 9);
  const auto result = job_spec_from_payload(payload);
  REQUIRE_FALSE(result.has_value());
  REQUIRE(result.error().details.size() == 2);
  CHECK(result.error().details[0].path == "estimator.script_params[1]");
  CHECK(result.error().details[1].path == "environment_variables.B_SECOND");
}

TEST_CASE("A distributed payload round-trips to the same spec", "[spec][payload][distributed]") {
  GIVEN("a parameter-server spec with every field away from its default") {
    const JobSpec spec = parameter_server_spec();
    const nlohmann::json payload = build_payload(spec, k_snapshot);
    THEN("the payload carries each field under estimator.distributed_training") {
      CHECK(payload["estimator"]["node_count"] == 2);
      CHECK(payload["estimator"]["distributed_training"] ==
            nlohmann::json{{"backend", "parameter_server"},
                           {"worker_count", 3},
                           {"parameter_server_count", 2},
                           {"chief", false},
                           {"evaluator", true},
                           {"success_policy", "all_workers"}});
    }
    WHEN("the service reads it back") {
      const auto back = job_spec_from_payload(payload);
      THEN("every field survives") {
        REQUIRE(back.has_value());
        const auto& training = back->estimator.distributed;
        CHECK(back->estimator.node_count == 2);
        CHECK(training.worker_count == 3);
        CHECK(training.parameter_server_count == 2);
        CHECK_FALSE(training.chief);
        CHECK(training.evaluator);
        CHECK(training.success_policy == SuccessPolicy::all_workers);
        CHECK(build_payload(*back, k_snapshot) == payload);
      }
    }
  }
  GIVEN("an MPI spec of two nodes with four processes each") {
    JobSpec spec = example_spec();
    spec.estimator.distributed.backend = trainctl::spec::Backend::mpi;
    spec.estimator.node_count = 2;
    spec.estimator.process_count_per_node = 4;
    const auto back = job_spec_from_payload(build_payload(spec, k_snapshot));
    THEN("the service accepts it as it is") {
      REQUIRE(back.has_value());
      CHECK(back->estimator.distributed.backend == trainctl::spec::Backend::mpi);
      CHECK(back->estimator.process_count_per_node == 4);
    }
  }
  GIVEN("a payload from a client that does not send success_policy") {
    nlohmann::json payload = build_payload(parameter_server_spec(), k_snapshot);
    payload["estimator"]["distributed_training"].erase("success_policy");
    const auto back = job_spec_from_payload(payload);
    THEN("the policy is the default, chief") {
      REQUIRE(back.has_value());
      CHECK(back->estimator.distributed.success_policy == SuccessPolicy::chief);
    }
  }
}

TEST_CASE("The service applies the distributed rules to a payload",
          "[spec][payload][distributed]") {
  GIVEN("an unknown success_policy") {
    nlohmann::json payload = build_payload(parameter_server_spec(), k_snapshot);
    payload["estimator"]["distributed_training"]["success_policy"] = "all-workers";
    const auto result = job_spec_from_payload(payload);
    THEN("it is refused with the nearest name and its JSON path, without a position") {
      REQUIRE_FALSE(result.has_value());
      REQUIRE(result.error().details.size() == 1);
      const auto& detail = result.error().details[0];
      CHECK(detail.path == "estimator.distributed_training.success_policy");
      CHECK(detail.line == 0);
      CHECK(detail.message ==
            "'all-workers' is not one of chief, all_workers (did you mean 'all_workers'?)");
    }
  }
  GIVEN("a parameter-server payload without workers, and too many ps") {
    nlohmann::json payload = build_payload(parameter_server_spec(), k_snapshot);
    payload["estimator"]["distributed_training"]["worker_count"] = 0;
    payload["estimator"]["distributed_training"]["parameter_server_count"] = 5000;
    const auto result = job_spec_from_payload(payload);
    THEN("both are reported as for a YAML spec") {
      REQUIRE_FALSE(result.has_value());
      REQUIRE(result.error().details.size() == 2);
      CHECK(result.error().details[0].path == "estimator.distributed_training.worker_count");
      CHECK(result.error().details[0].message == "must be at least 1, not 0");
      CHECK(result.error().details[1].path ==
            "estimator.distributed_training.parameter_server_count");
      CHECK_THAT(result.error().details[1].message, Catch::Contains("a run has at most 1024"));
    }
  }
}
