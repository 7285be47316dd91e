// The all-tasks-succeed outcome policy, as a pure function of the tasks' states.
#include <signal.h>

#include <catch2/catch.hpp>

#include "trainctl/service/engines/outcome_policy.hpp"

using trainctl::api::RunStatus;
using trainctl::service::TaskObservation;
using trainctl::service::engines::all_tasks_succeed;

namespace {

TaskObservation running(std::string name) {
  TaskObservation task;
  task.name = std::move(name);
  task.state = "running";
  return task;
}

TaskObservation exited(std::string name, int code, int64_t at_ms) {
  auto task = running(std::move(name));
  task.state = "exited";
  task.exit_code = code;
  task.ended_at_ms = at_ms;
  return task;
}

TaskObservation killed(std::string name, int signal, int64_t at_ms) {
  auto task = running(std::move(name));
  task.state = "killed";
  task.signal = signal;
  task.exit_code = 128 + signal;
  task.ended_at_ms = at_ms;
  return task;
}

}  // namespace

TEST_CASE("the run is undecided while a task runs and none failed", "[engine][policy]") {
  const std::vector tasks{exited("worker-0", 0, 10), running("worker-1")};
  CHECK_FALSE(all_tasks_succeed(tasks).has_value());
}

TEST_CASE("the run completes once every task exited 0", "[engine][policy]") {
  const std::vector tasks{exited("worker-0", 0, 10), exited("worker-1", 0, 20)};
  const auto verdict = all_tasks_succeed(tasks);
  REQUIRE(verdict.has_value());
  CHECK(verdict->outcome == RunStatus::Completed);
  CHECK(verdict->exit_code == 0);
  CHECK(verdict->reason.empty());
}

TEST_CASE("the first task to fail decides the run's exit code and reason", "[engine][policy]") {
  GIVEN("a task that failed while another still runs") {
    const std::vector tasks{running("worker-0"), exited("worker-1", 4, 30)};
    THEN("the run fails at once, naming the task") {
      const auto verdict = all_tasks_succeed(tasks);
      REQUIRE(verdict.has_value());
      CHECK(verdict->outcome == RunStatus::Failed);
      CHECK(verdict->exit_code == 4);
      CHECK(verdict->reason == "task 'worker-1' exited with code 4");
    }
  }
  GIVEN("a task killed by a signal before another exited non-zero") {
    const std::vector tasks{exited("worker-0", 1, 50), killed("worker-1", SIGSEGV, 40)};
    THEN("the earlier failure is the one reported") {
      const auto verdict = all_tasks_succeed(tasks);
      REQUIRE(verdict.has_value());
      CHECK(verdict->exit_code == 128 + SIGSEGV);
      CHECK(verdict->reason == "task 'worker-1' was killed by signal 11 (SIGSEGV)");
    }
  }
  GIVEN("a task that could not start") {
    auto task = running("main");
    task.state = "failed_to_start";
    task.message = "cannot start 'train': No such file or directory";
    THEN("its message is the reason") {
      const auto verdict = all_tasks_succeed(std::vector{task});
      REQUIRE(verdict.has_value());
      CHECK(verdict->outcome == RunStatus::Failed);
      CHECK_FALSE(verdict->exit_code.has_value());
      CHECK(verdict->reason == task.message);
    }
  }
}
