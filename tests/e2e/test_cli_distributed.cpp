// The plan `trainctl submit --dry-run` prints is what runs (docs/engines.md): the same
// tasks, nodes, command lines, working directories and environments as every process of the
// real run saw (tests/data/distributed/task.py records them), for a parameter-server and an MPI
// spec; and `trainctl logs` of a run with several ranks, merged with prefixes or one rank alone.
#include <algorithm>
#include <cctype>
#include <regex>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "integration/test_service_helpers.hpp"
#include "test_cli_common.hpp"
#include "trainctl/spec/launch_plan.hpp"

namespace {

using namespace trainctl::testing;
using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string k_parameter_server_spec =
    "  node_count: 2\n"
    "  script_params: [--forever, ps, --forever, worker, --forever, evaluator,\n"
    "                  --after-peers, '5']\n"
    "  distributed_training:\n"
    "    backend: parameter_server\n"
    "    worker_count: 2\n"
    "    parameter_server_count: 1\n"
    "    evaluator: true\n"
    "environment_variables:\n"
    "  FROM_THE_SPEC: kept\n";

const std::string k_mpi_spec =
    "  node_count: 2\n"
    "  process_count_per_node: 2\n"
    "  script_params: [--lines, '2']\n"
    "  distributed_training:\n"
    "    backend: mpi\n"
    "environment_variables:\n"
    "  FROM_THE_SPEC: kept\n";

std::string replaced_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// The dry run's placeholders, made real for one run: <run-id>, <run> and <trainctld>.
class RealValues {
 public:
  RealValues(const ServiceFixture& service, std::string run_id)
      : m_run_id(std::move(run_id)),
        m_run_dir((service.home() / "runs" / m_run_id).string()),
        m_trainctld(fs::canonical(TRAINCTLD_BINARY).string()) {}

  std::string resolve(const std::string& value) const {
    return replaced_all(replaced_all(replaced_all(value, "<run-id>", m_run_id), "<run>", m_run_dir),
                        "<trainctld>", m_trainctld);
  }
  std::vector<std::string> resolve_all(const json& values) const {
    std::vector<std::string> real;
    for (const auto& value : values) real.push_back(resolve(value.get<std::string>()));
    return real;
  }

 private:
  std::string m_run_id;
  std::string m_run_dir;
  std::string m_trainctld;
};

// TF_CONFIG and MASTER_PORT with their ports masked: ports are chosen when the run starts.
std::string ports_masked(const std::string& name, const std::string& value) {
  static const std::regex k_loopback_port(R"(127\.0\.0\.1:[0-9]+)");
  if (name == "MASTER_PORT") return "<port>";
  if (name == "TF_CONFIG") return std::regex_replace(value, k_loopback_port, "127.0.0.1:<port>");
  return value;
}

// Every variable of the planned environment is in the real one with the same value (ports
// masked), but those trainctld passes through from its own environment (PATH, HOME, ...).
void check_environment(const json& planned, const json& real, const RealValues& real_values) {
  for (const auto& entry : planned) {
    const std::string name = entry.at(0);
    if (trainctl::spec::is_inherited_variable(name)) continue;
    INFO(name);
    REQUIRE(real.contains(name));
    CHECK(ports_masked(name, real[name].get<std::string>()) ==
          ports_masked(name, real_values.resolve(entry.at(1).get<std::string>())));
  }
}

// mpirun's argv without the `-x NAME` exports of variables trainctld passes through from its
// own environment (PATH, HOME, ...): the dry run cannot know which of them the service has.
std::vector<std::string> without_inherited_exports(const std::vector<std::string>& argv) {
  std::vector<std::string> kept;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "-x" && i + 1 < argv.size() &&
        trainctl::spec::is_inherited_variable(argv[i + 1])) {
      ++i;
      continue;
    }
    kept.push_back(argv[i]);
  }
  return kept;
}

// Each planned task ran as planned: the run has the same tasks on the same nodes, and each
// task's process had the planned command line, working directory and environment. For MPI, the
// ranks' parents are the planned launcher's rank wrapper, under the planned mpirun (the same
// exceptions as for the environment: ports and trainctld's pass-through variables).
void check_plan_ran(const json& plan, const ServiceFixture& service, const std::string& run_id) {
  const json run = body_json(http_request(service, "GET", "/v1/workspaces/default/runs/" + run_id));
  std::vector<std::string> planned_names;
  for (const auto& task : plan.at("tasks")) planned_names.push_back(task.at("name"));
  REQUIRE(task_names_of(run) == planned_names);

  const RealValues real_values(service, run_id);
  const auto records = wait_for_task_records(service, run_id, planned_names, 5);
  const json launcher = plan.value("launcher", json());
  for (const auto& task : plan.at("tasks")) {
    const std::string name = task.at("name");
    const json& record = records.at(name);
    INFO(name << " was planned as " << task.dump() << "\nand saw " << record.dump());
    REQUIRE(record.is_object());
    const int node = task.at("node_rank");
    const json ran = task_named(run, name);
    CHECK(ran.value("role", "") == task.at("role"));
    CHECK(ran.value("index", -1) == task.at("index"));
    CHECK(ran.value("node", -1) == node);
    CHECK(record["env"].value("TRAINCTL_NODE_RANK", "") == std::to_string(node));
    CHECK(record["argv"].get<std::vector<std::string>>() ==
          real_values.resolve_all(task.at("argv")));
    // The working directory is gone once the run has ended: compare the paths, not the files.
    CHECK(fs::weakly_canonical(record["cwd"].get<std::string>()) ==
          fs::weakly_canonical(real_values.resolve(task.at("cwd").get<std::string>())));
    check_environment(task.at("env"), record["env"], real_values);
    if (launcher.is_object()) {
      const auto mpirun = real_values.resolve_all(launcher.at("argv"));
      const auto wrapper =
          std::find(mpirun.begin(), mpirun.end(), real_values.resolve("<trainctld>"));
      const auto ancestors = record["ancestors"].get<std::vector<std::vector<std::string>>>();
      REQUIRE(ancestors.size() == 2);
      CHECK(ancestors[0] == std::vector<std::string>(wrapper, mpirun.end()));
      CHECK(without_inherited_exports(ancestors[1]) == without_inherited_exports(mpirun));
    }
  }
}

// Submits the project through the CLI and waits for its run to complete; returns its id.
std::string run_to_completion(const CliEnvironment& cli, const Project& project) {
  const auto submitted = cli.run({"submit", project.spec(), "-o", "name"}, project.dir());
  INFO(submitted.out << submitted.err);
  REQUIRE(submitted.exit_code == 0);
  const std::string run_id = trimmed(submitted.out);
  const auto waited = cli.run({"run", "wait", run_id});
  INFO(waited.out << waited.err);
  CHECK(waited.exit_code == 0);
  return run_id;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("e2e: the dry-run launch plan is what the run's processes got",
          "[e2e][cli][distributed]") {
  ServiceFixture service({"--grace-seconds", "2"});
  const auto cli = CliEnvironment::for_service(service);
  for (const auto& [what, spec] :
       {std::pair{"a parameter-server spec with an evaluator", k_parameter_server_spec},
        std::pair{"an MPI spec of 2 nodes x 2 ranks", k_mpi_spec}}) {
    GIVEN(what) {
      const Project project(distributed_task_script(), spec);
      WHEN("its plan is printed with --dry-run, and then it is submitted and runs") {
        const auto dry_run =
            cli.run({"submit", project.spec(), "--dry-run", "-o", "json"}, project.dir());
        INFO(dry_run.out << dry_run.err);
        REQUIRE(dry_run.exit_code == 0);
        const json plan = json::parse(dry_run.out, nullptr, false).value("launch_plan", json());
        REQUIRE(plan.is_object());
        const std::string run_id = run_to_completion(cli, project);

        THEN("every task ran on its planned node with its planned argv, cwd and environment") {
          check_plan_ran(plan, service, run_id);
        }
      }
    }
  }
}

TEST_CASE("e2e: logs of an MPI run, merged with a prefix per rank, or one rank alone",
          "[e2e][cli][distributed]") {
  ServiceFixture service({"--grace-seconds", "2"});
  const auto cli = CliEnvironment::for_service(service);
  GIVEN("an MPI run of 4 ranks that each printed 2 lines") {
    const Project project(distributed_task_script(), k_mpi_spec);
    const std::string run_id = run_to_completion(cli, project);

    WHEN("the user prints its logs") {
      const auto merged = cli.run({"logs", run_id});
      INFO(merged.out << merged.err);
      THEN("every rank's lines are there, each prefixed with its rank's task name") {
        CHECK(merged.exit_code == 0);
        const auto lines = lines_of(merged.out);
        for (int rank = 0; rank < 4; ++rank) {
          for (int line = 0; line < 2; ++line) {
            const std::string expected = fmt::format("[rank-{0}] rank-{0} line {1}", rank, line);
            CHECK(std::find(lines.begin(), lines.end(), expected) != lines.end());
          }
        }
        for (const auto& line : lines) {
          INFO(line);
          CHECK_FALSE(line.starts_with("rank-"));
        }
      }
    }
    WHEN("the user prints the logs of rank 1") {
      const auto rank_one = cli.run({"logs", run_id, "--rank", "1"});
      THEN("only rank 1's lines are printed, as it wrote them") {
        CHECK(rank_one.exit_code == 0);
        CHECK(rank_one.out == "rank-1 line 0\nrank-1 line 1\n");
      }
    }
  }
}
