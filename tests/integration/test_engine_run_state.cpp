// The files the local engine shares between its processes: state.json and the rank reports.
#include <signal.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/service_fixture.hpp"
#include "trainctl/service/engines/run_state.hpp"

using trainctl::service::TaskObservation;
namespace engines = trainctl::service::engines;

TEST_CASE("a state.json written before distributed runs still loads", "[engine][state]") {
  GIVEN("a state without roles, nodes, first failed task or launcher") {
    const auto json = nlohmann::json::parse(R"({
      "version": 1, "boot_id": "b", "supervisor": {"pid": 10, "start_time": 20},
      "phase": "finished", "outcome": "Failed", "exit_code": 3, "reason": "task 'main' exited",
      "started_at_ms": 1, "ended_at_ms": 2,
      "tasks": [{"name": "main", "state": "exited", "exit_code": 3, "signal": null, "pid": 11,
                 "pgid": 11, "start_time": 21, "started_at_ms": 1, "ended_at_ms": 2,
                 "message": ""}]})");

    WHEN("it is read") {
      const auto state = engines::run_state_from_json(json);

      THEN("the new fields have their defaults") {
        REQUIRE(state.has_value());
        CHECK(state->observation.first_failed_task.empty());
        CHECK_FALSE(state->launcher.has_value());
        REQUIRE(state->observation.tasks.size() == 1);
        CHECK(state->observation.tasks[0].role.empty());
        CHECK(state->observation.tasks[0].node_rank == 0);
        CHECK(state->task_processes[0].pid == 11);
      }
    }
  }
}

TEST_CASE("a distributed run's state keeps its tasks' places and its launcher", "[engine][state]") {
  engines::RunState state;
  state.observation.first_failed_task = "rank-1";
  TaskObservation rank;
  rank.name = "rank-1";
  rank.role = "rank";
  rank.index = 1;
  rank.node_rank = 1;
  rank.state = "stopped";
  rank.signal = SIGTERM;
  state.observation.tasks.push_back(rank);
  state.task_processes.push_back({42, 7});
  TaskObservation launcher;
  launcher.name = "mpirun";
  launcher.state = "exited";
  launcher.exit_code = 1;
  state.launcher = launcher;
  state.launcher_process = {40, 5};

  const auto read = engines::run_state_from_json(engines::to_json(state));

  REQUIRE(read.has_value());
  CHECK(read->observation.first_failed_task == "rank-1");
  const auto& task = read->observation.tasks.at(0);
  CHECK(task.role == "rank");
  CHECK(task.index == 1);
  CHECK(task.node_rank == 1);
  CHECK(task.state == "stopped");
  CHECK(task.signal == SIGTERM);
  REQUIRE(read->launcher.has_value());
  CHECK(read->launcher->exit_code == 1);
  CHECK(read->launcher_process == trainctl::service::ProcessIdentity{40, 5});
  CHECK(read->task_processes.at(0) == trainctl::service::ProcessIdentity{42, 7});
}

TEST_CASE("a rank report is read back as written, and is absent until written", "[engine][state]") {
  trainctl::testing::TempDir status_dir;
  CHECK(engines::read_task_report(status_dir.path(), "rank-0").error().code ==
        trainctl::ErrorCode::not_found);

  TaskObservation rank;
  rank.name = "rank-0";
  rank.role = "rank";
  rank.state = "running";
  rank.pid = 1234;
  rank.started_at_ms = 99;
  REQUIRE(engines::write_task_report(status_dir.path(), rank).has_value());
  rank.state = "exited";
  rank.exit_code = 0;
  REQUIRE(engines::write_task_report(status_dir.path(), rank).has_value());

  const auto report = engines::read_task_report(status_dir.path(), "rank-0");
  REQUIRE(report.has_value());
  CHECK(report->state == "exited");
  CHECK(report->exit_code == 0);
  CHECK(report->pid == 1234);
  CHECK(report->started_at_ms == 99);
  CHECK(std::distance(std::filesystem::directory_iterator(status_dir.path()),
                      std::filesystem::directory_iterator()) == 1);  // no temp file left
}
