// The Slurm engine's cancel against fake Slurm commands (shell scripts on the engine's search
// path: sbatch answers a job id, squeue says what a file says, scancel writes down what it was
// asked): a cancel never has Slurm signal the tasks of a job that may be running before its
// agents hear of it, and a canceled run that Slurm ends without its agents' word ends Canceled.
// The real cluster's side is in tests/e2e/test_cli_slurm_*.cpp.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "trainctl/service/engines/node_states.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/service/engines/slurm_engine.hpp"
#include "trainctl/service/store.hpp"
#include "support/launch_plans.hpp"
#include "trainctl/util/fs.hpp"

namespace {

namespace fs = std::filesystem;
using trainctl::api::RunStatus;
using trainctl::service::ComputeRecord;
using trainctl::service::Engine;
using trainctl::service::RunObservation;
using trainctl::spec::LaunchPlan;
using trainctl::testing::two_rank_plan;

struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/trainctl-slurm-engine-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  fs::path path;
};

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// sbatch, squeue and scancel as scripts in `dir`: job 7; squeue prints `dir`/squeue.out;
// scancel appends its arguments to `dir`/scancel.log.
class FakeSlurm {
 public:
  FakeSlurm() {
    script("sbatch", "echo 7");
    script("squeue", fmt("/bin/cat '{}'", (m_dir.path / "squeue.out").string()));
    script("scancel", fmt("echo \"$*\" >> '{}'", (m_dir.path / "scancel.log").string()));
    says("");
  }
  const fs::path& dir() const { return m_dir.path; }
  // What squeue prints from now on: "<id>|<state>|<reason>|<nodes>" lines.
  void says(const std::string& lines) const {
    REQUIRE(trainctl::util::write_file_atomic(m_dir.path / "squeue.out", lines));
  }
  std::string scancel_calls() const { return read_text(m_dir.path / "scancel.log"); }

 private:
  static std::string fmt(std::string_view pattern, const std::string& value) {
    std::string out(pattern);
    out.replace(out.find("{}"), 2, value);
    return out;
  }
  void script(const std::string& name, const std::string& body) const {
    REQUIRE(
        trainctl::util::write_file_atomic(m_dir.path / name, "#!/bin/sh\n" + body + "\n", 0755));
  }
  TempDir m_dir;
};

std::unique_ptr<Engine> engine_on(const FakeSlurm& slurm,
                                  std::chrono::milliseconds final_state_grace = {}) {
  return trainctl::service::make_slurm_engine({.advertise_url = "http://192.0.2.254:1",
                                               .agent_program = "/bin/true",
                                               .search_path = slurm.dir().string(),
                                               .poll_interval = std::chrono::milliseconds(10),
                                               .final_state_grace = final_state_grace});
}

// Observes the run until `condition` holds of what the engine says (or a generous minute).
template <typename Condition>
RunObservation observe_until(Engine& engine, const fs::path& run_dir, Condition condition) {
  RunObservation seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (std::chrono::steady_clock::now() < deadline) {
    auto observed = engine.observe(run_dir);
    REQUIRE(observed);
    seen = *observed;
    if (condition(seen)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return seen;
}

trainctl::service::engines::RunState running_rank(int node) {
  trainctl::service::engines::RunState state;
  state.observation.phase = RunObservation::Phase::running;
  state.observation.started_at_ms = 1000;
  trainctl::service::TaskObservation task;
  task.name = "rank-" + std::to_string(node);
  task.role = "rank";
  task.node_rank = node;
  task.state = "running";
  state.observation.tasks = {task};
  return state;
}

}  // namespace

TEST_CASE(
    "A cancel of a job squeue last saw pending is a scancel of that job only while it is pending",
    "[service][slurm]") {
  // squeue's word may be half a second old: the job may be running by now, its tasks started,
  // and a plain scancel would have Slurm kill them before their agents hear of the cancel.
  FakeSlurm slurm;
  TempDir run;
  auto engine = engine_on(slurm);
  slurm.says("7|PENDING|Resources|\n");
  REQUIRE(engine->start(run.path, two_rank_plan("run-slurm-cancel"), ComputeRecord{}));
  const auto pending =
      observe_until(*engine, run.path, [](const auto& seen) { return !seen.waiting.empty(); });
  REQUIRE_THAT(pending.waiting, Catch::Contains("pending: Resources"));

  REQUIRE(engine->cancel(run.path));

  CHECK(slurm.scancel_calls() == "--state=PENDING 7\n");
}

TEST_CASE("A canceled run whose job Slurm ends without its agents' final word ends Canceled",
          "[service][slurm]") {
  FakeSlurm slurm;
  TempDir run;
  auto engine = engine_on(slurm);
  slurm.says("7|RUNNING|None|n[1-2]\n");
  REQUIRE(engine->start(run.path, two_rank_plan("run-slurm-cancel"), ComputeRecord{}));
  for (int node : {0, 1})
    REQUIRE(trainctl::service::engines::write_node_state(run.path, node, running_rank(node)));
  const auto running = observe_until(*engine, run.path, [](const auto& seen) {
    return seen.phase == RunObservation::Phase::running &&
           seen.placement.find("n[1-2]") != std::string::npos;
  });
  REQUIRE(running.phase == RunObservation::Phase::running);

  REQUIRE(engine->cancel(run.path));
  CHECK(slurm.scancel_calls().empty());  // a running job's agents stop its tasks
  SECTION("a node is lost meanwhile") {
    slurm.says("7|NODE_FAIL|None|n[1-2]\n");
  }
  SECTION("the job reaches its time limit meanwhile") {
    slurm.says("7|TIMEOUT|None|n[1-2]\n");
  }
  SECTION("the job is gone") {
    slurm.says("");
  }
  const auto ended = observe_until(*engine, run.path, [](const auto& seen) {
    return seen.phase == RunObservation::Phase::finished;
  });

  REQUIRE(ended.phase == RunObservation::Phase::finished);
  CHECK(ended.outcome == RunStatus::Canceled);
  CHECK_FALSE(ended.exit_code.has_value());
  for (const auto& task : ended.tasks) CHECK(task.state == "stopped");
}

namespace {

// One task, "main", on one node.
LaunchPlan one_node_plan() {
  LaunchPlan plan;
  plan.run_id = "run-slurm-one-node";
  plan.success = "all_tasks";
  trainctl::spec::TaskLaunch task;
  task.name = "main";
  task.role = "main";
  plan.tasks.push_back(task);
  return plan;
}

// The state a one-node run's agent sends: `main` as given; finished with `outcome` when given.
trainctl::service::engines::RunState agent_state(const std::string& task_state,
                                                 std::optional<int> exit_code = std::nullopt,
                                                 std::optional<RunStatus> outcome = std::nullopt) {
  trainctl::service::engines::RunState state;
  auto& run = state.observation;
  run.phase = outcome ? RunObservation::Phase::finished : RunObservation::Phase::running;
  run.started_at_ms = 1000;
  trainctl::service::TaskObservation task;
  task.name = "main";
  task.role = "main";
  task.state = task_state;
  task.exit_code = exit_code;
  run.tasks = {task};
  if (outcome) {
    run.outcome = *outcome;
    run.ended_at_ms = 2000;
    if (*outcome == RunStatus::Failed) {
      run.exit_code = exit_code;
      run.reason = "task 'main' exited with code 1";
      run.first_failed_task = "main";
    }
  }
  return state;
}

}  // namespace

TEST_CASE("A run of one Slurm node whose task fails once the cancel is asked ends Canceled",
          "[service][slurm]") {
  FakeSlurm slurm;
  TempDir run;
  auto engine = engine_on(slurm);
  slurm.says("7|RUNNING|None|n1\n");
  REQUIRE(engine->start(run.path, one_node_plan(), ComputeRecord{}));
  // What the agent sends lands in the run's state.json, as the agent routes write it.
  const auto agent_sends = [&](const trainctl::service::engines::RunState& state) {
    REQUIRE(trainctl::service::engines::write_run_state(run.path, state));
  };
  agent_sends(agent_state("running"));
  const auto running = observe_until(*engine, run.path, [](const auto& seen) {
    return seen.phase == RunObservation::Phase::running &&
           seen.placement.find("n1") != std::string::npos;
  });
  REQUIRE(running.phase == RunObservation::Phase::running);

  SECTION("its task fails after the cancel, before its agent heard of it") {
    REQUIRE(engine->cancel(run.path));
    agent_sends(agent_state("exited", 1, RunStatus::Failed));
    const auto ended = engine->observe(run.path);
    REQUIRE(ended);
    CHECK(ended->outcome == RunStatus::Canceled);
    CHECK_FALSE(ended->exit_code.has_value());
    CHECK(ended->first_failed_task.empty());
  }
  SECTION("its task failed after a first cancel, and the cancel is asked again") {
    REQUIRE(engine->cancel(run.path));
    agent_sends(agent_state("exited", 1));
    REQUIRE(engine->cancel(run.path));
    agent_sends(agent_state("exited", 1, RunStatus::Failed));
    const auto ended = engine->observe(run.path);
    REQUIRE(ended);
    CHECK(ended->outcome == RunStatus::Canceled);
  }
  SECTION("its task had failed before the cancel, and Slurm ends the job without a final state") {
    agent_sends(agent_state("exited", 1));
    REQUIRE(engine->cancel(run.path));
    slurm.says("7|FAILED|NonZeroExitCode|n1\n");
    const auto ended = observe_until(*engine, run.path, [](const auto& seen) {
      return seen.phase == RunObservation::Phase::finished;
    });
    CHECK(ended.outcome == RunStatus::Failed);
  }
  SECTION("its task had failed, and its agent had said so, before the cancel") {
    agent_sends(agent_state("exited", 1));
    REQUIRE(engine->cancel(run.path));
    agent_sends(agent_state("exited", 1, RunStatus::Failed));
    const auto ended = engine->observe(run.path);
    REQUIRE(ended);
    CHECK(ended->outcome == RunStatus::Failed);
    CHECK(ended->exit_code == 1);
    CHECK(ended->first_failed_task == "main");
  }
}

// Slurm signals a job it ends by itself (its time limit, a lost node, a preemption) or that an
// administrator scancels: the agent says it was stopped from outside, not why. Slurm's account
// of the job's end says why, once squeue has seen it.
TEST_CASE("A run Slurm stops from outside ends as Slurm's account of its job says",
          "[service][slurm]") {
  FakeSlurm slurm;
  TempDir run;
  auto engine = engine_on(slurm, std::chrono::minutes(1));
  slurm.says("7|RUNNING|None|n1\n");
  REQUIRE(engine->start(run.path, one_node_plan(), ComputeRecord{}));
  REQUIRE(trainctl::service::engines::write_run_state(run.path, agent_state("running")));
  REQUIRE(observe_until(*engine, run.path, [](const auto& seen) {
            return seen.phase == RunObservation::Phase::running &&
                   seen.placement.find("n1") != std::string::npos;
          }).phase == RunObservation::Phase::running);

  // The agent's final state: its task killed by Slurm's SIGTERM, the run Canceled, saying so.
  const std::string why = "the Slurm job was stopped by Slurm, not by trainctl";
  auto stopped = agent_state("killed", 128 + 15, RunStatus::Canceled);
  stopped.observation.reason = why;
  stopped.stopped_outside = why;
  REQUIRE(trainctl::service::engines::write_run_state(run.path, stopped));
  // squeue has not seen the job end yet: the run waits for Slurm's word.
  const auto waiting = engine->observe(run.path);
  REQUIRE(waiting);
  CHECK(waiting->phase == RunObservation::Phase::running);

  RunStatus expected = RunStatus::Canceled;
  std::string reason = why;
  SECTION("its time limit") {
    slurm.says("7|TIMEOUT|TimeLimit|n1\n");
    expected = RunStatus::TimedOut;
    reason = "Slurm job 7 reached its time limit";
  }
  SECTION("a preemption") {
    slurm.says("7|PREEMPTED|None|n1\n");
    expected = RunStatus::Failed;
    reason = "Slurm job 7 ended PREEMPTED: a node was lost";
  }
  SECTION("an administrator's scancel") {
    slurm.says("7|CANCELLED|None|n1\n");
  }
  const auto ended = observe_until(*engine, run.path, [](const auto& seen) {
    return seen.phase == RunObservation::Phase::finished;
  });
  REQUIRE(ended.phase == RunObservation::Phase::finished);
  CHECK(ended.outcome == expected);
  CHECK(ended.reason == reason);
  if (expected == RunStatus::Failed) CHECK(ended.exit_code == 128 + 9);  // retryable
  // As recorded, for a restarted service.
  const auto recorded = trainctl::service::engines::read_run_state(run.path);
  REQUIRE(recorded);
  CHECK(recorded->observation.outcome == expected);
}
