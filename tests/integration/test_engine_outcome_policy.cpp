// The outcome policies (all tasks, chief, all workers), as pure functions of the tasks' states.
#include <signal.h>

#include <catch2/catch.hpp>

#include "trainctl/service/engines/outcome_policy.hpp"

using trainctl::api::RunStatus;
using trainctl::service::TaskObservation;
using trainctl::service::engines::all_tasks_succeed;
using trainctl::service::engines::all_workers_succeed;
using trainctl::service::engines::chief_succeeds;
using trainctl::service::engines::policy_for;

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

namespace {

TaskObservation with_role(TaskObservation task, std::string role, int index) {
  task.role = std::move(role);
  task.index = index;
  return task;
}

TaskObservation stopped(std::string name, int signal, int64_t at_ms) {
  auto task = killed(std::move(name), signal, at_ms);
  task.state = "stopped";
  return task;
}

}  // namespace

TEST_CASE("every verdict of a failure names the task that failed first", "[engine][policy]") {
  GIVEN("two ranks that failed, the later one listed first") {
    const std::vector tasks{killed("rank-0", SIGTERM, 90), exited("rank-2", 1, 50),
                            running("rank-1")};
    THEN("the earlier one is the run's first failure") {
      const auto verdict = all_tasks_succeed(tasks);
      REQUIRE(verdict.has_value());
      CHECK(verdict->first_failed_task == "rank-2");
      CHECK(verdict->exit_code == 1);
      CHECK(verdict->reason == "task 'rank-2' exited with code 1");
    }
  }
  GIVEN("a completed run") {
    THEN("no task is named") {
      const auto verdict = all_tasks_succeed(std::vector{exited("main", 0, 10)});
      REQUIRE(verdict.has_value());
      CHECK(verdict->first_failed_task.empty());
    }
  }
}

TEST_CASE("a stopped task never counts as a failure", "[engine][policy]") {
  GIVEN("a rank stopped by SIGTERM while the others still run") {
    const std::vector tasks{stopped("rank-0", SIGTERM, 10), running("rank-1")};
    THEN("the run is undecided, whatever the stopped task's exit code") {
      CHECK_FALSE(all_tasks_succeed(tasks).has_value());
    }
  }
  GIVEN("a parameter-server run whose ps was stopped before the chief succeeded") {
    const std::vector tasks{with_role(exited("chief-0", 0, 50), "chief", 0),
                            with_role(stopped("ps-0", SIGKILL, 40), "ps", 0)};
    THEN("the run completes") {
      const auto verdict = chief_succeeds(tasks);
      REQUIRE(verdict.has_value());
      CHECK(verdict->outcome == RunStatus::Completed);
    }
  }
}

TEST_CASE("parameter server: the chief decides the run", "[engine][policy]") {
  const auto ps = with_role(running("ps-0"), "ps", 0);
  const auto worker = with_role(running("worker-0"), "worker", 0);

  GIVEN("a chief that exited 0 while ps and workers still run") {
    const std::vector tasks{with_role(exited("chief-0", 0, 30), "chief", 0), ps, worker};
    THEN("the run completes with exit code 0") {
      const auto verdict = chief_succeeds(tasks);
      REQUIRE(verdict.has_value());
      CHECK(verdict->outcome == RunStatus::Completed);
      CHECK(verdict->exit_code == 0);
      CHECK(verdict->first_failed_task.empty());
    }
  }
  GIVEN("a chief still running and a worker that exited 0") {
    const std::vector tasks{with_role(running("chief-0"), "chief", 0), ps,
                            with_role(exited("worker-0", 0, 30), "worker", 0)};
    THEN("the run is undecided") {
      CHECK_FALSE(chief_succeeds(tasks).has_value());
    }
  }
  GIVEN("no chief: worker 0 is the chief") {
    const std::vector tasks{ps, with_role(exited("worker-0", 0, 30), "worker", 0),
                            with_role(running("worker-1"), "worker", 1)};
    THEN("its exit 0 completes the run") {
      const auto verdict = chief_succeeds(tasks);
      REQUIRE(verdict.has_value());
      CHECK(verdict->outcome == RunStatus::Completed);
    }
  }
  GIVEN("a ps that crashed before the chief exited 0") {
    const std::vector tasks{with_role(exited("chief-0", 0, 60), "chief", 0),
                            with_role(killed("ps-0", SIGSEGV, 20), "ps", 0), worker};
    THEN("the crash came first: the run fails, naming the ps") {
      const auto verdict = chief_succeeds(tasks);
      REQUIRE(verdict.has_value());
      CHECK(verdict->outcome == RunStatus::Failed);
      CHECK(verdict->first_failed_task == "ps-0");
      CHECK(verdict->reason == "task 'ps-0' was killed by signal 11 (SIGSEGV)");
    }
  }
  GIVEN("a worker that exited 3 while the chief still runs") {
    const std::vector tasks{with_role(running("chief-0"), "chief", 0), ps,
                            with_role(exited("worker-1", 3, 20), "worker", 1)};
    THEN("the run fails with the worker's exit code") {
      const auto verdict = chief_succeeds(tasks);
      REQUIRE(verdict.has_value());
      CHECK(verdict->outcome == RunStatus::Failed);
      CHECK(verdict->exit_code == 3);
      CHECK(verdict->first_failed_task == "worker-1");
    }
  }
}

TEST_CASE("parameter server, all_workers: every worker must exit 0", "[engine][policy]") {
  const auto ps = with_role(running("ps-0"), "ps", 0);
  const auto chief_done = with_role(exited("chief-0", 0, 10), "chief", 0);

  GIVEN("the chief and one of two workers exited 0") {
    const std::vector tasks{chief_done, ps, with_role(exited("worker-0", 0, 20), "worker", 0),
                            with_role(running("worker-1"), "worker", 1)};
    THEN("the run is undecided") {
      CHECK_FALSE(all_workers_succeed(tasks).has_value());
    }
  }
  GIVEN("the chief and every worker exited 0, the ps still runs") {
    const std::vector tasks{chief_done, ps, with_role(exited("worker-0", 0, 20), "worker", 0),
                            with_role(exited("worker-1", 0, 30), "worker", 1)};
    THEN("the run completes") {
      const auto verdict = all_workers_succeed(tasks);
      REQUIRE(verdict.has_value());
      CHECK(verdict->outcome == RunStatus::Completed);
    }
  }
  GIVEN("a worker that exited non-zero") {
    const std::vector tasks{chief_done, ps, with_role(exited("worker-0", 2, 20), "worker", 0),
                            with_role(exited("worker-1", 0, 30), "worker", 1)};
    THEN("the run fails, naming it") {
      const auto verdict = all_workers_succeed(tasks);
      REQUIRE(verdict.has_value());
      CHECK(verdict->outcome == RunStatus::Failed);
      CHECK(verdict->first_failed_task == "worker-0");
    }
  }
}

TEST_CASE("a plan's success rule chooses its policy", "[engine][policy]") {
  CHECK(policy_for("chief") == &chief_succeeds);
  CHECK(policy_for("all_workers") == &all_workers_succeed);
  CHECK(policy_for("all_tasks") == &all_tasks_succeed);
  CHECK(policy_for("something new") == &all_tasks_succeed);
}
