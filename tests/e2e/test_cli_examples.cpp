// The examples under configs/examples, run as a user runs them: the real trainctl against a real
// trainctld. They need numpy and scikit-learn, and the distributed ones Open MPI with mpi4py and
// torch, all for /usr/bin/python3 (scripts/install-deps.sh).
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
namespace fs = std::filesystem;
using nlohmann::json;

// The first capture of `pattern` in `text`, or "" when it does not match.
std::string first_match(const std::string& text, const std::string& pattern) {
  std::smatch match;
  return std::regex_search(text, match, std::regex(pattern)) ? match[1].str() : std::string();
}

// `trainctl submit configs/examples/<example>/job.yaml --stream`, as a user types it.
struct StreamedRun {
  CommandResult submitted;
  std::string run_id;    // "" when the CLI did not say which run it submitted
  std::string accuracy;  // the "final test accuracy" the script printed, "" when none
};

StreamedRun submit_example(const CliEnvironment& cli, const std::string& example) {
  const fs::path spec = fs::path(TRAINCTL_SOURCE_DIR) / "configs/examples" / example / "job.yaml";
  StreamedRun run{cli.run({"submit", spec.string(), "--stream"}, {}, 300), {}, {}};
  run.run_id = first_match(run.submitted.err, R"(submitted run (run-[a-z0-9]+))");
  run.accuracy = first_match(run.submitted.out, R"(final test accuracy ([0-9.]+))");
  return run;
}

// `trainctl run show RUN -o json`, parsed (discarded when it is not JSON).
json show_run(const CliEnvironment& cli, const std::string& run_id) {
  const auto shown = cli.run({"run", "show", run_id, "-o", "json"});
  INFO(shown.err);
  REQUIRE(shown.exit_code == 0);
  return json::parse(shown.out, nullptr, false);
}

std::vector<std::string> task_names(const json& run) {
  std::vector<std::string> names;
  for (const auto& task : run.value("tasks", json::array()))
    names.push_back(task.value("name", ""));
  return names;
}

const json& task_named(const json& run, const std::string& name) {
  static const json k_missing = json::object();
  for (const auto& task : run.at("tasks")) {
    if (task.value("name", "") == name) return task;
  }
  return k_missing;
}

// Whether the task ended by exiting with `code` (not stopped, not killed).
bool exited_with(const json& task, int code) {
  return task.value("state", "") == "exited" && task.value("exit_code", json()) == code;
}

// Checks what every example promises: exit 0, a final test accuracy of at least 0.90, and the
// model and metrics among the run's files.
void check_trained(const CliEnvironment& cli, const StreamedRun& run, const std::string& model) {
  INFO(run.submitted.out << run.submitted.err);
  REQUIRE(run.submitted.exit_code == 0);
  REQUIRE_FALSE(run.accuracy.empty());
  CHECK(std::stod(run.accuracy) >= 0.90);
  REQUIRE_FALSE(run.run_id.empty());
  const auto files = cli.run({"run", "files", run.run_id});
  CHECK(files.exit_code == 0);
  CHECK_THAT(files.out,
             Catch::Contains("outputs/model/" + model) && Catch::Contains("outputs/metrics.json"));
}

}  // namespace

TEST_CASE("e2e: the digits example trains to 90% and its outputs download",
          "[e2e][cli][examples]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);

  WHEN("the user submits the example and streams it") {
    const auto run = submit_example(cli, "digits");
    THEN("it exits 0, prints a final test accuracy of at least 0.90 and lists its model") {
      check_trained(cli, run, "model.pkl");
      AND_THEN("the metrics download as JSON") {
        const TempDir dest;
        const auto downloaded = cli.run({"run", "download", run.run_id, "--path",
                                         "outputs/metrics.json", "--dest", dest.path().string()});
        INFO(downloaded.err);
        REQUIRE(downloaded.exit_code == 0);
        std::ifstream metrics_file(dest.path() / "outputs/metrics.json");
        const auto metrics = json::parse(metrics_file, nullptr, false);
        REQUIRE(metrics.is_object());
        CHECK(metrics.value("test_accuracy", 0.0) >= 0.90);
      }
    }
  }
}

TEST_CASE("e2e: the mpi-digits example trains 4 MPI ranks on 2 nodes to 90%",
          "[e2e][cli][examples][mpi]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);

  WHEN("the user submits the example and streams it") {
    const auto run = submit_example(cli, "mpi-digits");
    THEN("it exits 0, prints a final test accuracy of at least 0.90 and lists its model") {
      check_trained(cli, run, "model.npz");
      AND_THEN("run show lists rank-0..3, two per node, each exited 0") {
        const auto shown = show_run(cli, run.run_id);
        CHECK(shown.value("status", "") == "Completed");
        REQUIRE(task_names(shown) ==
                std::vector<std::string>{"rank-0", "rank-1", "rank-2", "rank-3"});
        for (int rank = 0; rank < 4; ++rank) {
          const auto& task = task_named(shown, "rank-" + std::to_string(rank));
          INFO(task.dump());
          CHECK(task.value("role", "") == "rank");
          CHECK(task.value("index", -1) == rank);
          CHECK(task.value("node", -1) == rank / 2);
          CHECK(exited_with(task, 0));
          CHECK_FALSE(task.value("failed_first", true));
        }
        AND_THEN("rank 0's own log has the result, and mpirun's log is there too") {
          const auto rank0 = cli.run({"logs", run.run_id, "--task", "rank-0"});
          CHECK(rank0.exit_code == 0);
          CHECK_THAT(rank0.out, Catch::Contains("final test accuracy"));
          CHECK(cli.run({"logs", run.run_id, "--task", "mpirun"}).exit_code == 0);
        }
      }
    }
  }
}

TEST_CASE("e2e: the ps-digits example trains with parameter servers to 90% and the chief ends it",
          "[e2e][cli][examples][parameter_server]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);

  WHEN("the user submits the example and streams it") {
    const auto run = submit_example(cli, "ps-digits");
    THEN("it exits 0, prints a final test accuracy of at least 0.90 and lists its model") {
      check_trained(cli, run, "model.npz");
      AND_THEN("the chief exited 0, the ps was stopped by policy, and nothing failed") {
        const auto shown = show_run(cli, run.run_id);
        INFO(shown.dump(2));
        CHECK(shown.value("status", "") == "Completed");
        REQUIRE(task_names(shown) ==
                std::vector<std::string>{"chief-0", "ps-0", "worker-0", "worker-1"});
        const auto& chief = task_named(shown, "chief-0");
        CHECK(exited_with(chief, 0));
        CHECK(task_named(shown, "ps-0").value("state", "") == "stopped");
        for (const auto& task : shown.at("tasks")) {
          CHECK_FALSE(task.value("failed_first", true));
        }
        AND_THEN("each worker either saw training end and exited 0, or was stopped") {
          for (const std::string name : {"worker-0", "worker-1"}) {
            const auto& worker = task_named(shown, name);
            INFO(name);
            CHECK((exited_with(worker, 0) || worker.value("state", "") == "stopped"));
          }
          AND_THEN("the tasks are spread round-robin over the 2 nodes in plan order") {
            CHECK(chief.value("node", -1) == 0);
            CHECK(task_named(shown, "ps-0").value("node", -1) == 1);
            CHECK(task_named(shown, "worker-0").value("node", -1) == 0);
            CHECK(task_named(shown, "worker-1").value("node", -1) == 1);
          }
        }
      }
    }
  }
}

TEST_CASE("e2e: the pytorch-digits example trains 2 DDP ranks on 2 nodes to 90%",
          "[e2e][cli][examples][pytorch]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);

  WHEN("the user submits the example and streams it") {
    const auto run = submit_example(cli, "pytorch-digits");
    THEN("it exits 0, prints a final test accuracy of at least 0.90 and lists its model") {
      check_trained(cli, run, "model.pt");
      AND_THEN("run show lists rank-0 on node 0 and rank-1 on node 1, both exited 0") {
        const auto shown = show_run(cli, run.run_id);
        CHECK(shown.value("status", "") == "Completed");
        REQUIRE(task_names(shown) == std::vector<std::string>{"rank-0", "rank-1"});
        for (int rank = 0; rank < 2; ++rank) {
          const auto& task = task_named(shown, "rank-" + std::to_string(rank));
          INFO(task.dump());
          CHECK(task.value("node", -1) == rank);
          CHECK(exited_with(task, 0));
        }
      }
    }
  }
}
