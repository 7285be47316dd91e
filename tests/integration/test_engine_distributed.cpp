// Distributed runs on the local engine: parameter-server plans (the chief decides, the rest is
// stopped by policy) and MPI plans started by a real mpirun through `trainctld rank`, with plans
// built by hand so the engine is tested on its own.
#include <dirent.h>
#include <fmt/core.h>
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "test_engine_support.hpp"

using trainctl::api::RunStatus;
using trainctl::service::TaskObservation;
using namespace trainctl::testing::engine;

namespace {

constexpr auto k_few_seconds = std::chrono::seconds(15);

std::string shell_quoted(const std::string& text) {
  return "'" + text + "'";
}

// The processes whose command line mentions `text` (a run directory, say).
std::vector<pid_t> processes_mentioning(const std::string& text) {
  std::vector<pid_t> found;
  DIR* proc = ::opendir("/proc");
  while (const dirent* entry = proc != nullptr ? ::readdir(proc) : nullptr) {
    const std::string name = entry->d_name;
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto cmdline = read_text(fs::path("/proc") / name / "cmdline");
    if (cmdline.find(text) != std::string::npos && !process_gone(std::stoi(name))) {
      found.push_back(std::stoi(name));
    }
  }
  if (proc != nullptr) ::closedir(proc);
  return found;
}

// No process of the run is left: none of the tasks' pids, none naming the run directory.
bool nothing_left(const RunObservation& run, const RunDirectory& directory) {
  for (const auto& task : run.tasks) {
    if (task.pid > 0 && !process_gone(static_cast<pid_t>(task.pid))) return false;
  }
  return processes_mentioning(directory.path().string()).empty();
}

class Stopwatch {
 public:
  std::chrono::steady_clock::duration elapsed() const {
    return std::chrono::steady_clock::now() - m_start;
  }

 private:
  std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
};

trainctl::spec::LaunchPlan parameter_server_plan(const RunDirectory& run,
                                                 std::vector<trainctl::spec::TaskLaunch> tasks,
                                                 std::string success = "chief") {
  auto plan = run.plan(std::move(tasks));
  plan.backend = "parameter_server";
  plan.success = std::move(success);
  return plan;
}

// An MPI plan of `ranks` ranks, `per_node` to a node, started by `launcher_argv`.
trainctl::spec::LaunchPlan mpi_plan(const RunDirectory& run, int ranks, int per_node,
                                    std::vector<std::string> launcher_argv) {
  std::vector<trainctl::spec::TaskLaunch> tasks;
  for (int rank = 0; rank < ranks; ++rank) {
    auto task = run.task(fmt::format("rank-{}", rank), {"(run by the launcher)"});
    task.node_rank = rank / per_node;
    task.started_by_launcher = true;
    tasks.push_back(std::move(task));
  }
  auto plan = run.plan(std::move(tasks));
  plan.backend = "mpi";
  plan.launcher = run.task("mpirun", std::move(launcher_argv));
  plan.launcher->role = "launcher";
  plan.status_dir = run.status_dir().string();
  return plan;
}

// `trainctld rank ...` for the ranks of `run`, up to `--` included.
std::vector<std::string> rank_wrapper(const RunDirectory& run, int per_node) {
  return {TRAINCTLD_BINARY,
          "rank",
          "--status-dir",
          run.status_dir().string(),
          "--logs-dir",
          run.logs().string(),
          "--ranks-per-node",
          std::to_string(per_node),
          "--"};
}

// A real mpirun (the engine's command line) running `rank_argv` in `ranks` wrapped ranks.
trainctl::spec::LaunchPlan real_mpi_plan(const RunDirectory& run, int ranks, int per_node,
                                         const std::vector<std::string>& rank_argv) {
  const auto count = std::to_string(ranks);
  std::vector<std::string> argv{"mpirun",
                                "--allow-run-as-root",
                                "--oversubscribe",
                                "-np",
                                count,
                                "-H",
                                "localhost:" + count,
                                "--bind-to",
                                "none",
                                "--map-by",
                                "slot",
                                "--mca",
                                "btl",
                                "self,tcp",
                                "--mca",
                                "btl_vader_single_copy_mechanism",
                                "none",
                                "--mca",
                                "mpi_yield_when_idle",
                                "1",
                                "-x",
                                "PATH"};
  for (auto part : rank_wrapper(run, per_node)) argv.push_back(std::move(part));
  argv.insert(argv.end(), rank_argv.begin(), rank_argv.end());
  return mpi_plan(run, ranks, per_node, std::move(argv));
}

// A launcher that is a shell script standing in for mpirun: `wrap RANK COMMAND...` runs a rank.
trainctl::spec::LaunchPlan scripted_mpi_plan(const RunDirectory& run, int ranks,
                                             const std::string& script) {
  std::string wrap = "wrap() { OMPI_COMM_WORLD_RANK=$1; export OMPI_COMM_WORLD_RANK; shift; ";
  for (const auto& part : rank_wrapper(run, 1)) wrap += shell_quoted(part) + " ";
  return mpi_plan(run, ranks, 1, {"/bin/sh", "-c", wrap + "\"$@\"; }\n" + script});
}

std::optional<TaskObservation> report_of(const RunDirectory& run, const std::string& name) {
  auto report = trainctl::service::engines::read_task_report(run.status_dir(), name);
  if (!report) return std::nullopt;
  return *report;
}

constexpr const char* k_allreduce_script = R"(
import os
from mpi4py import MPI
comm = MPI.COMM_WORLD
total = comm.allreduce(comm.Get_rank() + 1)
print(f"{os.environ['TRAINCTL_TASK']} on node {os.environ['TRAINCTL_NODE_RANK']} of "
      f"{comm.Get_size()}: sum {total}")
)";

// Rank argv[1] fails after the others wait in a barrier: "exit" exits 1 without finalizing,
// "kill" kills itself with SIGKILL; "never" makes every rank wait forever.
constexpr const char* k_failing_rank_script = R"(
import os, signal, sys, time
from mpi4py import MPI
comm = MPI.COMM_WORLD
print("ready", flush=True)
if comm.Get_rank() == int(sys.argv[1]):
    time.sleep(0.5)
    if sys.argv[2] == "exit":
        os._exit(1)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
comm.Barrier()
time.sleep(1000)
)";

}  // namespace

TEST_CASE("parameter server: the chief's success completes the run and stops the rest",
          "[engine][distributed]") {
  GIVEN("a chief that exits 0, and a ps and a worker that never exit") {
    RunDirectory run;
    auto engine = make_engine();
    auto ps = run.task("ps-0", {"sleep", "1000"});
    ps.node_rank = 1;
    auto plan = parameter_server_plan(
        run, {run.task("chief-0", {"/bin/sh", "-c", "sleep 0.3; echo chief done"}), ps,
              run.task("worker-0", {"sleep", "1000"})});

    WHEN("the run goes") {
      const Stopwatch stopwatch;
      REQUIRE(engine->start(run.path(), plan).has_value());
      const auto run_end = wait_until_finished(*engine, run.path());

      THEN("it is Completed within seconds; the others are stopped by policy, not failed") {
        CHECK(stopwatch.elapsed() < k_few_seconds);
        CHECK(run_end.outcome == RunStatus::Completed);
        CHECK(run_end.exit_code == 0);
        CHECK(run_end.first_failed_task.empty());
        CHECK(task_named(run_end, "chief-0").state == "exited");
        CHECK(task_named(run_end, "chief-0").exit_code == 0);
        for (const auto* name : {"ps-0", "worker-0"}) {
          CHECK(task_named(run_end, name).state == "stopped");
          CHECK(task_named(run_end, name).signal == SIGTERM);
        }
        CHECK(read_text(run.log_of("chief-0")) == "chief done\n");
      }
      AND_THEN("each task keeps its place in the plan, and no process is left") {
        CHECK(task_named(run_end, "ps-0").role == "ps");
        CHECK(task_named(run_end, "ps-0").node_rank == 1);
        CHECK(task_named(run_end, "worker-0").role == "worker");
        CHECK(eventually([&] { return nothing_left(run_end, run); }));
      }
    }
  }
}

TEST_CASE("parameter server, all_workers: the run completes only when every worker exited 0",
          "[engine][distributed]") {
  GIVEN("a worker that exits at once, one that waits for a release file, and a ps") {
    RunDirectory run;
    auto engine = make_engine();
    const auto release = run.path() / "release";
    const auto waiting =
        fmt::format("while [ ! -e {} ]; do sleep 0.05; done", shell_quoted(release.string()));
    const auto plan =
        parameter_server_plan(run,
                              {run.task("ps-0", {"sleep", "1000"}), run.task("worker-0", {"true"}),
                               run.task("worker-1", {"/bin/sh", "-c", waiting})},
                              "all_workers");
    REQUIRE(engine->start(run.path(), plan).has_value());

    WHEN("the first worker exited") {
      const auto partway = observe_until(*engine, run.path(), [](const auto& observed) {
        return task_named(observed, "worker-0").state == "exited";
      });

      THEN("the run still goes, and completes once the second worker exited 0") {
        CHECK(partway.phase == Phase::running);
        std::ofstream(release).put('\n');
        const auto run_end = wait_until_finished(*engine, run.path());
        CHECK(run_end.outcome == RunStatus::Completed);
        CHECK(task_named(run_end, "worker-1").state == "exited");
        CHECK(task_named(run_end, "ps-0").state == "stopped");
      }
    }
  }
}

TEST_CASE("parameter server: a worker failing first fails the run and stops the rest",
          "[engine][distributed]") {
  RunDirectory run;
  auto engine = make_engine();
  const auto plan = parameter_server_plan(
      run, {run.task("chief-0", {"sleep", "1000"}), run.task("ps-0", {"sleep", "1000"}),
            run.task("worker-0", {"sleep", "1000"}),
            run.task("worker-1", {"/bin/sh", "-c", "sleep 0.3; exit 3"})});
  REQUIRE(engine->start(run.path(), plan).has_value());

  const auto run_end = wait_until_finished(*engine, run.path());

  CHECK(run_end.outcome == RunStatus::Failed);
  CHECK(run_end.exit_code == 3);
  CHECK(run_end.first_failed_task == "worker-1");
  CHECK(run_end.reason == "task 'worker-1' exited with code 3");
  CHECK(task_named(run_end, "worker-1").state == "exited");
  for (const auto* name : {"chief-0", "ps-0", "worker-0"}) {
    CHECK(task_named(run_end, name).state == "stopped");
  }
  CHECK(eventually([&] { return nothing_left(run_end, run); }));
}

TEST_CASE("a task that cannot start among several fails the run at once, leaving nothing",
          "[engine][distributed]") {
  GIVEN("a chief that starts, a ps whose program is missing, and a worker after it") {
    RunDirectory run;
    auto engine = make_engine();
    const auto plan = parameter_server_plan(
        run, {run.task("chief-0", {"sleep", "1000"}), run.task("ps-0", {"/nonexistent/ps-server"}),
              run.task("worker-0", {"sleep", "1000"})});

    WHEN("the run starts") {
      const Stopwatch stopwatch;
      REQUIRE(engine->start(run.path(), plan).has_value());
      const auto run_end = wait_until_finished(*engine, run.path());

      THEN("it fails within seconds with the ps's reason; nothing is left running") {
        CHECK(stopwatch.elapsed() < k_few_seconds);
        CHECK(run_end.outcome == RunStatus::Failed);
        CHECK(run_end.reason == "cannot start '/nonexistent/ps-server': No such file or directory");
        CHECK(run_end.first_failed_task == "ps-0");
        CHECK(task_named(run_end, "ps-0").state == "failed_to_start");
        CHECK(task_named(run_end, "chief-0").state == "stopped");
        CHECK(task_named(run_end, "worker-0").state == "pending");
        CHECK(run_end.started_at_ms == 0);  // the start barrier was never passed
        CHECK(eventually([&] { return nothing_left(run_end, run); }));
      }
    }
  }
}

TEST_CASE("MPI: ranks of a real mpirun complete the run, each with its own log and report",
          "[engine][distributed][mpi]") {
  GIVEN("4 ranks, 2 per node, of an mpi4py allreduce") {
    RunDirectory run;
    auto engine = make_engine();
    const auto script = run.write_script("allreduce.py", k_allreduce_script);
    const auto plan = real_mpi_plan(run, 4, 2, {k_python, script.string()});

    WHEN("the run goes") {
      REQUIRE(engine->start(run.path(), plan).has_value());
      const auto run_end = wait_until_finished(*engine, run.path());

      THEN("it is Completed, and every rank wrote its own output to its own log") {
        CHECK(run_end.outcome == RunStatus::Completed);
        CHECK(run_end.reason == "");
        REQUIRE(run_end.tasks.size() == 4);
        for (int rank = 0; rank < 4; ++rank) {
          const auto name = fmt::format("rank-{}", rank);
          const auto& task = task_named(run_end, name);
          CHECK(task.state == "exited");
          CHECK(task.exit_code == 0);
          CHECK(task.role == "rank");
          CHECK(task.index == rank);
          CHECK(task.node_rank == rank / 2);
          CHECK(task.pid > 0);
          CHECK(read_text(run.log_of(name)) ==
                fmt::format("{} on node {} of 4: sum 10\n", name, rank / 2));
          const auto report = report_of(run, name);
          REQUIRE(report.has_value());
          CHECK(report->state == "exited");
          CHECK(report->pid == task.pid);
        }
        CHECK(fs::exists(run.log_of("mpirun")));
      }
      AND_THEN("the launcher's end is recorded, and a new engine recovers the finished run") {
        const auto state = state_of(run.path());
        REQUIRE(state.launcher.has_value());
        CHECK(state.launcher->state == "exited");
        CHECK(state.launcher->exit_code == 0);
        CHECK(state.launcher_process.pid > 0);
        const auto recovered = make_engine()->recover(run.path());
        REQUIRE(recovered.has_value());
        CHECK(recovered->phase == Phase::finished);
        CHECK(recovered->outcome == RunStatus::Completed);
        CHECK(recovered->tasks.size() == 4);
      }
    }
  }
}

TEST_CASE("MPI: a rank that fails stops the whole run, naming the rank (RELIABILITY 26)",
          "[engine][distributed][mpi]") {
  RunDirectory run;
  auto engine = make_engine();
  const auto script = run.write_script("failing.py", k_failing_rank_script);

  SECTION("rank 2 exits 1") {
    REQUIRE(
        engine
            ->start(run.path(), real_mpi_plan(run, 4, 1, {k_python, script.string(), "2", "exit"}))
            .has_value());
    const auto run_end = wait_until_finished(*engine, run.path());

    CHECK(run_end.outcome == RunStatus::Failed);
    CHECK(run_end.exit_code == 1);
    CHECK(run_end.first_failed_task == "rank-2");
    CHECK(run_end.reason == "task 'rank-2' exited with code 1");
    for (const auto* name : {"rank-0", "rank-1", "rank-3"}) {
      CHECK(task_named(run_end, name).state == "stopped");
    }
    CHECK(eventually([&] { return nothing_left(run_end, run); }));
  }
  SECTION("rank 1 kills itself with SIGKILL") {
    REQUIRE(
        engine
            ->start(run.path(), real_mpi_plan(run, 3, 1, {k_python, script.string(), "1", "kill"}))
            .has_value());
    const auto run_end = wait_until_finished(*engine, run.path());

    CHECK(run_end.outcome == RunStatus::Failed);
    CHECK(run_end.exit_code == 128 + SIGKILL);
    CHECK(run_end.first_failed_task == "rank-1");
    CHECK(run_end.reason == "task 'rank-1' was killed by signal 9 (SIGKILL)");
    CHECK(task_named(run_end, "rank-1").state == "killed");
    CHECK(eventually([&] { return nothing_left(run_end, run); }));
  }
}

TEST_CASE("MPI: cancel of a running run stops every rank and leaves nothing",
          "[engine][distributed][mpi]") {
  GIVEN("3 ranks that passed their barrier and wait") {
    RunDirectory run;
    auto engine = make_engine();
    const auto script = run.write_script("waiting.py", k_failing_rank_script);
    REQUIRE(engine
                ->start(run.path(),
                        real_mpi_plan(run, 3, 1, {k_python, script.string(), "-1", "never"}))
                .has_value());
    const auto running = wait_until_running(*engine, run.path());
    REQUIRE(running.phase == Phase::running);
    std::vector<pid_t> rank_pids;
    for (const auto& task : running.tasks) rank_pids.push_back(static_cast<pid_t>(task.pid));

    WHEN("the run is canceled") {
      REQUIRE(engine->cancel(run.path()).has_value());
      const auto run_end = wait_until_finished(*engine, run.path());

      THEN("it is Canceled, every rank stopped, and no process of the run is left") {
        CHECK(run_end.outcome == RunStatus::Canceled);
        CHECK(run_end.first_failed_task.empty());
        for (const auto& task : run_end.tasks) CHECK(task.state == "stopped");
        for (const pid_t pid : rank_pids) CHECK(process_gone(pid));
        CHECK(eventually([&] { return nothing_left(run_end, run); }));
      }
    }
  }
}

TEST_CASE("MPI: a missing program fails the run within seconds", "[engine][distributed][mpi]") {
  RunDirectory run;
  auto engine = make_engine();
  const Stopwatch stopwatch;
  REQUIRE(engine->start(run.path(), real_mpi_plan(run, 2, 1, {"no-such-trainer-xyz"})).has_value());

  const auto run_end = wait_until_finished(*engine, run.path());

  CHECK(stopwatch.elapsed() < k_few_seconds);
  CHECK(run_end.outcome == RunStatus::Failed);
  CHECK(run_end.reason ==
        "cannot start 'no-such-trainer-xyz': No such file or directory (searched "
        "PATH=/usr/bin:/bin)");
  CHECK(run_end.first_failed_task.starts_with("rank-"));
  CHECK(task_named(run_end, run_end.first_failed_task).state == "failed_to_start");
  CHECK(eventually([&] { return nothing_left(run_end, run); }));
}

TEST_CASE("MPI: the start barrier waits for every rank, within the start timeout",
          "[engine][distributed][mpi]") {
  GIVEN("a launcher that starts 3 ranks of 4, says why on its output, and waits") {
    RunDirectory run;
    auto engine = make_engine();
    auto plan = scripted_mpi_plan(run, 4,
                                  fmt::format(R"(
for r in 0 1 2; do wrap $r sleep 1000 & done
echo "-------"
echo "waiting for a host in {}/hosts"
wait
)",
                                              run.path().string()));
    plan.start_timeout_seconds = 2;
    REQUIRE(engine->start(run.path(), plan).has_value());

    WHEN("3 ranks run") {
      const auto three_up = observe_until(*engine, run.path(), [](const auto& observed) {
        return std::ranges::count(observed.tasks, std::string("running"),
                                  &TaskObservation::state) == 3;
      });

      THEN("the run is still starting, and fails once the start timeout passed") {
        CHECK(three_up.phase == Phase::starting);
        const auto run_end = wait_until_finished(*engine, run.path());
        CHECK(run_end.outcome == RunStatus::Failed);
        CHECK(run_end.reason ==
              "rank-3 did not start within 2.0s: waiting for a host in <run>/hosts");
        CHECK(task_named(run_end, "rank-3").state == "pending");
        CHECK(task_named(run_end, "rank-0").state == "stopped");
        CHECK(eventually([&] { return nothing_left(run_end, run); }));
      }
    }
  }
}

TEST_CASE("MPI: a launcher that ends without a rank explaining it fails the run",
          "[engine][distributed][mpi]") {
  RunDirectory run;
  auto engine = make_engine();

  SECTION("before every rank started") {
    const auto plan = scripted_mpi_plan(run, 4, R"(
for r in 0 1; do wrap $r sleep 1000 & done
sleep 0.5
echo "ORTE lost its daemon"
exit 5
)");
    REQUIRE(engine->start(run.path(), plan).has_value());
    const auto run_end = wait_until_finished(*engine, run.path());

    CHECK(run_end.outcome == RunStatus::Failed);
    CHECK(run_end.exit_code == 5);
    CHECK(run_end.reason ==
          "mpirun exited with code 5 before rank-2, rank-3 started: ORTE lost its daemon");
    CHECK(task_named(run_end, "rank-0").state == "stopped");
    CHECK(eventually([&] { return nothing_left(run_end, run); }));
  }
  SECTION("after every rank exited 0") {
    const auto plan = scripted_mpi_plan(run, 2, R"(
for r in 0 1; do wrap $r true; done
echo "first line"
echo "the job did not finalize"
exit 3
)");
    REQUIRE(engine->start(run.path(), plan).has_value());
    const auto run_end = wait_until_finished(*engine, run.path());

    CHECK(run_end.outcome == RunStatus::Failed);
    CHECK(run_end.exit_code == 3);
    CHECK(run_end.reason == "mpirun exited with code 3: the job did not finalize");
    CHECK(run_end.first_failed_task.empty());
    CHECK(task_named(run_end, "rank-1").state == "exited");
  }
}

TEST_CASE("MPI: a run whose supervisor was killed is failed and its ranks and mpirun stopped",
          "[engine][distributed][mpi]") {
  GIVEN("a running MPI run") {
    RunDirectory run;
    auto engine = make_engine();
    const auto script = run.write_script("waiting.py", k_failing_rank_script);
    REQUIRE(engine
                ->start(run.path(),
                        real_mpi_plan(run, 2, 1, {k_python, script.string(), "-1", "never"}))
                .has_value());
    const auto running = wait_until_running(*engine, run.path());
    REQUIRE(running.phase == Phase::running);
    const auto state = state_of(run.path());
    REQUIRE(state.launcher.has_value());

    WHEN("its supervisor is killed with SIGKILL and a new engine recovers the run") {
      REQUIRE(::kill(state.supervisor.pid, SIGKILL) == 0);
      REQUIRE(eventually([&] { return process_gone(state.supervisor.pid); }));
      const auto recovered = make_engine()->recover(run.path());

      THEN("the run is Failed, and mpirun and every rank are gone") {
        REQUIRE(recovered.has_value());
        CHECK(recovered->outcome == RunStatus::Failed);
        CHECK(recovered->reason == "the run's supervisor died unexpectedly");
        CHECK(eventually([&] { return process_gone(state.launcher_process.pid); }));
        CHECK(eventually([&] { return nothing_left(running, run); }));
      }
    }
  }
}
