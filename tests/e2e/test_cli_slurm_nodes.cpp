// Runs across several real Slurm nodes (scripts/slurm-cluster.sh; each node a network namespace
// of its own with its own temporary folder, none of them seeing trainctld's home), through the
// real CLI: MPI ranks on two hosts allreduce; the parameter-server and PyTorch examples train
// across nodes to their usual accuracy; a cancel ends every process on every node.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "slurm_setup.hpp"

namespace {

using namespace trainctl::testing;
using json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path k_examples = fs::path(TRAINCTL_SOURCE_DIR) / "configs/examples";

// The run's tasks as `run show -o json` lists them.
json tasks_of(const SlurmSetup& setup, const std::string& run) {
  const auto shown = setup.cli().run({"run", "show", run, "-o", "json"});
  INFO(shown.err);
  REQUIRE(shown.exit_code == 0);
  return json::parse(shown.out).at("tasks");
}

// The hosts the run's tasks ran on.
std::set<std::string> hosts_of(const json& tasks) {
  std::set<std::string> hosts;
  for (const auto& task : tasks) {
    if (task.at("host").is_string()) hosts.insert(task.at("host").get<std::string>());
  }
  return hosts;
}

// Submits an example with --stream on hpc (extra --set options appended); returns its run id.
std::string run_example(const SlurmSetup& setup, const std::string& example,
                        const std::vector<std::string>& sets = {}) {
  std::vector<std::string> argv{"submit", (k_examples / example / "job.yaml").string(), "--set",
                                "compute=hpc", "--stream"};
  for (const auto& set : sets) argv.insert(argv.end(), {"--set", set});
  const auto streamed = setup.cli().run(argv, k_examples / example, 240);
  INFO(streamed.out << streamed.err);
  CHECK(streamed.exit_code == 0);
  const auto listed = setup.cli().run({"run", "list", "-o", "name"});
  return trimmed(listed.out.substr(0, listed.out.find('\n')));
}

// The estimator lines of a run on both nodes of hpc.
constexpr const char* k_two_nodes = "  node_count: 2\n  distributed_training: {backend: pytorch}\n";

// A project on hpc whose estimator has `estimator_extra` (indented lines) too.
Project nodes_project(const std::string& script, const std::string& estimator_extra) {
  return Project(script, estimator_extra + "compute: hpc\n");
}

// Submits `project` with --stream, checks it ends as `succeeds` says, and returns its run id and
// what it printed.
std::pair<std::string, std::string> streamed_run(const SlurmSetup& setup, const Project& project,
                                                 bool succeeds) {
  const auto streamed = setup.cli().run({"submit", project.spec(), "--stream"}, project.dir(), 240);
  INFO(streamed.out << streamed.err);
  CHECK((streamed.exit_code == 0) == succeeds);
  const auto listed = setup.cli().run({"run", "list", "-o", "name"});
  return {trimmed(listed.out.substr(0, listed.out.find('\n'))), streamed.out};
}

// The run's outputs/metrics.json.
json metrics_of(const SlurmSetup& setup, const std::string& run) {
  const TempDir dest;
  const auto downloaded =
      setup.cli().run({"run", "download", run, "--path", "outputs/metrics.json", "--dest", dest.path().string()});
  INFO(downloaded.out << downloaded.err);
  REQUIRE(downloaded.exit_code == 0);
  std::ifstream in(dest.path() / "outputs/metrics.json");
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

}  // namespace

TEST_CASE("e2e: an MPI run of 2 nodes on Slurm puts its ranks on two hosts that allreduce",
          "[e2e][cli][slurm][nodes]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  // Each rank says which address reaches the controller: its node's own.
  const auto project = nodes_project(
      "import socket\n"
      "from mpi4py import MPI\n"
      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
      "s.connect(('192.0.2.254', 9))\n"
      "comm = MPI.COMM_WORLD\n"
      "total = comm.allreduce(comm.rank)\n"
      "hosts = comm.gather(s.getsockname()[0])\n"
      "if comm.rank == 0:\n"
      "    print('sum', total, 'hosts', len(set(hosts)), sorted(set(hosts)), flush=True)\n",
      "  node_count: 2\n  process_count_per_node: 2\n  distributed_training: {backend: mpi}\n");
  const auto [run, printed] = streamed_run(setup, project, /*succeeds=*/true);
  CHECK_THAT(printed, Catch::Contains("sum 6 hosts 2 ['192.0.2."));
  INFO(setup.cli().run({"logs", run, "--task", "mpirun"}).out);
  const auto tasks = tasks_of(setup, run);
  REQUIRE(tasks.size() == 4);
  CHECK(hosts_of(tasks).size() == 2);
  // Each node's ranks are on that node's host, numbered on it as on separate machines.
  CHECK(tasks[0].at("host") == tasks[1].at("host"));
  CHECK(tasks[2].at("host") == tasks[3].at("host"));
  for (const auto& task : tasks) CHECK(task.at("state") == "exited");
}

TEST_CASE("e2e: the parameter-server example trains across Slurm nodes and no ps is left behind",
          "[e2e][cli][slurm][nodes]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const std::string run = run_example(setup, "ps-digits");
  CHECK(setup.status(run) == "Completed");
  const auto tasks = tasks_of(setup, run);
  CHECK(hosts_of(tasks).size() == 2);
  for (const auto& task : tasks) {
    INFO(task.dump());
    if (task.at("role") == "ps") {
      CHECK(task.at("state") == "stopped");  // never exits by itself: stopped by policy
    } else if (task.at("role") == "chief") {
      CHECK(task.at("state") == "exited");
      CHECK(task.at("exit_code") == 0);
    } else {
      // A worker sees the end of training at its next pull and exits 0, unless the chief's
      // success stopped it first (mid-step on a loaded machine): never a failure.
      CHECK(((task.at("state") == "exited" && task.at("exit_code") == 0) ||
             task.at("state") == "stopped"));
    }
  }
  CHECK(metrics_of(setup, run).at("test_accuracy").get<double>() >= 0.9);
  // The ps tasks, stopped on their node, left no process anywhere.
  CHECK(run_command({"pgrep", "-f", "trainctl-" + run}).exit_code == 1);
}

TEST_CASE("e2e: PyTorch DDP runs on 2 Slurm nodes x 2 processes and reaches its accuracy",
          "[e2e][cli][slurm][nodes]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const std::string run = run_example(setup, "pytorch-digits", {"estimator.process_count_per_node=2"});
  CHECK(setup.status(run) == "Completed");
  const auto tasks = tasks_of(setup, run);
  REQUIRE(tasks.size() == 4);
  CHECK(hosts_of(tasks).size() == 2);
  CHECK(metrics_of(setup, run).at("test_accuracy").get<double>() >= 0.9);
}

TEST_CASE("e2e: canceling a run of 2 Slurm nodes leaves no process on any node",
          "[e2e][cli][slurm][nodes]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const auto project = nodes_project(
      "import os, time\n"
      "os.system('setsid sleep 4343 &')\n"
      "print('up', flush=True)\n"
      "time.sleep(600)\n",
      k_two_nodes);
  const std::string run = setup.submit(project);
  REQUIRE(setup.wait_for_status(run, "Running", 120));
  REQUIRE(hosts_of(tasks_of(setup, run)).size() == 2);

  const auto canceled = setup.cli().run({"run", "cancel", run});
  CHECK(canceled.exit_code == 0);
  const auto waited = setup.cli().run({"run", "wait", run}, {}, 90);
  INFO(setup.cli().run({"run", "show", run, "-o", "json"}).out);  // how it ended, when it fails
  CHECK(waited.exit_code == 4);
  CHECK(setup.status(run) == "Canceled");
  CHECK(setup.queue_empties());
  CHECK(run_command({"pgrep", "-f", "sleep 4343"}).exit_code == 1);
  CHECK(run_command({"pgrep", "-f", "trainctl-" + run}).exit_code == 1);
}

// Slurm's signal reaches every process of the job at once: tasks die of it, on both nodes, while
// (or before) their agents and supervisors hear of it. None of that is a failure of the run.
TEST_CASE("e2e: a run of 2 Slurm nodes that an administrator scancels ends Canceled, saying so",
          "[e2e][cli][slurm][nodes]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const std::string run = setup.submit(nodes_project(
      "import time\nprint('up', flush=True)\ntime.sleep(600)\n",
      k_two_nodes));
  REQUIRE(setup.wait_for_status(run, "Running", 120));
  REQUIRE(hosts_of(tasks_of(setup, run)).size() == 2);
  const auto jobs = setup.cluster().exec({"squeue", "-h", "-o", "%i"});
  REQUIRE_FALSE(trimmed(jobs.out).empty());
  CHECK(setup.cluster().exec({"scancel", trimmed(jobs.out)}).exit_code == 0);

  const auto waited = setup.cli().run({"run", "wait", run}, {}, 90);
  const auto shown = json::parse(setup.cli().run({"run", "show", run, "-o", "json"}).out);
  INFO(shown.dump(2));
  CHECK(waited.exit_code == 4);
  CHECK(shown.value("status", "") == "Canceled");
  CHECK_THAT(shown.dump(), Catch::Contains("stopped by Slurm, not by trainctl"));
  CHECK(setup.queue_empties());
  CHECK(run_command({"pgrep", "-f", "trainctl-" + run}).exit_code == 1);
}

TEST_CASE("e2e: a 3-node run waits Queued, with Slurm's reason, while a 2-node run holds the nodes",
          "[e2e][cli][slurm][nodes]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const std::string holder = setup.submit(nodes_project(
      "import time\nprint('holding', flush=True)\ntime.sleep(600)\n",
      k_two_nodes));
  REQUIRE(setup.wait_for_status(holder, "Running", 120));

  const std::string waiting = setup.submit(nodes_project(
      "print('my turn', flush=True)\n",
      "  node_count: 3\n  distributed_training: {backend: pytorch}\n"));
  REQUIRE(setup.wait_for_status(waiting, "Queued", 60));
  // Slurm says why, in its words, wherever the run is shown.
  bool reason_shown = false;
  for (int i = 0; i < 100 && !reason_shown; ++i) {
    const auto shown = json::parse(setup.cli().run({"run", "show", waiting, "-o", "json"}).out);
    const auto queue = shown.value("queue", json());
    reason_shown = queue.is_object() && queue.value("reason", "").find("Resources") != std::string::npos;
    if (!reason_shown) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(reason_shown);
  const auto table = setup.cli().run({"run", "show", waiting});
  CHECK_THAT(table.out, Catch::Contains("is pending: Resources"));

  CHECK(setup.cli().run({"run", "cancel", holder}).exit_code == 0);
  const auto waited = setup.cli().run({"run", "wait", waiting}, {}, 120);
  INFO(waited.out << waited.err);
  CHECK(waited.exit_code == 0);
  CHECK(hosts_of(tasks_of(setup, waiting)).size() == 3);
}

TEST_CASE("e2e: a 2-node Slurm run outlives kill -9 of trainctld and ends with its whole logs",
          "[e2e][cli][slurm][nodes]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const std::string run = setup.submit(nodes_project(
      "import os, time\n"
      "task = os.environ['TRAINCTL_TASK']\n"
      "for i in range(40):\n"
      "    print(task, 'line', i, flush=True)\n"
      "    time.sleep(0.2)\n"
      "open(f'./outputs/{task}.txt', 'w').write('done')\n",
      k_two_nodes));
  REQUIRE(setup.wait_for_status(run, "Running", 120));

  setup.service().kill9();
  std::this_thread::sleep_for(std::chrono::seconds(3));  // the nodes go on without it
  setup.service().start(/*same_port=*/true);

  const auto waited = setup.cli().run({"run", "wait", run}, {}, 120);
  INFO(waited.out << waited.err);
  CHECK(waited.exit_code == 0);
  for (const std::string task : {"rank-0", "rank-1"}) {
    const auto logs = setup.cli().run({"logs", run, "--task", task});
    CHECK_THAT(logs.out, Catch::Contains(task + " line 0") && Catch::Contains(task + " line 39"));
    const auto files = setup.cli().run({"run", "files", run});
    CHECK_THAT(files.out, Catch::Contains("outputs/" + task + ".txt"));
  }
}

TEST_CASE("e2e: the MPI example trains across Slurm nodes to its usual accuracy",
          "[e2e][cli][slurm][nodes]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const std::string run = run_example(setup, "mpi-digits");
  CHECK(setup.status(run) == "Completed");
  CHECK(hosts_of(tasks_of(setup, run)).size() == 2);
  CHECK(metrics_of(setup, run).at("test_accuracy").get<double>() >= 0.9);
}

TEST_CASE("e2e: an MPI rank that fails on one Slurm node fails the run and stops the ranks of "
          "every node (RELIABILITY 26)",
          "[e2e][cli][slurm][nodes]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  // Rank 3, on node 1, exits 1 while the others wait in a collective that never completes.
  const auto project = nodes_project(
      "import sys, time\n"
      "from mpi4py import MPI\n"
      "comm = MPI.COMM_WORLD\n"
      "if comm.rank == 3:\n"
      "    time.sleep(1)\n"
      "    sys.exit(1)\n"
      "comm.barrier()\n"
      "time.sleep(600)\n",
      "  node_count: 2\n  process_count_per_node: 2\n  distributed_training: {backend: mpi}\n");
  const std::string run = streamed_run(setup, project, /*succeeds=*/false).first;
  const auto shown = json::parse(setup.cli().run({"run", "show", run, "-o", "json"}).out);
  CHECK(shown.at("status") == "Failed");
  CHECK_THAT(shown.at("failure_reason").get<std::string>(), Catch::Contains("rank-3"));
  CHECK(run_command({"pgrep", "-f", "trainctl-" + run}).exit_code == 1);  // no rank anywhere
}

TEST_CASE("e2e: a parameter-server task that crashes on one Slurm node fails the run and stops "
          "the tasks on the others (RELIABILITY 27)",
          "[e2e][cli][slurm][nodes]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  // ps-0 runs on node 1 and crashes; chief-0 and worker-0 on node 0 would run for ten minutes.
  const auto project = nodes_project(
      "import json, os, sys, time\n"
      "task = json.loads(os.environ['TF_CONFIG'])['task']\n"
      "if task['type'] == 'ps':\n"
      "    time.sleep(1)\n"
      "    sys.exit(7)\n"
      "time.sleep(600)\n",
      "  node_count: 2\n"
      "  distributed_training: {backend: parameter_server, worker_count: 1, parameter_server_count: 1}\n");
  const std::string run = streamed_run(setup, project, /*succeeds=*/false).first;
  const auto shown = json::parse(setup.cli().run({"run", "show", run, "-o", "json"}).out);
  CHECK(shown.at("status") == "Failed");
  CHECK(shown.at("exit_code") == 7);
  for (const auto& task : shown.at("tasks")) {
    INFO(task.dump());
    CHECK(task.at("state") == (task.at("name") == "ps-0" ? "exited" : "stopped"));
  }
  CHECK(run_command({"pgrep", "-f", "trainctl-" + run}).exit_code == 1);
}

TEST_CASE("e2e: a run with pip_packages on Slurm builds its environment on each node, its log the "
          "run's preparing log",
          "[e2e][cli][slurm][nodes][environments]") {
  REQUIRE_CLUSTER();
  // A wheel the nodes can read (outside the service's home), and a service that installs from it.
  const TempDir wheels;
  const auto made = run_command({"/usr/bin/python3", TRAINCTL_SOURCE_DIR "/tests/data/environments/make_wheel.py",
                                 wheels.path().string(), "tinypkg", "1.0"});
  REQUIRE(made.exit_code == 0);
  SlurmSetup setup({"--pip-no-index", "--pip-find-links", wheels.path().string()});
  const auto project = nodes_project(
      "import sys, tinypkg\n"
      "print('tinypkg', tinypkg.VERSION, 'in', sys.prefix, flush=True)\n",
      std::string(k_two_nodes) + "  pip_packages: [tinypkg==1.0]\n");
  const auto [run, printed] = streamed_run(setup, project, /*succeeds=*/true);
  CHECK_THAT(printed, Catch::Contains("tinypkg 1.0 in /") && Catch::Contains("trainctl-environments/"));
  const auto preparing = setup.cli().run({"logs", run, "--task", "preparing"});
  CHECK_THAT(preparing.out, Catch::Contains("tinypkg"));
}
