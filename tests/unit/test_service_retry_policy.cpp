// Retries: which finished attempts are made again (retry_reason), and what the run records of
// a retried one (attempt_json).
#include <catch2/catch.hpp>

#include "trainctl/service/runs/retry_policy.hpp"

namespace {

using trainctl::api::RunStatus;
using trainctl::service::RunObservation;
using trainctl::service::TaskObservation;
using trainctl::spec::Limits;

TaskObservation exited(std::string name, int code) {
  TaskObservation task;
  task.name = std::move(name);
  task.state = "exited";
  task.exit_code = code;
  task.started_at_ms = 1'000;
  task.ended_at_ms = 5'000;
  return task;
}

TaskObservation killed(std::string name, int signal) {
  TaskObservation task = exited(std::move(name), 128 + signal);
  task.state = "killed";
  task.signal = signal;
  return task;
}

// A finished attempt that `failing` failed (its other tasks were stopped).
RunObservation failed_by(const TaskObservation& failing) {
  RunObservation run;
  run.phase = RunObservation::Phase::finished;
  run.outcome = RunStatus::Failed;
  run.exit_code = failing.exit_code;
  run.reason = "the task failed";
  run.first_failed_task = failing.name;
  TaskObservation other = exited("rank-0", 143);
  other.state = "stopped";
  run.tasks = {other, failing};
  run.started_at_ms = 1'000;
  run.ended_at_ms = 6'000;
  return run;
}

Limits retries(int max_retries, std::vector<int> retry_on_exit_codes = {}) {
  return Limits{.max_run_duration_seconds = 0,
                .max_retries = max_retries,
                .retry_on_exit_codes = std::move(retry_on_exit_codes)};
}

}  // namespace

TEST_CASE("retries: a task killed by a signal is retried while retries are left",
          "[service][retry]") {
  const auto attempt = failed_by(killed("rank-1", 9));
  SECTION("given retries left, the reason names the task, the signal and the exit class") {
    const auto reason = retry_reason(retries(2), 1, attempt);
    REQUIRE(reason);
    CHECK(*reason == "task 'rank-1' was killed by signal 9 (SIGKILL), exit class 137");
    CHECK(retry_reason(retries(2), 2, attempt));
  }
  SECTION("when the last retry was made, the run is not retried again") {
    CHECK_FALSE(retry_reason(retries(2), 3, attempt));
  }
  SECTION("without max_retries, nothing is retried") {
    CHECK_FALSE(retry_reason(retries(0), 1, attempt));
  }
}

TEST_CASE("retries: exit classes 128-255 are retryable, 1-127 only when listed",
          "[service][retry]") {
  SECTION("an exit code from 128 to 255 (an OOM kill reported by a shell) is retried") {
    CHECK(retry_reason(retries(1), 1, failed_by(exited("main", 137))));
    CHECK(retry_reason(retries(1), 1, failed_by(exited("main", 128))));
    CHECK(retry_reason(retries(1), 1, failed_by(exited("main", 255))));
  }
  SECTION("exit code 1 is final by default") {
    CHECK_FALSE(retry_reason(retries(3), 1, failed_by(exited("main", 1))));
    CHECK_FALSE(retry_reason(retries(3), 1, failed_by(exited("main", 127))));
  }
  SECTION("exit code 1 is retried when retry_on_exit_codes lists it, and says so") {
    const auto reason = retry_reason(retries(3, {1, 2}), 1, failed_by(exited("main", 1)));
    REQUIRE(reason);
    CHECK(*reason == "task 'main' exited with code 1, exit class 1, listed in retry_on_exit_codes");
    CHECK_FALSE(retry_reason(retries(3, {2}), 1, failed_by(exited("main", 1))));
  }
  SECTION("a signal is classed as 128 + signal, whatever exit code was recorded") {
    auto task = killed("worker-0", 15);
    task.exit_code = 1;
    const auto reason = retry_reason(retries(1), 1, failed_by(task));
    REQUIRE(reason);
    CHECK_THAT(*reason, Catch::Contains("exit class 143"));
  }
}

TEST_CASE("retries: outcomes that are never retried", "[service][retry]") {
  const auto limits = retries(5, {1});
  SECTION("a task that failed to start") {
    auto task = exited("main", 127);
    task.state = "failed_to_start";
    task.message = "exec failed: No such file or directory";
    CHECK_FALSE(retry_reason(limits, 1, failed_by(task)));
  }
  SECTION("a failure no task's end caused (preparation, a lost supervisor)") {
    auto attempt = failed_by(killed("main", 9));
    attempt.first_failed_task.clear();
    CHECK_FALSE(retry_reason(limits, 1, attempt));
  }
  SECTION("a run that timed out, was canceled or completed") {
    for (const auto outcome : {RunStatus::TimedOut, RunStatus::Canceled, RunStatus::Completed}) {
      auto attempt = failed_by(killed("main", 9));
      attempt.outcome = outcome;
      CHECK_FALSE(retry_reason(limits, 1, attempt));
    }
  }
}

TEST_CASE("retries: the record of a retried attempt", "[service][retry]") {
  const auto attempt = failed_by(killed("rank-1", 9));
  const auto tasks = nlohmann::json::array({{{"name", "rank-1"}, {"state", "killed"}}});
  const auto record = trainctl::service::attempt_json(1, attempt, tasks);
  CHECK(record["attempt"] == 1);
  CHECK(record["status"] == "Failed");
  CHECK(record["exit_code"] == 137);
  CHECK(record["signal"] == 9);
  CHECK(record["reason"] == "the task failed");
  CHECK(record["first_failed_task"] == "rank-1");
  CHECK(record["started_at"] == "1970-01-01T00:00:01.000Z");
  CHECK(record["ended_at"] == "1970-01-01T00:00:06.000Z");
  CHECK(record["tasks"] == tasks);
}
