// The launch plan of every backend: tasks, placement, argv, environment (TF_CONFIG, PyTorch and
// Open MPI variables), the mpirun command line, and the plan's JSON form.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>

#include "trainctl/spec/launch_plan.hpp"

using trainctl::spec::Backend;
using trainctl::spec::build_launch_plan;
using trainctl::spec::JobSpec;
using trainctl::spec::LaunchPlan;
using trainctl::spec::RunLayout;
using trainctl::spec::SuccessPolicy;
using trainctl::spec::TaskLaunch;

namespace {

RunLayout example_layout() {
  RunLayout layout;
  layout.run_id = "run-abc";
  layout.run_dir = "/runs/run-abc";
  layout.snapshot_dir = "/runs/run-abc/snapshot";
  layout.outputs_dir = "/runs/run-abc/outputs";
  layout.logs_dir = "/runs/run-abc/logs";
  layout.base_env = {
      {"PATH", "/usr/bin"}, {"TRAINCTL_TOKEN", "secret"}, {"MODE", "base"}, {"HOME", "/root"}};
  layout.grace_seconds = 7;
  return layout;
}

JobSpec example_spec(std::string entry_script) {
  JobSpec spec;
  spec.estimator.entry_script = std::move(entry_script);
  spec.estimator.script_params = {"--lr", "0.1"};
  spec.environment_variables = {{"MODE", "spec"}, {"EXTRA", "1"}};
  spec.limits.max_run_duration_seconds = 60;
  return spec;
}

}  // namespace

TEST_CASE("A single-process run has one task, main", "[spec][launch]") {
  GIVEN("a Python entry script") {
    const auto plan = build_launch_plan(example_spec("src/train.py"), example_layout());
    REQUIRE(plan.has_value());
    REQUIRE(plan->tasks.size() == 1);
    const auto& task = plan->tasks[0];
    THEN("the interpreter runs it in the working directory, logging to logs/main.log") {
      CHECK(task.name == "main");
      CHECK(task.node_rank == 0);
      CHECK(task.argv ==
            std::vector<std::string>{"/usr/bin/python3", "src/train.py", "--lr", "0.1"});
      CHECK(task.cwd == "/runs/run-abc/work");
      CHECK(task.log_file == "/runs/run-abc/logs/main.log");
      CHECK(plan->run_id == "run-abc");
      CHECK(plan->max_duration_seconds == 60);
      CHECK(plan->grace_seconds == 7);
    }
    THEN(
        "the environment is sorted, has the run's variables, lets the spec win, and has no token") {
      const std::vector<std::pair<std::string, std::string>> expected{
          {"EXTRA", "1"},
          {"HOME", "/root"},
          {"MODE", "spec"},
          {"PATH", "/usr/bin"},
          {"PYTHONPATH", "/runs/run-abc/python"},
          {"PYTHONUNBUFFERED", "1"},
          {"TRAINCTL_LOCAL_RANK", "0"},
          {"TRAINCTL_LOCAL_SIZE", "1"},
          {"TRAINCTL_METRICS_FILE", "/runs/run-abc/logs/main.metrics.jsonl"},
          {"TRAINCTL_NODE_RANK", "0"},
          {"TRAINCTL_OUTPUTS_DIR", "/runs/run-abc/outputs"},
          {"TRAINCTL_RUN_ID", "run-abc"},
          {"TRAINCTL_TASK", "main"},
      };
      CHECK(task.env == expected);
    }
  }
  GIVEN("an executable entry script") {
    const auto plan = build_launch_plan(example_spec("bin/run.sh"), example_layout());
    THEN("it is started directly by its path in the snapshot") {
      REQUIRE(plan.has_value());
      CHECK(plan->tasks[0].argv ==
            std::vector<std::string>{"/runs/run-abc/snapshot/bin/run.sh", "--lr", "0.1"});
    }
  }
  GIVEN("any single-process plan") {
    const auto plan = build_launch_plan(example_spec("train.py"), example_layout());
    REQUIRE(plan.has_value());
    THEN("it has no launcher, succeeds when its task does, and reports under <run>/tasks") {
      CHECK(plan->backend == "none");
      CHECK(plan->success == "all_tasks");
      CHECK(plan->tasks[0].role == "main");
      CHECK(plan->tasks[0].index == 0);
      CHECK_FALSE(plan->tasks[0].started_by_launcher);
      CHECK_FALSE(plan->launcher.has_value());
      CHECK(plan->status_dir == "/runs/run-abc/tasks");
    }
  }
}

TEST_CASE("A launch plan round-trips through JSON", "[spec][launch]") {
  GIVEN("a plan") {
    const auto plan = build_launch_plan(example_spec("train.py"), example_layout()).value();
    WHEN("it is written to JSON and read back") {
      const auto back = LaunchPlan::from_json(plan.to_json());
      THEN("it is the same plan") {
        REQUIRE(back.has_value());
        CHECK(back->to_json() == plan.to_json());
        CHECK(back->tasks[0].env == plan.tasks[0].env);
        CHECK(back->tasks[0].argv == plan.tasks[0].argv);
      }
    }
    WHEN("a field is missing or of the wrong type") {
      auto json = plan.to_json();
      json["tasks"][0].erase("argv");
      THEN("reading fails cleanly") {
        const auto back = LaunchPlan::from_json(json);
        REQUIRE_FALSE(back.has_value());
        CHECK(back.error().code == trainctl::ErrorCode::invalid_argument);
      }
    }
    WHEN("it was written by a version before distributed runs, without their fields") {
      auto json = plan.to_json();
      for (const char* key : {"backend", "success", "status_dir", "start_timeout_seconds"}) {
        json.erase(key);
      }
      for (const char* key : {"role", "index", "started_by_launcher"}) json["tasks"][0].erase(key);
      THEN("it still reads, as the single main task it was") {
        const auto back = LaunchPlan::from_json(json);
        REQUIRE(back.has_value());
        CHECK(back->backend == "none");
        CHECK(back->success == "all_tasks");
        CHECK(back->tasks[0].role == "main");
        CHECK_FALSE(back->tasks[0].started_by_launcher);
        CHECK(back->tasks[0].argv == plan.tasks[0].argv);
      }
    }
  }
}

namespace {

// Hands out 41000, 41001, ... to each request, and records how many ports each one asked for.
struct FakePorts {
  std::vector<size_t> requests;

  trainctl::spec::PortAllocator allocator() {
    return [this](size_t count) -> trainctl::Result<std::vector<int>> {
      requests.push_back(count);
      std::vector<int> ports;
      for (size_t i = 0; i < count; ++i) ports.push_back(41000 + static_cast<int>(i));
      return ports;
    };
  }
};

RunLayout layout_with(FakePorts& ports) {
  RunLayout layout = example_layout();
  layout.mpirun = "/usr/bin/mpirun";
  layout.rank_wrapper = "/opt/trainctl/trainctld";
  layout.allocate_ports = ports.allocator();
  return layout;
}

JobSpec parameter_server_spec(bool chief, bool evaluator) {
  JobSpec spec = example_spec("train.py");
  spec.estimator.node_count = 2;
  auto& distributed = spec.estimator.distributed;
  distributed.backend = Backend::parameter_server;
  distributed.worker_count = 2;
  distributed.parameter_server_count = 1;
  distributed.chief = chief;
  distributed.evaluator = evaluator;
  return spec;
}

JobSpec ranks_spec(Backend backend, int node_count, int process_count_per_node) {
  JobSpec spec = example_spec("train.py");
  spec.estimator.distributed.backend = backend;
  spec.estimator.node_count = node_count;
  spec.estimator.process_count_per_node = process_count_per_node;
  return spec;
}

std::map<std::string, std::string> env_of(const TaskLaunch& task) {
  return {task.env.begin(), task.env.end()};
}

std::string variable(const TaskLaunch& task, const std::string& name) {
  const auto env = env_of(task);
  const auto found = env.find(name);
  return found == env.end() ? "<unset>" : found->second;
}

// "name role index node" for each task, to compare a plan's shape at a glance.
std::vector<std::string> shape_of(const LaunchPlan& plan) {
  std::vector<std::string> shape;
  for (const TaskLaunch& task : plan.tasks) {
    shape.push_back(
        fmt::format("{} {} {} node{}", task.name, task.role, task.index, task.node_rank));
  }
  return shape;
}

const std::vector<std::string> k_user_argv{"/usr/bin/python3", "train.py", "--lr", "0.1"};
// Under mpi, Python runs the script through mpi4py, which aborts the job when a rank fails.
const std::vector<std::string> k_mpi_rank_argv{"/usr/bin/python3", "-m",   "mpi4py",
                                               "train.py",         "--lr", "0.1"};

}  // namespace

TEST_CASE("A parameter-server run wires every task with its own TF_CONFIG", "[spec][launch]") {
  GIVEN("a chief, one ps, two workers and an evaluator on two nodes") {
    FakePorts ports;
    const auto plan = build_launch_plan(parameter_server_spec(true, true), layout_with(ports));
    REQUIRE(plan.has_value());
    const std::string cluster = R"({"chief":["127.0.0.1:41000"],"ps":["127.0.0.1:41001"],)"
                                R"("worker":["127.0.0.1:41002","127.0.0.1:41003"]})";
    THEN("the tasks are chief, ps, workers, evaluator, dealt to the nodes in turn") {
      CHECK(shape_of(*plan) == std::vector<std::string>{"chief-0 chief 0 node0", "ps-0 ps 0 node1",
                                                        "worker-0 worker 0 node0",
                                                        "worker-1 worker 1 node1",
                                                        "evaluator-0 evaluator 0 node0"});
      CHECK(plan->backend == "parameter_server");
      CHECK(plan->success == "chief");
      CHECK_FALSE(plan->launcher.has_value());
    }
    THEN("one request takes a port for each training task, none for the evaluator") {
      CHECK(ports.requests == std::vector<size_t>{4});
    }
    THEN("each task has the same cluster and its own task, in compact JSON") {
      CHECK(variable(plan->tasks[0], "TF_CONFIG") ==
            R"({"cluster":)" + cluster +
                R"(,"task":{"type":"chief","index":0},"environment":"cloud"})");
      CHECK(variable(plan->tasks[1], "TF_CONFIG") ==
            R"({"cluster":)" + cluster +
                R"(,"task":{"type":"ps","index":0},"environment":"cloud"})");
      CHECK(variable(plan->tasks[3], "TF_CONFIG") ==
            R"({"cluster":)" + cluster +
                R"(,"task":{"type":"worker","index":1},"environment":"cloud"})");
    }
    THEN("the evaluator sees the cluster it is not part of") {
      CHECK(variable(plan->tasks[4], "TF_CONFIG") ==
            R"({"cluster":)" + cluster +
                R"(,"task":{"type":"evaluator","index":0},"environment":"cloud"})");
    }
    THEN("every task runs the user's command and knows its name and node") {
      const std::map<std::string, std::string> expected{
          {"EXTRA", "1"},
          {"HOME", "/root"},
          {"MODE", "spec"},
          {"PATH", "/usr/bin"},
          {"PYTHONPATH", "/runs/run-abc/python"},
          {"PYTHONUNBUFFERED", "1"},
          {"TF_CONFIG", R"({"cluster":)" + cluster +
                            R"(,"task":{"type":"worker","index":1},"environment":"cloud"})"},
          {"TRAINCTL_LOCAL_RANK", "1"},
          {"TRAINCTL_LOCAL_SIZE", "2"},
          {"TRAINCTL_METRICS_FILE", "/runs/run-abc/logs/worker-1.metrics.jsonl"},
          {"TRAINCTL_NODE_RANK", "1"},
          {"TRAINCTL_OUTPUTS_DIR", "/runs/run-abc/outputs"},
          {"TRAINCTL_RUN_ID", "run-abc"},
          {"TRAINCTL_TASK", "worker-1"},
      };
      CHECK(env_of(plan->tasks[3]) == expected);
      for (const TaskLaunch& task : plan->tasks) {
        CHECK(task.argv == k_user_argv);
        CHECK(task.cwd == "/runs/run-abc/work");
        CHECK(task.log_file == "/runs/run-abc/logs/" + task.name + ".log");
        CHECK_FALSE(task.started_by_launcher);
      }
    }
  }
  GIVEN("chief: false") {
    FakePorts ports;
    const auto plan = build_launch_plan(parameter_server_spec(false, false), layout_with(ports));
    REQUIRE(plan.has_value());
    THEN("there is no chief task and the cluster has no chief key") {
      CHECK(shape_of(*plan) == std::vector<std::string>{"ps-0 ps 0 node0",
                                                        "worker-0 worker 0 node1",
                                                        "worker-1 worker 1 node0"});
      CHECK(ports.requests == std::vector<size_t>{3});
      CHECK(variable(plan->tasks[1], "TF_CONFIG") ==
            R"({"cluster":{"ps":["127.0.0.1:41000"],)"
            R"("worker":["127.0.0.1:41001","127.0.0.1:41002"]},)"
            R"("task":{"type":"worker","index":0},"environment":"cloud"})");
    }
  }
  GIVEN("success_policy: all_workers") {
    FakePorts ports;
    JobSpec spec = parameter_server_spec(true, false);
    spec.estimator.distributed.success_policy = SuccessPolicy::all_workers;
    const auto plan = build_launch_plan(spec, layout_with(ports));
    THEN("the plan waits for every worker") {
      REQUIRE(plan.has_value());
      CHECK(plan->success == "all_workers");
    }
  }
}

TEST_CASE("A PyTorch run gives each rank its place in the world", "[spec][launch]") {
  GIVEN("two nodes of two processes") {
    FakePorts ports;
    const auto plan = build_launch_plan(ranks_spec(Backend::pytorch, 2, 2), layout_with(ports));
    REQUIRE(plan.has_value());
    THEN("ranks 0..3 fill node 0 then node 1") {
      CHECK(shape_of(*plan) ==
            std::vector<std::string>{"rank-0 rank 0 node0", "rank-1 rank 1 node0",
                                     "rank-2 rank 2 node1", "rank-3 rank 3 node1"});
      CHECK(plan->backend == "pytorch");
      CHECK(plan->success == "all_tasks");
      CHECK_FALSE(plan->launcher.has_value());
    }
    THEN("one free port is the master's, shared by every rank") {
      CHECK(ports.requests == std::vector<size_t>{1});
      for (const TaskLaunch& task : plan->tasks) {
        CHECK(variable(task, "MASTER_ADDR") == "127.0.0.1");
        CHECK(variable(task, "MASTER_PORT") == "41000");
        CHECK(variable(task, "WORLD_SIZE") == "4");
        CHECK(variable(task, "LOCAL_WORLD_SIZE") == "2");
        CHECK(task.argv == k_user_argv);
      }
    }
    THEN("rank 3 is the second process of node 1") {
      const TaskLaunch& rank = plan->tasks[3];
      CHECK(variable(rank, "RANK") == "3");
      CHECK(variable(rank, "LOCAL_RANK") == "1");
      CHECK(variable(rank, "NODE_RANK") == "1");
      CHECK(variable(rank, "TRAINCTL_NODE_RANK") == "1");
      CHECK(variable(rank, "TRAINCTL_TASK") == "rank-3");
    }
  }
  GIVEN("a spec that sets one of the backend's variables itself") {
    FakePorts ports;
    JobSpec spec = ranks_spec(Backend::pytorch, 1, 2);
    spec.environment_variables.emplace_back("MASTER_ADDR", "localhost");
    const auto plan = build_launch_plan(spec, layout_with(ports));
    THEN("the spec's value wins") {
      REQUIRE(plan.has_value());
      CHECK(variable(plan->tasks[1], "MASTER_ADDR") == "localhost");
    }
  }
}

TEST_CASE("An MPI run is started by mpirun, one wrapped process per rank", "[spec][launch]") {
  GIVEN("two nodes of two processes") {
    FakePorts ports;
    const auto plan = build_launch_plan(ranks_spec(Backend::mpi, 2, 2), layout_with(ports));
    REQUIRE(plan.has_value());
    THEN("the ranks are started by the launcher, not by the supervisor, and take no port") {
      CHECK(shape_of(*plan) ==
            std::vector<std::string>{"rank-0 rank 0 node0", "rank-1 rank 1 node0",
                                     "rank-2 rank 2 node1", "rank-3 rank 3 node1"});
      CHECK(plan->backend == "mpi");
      CHECK(plan->success == "all_tasks");
      CHECK(plan->status_dir == "/runs/run-abc/tasks");
      CHECK(ports.requests.empty());
      for (const TaskLaunch& task : plan->tasks) {
        CHECK(task.started_by_launcher);
        CHECK(task.argv == k_mpi_rank_argv);
        CHECK(task.log_file == "/runs/run-abc/logs/" + task.name + ".log");
      }
    }
    THEN("each rank's environment is what it sees under Open MPI, its node a host of its own") {
      const std::map<std::string, std::string> expected{
          {"EXTRA", "1"},
          {"HOME", "/root"},
          {"MODE", "spec"},
          {"OMPI_COMM_WORLD_LOCAL_RANK", "0"},
          {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
          {"OMPI_COMM_WORLD_NODE_RANK", "0"},
          {"OMPI_COMM_WORLD_RANK", "2"},
          {"OMPI_COMM_WORLD_SIZE", "4"},
          {"PATH", "/usr/bin"},
          {"PYTHONPATH", "/runs/run-abc/python"},
          {"PYTHONUNBUFFERED", "1"},
          {"TRAINCTL_LOCAL_RANK", "0"},
          {"TRAINCTL_LOCAL_SIZE", "2"},
          {"TRAINCTL_METRICS_FILE", "/runs/run-abc/logs/rank-2.metrics.jsonl"},
          {"TRAINCTL_NODE_RANK", "1"},
          {"TRAINCTL_OUTPUTS_DIR", "/runs/run-abc/outputs"},
          {"TRAINCTL_RUN_ID", "run-abc"},
          {"TRAINCTL_TASK", "rank-2"},
      };
      CHECK(env_of(plan->tasks[2]) == expected);
    }
    THEN("the launcher runs mpirun with the documented command line around the rank wrapper") {
      REQUIRE(plan->launcher.has_value());
      const TaskLaunch& launcher = *plan->launcher;
      CHECK(launcher.name == "mpirun");
      CHECK(launcher.role == "launcher");
      CHECK(launcher.node_rank == 0);
      CHECK_FALSE(launcher.started_by_launcher);
      CHECK(launcher.cwd == "/runs/run-abc/work");
      CHECK(launcher.log_file == "/runs/run-abc/logs/mpirun.log");
      const std::vector<std::string> expected{"/usr/bin/mpirun",
                                              "--allow-run-as-root",
                                              "--oversubscribe",
                                              "-np",
                                              "4",
                                              "-H",
                                              "localhost:4",
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
                                              "-wdir",
                                              "/runs/run-abc/work",
                                              "-x",
                                              "EXTRA",
                                              "-x",
                                              "MODE",
                                              "-x",
                                              "PATH",
                                              "-x",
                                              "PYTHONPATH",
                                              "-x",
                                              "PYTHONUNBUFFERED",
                                              "-x",
                                              "TRAINCTL_LOCAL_RANK",
                                              "-x",
                                              "TRAINCTL_LOCAL_SIZE",
                                              "-x",
                                              "TRAINCTL_METRICS_FILE",
                                              "-x",
                                              "TRAINCTL_NODE_RANK",
                                              "-x",
                                              "TRAINCTL_OUTPUTS_DIR",
                                              "-x",
                                              "TRAINCTL_RUN_ID",
                                              "-x",
                                              "TRAINCTL_TASK",
                                              "/opt/trainctl/trainctld",
                                              "rank",
                                              "--status-dir",
                                              "/runs/run-abc/tasks",
                                              "--logs-dir",
                                              "/runs/run-abc/logs",
                                              "--ranks-per-node",
                                              "2",
                                              "--",
                                              "/usr/bin/python3",
                                              "-m",
                                              "mpi4py",
                                              "train.py",
                                              "--lr",
                                              "0.1"};
      CHECK(launcher.argv == expected);
    }
    THEN("the launcher's environment is the run's, without rank variables or the token") {
      const std::map<std::string, std::string> expected{
          {"EXTRA", "1"},
          {"HOME", "/root"},
          {"MODE", "spec"},
          {"PATH", "/usr/bin"},
          {"PYTHONPATH", "/runs/run-abc/python"},
          {"PYTHONUNBUFFERED", "1"},
          {"TRAINCTL_LOCAL_RANK", "0"},
          {"TRAINCTL_LOCAL_SIZE", "1"},
          {"TRAINCTL_METRICS_FILE", "/runs/run-abc/logs/mpirun.metrics.jsonl"},
          {"TRAINCTL_NODE_RANK", "0"},
          {"TRAINCTL_OUTPUTS_DIR", "/runs/run-abc/outputs"},
          {"TRAINCTL_RUN_ID", "run-abc"},
          {"TRAINCTL_TASK", "mpirun"},
      };
      CHECK(env_of(*plan->launcher) == expected);
    }
  }
  GIVEN("a PYTHONPATH from the service's environment") {
    FakePorts ports;
    RunLayout layout = layout_with(ports);
    layout.base_env.emplace_back("PYTHONPATH", "/opt/lib");
    const auto plan = build_launch_plan(ranks_spec(Backend::mpi, 1, 1), layout);
    THEN("mpirun passes it on, but not HOME, which only the service set") {
      REQUIRE(plan.has_value());
      const auto& argv = plan->launcher->argv;
      CHECK(std::find(argv.begin(), argv.end(), "PYTHONPATH") != argv.end());
      CHECK(std::find(argv.begin(), argv.end(), "HOME") == argv.end());
    }
  }
}

TEST_CASE("A plan is a function of its spec, layout and ports", "[spec][launch]") {
  GIVEN("the same inputs twice") {
    FakePorts first_ports;
    FakePorts second_ports;
    const JobSpec spec = parameter_server_spec(true, true);
    const auto first = build_launch_plan(spec, layout_with(first_ports));
    const auto second = build_launch_plan(spec, layout_with(second_ports));
    THEN("the plans are identical") {
      REQUIRE(first.has_value());
      REQUIRE(second.has_value());
      CHECK(first->to_json() == second->to_json());
    }
  }
  GIVEN("a spec that does not validate, with a billion workers") {
    FakePorts ports;
    JobSpec spec = parameter_server_spec(true, false);
    spec.estimator.distributed.worker_count = 1'000'000'000;
    const auto plan = build_launch_plan(spec, layout_with(ports));
    THEN("no plan is made and no port is taken") {
      REQUIRE_FALSE(plan.has_value());
      CHECK(plan.error().code == trainctl::ErrorCode::invalid_spec);
      CHECK(ports.requests.empty());
    }
  }
  GIVEN("a spec that breaks a rule") {
    JobSpec spec = example_spec("train.py");
    spec.priority = 1001;
    THEN("no plan is made") {
      const auto plan = build_launch_plan(spec, example_layout());
      REQUIRE_FALSE(plan.has_value());
      CHECK(plan.error().code == trainctl::ErrorCode::invalid_spec);
    }
  }
  GIVEN("an allocator that fails") {
    RunLayout layout = example_layout();
    layout.allocate_ports = [](size_t) -> trainctl::Result<std::vector<int>> {
      return trainctl::fail(trainctl::ErrorCode::io, "no ports left");
    };
    const auto plan = build_launch_plan(ranks_spec(Backend::pytorch, 1, 2), layout);
    THEN("its error is the plan's") {
      REQUIRE_FALSE(plan.has_value());
      CHECK(plan.error().code == trainctl::ErrorCode::io);
      CHECK(plan.error().message == "no ports left");
    }
  }
}

TEST_CASE("Without an allocator, the ports are free loopback ports", "[spec][launch]") {
  GIVEN("a parameter-server plan built with the real allocator") {
    const auto plan = build_launch_plan(parameter_server_spec(true, false), example_layout());
    REQUIRE(plan.has_value());
    const auto config = nlohmann::json::parse(variable(plan->tasks[0], "TF_CONFIG"));
    std::set<int> ports;
    for (const auto& [type, addresses] : config["cluster"].items()) {
      for (const auto& address : addresses) {
        const std::string text = address.get<std::string>();
        REQUIRE(text.starts_with("127.0.0.1:"));
        ports.insert(std::stoi(text.substr(10)));
      }
    }
    THEN("each of the four tasks has its own port, released for the task to bind") {
      REQUIRE(ports.size() == 4);
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      REQUIRE(fd >= 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(static_cast<uint16_t>(*ports.begin()));
      CHECK(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
      ::close(fd);
    }
  }
}

TEST_CASE("A distributed plan round-trips through JSON", "[spec][launch]") {
  FakePorts ports;
  GIVEN("an MPI plan, with its launcher") {
    const auto plan = build_launch_plan(ranks_spec(Backend::mpi, 1, 3), layout_with(ports)).value();
    WHEN("it is written to JSON and read back") {
      const auto back = LaunchPlan::from_json(plan.to_json());
      THEN("every field survives") {
        REQUIRE(back.has_value());
        CHECK(back->to_json() == plan.to_json());
        CHECK(back->backend == "mpi");
        CHECK(back->success == "all_tasks");
        CHECK(back->status_dir == plan.status_dir);
        CHECK(back->start_timeout_seconds == plan.start_timeout_seconds);
        CHECK(back->tasks[2].role == "rank");
        CHECK(back->tasks[2].index == 2);
        CHECK(back->tasks[2].started_by_launcher);
        REQUIRE(back->launcher.has_value());
        CHECK(back->launcher->argv == plan.launcher->argv);
        CHECK(back->launcher->env == plan.launcher->env);
      }
    }
    WHEN("a task's started_by_launcher is not a boolean") {
      auto json = plan.to_json();
      json["tasks"][0]["started_by_launcher"] = "yes";
      THEN("reading fails cleanly") {
        const auto back = LaunchPlan::from_json(json);
        REQUIRE_FALSE(back.has_value());
        CHECK(back.error().code == trainctl::ErrorCode::invalid_argument);
      }
    }
  }
  GIVEN("a parameter-server plan, which has no launcher") {
    const auto plan = build_launch_plan(parameter_server_spec(true, true), layout_with(ports));
    REQUIRE(plan.has_value());
    const auto json = plan->to_json();
    THEN("the JSON has no launcher and reads back without one") {
      CHECK_FALSE(json.contains("launcher"));
      const auto back = LaunchPlan::from_json(json);
      REQUIRE(back.has_value());
      CHECK_FALSE(back->launcher.has_value());
      CHECK(back->success == "chief");
      CHECK(back->tasks[4].role == "evaluator");
      CHECK(back->tasks[1].node_rank == 1);
      CHECK(back->to_json() == json);
    }
  }
}

TEST_CASE("Every task is told where to log metrics and can import trainctl", "[spec][launch][metrics]") {
  GIVEN("a PyTorch run of two ranks") {
    auto spec = example_spec("train.py");
    spec.estimator.node_count = 1;
    spec.estimator.process_count_per_node = 2;
    spec.estimator.distributed.backend = Backend::pytorch;
    const auto plan = build_launch_plan(spec, example_layout());
    REQUIRE(plan.has_value());
    THEN("each task has its own metrics file beside its log, and the module's folder on PYTHONPATH") {
      for (const auto& task : plan->tasks) {
        const std::map<std::string, std::string> env(task.env.begin(), task.env.end());
        CHECK(env.at("TRAINCTL_METRICS_FILE") == "/runs/run-abc/logs/" + task.name + ".metrics.jsonl");
        CHECK(env.at("PYTHONPATH") == "/runs/run-abc/python");
      }
    }
  }
  GIVEN("a spec that sets its own PYTHONPATH") {
    auto spec = example_spec("train.py");
    spec.environment_variables.emplace_back("PYTHONPATH", "/opt/lib");
    const auto plan = build_launch_plan(spec, example_layout());
    REQUIRE(plan.has_value());
    THEN("the spec's folders come first, and the module's folder stays on it") {
      const std::map<std::string, std::string> env(plan->tasks[0].env.begin(), plan->tasks[0].env.end());
      CHECK(env.at("PYTHONPATH") == "/opt/lib:/runs/run-abc/python");
    }
  }
}

namespace {

// Two nodes on hosts of their own, as an engine placed them: n1 and n2 with their ports.
RunLayout placed_layout(FakePorts& ports) {
  RunLayout layout = layout_with(ports);
  layout.nodes = {{"n1", "192.0.2.1", {5001, 5002, 5003}}, {"n2", "192.0.2.2", {6001, 6002}}};
  return layout;
}

}  // namespace

TEST_CASE("A plan placed on hosts wires its tasks to the real nodes' addresses and ports",
          "[spec][launch][nodes]") {
  FakePorts ports;
  GIVEN("a parameter-server run over two placed nodes") {
    const auto plan = build_launch_plan(parameter_server_spec(true, false), placed_layout(ports));
    REQUIRE(plan.has_value());
    THEN("TF_CONFIG lists each task on its own node's address, with that node's ports in order") {
      // Round-robin: chief-0 -> node 0, ps-0 -> node 1, worker-0 -> node 0, worker-1 -> node 1.
      const auto config = nlohmann::json::parse(variable(plan->tasks[0], "TF_CONFIG"));
      CHECK(config["cluster"]["chief"] == nlohmann::json{"192.0.2.1:5001"});
      CHECK(config["cluster"]["ps"] == nlohmann::json{"192.0.2.2:6001"});
      CHECK(config["cluster"]["worker"] == nlohmann::json{"192.0.2.1:5002", "192.0.2.2:6002"});
      CHECK(ports.requests.empty());  // no loopback port was taken
      CHECK(plan->nodes.size() == 2);
    }
    THEN("each node needs a port per listening task it holds") {
      CHECK(trainctl::spec::ports_needed_on_node(parameter_server_spec(true, false), 0) == 2);
      CHECK(trainctl::spec::ports_needed_on_node(parameter_server_spec(true, true), 1) == 2);
    }
  }
  GIVEN("a PyTorch run over two placed nodes") {
    const auto plan = build_launch_plan(ranks_spec(Backend::pytorch, 2, 2), placed_layout(ports));
    REQUIRE(plan.has_value());
    THEN("every rank meets at node 0's address and first port") {
      for (const auto& task : plan->tasks) {
        CHECK(variable(task, "MASTER_ADDR") == "192.0.2.1");
        CHECK(variable(task, "MASTER_PORT") == "5001");
      }
    }
  }
  GIVEN("an MPI run over two placed nodes") {
    const auto plan = build_launch_plan(ranks_spec(Backend::mpi, 2, 2), placed_layout(ports));
    REQUIRE(plan.has_value());
    const auto& argv = plan->launcher->argv;
    THEN("mpirun puts each node's ranks on its host, and the wrapper waits for the working directory") {
      const auto hosts = std::ranges::find(argv, "-H");
      REQUIRE(hosts != argv.end());
      CHECK(*(hosts + 1) == "n1:2,n2:2");
      const auto wdir = std::ranges::find(argv, "--wdir");
      REQUIRE(wdir != argv.end());
      CHECK(*(wdir + 1) == "/runs/run-abc/work");
    }
  }
  GIVEN("a node without a port for a task of its") {
    RunLayout layout = placed_layout(ports);
    layout.nodes[1].ports.clear();
    const auto plan = build_launch_plan(parameter_server_spec(true, false), layout);
    THEN("the plan cannot be built, naming the node") {
      REQUIRE_FALSE(plan.has_value());
      CHECK_THAT(plan.error().message, Catch::Contains("node 1 (n2)"));
    }
  }
}

TEST_CASE("A node's part of a plan holds that node's tasks and succeeds when they all do",
          "[spec][launch][nodes]") {
  FakePorts ports;
  const auto plan = build_launch_plan(ranks_spec(Backend::mpi, 2, 2), placed_layout(ports));
  REQUIRE(plan.has_value());
  const auto first = trainctl::spec::node_part_of(*plan, 0);
  const auto second = trainctl::spec::node_part_of(*plan, 1);
  CHECK(first.node == 0);
  CHECK(second.node == 1);
  CHECK(shape_of(first) == std::vector<std::string>{"rank-0 rank 0 node0", "rank-1 rank 1 node0"});
  CHECK(shape_of(second) == std::vector<std::string>{"rank-2 rank 2 node1", "rank-3 rank 3 node1"});
  CHECK(first.launcher.has_value());  // mpirun runs on node 0 only
  CHECK_FALSE(second.launcher.has_value());
  CHECK(first.read_only_dirs.empty());  // ranks may start outside a node's mount namespace
  const auto ps = build_launch_plan(parameter_server_spec(true, false), placed_layout(ports));
  REQUIRE(ps.has_value());
  CHECK(trainctl::spec::node_part_of(*ps, 1).success == "all_tasks");
  CHECK_FALSE(trainctl::spec::node_part_of(*ps, 1).read_only_dirs.empty());
  const auto back = LaunchPlan::from_json(second.to_json());
  REQUIRE(back.has_value());
  CHECK(back->node == 1);
  CHECK(back->nodes.size() == 2);
  CHECK(back->nodes[1].ports == std::vector<int>{6001, 6002});
}

// Found by fuzzing: a float where a plan holds a whole number was converted to int past its range.
TEST_CASE("A launch plan with a number that is not whole is refused", "[spec][launch]") {
  auto json = nlohmann::json::parse(
      R"({"run_id": "r", "tasks": [{"name": "main", "node_rank": 1e300, "argv": ["x"], "env": [],
          "cwd": "/", "log_file": "/l"}], "max_duration_seconds": 0, "grace_seconds": 10})");
  const auto plan = LaunchPlan::from_json(json);
  REQUIRE_FALSE(plan.has_value());
  CHECK_THAT(plan.error().message, Catch::Contains("not whole"));
}
