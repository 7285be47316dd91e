// Reconnect: the waits of a follower whose service is away or busy.
#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

#include "trainctl/cli/reconnect.hpp"

using trainctl::Error;
using trainctl::ErrorCode;
using trainctl::cli::Reconnect;
using namespace std::chrono_literals;

namespace {

struct Recorder {
  std::vector<std::chrono::milliseconds> slept;
  int outages = 0;
  Reconnect make(std::chrono::milliseconds patience) {
    return Reconnect(
        patience, [this](std::chrono::milliseconds delay) { slept.push_back(delay); },
        [this](const Error&) { ++outages; });
  }
};

}  // namespace

TEST_CASE("A follower backs off from 250 ms to 5 s while the service is away", "[cli][reconnect]") {
  Recorder recorder;
  auto reconnect = recorder.make(60s);
  const Error away(ErrorCode::unavailable, "cannot reach trainctld");
  for (int i = 0; i < 7; ++i) REQUIRE(reconnect.wait(away));
  CHECK(recorder.slept == std::vector<std::chrono::milliseconds>{250ms, 500ms, 1000ms, 2000ms,
                                                                   4000ms, 5000ms, 5000ms});
  CHECK(recorder.outages == 1);  // announced once
  WHEN("the service answers again") {
    reconnect.reset();
    REQUIRE(reconnect.wait(away));
    THEN("the next outage starts from the shortest delay and is announced again") {
      CHECK(recorder.slept.back() == 250ms);
      CHECK(recorder.outages == 2);
    }
  }
}

TEST_CASE("A busy service's Retry-After is the delay", "[cli][reconnect]") {
  Recorder recorder;
  auto reconnect = recorder.make(60s);
  Error busy(ErrorCode::too_many_requests, "busy");
  busy.retry_after_seconds = 3;
  REQUIRE(reconnect.wait(busy));
  CHECK(recorder.slept == std::vector<std::chrono::milliseconds>{3000ms});
}

TEST_CASE("A follower gives up once its patience is used", "[cli][reconnect]") {
  Recorder recorder;
  auto reconnect = recorder.make(1s);
  const Error away(ErrorCode::unavailable, "cannot reach trainctld");
  CHECK(reconnect.wait(away));   // 250 ms
  CHECK(reconnect.wait(away));   // 500 ms
  CHECK(reconnect.wait(away));   // the 250 ms left
  CHECK_FALSE(reconnect.wait(away));
  CHECK(recorder.slept.back() == 250ms);
}

TEST_CASE("Only an absent or busy service is waited out", "[cli][reconnect]") {
  CHECK(Reconnect::is_transient(Error(ErrorCode::unavailable, "")));
  CHECK(Reconnect::is_transient(Error(ErrorCode::too_many_requests, "")));
  CHECK_FALSE(Reconnect::is_transient(Error(ErrorCode::not_found, "")));
  CHECK_FALSE(Reconnect::is_transient(Error(ErrorCode::unauthorized, "")));
}
