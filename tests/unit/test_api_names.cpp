// Hostile names and paths (traversal, NUL, control characters, overlong) are refused.
#include <catch2/catch.hpp>
#include <string>

#include "trainctl/api/names.hpp"
#include "trainctl/api/run_status.hpp"

using trainctl::api::split_relative_path;
using trainctl::api::validate_name;

TEST_CASE("Resource names", "[api][names]") {
  GIVEN("names users write") {
    THEN("they are accepted") {
      for (const char* name : {"tf-mnist", "a", "run_1.2", "X"})
        CHECK(validate_name("experiment", name).has_value());
      CHECK(validate_name("experiment", std::string(255, 'a')).has_value());
    }
  }
  GIVEN("names that could traverse, inject or hide") {
    THEN("they are refused with invalid_argument, naming the kind") {
      for (const std::string& name :
           std::vector<std::string>{"", ".", "..", "../x", "-x", "a b", "x'; DROP TABLE runs;--",
                                    "a/b", std::string("a\0b", 3), std::string(256, 'a'),
                                    "\xe2\x80\xae"
                                    "abc"}) {
        const auto result = validate_name("experiment", name);
        REQUIRE_FALSE(result.has_value());
        CHECK(result.error().code == trainctl::ErrorCode::invalid_argument);
        CHECK_THAT(result.error().message, Catch::Contains("experiment"));
      }
    }
  }
}

TEST_CASE("Relative paths are checked component by component", "[api][names]") {
  CHECK(split_relative_path("src/train.py").value() == std::vector<std::string>{"src", "train.py"});
  for (const std::string& path :
       std::vector<std::string>{"", "/etc/passwd", "../x", "a/../../b", "..\\x", "a//b", "./a",
                                "a/", std::string("a\0b", 3), "a/\x01"}) {
    INFO(path);
    CHECK_FALSE(split_relative_path(path).has_value());
  }
  CHECK_FALSE(split_relative_path(std::string(4097, 'a')).has_value());
}

TEST_CASE("Path components that percent-decode to a traversal are refused", "[api][names]") {
  for (const std::string path : {"%2e%2e/x", "a/%2E", "a/%252e%252e/b", "x%2fy", "x%5cy", "%00"}) {
    INFO(path);
    const auto split = split_relative_path(path);
    REQUIRE_FALSE(split.has_value());
    CHECK_THAT(split.error().message, Catch::Contains("percent-decodes"));
  }
  for (const std::string path : {"100%25.txt", "a%2", "%zz/b", "50%.csv", "%2e%2ex"}) {
    INFO(path);
    CHECK(split_relative_path(path).has_value());
  }
}

TEST_CASE("Slurm partition, account and QOS names", "[api][names][slurm]") {
  using trainctl::api::validate_slurm_name;
  for (const std::string name : {"", "debug", "gpu-a100", "lab_1", "high.prio", "P1"}) {
    INFO(name);
    CHECK(validate_slurm_name("partition", name));
  }
  CHECK(validate_slurm_name("partition", std::string(64, 'p')));
  for (const std::string& name :
       std::vector<std::string>{"-p", ".x", "_x", "a b", "a;b", "a,b", "a|b", "$(id)", "a/b",
                                std::string(65, 'p'), std::string("a\0b", 3), "\xc3\xa9"}) {
    INFO(name);
    const auto refused = validate_slurm_name("account", name);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == trainctl::ErrorCode::invalid_argument);
    CHECK_THAT(refused.error().message, Catch::StartsWith("invalid Slurm account name"));
  }
}

TEST_CASE("SHA-256 hex is 64 lower-case hex digits", "[api][names]") {
  CHECK(trainctl::api::is_sha256_hex(std::string(64, 'a')));
  CHECK_FALSE(trainctl::api::is_sha256_hex(std::string(64, 'A')));
  CHECK_FALSE(trainctl::api::is_sha256_hex(std::string(63, 'a')));
}

TEST_CASE("Run statuses", "[api][run_status]") {
  using trainctl::api::RunStatus;
  CHECK(trainctl::api::parse_run_status(trainctl::api::to_string(RunStatus::TimedOut)) ==
        RunStatus::TimedOut);
  CHECK_FALSE(trainctl::api::parse_run_status("running").has_value());
  CHECK(trainctl::api::is_terminal(RunStatus::Canceled));
  CHECK_FALSE(trainctl::api::is_terminal(RunStatus::CancelRequested));
  CHECK(trainctl::api::exit_code_for_outcome(RunStatus::Completed) == 0);
  CHECK(trainctl::api::exit_code_for_outcome(RunStatus::Failed) == 3);
  CHECK(trainctl::api::exit_code_for_outcome(RunStatus::TimedOut) == 5);
}

TEST_CASE("Idempotency keys: one rule for the CLI and the service", "[api][names]") {
  using trainctl::api::validate_idempotency_key;
  GIVEN("keys CI systems make") {
    THEN("they are accepted") {
      for (const char* key : {"ci-42", "pipeline/7/train", "a", "x:y@z#1"})
        CHECK(validate_idempotency_key(key).has_value());
      CHECK(validate_idempotency_key(std::string(255, 'k')).has_value());
    }
  }
  GIVEN("keys with spaces, control or non-ASCII characters, empty or too long") {
    THEN("they are refused with invalid_argument") {
      for (const std::string& key : std::vector<std::string>{
               "", "a b", " lead", "tab\tkey", std::string("a\0b", 3), "caf\xc3\xa9",
               std::string(256, 'k')}) {
        const auto result = validate_idempotency_key(key);
        REQUIRE_FALSE(result.has_value());
        CHECK(result.error().code == trainctl::ErrorCode::invalid_argument);
      }
    }
  }
  GIVEN("a batch key") {
    THEN("each item's key is distinct and says its place") {
      CHECK(trainctl::api::batch_item_idempotency_key("ci-42", 0) == "ci-42/0");
      CHECK(trainctl::api::batch_item_idempotency_key("ci-42", 12) == "ci-42/12");
    }
  }
}
