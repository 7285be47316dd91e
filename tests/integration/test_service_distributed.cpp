// Distributed runs through the real trainctld (docs/engines.md): parameter-server, MPI and
// PyTorch tasks are real processes running tests/data/distributed/task.py, which records what
// it was given in outputs/<task>.json. What each task sees, the success policies, failures
// (RELIABILITY 26, 27), cancel (28), a restart of the service (23) and validation (4, 5).
#include <signal.h>

#include <chrono>
#include <optional>
#include <regex>
#include <set>

#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;
using json = nlohmann::json;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A short grace period keeps the stops (policy, failure, cancel) quick.
const std::vector<std::string> k_quick_stops{"--grace-seconds", "2"};
// How soon a run must end once its outcome is decided (RELIABILITY 26: "within seconds").
constexpr auto k_end_within = std::chrono::seconds(10);

json parameter_server_estimator(int node_count, json distributed_training) {
  distributed_training["backend"] = "parameter_server";
  return {{"node_count", node_count}, {"distributed_training", std::move(distributed_training)}};
}

json ranks_estimator(const std::string& backend, int node_count, int process_count_per_node) {
  return {{"node_count", node_count},
          {"process_count_per_node", process_count_per_node},
          {"distributed_training", {{"backend", backend}}}};
}

std::vector<std::string> rank_names(int count) {
  std::vector<std::string> names;
  for (int rank = 0; rank < count; ++rank) names.push_back(fmt::format("rank-{}", rank));
  return names;
}

std::string role_of(const std::string& task) {
  return task.substr(0, task.rfind('-'));
}
int index_of(const std::string& task) {
  return std::stoi(task.substr(task.rfind('-') + 1));
}

std::string run_id_of(const json& run) {
  INFO(run.dump());
  REQUIRE(run.is_object());
  REQUIRE(run.contains("id"));
  return run["id"];
}

// The run lists `tasks` in this order, each with its role, index and node (`nodes`, in order).
void check_tasks(const json& run, const std::vector<std::string>& tasks,
                 const std::vector<int>& nodes) {
  CHECK(task_names_of(run) == tasks);
  for (size_t i = 0; i < tasks.size(); ++i) {
    const json task = task_named(run, tasks[i]);
    INFO(tasks[i] << ": " << task.dump());
    CHECK(task.value("role", "") == role_of(tasks[i]));
    CHECK(task.value("index", -1) == index_of(tasks[i]));
    CHECK(task.value("node", -1) == nodes.at(i));
  }
}

// Waits until every one of `tasks` recorded what it saw (outputs/<task>.json) and returns the
// records by task; fails the test when one never does.
std::map<std::string, json> records_of(const ServiceFixture& service, const std::string& run_id,
                                       const std::vector<std::string>& tasks) {
  auto records = wait_for_task_records(service, run_id, tasks);
  for (const auto& task : tasks) {
    INFO(task << " recorded nothing; the run: "
              << http_request(service, "GET", "/v1/workspaces/default/runs/" + run_id).body);
    REQUIRE_FALSE(records[task].is_null());
  }
  return records;
}

// Waits for the run to end; returns it and how long that took from now.
std::pair<json, Clock::duration> wait_for_end(const ServiceFixture& service,
                                              const std::string& run_id) {
  const auto started = Clock::now();
  auto run = wait_for_run(service, run_id);
  return {std::move(run), Clock::now() - started};
}

// Every process of a run sees its run id, outputs folder, task and node, unbuffered Python, and
// never the service's token.
void check_run_variables(const json& record, const ServiceFixture& service,
                         const std::string& run_id, const std::string& task, int node) {
  INFO(task << " saw " << record.dump());
  const json& env = record.at("env");
  CHECK(env.value("TRAINCTL_RUN_ID", "") == run_id);
  std::error_code ec;
  CHECK(fs::equivalent(env.value("TRAINCTL_OUTPUTS_DIR", ""),
                       service.home() / "runs" / run_id / "outputs", ec));
  CHECK(env.value("TRAINCTL_TASK", "") == task);
  CHECK(env.value("TRAINCTL_NODE_RANK", "") == std::to_string(node));
  CHECK(env.value("PYTHONUNBUFFERED", "") == "1");
  CHECK_FALSE(env.contains("TRAINCTL_TOKEN"));
}

// Nothing the run started is left: neither a process its tasks recorded (the task, its daemon)
// nor any other process with its run id (mpirun, rank wrappers, children).
void check_nothing_left(const std::string& run_id, const std::map<std::string, json>& records) {
  for (const auto& [task, record] : records) {
    INFO(task);
    CHECK_FALSE(process_is_alive(record.value("pid", 0)));
    CHECK_FALSE(process_is_alive(record.value("daemon_pid", 0)));
  }
  CHECK(processes_of_run(run_id).empty());
}

// The run's tasks that failed first: exactly `task`.
void check_failed_first(const json& run, const std::string& task) {
  std::vector<std::string> failed_first;
  for (const auto& entry : run.value("tasks", json::array())) {
    if (entry.value("failed_first", false)) failed_first.push_back(entry.value("name", ""));
  }
  CHECK(failed_first == std::vector<std::string>{task});
}

void check_stopped(const json& run, const std::vector<std::string>& tasks) {
  for (const auto& name : tasks) {
    const json task = task_named(run, name);
    INFO(name << ": " << task.dump());
    CHECK(task.value("state", "") == "stopped");
    CHECK_FALSE(task.value("failed_first", true));
  }
}

void check_exited(const json& run, const std::vector<std::string>& tasks, int exit_code) {
  for (const auto& name : tasks) {
    const json task = task_named(run, name);
    INFO(name << ": " << task.dump());
    CHECK(task.value("state", "") == "exited");
    CHECK(task["exit_code"] == exit_code);
  }
}

json tf_config_of(const json& record) {
  return json::parse(record.at("env").value("TF_CONFIG", ""), nullptr, false);
}

// The port of every address of a TF_CONFIG cluster, each checked to be on 127.0.0.1.
std::vector<int> cluster_ports(const json& cluster) {
  static const std::regex k_loopback_address(R"(127\.0\.0\.1:([0-9]{1,5}))");
  std::vector<int> ports;
  for (const auto& [job, addresses] : cluster.items()) {
    for (const auto& address : addresses) {
      std::smatch match;
      const std::string text = address.is_string() ? address.get<std::string>() : address.dump();
      INFO(job << " address " << text);
      CHECK(std::regex_match(text, match, k_loopback_address));
      if (!match.empty()) ports.push_back(std::stoi(match[1].str()));
    }
  }
  return ports;
}

}  // namespace

TEST_CASE("every parameter-server task gets its TF_CONFIG: one cluster, its own task",
          "[service][distributed]") {
  ServiceFixture service(k_quick_stops);
  GIVEN("a chief, 2 ps, 2 workers and an evaluator on 2 nodes; the chief ends once all run") {
    const std::vector<std::string> tasks{"chief-0",  "ps-0",     "ps-1",
                                         "worker-0", "worker-1", "evaluator-0"};
    const std::string id = run_id_of(submit_distributed(
        service,
        parameter_server_estimator(
            2, {{"worker_count", 2}, {"parameter_server_count", 2}, {"evaluator", true}}),
        {"--forever", "ps", "--forever", "worker", "--forever", "evaluator", "--after-peers",
         "6"}));
    const auto records = records_of(service, id, tasks);
    const json done = wait_for_run(service, id);
    INFO(done.dump());

    THEN("the run completes with its tasks in plan order, placed round-robin over the 2 nodes") {
      CHECK(done["status"] == "Completed");
      check_tasks(done, tasks, {0, 1, 0, 1, 0, 1});
      AND_THEN(
          "each task saw compact TF_CONFIG: the same cluster, its own task, environment cloud") {
        const json cluster = tf_config_of(records.at("chief-0")).value("cluster", json());
        INFO(cluster.dump());
        REQUIRE(cluster.is_object());
        CHECK(cluster.size() == 3);
        CHECK(cluster.value("chief", json()).size() == 1);
        CHECK(cluster.value("ps", json()).size() == 2);
        CHECK(cluster.value("worker", json()).size() == 2);
        const auto ports = cluster_ports(cluster);
        CHECK(std::set<int>(ports.begin(), ports.end()).size() == 5);

        for (size_t i = 0; i < tasks.size(); ++i) {
          const auto& task = tasks[i];
          const json& record = records.at(task);
          const std::string text = record.at("env").value("TF_CONFIG", "");
          INFO(task << " TF_CONFIG=" << text);
          CHECK(text.find_first_of(" \n") == std::string::npos);
          const json config = json::parse(text, nullptr, false);
          REQUIRE(config.is_object());
          CHECK(config.size() == 3);
          CHECK(config["cluster"] == cluster);
          CHECK(config["task"] == json{{"type", role_of(task)}, {"index", index_of(task)}});
          CHECK(config["task"]["index"].is_number_integer());
          CHECK(config["environment"] == "cloud");
          check_run_variables(record, service, id, task, static_cast<int>(i % 2));
        }
        AND_THEN("the evaluator is not part of the cluster anyone sees") {
          CHECK(tf_config_of(records.at("evaluator-0"))["task"] ==
                json{{"type", "evaluator"}, {"index", 0}});
          for (const auto& [task, record] : records) {
            INFO(task);
            CHECK_FALSE(tf_config_of(record)["cluster"].contains("evaluator"));
          }
        }
      }
    }
  }
}

TEST_CASE("the chief decides a parameter-server run: tasks still running are stopped by policy",
          "[service][distributed]") {
  ServiceFixture service(k_quick_stops);
  GIVEN(
      "a chief that exits 0 once its 2 workers and ps run; they never exit, the ps has a daemon") {
    const std::vector<std::string> tasks{"chief-0", "ps-0", "worker-0", "worker-1"};
    const std::string id = run_id_of(submit_distributed(
        service,
        parameter_server_estimator(1, {{"worker_count", 2}, {"parameter_server_count", 1}}),
        {"--forever", "ps", "--forever", "worker", "--daemon", "ps", "--after-peers", "4"}));
    const auto records = records_of(service, id, tasks);
    const auto [done, took] = wait_for_end(service, id);
    INFO(done.dump());

    THEN("the run completes within seconds: the chief exited 0, the others were stopped") {
      CHECK(done["status"] == "Completed");
      CHECK(done["exit_code"] == 0);
      CHECK(took < k_end_within);
      check_exited(done, {"chief-0"}, 0);
      CHECK_FALSE(task_named(done, "chief-0").value("failed_first", true));
      check_stopped(done, {"ps-0", "worker-0", "worker-1"});
      check_nothing_left(id, records);
    }
  }
  GIVEN("chief: false; worker-0 exits 0 once all run, worker-1 and the ps never exit") {
    const std::vector<std::string> tasks{"ps-0", "worker-0", "worker-1"};
    const std::string id = run_id_of(submit_distributed(
        service,
        parameter_server_estimator(
            1, {{"worker_count", 2}, {"parameter_server_count", 1}, {"chief", false}}),
        {"--forever", "ps", "--forever", "worker-1", "--after-peers", "3"}));
    const auto records = records_of(service, id, tasks);
    const auto [done, took] = wait_for_end(service, id);
    INFO(done.dump());

    THEN("worker-0 decides: the run completes and the others are stopped") {
      CHECK(task_names_of(done) == tasks);
      CHECK(done["status"] == "Completed");
      CHECK(took < k_end_within);
      check_exited(done, {"worker-0"}, 0);
      check_stopped(done, {"ps-0", "worker-1"});
      check_nothing_left(id, records);
      AND_THEN("no TF_CONFIG has a chief") {
        for (const auto& [task, record] : records) {
          const json config = tf_config_of(record);
          INFO(task << " TF_CONFIG=" << config.dump());
          CHECK_FALSE(config["cluster"].contains("chief"));
          CHECK(config["cluster"]["worker"].size() == 2);
          CHECK(config["task"] == json{{"type", role_of(task)}, {"index", index_of(task)}});
        }
      }
    }
  }
  GIVEN("success_policy all_workers; the chief exits 0 at once, the workers 1.5 s later") {
    const std::string id = run_id_of(
        submit_distributed(service,
                           parameter_server_estimator(1, {{"worker_count", 2},
                                                          {"parameter_server_count", 1},
                                                          {"success_policy", "all_workers"}}),
                           {"--forever", "ps", "--sleep", "worker=1.5", "--after-peers", "4"}));
    const auto records = records_of(service, id, {"chief-0", "ps-0", "worker-0", "worker-1"});
    const json done = wait_for_run(service, id);
    INFO(done.dump());

    THEN("the run waits for the workers, who exit 0; only the ps is stopped") {
      CHECK(done["status"] == "Completed");
      check_exited(done, {"chief-0", "worker-0", "worker-1"}, 0);
      check_stopped(done, {"ps-0"});
      check_nothing_left(id, records);
    }
  }
}

TEST_CASE("a crashing ps fails the run at once, stops every other task and leaves nothing behind",
          "[service][distributed][faults]") {
  // RELIABILITY 27.
  struct Crash {
    std::string how;
    std::vector<std::string> arguments;
    int exit_code;
    std::optional<int> signal;
  };
  const std::vector<Crash> crashes{
      {"exits 1", {"--exit", "ps-0=1"}, 1, std::nullopt},
      {"is killed by SIGKILL", {"--kill", "ps-0=9"}, 128 + SIGKILL, SIGKILL},
  };
  ServiceFixture service(k_quick_stops);
  for (const auto& crash : crashes) {
    GIVEN("ps-0 " << crash.how << " while the chief, 2 workers and ps-1 run") {
      const std::vector<std::string> tasks{"chief-0", "ps-0", "ps-1", "worker-0", "worker-1"};
      std::vector<std::string> arguments{"--forever", "chief",  "--forever",     "ps",
                                         "--forever", "worker", "--after-peers", "5"};
      arguments.insert(arguments.end(), crash.arguments.begin(), crash.arguments.end());
      const std::string id = run_id_of(submit_distributed(
          service,
          parameter_server_estimator(1, {{"worker_count", 2}, {"parameter_server_count", 2}}),
          arguments));
      const auto records = records_of(service, id, tasks);
      const auto [done, took] = wait_for_end(service, id);
      INFO(done.dump());

      THEN("the run is Failed within seconds, by ps-0, with its exit code") {
        CHECK(done["status"] == "Failed");
        CHECK(took < k_end_within);
        CHECK(done["exit_code"] == crash.exit_code);
        CHECK_THAT(done.value("failure_reason", ""), Catch::Contains("ps-0"));
        check_failed_first(done, "ps-0");
        const json ps = task_named(done, "ps-0");
        CHECK(ps["exit_code"] == crash.exit_code);
        CHECK(ps["signal"] == (crash.signal ? json(*crash.signal) : json()));
        AND_THEN(
            "the chief, the workers and ps-1 were stopped, and no process of the run is left") {
          check_stopped(done, {"chief-0", "ps-1", "worker-0", "worker-1"});
          check_nothing_left(id, records);
        }
      }
    }
  }
}

TEST_CASE("an MPI run of 2 nodes x 2 ranks completes, each rank with its own log",
          "[service][distributed]") {
  ServiceFixture service(k_quick_stops);
  const auto ranks = rank_names(4);
  const std::string id = run_id_of(
      submit_distributed(service, ranks_estimator("mpi", 2, 2), {"--mpi", "--lines", "3"}));
  const auto records = records_of(service, id, ranks);
  const json done = wait_for_run(service, id);
  INFO(done.dump());

  THEN("it completes with every rank exited 0, ranks 0-1 on node 0 and 2-3 on node 1") {
    CHECK(done["status"] == "Completed");
    CHECK(done["exit_code"] == 0);
    check_tasks(done, ranks, {0, 0, 1, 1});
    check_exited(done, ranks, 0);
    AND_THEN("every rank was in one MPI world of 4, with its own rank and node") {
      for (int rank = 0; rank < 4; ++rank) {
        const json& record = records.at(ranks[rank]);
        CHECK(record["mpi_world_size"] == 4);
        CHECK(record["env"].value("OMPI_COMM_WORLD_RANK", "") == std::to_string(rank));
        CHECK(record["env"].value("OMPI_COMM_WORLD_SIZE", "") == "4");
        check_run_variables(record, service, id, ranks[rank], rank / 2);
      }
      AND_THEN(
          "each rank's log holds only its own output, and the merged view holds every rank's") {
        const auto merged = read_run_logs(service, id);
        CHECK(merged.status == 200);
        for (const auto& rank : ranks) {
          const std::string expected = fmt::format("{0} line 0\n{0} line 1\n{0} line 2\n", rank);
          const auto own = read_run_logs(service, id, rank);
          CHECK(own.status == 200);
          CHECK(own.by_task == std::map<std::string, std::string>{{rank, expected}});
          CHECK(merged.by_task.contains(rank));
          if (merged.by_task.contains(rank)) CHECK(merged.by_task.at(rank) == expected);
        }
        CHECK(read_run_logs(service, id, "mpirun").status == 200);
      }
    }
  }
}

TEST_CASE("an MPI rank that fails stops the whole run within seconds, with no rank left",
          "[service][distributed][faults]") {
  // RELIABILITY 26.
  struct Failure {
    std::string how;
    std::string rank;
    std::vector<std::string> arguments;
    int exit_code;
    std::optional<int> signal;
  };
  const std::vector<Failure> failures{
      {"exits 1", "rank-1", {"--exit", "rank-1=1"}, 1, std::nullopt},
      {"is killed by SIGKILL", "rank-2", {"--kill", "rank-2=9"}, 128 + SIGKILL, SIGKILL},
  };
  ServiceFixture service(k_quick_stops);
  for (const auto& failure : failures) {
    GIVEN("3 ranks that never end but " << failure.rank << ", which " << failure.how) {
      const auto ranks = rank_names(3);
      std::vector<std::string> arguments{"--forever", "rank", "--after-peers", "3"};
      arguments.insert(arguments.end(), failure.arguments.begin(), failure.arguments.end());
      const std::string id =
          run_id_of(submit_distributed(service, ranks_estimator("mpi", 1, 3), arguments));
      const auto records = records_of(service, id, ranks);
      const auto [done, took] = wait_for_end(service, id);
      INFO(done.dump());

      THEN("the run is Failed within seconds by that rank, with its exit code or signal") {
        CHECK(done["status"] == "Failed");
        CHECK(took < k_end_within);
        CHECK(done["exit_code"] == failure.exit_code);
        CHECK_THAT(done.value("failure_reason", ""), Catch::Contains(failure.rank));
        check_failed_first(done, failure.rank);
        const json failed = task_named(done, failure.rank);
        CHECK(failed["exit_code"] == failure.exit_code);
        CHECK(failed["signal"] == (failure.signal ? json(*failure.signal) : json()));
        AND_THEN("the other ranks were stopped and no process of the run is left") {
          std::vector<std::string> others;
          for (const auto& rank : ranks) {
            if (rank != failure.rank) others.push_back(rank);
          }
          check_stopped(done, others);
          check_nothing_left(id, records);
        }
      }
    }
  }
}

TEST_CASE("PyTorch ranks see where they are: MASTER_*, WORLD_SIZE, RANK, LOCAL_RANK, NODE_RANK",
          "[service][distributed]") {
  ServiceFixture service(k_quick_stops);
  GIVEN("node_count 2 x process_count_per_node 2") {
    const auto ranks = rank_names(4);
    const std::string id =
        run_id_of(submit_distributed(service, ranks_estimator("pytorch", 2, 2), {"--lines", "1"}));
    const auto records = records_of(service, id, ranks);
    const json done = wait_for_run(service, id);
    INFO(done.dump());

    THEN("the run completes with 4 ranks, 2 per node") {
      CHECK(done["status"] == "Completed");
      check_tasks(done, ranks, {0, 0, 1, 1});
      check_exited(done, ranks, 0);
      AND_THEN("each rank has its global and local rank, its node, and one master address") {
        const std::string master_port = records.at("rank-0").at("env").value("MASTER_PORT", "");
        CHECK(std::regex_match(master_port, std::regex("[1-9][0-9]{0,4}")));
        for (int rank = 0; rank < 4; ++rank) {
          const json& record = records.at(ranks[rank]);
          const json& env = record.at("env");
          INFO(ranks[rank] << " saw " << env.dump());
          CHECK(env.value("MASTER_ADDR", "") == "127.0.0.1");
          CHECK(env.value("MASTER_PORT", "") == master_port);
          CHECK(env.value("WORLD_SIZE", "") == "4");
          CHECK(env.value("RANK", "") == std::to_string(rank));
          CHECK(env.value("LOCAL_RANK", "") == std::to_string(rank % 2));
          CHECK(env.value("NODE_RANK", "") == std::to_string(rank / 2));
          CHECK(env.value("LOCAL_WORLD_SIZE", "") == "2");
          check_run_variables(record, service, id, ranks[rank], rank / 2);
        }
      }
    }
  }
}

TEST_CASE("cancel stops every task of a distributed run and leaves nothing running",
          "[service][distributed][faults]") {
  struct Shape {
    std::string what;
    json estimator;
    std::vector<std::string> tasks;
  };
  const std::vector<Shape> shapes{
      {"a parameter-server run",
       parameter_server_estimator(1, {{"worker_count", 1}, {"parameter_server_count", 1}}),
       {"chief-0", "ps-0", "worker-0"}},
      {"an MPI run", ranks_estimator("mpi", 1, 2), rank_names(2)},
  };
  ServiceFixture service(k_quick_stops);
  for (const auto& shape : shapes) {
    GIVEN(shape.what << " whose tasks never end; each worker or rank started a setsid daemon") {
      const std::string id = run_id_of(
          submit_distributed(service, shape.estimator,
                             {"--forever", "chief", "--forever", "ps", "--forever", "worker",
                              "--forever", "rank", "--daemon", "worker", "--daemon", "rank"}));
      const auto records = records_of(service, id, shape.tasks);
      REQUIRE(eventually([&] {
        return body_json(http_request(service, "GET",
                                      "/v1/workspaces/default/runs/" + id))["status"] == "Running";
      }));
      for (const auto& [task, record] : records) {
        INFO(task);
        REQUIRE(process_is_alive(record.value("pid", 0)));
        if (role_of(task) == "worker" || role_of(task) == "rank") {
          REQUIRE(process_is_alive(record.value("daemon_pid", 0)));
        }
      }
      REQUIRE(processes_of_run(id).size() >= shape.tasks.size());

      WHEN("it is canceled") {
        const auto canceled =
            http_request(service, "POST", "/v1/workspaces/default/runs/" + id + "/cancel", "{}");
        CHECK(canceled.status == 202);
        const auto [done, took] = wait_for_end(service, id);
        INFO(done.dump());
        THEN("it ends Canceled within seconds, every task stopped, no process left") {
          CHECK(done["status"] == "Canceled");
          CHECK(took < k_end_within);
          check_stopped(done, shape.tasks);
          check_nothing_left(id, records);
        }
      }
    }
  }
}

TEST_CASE("a distributed run survives kill -9 of the service with every task's state and log",
          "[service][distributed][faults]") {
  // RELIABILITY 23. Every task prints 20 lines over 2 s; the service dies after the first.
  struct Shape {
    std::string what;
    json estimator;
    std::vector<std::string> arguments;
    std::vector<std::string> exited;   // tasks that end by themselves, exit 0
    std::vector<std::string> stopped;  // tasks stopped by policy
  };
  const std::vector<Shape> shapes{
      {"an MPI run of 2 ranks on 2 nodes", ranks_estimator("mpi", 2, 1), {}, rank_names(2), {}},
      {"a parameter-server run whose chief ends after everyone printed",
       parameter_server_estimator(1, {{"worker_count", 1}, {"parameter_server_count", 1}}),
       {"--forever", "ps", "--forever", "worker", "--after-peers", "3"},
       {"chief-0"},
       {"ps-0", "worker-0"}},
  };
  ServiceFixture service(k_quick_stops);
  for (const auto& shape : shapes) {
    GIVEN(shape.what) {
      std::vector<std::string> arguments{"--lines", "20", "--interval", "0.1"};
      arguments.insert(arguments.end(), shape.arguments.begin(), shape.arguments.end());
      const std::string id = run_id_of(submit_distributed(service, shape.estimator, arguments));
      std::vector<std::string> tasks = shape.exited;
      tasks.insert(tasks.end(), shape.stopped.begin(), shape.stopped.end());
      REQUIRE(eventually([&] {
        const auto logs = read_run_logs(service, id);
        return std::all_of(tasks.begin(), tasks.end(),
                           [&](const std::string& task) { return logs.by_task.contains(task); });
      }));

      WHEN("the service is killed with SIGKILL and started again on the same home") {
        service.kill9();
        service.start();
        const json done = wait_for_run(service, id);
        INFO(done.dump());
        THEN("the run completes with every task's state and whole log") {
          CHECK(done["status"] == "Completed");
          check_exited(done, shape.exited, 0);
          check_stopped(done, shape.stopped);
          for (const auto& task : tasks) {
            std::string expected;
            for (int line = 0; line < 20; ++line) {
              expected += fmt::format("{} line {}\n", task, line);
            }
            CHECK(read_run_logs(service, id, task).by_task[task] == expected);
          }
          CHECK(processes_of_run(id).empty());
        }
      }
    }
  }
}

TEST_CASE("distributed specs that cannot run are refused at submit, every problem at once",
          "[service][distributed]") {
  ServiceFixture service({"--local-max-nodes", "2"});
  const auto snapshot = upload_snapshot(service, {{"train.py", distributed_task_script()}});
  const auto submit = [&](const json& estimator) {
    auto payload = script_payload(snapshot);
    payload["estimator"].update(estimator);
    return http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump());
  };
  const auto run_count = [&] {
    return body_json(http_request(service, "GET", "/v1/workspaces/default/runs"))["items"].size();
  };
  const auto problem_paths = [](const RawResponse& response) {
    std::set<std::string> paths;
    for (const auto& detail : body_json(response)["error"].value("details", json::array())) {
      paths.insert(detail.value("path", ""));
    }
    return paths;
  };

  WHEN("a parameter-server run has no worker and no ps") {
    const auto refused =
        submit(parameter_server_estimator(1, {{"worker_count", 0}, {"parameter_server_count", 0}}));
    INFO(refused.body);
    THEN("it is refused as an invalid spec naming both counts") {
      CHECK(refused.status == 422);
      CHECK(body_json(refused)["error"]["code"] == "invalid_spec");
      const auto paths = problem_paths(refused);
      CHECK(paths.contains("estimator.distributed_training.worker_count"));
      CHECK(paths.contains("estimator.distributed_training.parameter_server_count"));
      CHECK(run_count() == 0);
    }
  }
  WHEN("a run asks for more nodes than the service's --local-max-nodes") {
    const auto refused = submit(ranks_estimator("pytorch", 3, 1));
    INFO(refused.body);
    THEN("it is refused naming estimator.node_count and the 2 nodes there are") {
      CHECK(refused.status == 422);
      CHECK(problem_paths(refused) == std::set<std::string>{"estimator.node_count"});
      CHECK_THAT(refused.body, Catch::Contains("2 nodes"));
      CHECK(run_count() == 0);
    }
  }
  WHEN("a run asks for as many nodes as there are") {
    const auto accepted = submit(ranks_estimator("pytorch", 2, 1));
    INFO(accepted.body);
    THEN("it is accepted and completes") {
      REQUIRE(accepted.status == 201);
      CHECK(wait_for_run(service, body_json(accepted)["id"])["status"] == "Completed");
    }
  }
}
