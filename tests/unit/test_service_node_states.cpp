// How a multi-node run's state follows from its nodes' (engines/node_states.hpp): the run's own
// success rule over every node's tasks, a stop for every node once it is decided, and the
// verdict kept across a restart of the service.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>

#include "trainctl/service/engines/node_states.hpp"
#include "support/launch_plans.hpp"
#include "trainctl/util/fs.hpp"

namespace {

namespace fs = std::filesystem;
using trainctl::api::RunStatus;
using trainctl::service::RunObservation;
using trainctl::service::TaskObservation;
using trainctl::service::engines::merge_node_states;
using trainctl::service::engines::nodes_must_stop;
using trainctl::service::engines::RunState;
using trainctl::service::engines::write_node_state;
using trainctl::spec::LaunchPlan;
using trainctl::testing::two_rank_plan;

struct TempRunDir {
  TempRunDir() {
    char pattern[] = "/tmp/trainctl-nodes-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempRunDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  fs::path path;
};

// A parameter-server plan: chief-0 and worker-0 on node 0, ps-0 on node 1; the chief decides.
LaunchPlan ps_plan() {
  LaunchPlan plan;
  plan.run_id = "run-nodes";
  plan.backend = "parameter_server";
  plan.success = "chief";
  for (const auto& [name, role, node] : {std::tuple{"chief-0", "chief", 0}, std::tuple{"ps-0", "ps", 1},
                                         std::tuple{"worker-0", "worker", 0}}) {
    trainctl::spec::TaskLaunch task;
    task.name = name;
    task.role = role;
    task.node_rank = node;
    plan.tasks.push_back(task);
  }
  return plan;
}

TaskObservation task(std::string name, std::string role, int node, std::string state,
                     std::optional<int> exit_code = std::nullopt, int64_t ended_at_ms = 0) {
  TaskObservation observed;
  observed.name = std::move(name);
  observed.role = std::move(role);
  observed.node_rank = node;
  observed.state = std::move(state);
  observed.exit_code = exit_code;
  observed.ended_at_ms = ended_at_ms;
  observed.host = node == 0 ? "n1" : "n2";
  return observed;
}

RunState part(RunObservation::Phase phase, std::vector<TaskObservation> tasks,
              RunStatus outcome = RunStatus::Completed, std::string reason = {}) {
  RunState state;
  state.observation.phase = phase;
  state.observation.outcome = outcome;
  state.observation.reason = std::move(reason);
  state.observation.started_at_ms = 1000;
  state.observation.tasks = std::move(tasks);
  return state;
}

}  // namespace

TEST_CASE("A multi-node run is starting until every node's tasks started", "[service][nodes]") {
  TempRunDir run;
  const auto plan = ps_plan();
  auto merged = merge_node_states(plan, run.path);
  CHECK(merged.observation.phase == RunObservation::Phase::starting);
  CHECK(merged.observation.tasks.size() == 3);
  for (const auto& task : merged.observation.tasks) CHECK(task.state == "pending");

  REQUIRE(write_node_state(run.path, 0,
                           part(RunObservation::Phase::running,
                                {task("chief-0", "chief", 0, "running"), task("worker-0", "worker", 0, "running")})));
  CHECK(merge_node_states(plan, run.path).observation.phase == RunObservation::Phase::starting);
  REQUIRE(write_node_state(run.path, 1, part(RunObservation::Phase::running, {task("ps-0", "ps", 1, "running")})));
  merged = merge_node_states(plan, run.path);
  CHECK(merged.observation.phase == RunObservation::Phase::running);
  CHECK(merged.observation.tasks[1].host == "n2");  // ps-0, where node 1 ran it
  CHECK_FALSE(nodes_must_stop(run.path));
}

TEST_CASE("A chief's success on one node stops the ps on another, and the run is Completed",
          "[service][nodes]") {
  TempRunDir run;
  const auto plan = ps_plan();
  REQUIRE(write_node_state(run.path, 0,
                           part(RunObservation::Phase::running,
                                {task("chief-0", "chief", 0, "exited", 0, 2000), task("worker-0", "worker", 0, "running")})));
  REQUIRE(write_node_state(run.path, 1, part(RunObservation::Phase::running, {task("ps-0", "ps", 1, "running")})));
  CHECK(merge_node_states(plan, run.path).observation.phase == RunObservation::Phase::running);
  CHECK(nodes_must_stop(run.path));  // every node is told to stop

  // The nodes stop their tasks (their parts end Canceled); the run ends as its chief decided.
  REQUIRE(write_node_state(run.path, 0,
                           part(RunObservation::Phase::finished,
                                {task("chief-0", "chief", 0, "exited", 0, 2000), task("worker-0", "worker", 0, "stopped")},
                                RunStatus::Canceled)));
  REQUIRE(write_node_state(run.path, 1,
                           part(RunObservation::Phase::finished, {task("ps-0", "ps", 1, "stopped")},
                                RunStatus::Canceled)));
  const auto merged = merge_node_states(plan, run.path);
  CHECK(merged.observation.phase == RunObservation::Phase::finished);
  CHECK(merged.observation.outcome == RunStatus::Completed);
  CHECK(merged.observation.exit_code == 0);
}

TEST_CASE("A node that fails on its own fails the run and stops the others", "[service][nodes]") {
  TempRunDir run;
  const auto plan = ps_plan();
  REQUIRE(write_node_state(run.path, 0,
                           part(RunObservation::Phase::running,
                                {task("chief-0", "chief", 0, "running"), task("worker-0", "worker", 0, "running")})));
  SECTION("a task exits non-zero") {
    REQUIRE(write_node_state(run.path, 1,
                             part(RunObservation::Phase::finished, {task("ps-0", "ps", 1, "exited", 3, 1500)},
                                  RunStatus::Failed, "task 'ps-0' exited with code 3")));
    merge_node_states(plan, run.path);
    CHECK(nodes_must_stop(run.path));
    REQUIRE(write_node_state(run.path, 0,
                             part(RunObservation::Phase::finished,
                                  {task("chief-0", "chief", 0, "stopped"), task("worker-0", "worker", 0, "stopped")},
                                  RunStatus::Canceled)));
    const auto merged = merge_node_states(plan, run.path);
    CHECK(merged.observation.outcome == RunStatus::Failed);
    CHECK(merged.observation.first_failed_task == "ps-0");
    CHECK(merged.observation.exit_code == 3);
  }
  SECTION("a node's agent could not start its part") {
    RunState failed = part(RunObservation::Phase::finished, {}, RunStatus::Failed,
                           "on Slurm node n2: cannot fetch the run's plan");
    REQUIRE(write_node_state(run.path, 1, failed));
    merge_node_states(plan, run.path);
    CHECK(nodes_must_stop(run.path));
    REQUIRE(write_node_state(run.path, 0,
                             part(RunObservation::Phase::finished,
                                  {task("chief-0", "chief", 0, "stopped"), task("worker-0", "worker", 0, "stopped")},
                                  RunStatus::Canceled)));
    const auto merged = merge_node_states(plan, run.path);
    CHECK(merged.observation.outcome == RunStatus::Failed);
    CHECK_THAT(merged.observation.reason, Catch::Contains("cannot fetch the run's plan"));
  }
}

TEST_CASE("A canceled multi-node run ends Canceled, and its verdict outlives a restart",
          "[service][nodes]") {
  TempRunDir run;
  const auto plan = ps_plan();
  REQUIRE(trainctl::util::write_file_atomic(run.path / "cancel", "requested\n"));
  CHECK(nodes_must_stop(run.path));
  for (int node : {0, 1}) {
    std::vector<TaskObservation> tasks;
    for (const auto& launch : plan.tasks) {
      if (launch.node_rank == node) tasks.push_back(task(launch.name, launch.role, node, "stopped"));
    }
    REQUIRE(write_node_state(run.path, node,
                             part(RunObservation::Phase::finished, tasks, RunStatus::Canceled, "canceled")));
  }
  const auto merged = merge_node_states(plan, run.path);
  CHECK(merged.observation.outcome == RunStatus::Canceled);
  // A verdict recorded once is the verdict: what the nodes say later does not change it.
  TempRunDir other;
  REQUIRE(write_node_state(other.path, 0,
                           part(RunObservation::Phase::running,
                                {task("chief-0", "chief", 0, "exited", 1, 10), task("worker-0", "worker", 0, "running")})));
  merge_node_states(plan, other.path);  // Failed by chief-0, recorded
  REQUIRE(write_node_state(other.path, 0,
                           part(RunObservation::Phase::finished,
                                {task("chief-0", "chief", 0, "exited", 0, 10), task("worker-0", "worker", 0, "stopped")})));
  REQUIRE(write_node_state(other.path, 1,
                           part(RunObservation::Phase::finished, {task("ps-0", "ps", 1, "stopped")})));
  CHECK(merge_node_states(plan, other.path).observation.outcome == RunStatus::Failed);
}

namespace {

// Rank `node` as its node reports it once ended by SIGTERM, not by its supervisor's stop: what a
// node shows when Slurm's signal reaches the task before its supervisor hears of a cancel.
TaskObservation killed_by_sigterm(int node) {
  auto killed = task("rank-" + std::to_string(node), "rank", node, "killed", 128 + 15, 5000 + node);
  killed.signal = 15;
  return killed;
}

RunState running_rank(int node) {
  return part(RunObservation::Phase::running,
              {task("rank-" + std::to_string(node), "rank", node, "running")});
}

void ask_cancel(const fs::path& run_dir) {
  REQUIRE(trainctl::util::write_file_atomic(run_dir / "cancel", "requested\n"));
}

// Dates node `node`'s last report a minute back: the service received it before what follows.
void report_came_earlier(const fs::path& run_dir, int node) {
  const auto file = run_dir / "nodes" / (std::to_string(node) + ".state.json");
  fs::last_write_time(file, fs::last_write_time(file) - std::chrono::minutes(1));
}

}  // namespace

TEST_CASE("Whatever the nodes report after a cancel, the multi-node run ends Canceled",
          "[service][nodes]") {
  TempRunDir run;
  const auto plan = two_rank_plan("run-ranks");
  REQUIRE(write_node_state(run.path, 0, running_rank(0)));
  REQUIRE(write_node_state(run.path, 1, running_rank(1)));
  CHECK(merge_node_states(plan, run.path).observation.phase == RunObservation::Phase::running);
  ask_cancel(run.path);

  SECTION("its tasks killed by a signal (Slurm's, before their supervisors stopped them)") {
    REQUIRE(write_node_state(
        run.path, 0,
        part(RunObservation::Phase::finished, {killed_by_sigterm(0)}, RunStatus::Failed,
             "task 'rank-0' was killed by signal 15 (SIGTERM)")));
    // Node 1 still stopping: the cancel is the verdict already, kept for a restarted service.
    const auto meanwhile = merge_node_states(plan, run.path);
    CHECK(meanwhile.observation.phase == RunObservation::Phase::running);
    REQUIRE(trainctl::service::engines::recorded_verdict(run.path));
    CHECK(trainctl::service::engines::recorded_verdict(run.path)->outcome == RunStatus::Canceled);
    REQUIRE(write_node_state(
        run.path, 1,
        part(RunObservation::Phase::finished, {killed_by_sigterm(1)}, RunStatus::Canceled,
             "the Slurm job was stopped by Slurm, not by trainctl")));
  }
  SECTION("a task exiting non-zero as it is stopped") {
    REQUIRE(write_node_state(
        run.path, 0,
        part(RunObservation::Phase::finished, {task("rank-0", "rank", 0, "exited", 1, 5000)},
             RunStatus::Failed, "task 'rank-0' exited with code 1")));
    REQUIRE(write_node_state(
        run.path, 1,
        part(RunObservation::Phase::finished, {task("rank-1", "rank", 1, "stopped", 143, 5001)},
             RunStatus::Canceled)));
  }
  SECTION("a node whose part ended badly by itself (its time limit)") {
    REQUIRE(write_node_state(
        run.path, 0,
        part(RunObservation::Phase::finished, {task("rank-0", "rank", 0, "stopped", 143, 5000)},
             RunStatus::TimedOut, "the run exceeded its maximum duration of 1m")));
    REQUIRE(write_node_state(
        run.path, 1,
        part(RunObservation::Phase::finished, {task("rank-1", "rank", 1, "stopped", 143, 5001)},
             RunStatus::Canceled)));
  }
  const auto merged = merge_node_states(plan, run.path);
  CHECK(merged.observation.phase == RunObservation::Phase::finished);
  CHECK(merged.observation.outcome == RunStatus::Canceled);
  CHECK_FALSE(merged.observation.exit_code.has_value());
  CHECK(merged.observation.first_failed_task.empty());
  CHECK(merged.observation.reason == "canceled");
}

TEST_CASE("A multi-node run that failed before the cancel keeps its failure", "[service][nodes]") {
  TempRunDir run;
  const auto plan = two_rank_plan("run-ranks");
  REQUIRE(write_node_state(run.path, 0, running_rank(0)));
  // Node 1's rank failed, and the service had its report before the cancel came, even if the
  // run's state was not merged in between.
  REQUIRE(write_node_state(
      run.path, 1,
      part(RunObservation::Phase::finished, {task("rank-1", "rank", 1, "exited", 3, 4000)},
           RunStatus::Failed, "task 'rank-1' exited with code 3")));
  report_came_earlier(run.path, 1);
  ask_cancel(run.path);
  merge_node_states(plan, run.path);
  REQUIRE(write_node_state(
      run.path, 0,
      part(RunObservation::Phase::finished, {killed_by_sigterm(0)}, RunStatus::Canceled)));

  const auto merged = merge_node_states(plan, run.path);
  CHECK(merged.observation.outcome == RunStatus::Failed);
  CHECK(merged.observation.first_failed_task == "rank-1");
  CHECK(merged.observation.exit_code == 3);
}

// An administrator's scancel (or a time limit, a preemption): Slurm signals every process of the
// job at once, so a node's report can hold a task killed by that signal while the run is still
// running elsewhere. Its agent says the job was stopped from outside in every report from the
// signal on; none of them is a failure of the run.
TEST_CASE("A multi-node run that Slurm stops from outside ends Canceled, saying so",
          "[service][nodes]") {
  TempRunDir run;
  const auto plan = two_rank_plan("run-ranks");
  const std::string why = "the Slurm job was stopped by Slurm, not by trainctl";
  REQUIRE(write_node_state(run.path, 0, running_rank(0)));
  REQUIRE(write_node_state(run.path, 1, running_rank(1)));
  report_came_earlier(run.path, 1);

  SECTION("a node reports its task killed before its part has ended") {
    auto killed = part(RunObservation::Phase::running, {killed_by_sigterm(0)});
    killed.stopped_outside = why;
    REQUIRE(write_node_state(run.path, 0, killed));
    CHECK(merge_node_states(plan, run.path).observation.phase == RunObservation::Phase::running);
    REQUIRE(trainctl::service::engines::recorded_verdict(run.path));
    CHECK(trainctl::service::engines::recorded_verdict(run.path)->outcome == RunStatus::Canceled);

    auto ended = part(RunObservation::Phase::finished, {killed_by_sigterm(0)}, RunStatus::Canceled, why);
    ended.stopped_outside = why;
    REQUIRE(write_node_state(run.path, 0, ended));
    auto other = part(RunObservation::Phase::finished, {killed_by_sigterm(1)}, RunStatus::Canceled, why);
    other.stopped_outside = why;
    REQUIRE(write_node_state(run.path, 1, other));
    const auto merged = merge_node_states(plan, run.path);
    CHECK(merged.observation.phase == RunObservation::Phase::finished);
    CHECK(merged.observation.outcome == RunStatus::Canceled);
    CHECK(merged.observation.reason == why);
    CHECK_FALSE(merged.observation.exit_code.has_value());
    CHECK(merged.observation.first_failed_task.empty());
  }
  SECTION("a failure the service had before the stop stands") {
    REQUIRE(write_node_state(
        run.path, 1,
        part(RunObservation::Phase::finished, {task("rank-1", "rank", 1, "exited", 3, 4000)},
             RunStatus::Failed, "task 'rank-1' exited with code 3")));
    report_came_earlier(run.path, 1);
    auto ended = part(RunObservation::Phase::finished, {killed_by_sigterm(0)}, RunStatus::Canceled, why);
    ended.stopped_outside = why;
    REQUIRE(write_node_state(run.path, 0, ended));
    const auto merged = merge_node_states(plan, run.path);
    CHECK(merged.observation.outcome == RunStatus::Failed);
    CHECK(merged.observation.first_failed_task == "rank-1");
  }
}

TEST_CASE("A run state says whether its processes were stopped from outside trainctl",
          "[service][nodes]") {
  RunState state = running_rank(0);
  CHECK_FALSE(trainctl::service::engines::to_json(state).contains("stopped_outside"));  // as states written before it
  state.stopped_outside = "stopped by Slurm";
  const auto read = trainctl::service::engines::run_state_from_json(trainctl::service::engines::to_json(state));
  REQUIRE(read);
  CHECK(read->stopped_outside == "stopped by Slurm");
}
