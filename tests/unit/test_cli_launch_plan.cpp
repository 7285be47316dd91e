// What `validate` and `submit --dry-run` print of a launch plan, for people.
#include <catch2/catch.hpp>

#include <sstream>

#include <fmt/format.h>

#include "trainctl/cli/commands/submit.hpp"
#include "trainctl/cli/printer.hpp"

namespace {

using namespace trainctl::cli;
using trainctl::spec::LaunchPlan;
using trainctl::spec::TaskLaunch;

TaskLaunch task(std::string name, std::string role, int index, int node,
                std::vector<std::pair<std::string, std::string>> env) {
  return TaskLaunch{.name = name,
                    .role = std::move(role),
                    .index = index,
                    .node_rank = node,
                    .argv = {"/usr/bin/python3", "train.py", "--lr", "0.1"},
                    .env = std::move(env),
                    .cwd = "<run>/snapshot",
                    .log_file = "<run>/logs/" + name + ".log",
                    .started_by_launcher = false};
}

std::string tf_config(const std::string& type, int index) {
  return R"({"cluster":{"chief":["127.0.0.1:41000"],"ps":["127.0.0.1:41001"],)"
         R"("worker":["127.0.0.1:41002"]},"task":{"type":")" +
         type + R"(","index":)" + std::to_string(index) + R"(},"environment":"cloud"})";
}

LaunchPlan parameter_server_plan() {
  LaunchPlan plan;
  plan.run_id = "<run-id>";
  plan.backend = "parameter_server";
  plan.success = "chief";
  plan.status_dir = "<run>/tasks";
  plan.tasks = {task("chief-0", "chief", 0, 0, {{"TF_CONFIG", tf_config("chief", 0)}}),
                task("ps-0", "ps", 0, 1, {{"TF_CONFIG", tf_config("ps", 0)}}),
                task("worker-0", "worker", 0, 0, {{"TF_CONFIG", tf_config("worker", 0)}})};
  return plan;
}

LaunchPlan mpi_plan() {
  LaunchPlan plan;
  plan.run_id = "<run-id>";
  plan.backend = "mpi";
  plan.status_dir = "<run>/tasks";
  for (int rank = 0; rank < 2; ++rank) {
    auto launched = task(fmt::format("rank-{}", rank), "rank", rank, rank,
                         {{"OMPI_COMM_WORLD_RANK", std::to_string(rank)}});
    launched.started_by_launcher = true;
    plan.tasks.push_back(std::move(launched));
  }
  auto launcher = task("mpirun", "launcher", 0, 0, {{"PYTHONUNBUFFERED", "1"}});
  launcher.argv = {"mpirun", "--allow-run-as-root", "-np", "2", "<trainctld>", "rank", "--",
                   "/usr/bin/python3", "train.py"};
  plan.launcher = std::move(launcher);
  return plan;
}

std::string printed(const Description& description) {
  std::ostringstream out;
  std::ostringstream err;
  Printer printer(out, err);
  printer.print_document({}, description);
  return out.str();
}

std::string field(const Description& description, const std::string& label) {
  for (const auto& [name, value] : description.fields) {
    if (name == label) return value;
  }
  return {};
}

}  // namespace

TEST_CASE("launch plan description: parameter server", "[cli][submit]") {
  const auto description = describe_launch_plan(parameter_server_plan());
  SECTION("each task shows its role and node, command line, cwd, log and TF_CONFIG") {
    REQUIRE(description.sections.size() == 3);
    CHECK(description.sections[0].title == "Task chief-0 (chief, node 0)");
    CHECK(description.sections[1].title == "Task ps-0 (ps, node 1)");
    CHECK(description.sections[2].title == "Task worker-0 (worker, node 0)");
    const auto text = printed(description);
    CHECK_THAT(text, Catch::Contains("/usr/bin/python3 train.py --lr 0.1"));
    CHECK_THAT(text, Catch::Contains("<run>/logs/ps-0.log"));
    CHECK_THAT(text, Catch::Contains("TF_CONFIG=" + tf_config("worker", 0)));
  }
  SECTION("the backend, when it succeeds, and that ports are chosen at start are said") {
    CHECK(field(description, "Backend") == "parameter_server");
    CHECK_THAT(field(description, "Succeeds when"), Catch::Contains("chief"));
    CHECK_THAT(field(description, "Ports"), Catch::Contains("chosen when the run starts"));
  }
}

TEST_CASE("launch plan description: mpi", "[cli][submit]") {
  const auto description = describe_launch_plan(mpi_plan());
  SECTION("the mpirun launcher comes first, with its command line") {
    REQUIRE(description.sections.size() == 3);
    CHECK(description.sections[0].title == "Launcher mpirun (node 0)");
    CHECK_THAT(printed(description), Catch::Contains("mpirun --allow-run-as-root -np 2 <trainctld> "
                                                     "rank -- /usr/bin/python3 train.py"));
  }
  SECTION("each rank is noted as started by mpirun through trainctld rank") {
    CHECK(description.sections[1].title == "Task rank-0 (rank, node 0)");
    CHECK(description.sections[2].title == "Task rank-1 (rank, node 1)");
    const auto& first_row = description.sections[2].rows.at(0);
    CHECK(first_row == std::vector<std::string>{"started:", "by mpirun through trainctld rank"});
    CHECK_THAT(printed(description), Catch::Contains("OMPI_COMM_WORLD_RANK=1"));
  }
  SECTION("no ports are involved and every task succeeding is the rule") {
    CHECK(field(description, "Ports").empty());
    CHECK(field(description, "Succeeds when").empty());
  }
}
