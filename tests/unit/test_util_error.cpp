#include <catch2/catch.hpp>

#include "trainctl/util/error.hpp"

using trainctl::ErrorCode;
using trainctl::ErrorDetail;

TEST_CASE("One table maps each error code to its name, HTTP status and exit code",
          "[util][error]") {
  CHECK(trainctl::http_status_of(ErrorCode::invalid_spec) == 422);
  CHECK(trainctl::exit_code_of(ErrorCode::invalid_spec) == trainctl::exit_code::k_invalid_spec);
  CHECK(trainctl::http_status_of(ErrorCode::not_found) == 404);
  CHECK(trainctl::exit_code_of(ErrorCode::unavailable) == trainctl::exit_code::k_unreachable);
  GIVEN("every code") {
    THEN("its wire name reads back to it, and its status maps back for the statuses the API uses") {
      for (const auto code :
           {ErrorCode::usage, ErrorCode::invalid_argument, ErrorCode::invalid_spec,
            ErrorCode::not_found, ErrorCode::conflict, ErrorCode::content_missing,
            ErrorCode::unauthorized,
            ErrorCode::forbidden, ErrorCode::payload_too_large, ErrorCode::unsupported_media_type,
            ErrorCode::unavailable, ErrorCode::too_many_requests, ErrorCode::insufficient_storage,
            ErrorCode::timeout, ErrorCode::internal}) {
        INFO(trainctl::error_code_name(code));
        CHECK(trainctl::error_code_from_name(trainctl::error_code_name(code)) == code);
      }
      CHECK(trainctl::error_code_from_http_status(422) == ErrorCode::invalid_spec);
      CHECK(trainctl::error_code_from_http_status(418) == ErrorCode::internal);
    }
  }
  CHECK(trainctl::error_code_from_name("no-such-code") == ErrorCode::internal);
}

TEST_CASE("A detail prints as file:line:col: path: message with the parts it has",
          "[util][error]") {
  ErrorDetail detail;
  detail.message = "must be an integer";
  CHECK(detail.to_string() == "must be an integer");
  detail.path = "estimator.node_count";
  CHECK(detail.to_string() == "estimator.node_count: must be an integer");
  detail.file = "job.yaml";
  detail.line = 3;
  detail.column = 15;
  CHECK(detail.to_string() == "job.yaml:3:15: estimator.node_count: must be an integer");
}

TEST_CASE("fail() builds an unexpected error with a formatted message", "[util][error]") {
  const trainctl::Result<int> result =
      trainctl::fail(ErrorCode::not_found, "run {} not found", "run-x");
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code == ErrorCode::not_found);
  CHECK(result.error().message == "run run-x not found");
}
