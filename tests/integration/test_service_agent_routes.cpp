// The run channel of remote node agents over real HTTP (RELIABILITY 47): a run's credential
// opens that run's agent routes only; the service token opens none of them; an agent reads only
// the run's snapshot and inputs; logs are appended exactly once whatever is resent; outputs and
// states are checked before they are written.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/service_fixture.hpp"
#include "trainctl/service/engines/agent_credential.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/util/fs.hpp"

namespace {

using namespace trainctl::testing;
using json = nlohmann::json;
namespace fs = std::filesystem;
using trainctl::service::RunObservation;
using trainctl::service::engines::issue_agent_credential;
using trainctl::service::engines::RunState;

// A run directory as an engine leaves it for its agent: a plan, a snapshot file, a credential.
struct AgentRun {
  AgentRun(const ServiceFixture& service, const std::string& run_id) : id(run_id) {
    dir = service.home() / "runs" / id;
    fs::create_directories(dir / "snapshot" / "pkg");
    std::ofstream(dir / "snapshot" / "pkg" / "train.py") << "print('hi')\n";
    std::ofstream(dir / "launch.json") << R"({"run_id": ")" << id
                                         << R"(", "tasks": [], "max_duration_seconds": 0, "grace_seconds": 10})";
    credential = issue_agent_credential(dir).value();
  }
  std::string route(const std::string& rest) const { return "/v1/agent/runs/" + id + "/" + rest; }
  std::vector<std::pair<std::string, std::string>> auth() const {
    return {{"Authorization", "Bearer " + credential}};
  }

  std::string id;
  fs::path dir;
  std::string credential;
};

RawResponse agent_get(const ServiceFixture& service, const AgentRun& run, const std::string& rest) {
  return http_request(service, "GET", run.route(rest), {}, run.auth(), /*with_token=*/false);
}

RawResponse agent_put(const ServiceFixture& service, const AgentRun& run, const std::string& rest,
                      const std::string& body) {
  return http_request(service, "PUT", run.route(rest), body, run.auth(), /*with_token=*/false,
                      "application/octet-stream");
}

std::string read(const fs::path& file) { return trainctl::util::read_file(file).value(); }

}  // namespace

TEST_CASE("a run's credential opens that run's agent routes and nothing else",
          "[service][agent][security]") {
  ServiceFixture service;
  AgentRun run(service, "run-agent1");
  AgentRun other(service, "run-agent2");

  const auto plan = agent_get(service, run, "plan");
  REQUIRE(plan.status == 200);
  const auto body = json::parse(plan.body);
  CHECK(body["run_dir"] == run.dir.string());
  CHECK(body["files"].dump().find("snapshot/pkg/train.py") != std::string::npos);
  CHECK(agent_get(service, run, "files/snapshot/pkg/train.py").body == "print('hi')\n");

  SECTION("the service token does not open them") {
    CHECK(http_request(service, "GET", run.route("plan")).status == 401);
  }
  SECTION("another run's credential does not open them") {
    CHECK(http_request(service, "GET", run.route("plan"), {}, other.auth(), false).status == 401);
  }
  SECTION("the credential opens no other route") {
    CHECK(http_request(service, "GET", "/v1/workspaces", {}, run.auth(), false).status == 401);
  }
  SECTION("an agent reads only the snapshot and the inputs") {
    CHECK(agent_get(service, run, "files/agent.credential").status == 403);
    CHECK(agent_get(service, run, "files/launch.json").status == 403);
    CHECK(agent_get(service, run, "files/snapshot/../agent.credential").status == 400);
  }
  SECTION("once revoked (the run ended), it opens nothing") {
    trainctl::service::engines::revoke_agent_credential(run.dir);
    CHECK(agent_get(service, run, "plan").status == 401);
  }
}

TEST_CASE("an agent's log pieces are appended exactly once, whatever is resent",
          "[service][agent][logs]") {
  ServiceFixture service;
  AgentRun run(service, "run-logs1");

  REQUIRE(agent_put(service, run, "logs/main.log?offset=0", "line 1\n").status == 200);
  SECTION("a piece resent after a lost reply adds only what is missing") {
    REQUIRE(agent_put(service, run, "logs/main.log?offset=0", "line 1\nline 2\n").status == 200);
    CHECK(read(run.dir / "logs" / "main.log") == "line 1\nline 2\n");
  }
  SECTION("a piece past the end is refused, saying where the log ends") {
    const auto gap = agent_put(service, run, "logs/main.log?offset=100", "late\n");
    CHECK(gap.status == 409);
    CHECK(json::parse(gap.body)["size"] == 7);
    CHECK(read(run.dir / "logs" / "main.log") == "line 1\n");
  }
  SECTION("a log name that is no plain name is refused") {
    CHECK(agent_put(service, run, "logs/..%2Fx?offset=0", "x").status == 400);
    CHECK(agent_put(service, run, "logs/main.log", "no offset").status == 400);
  }
}

TEST_CASE("an agent's outputs and state are checked before they are written",
          "[service][agent][files]") {
  ServiceFixture service;
  AgentRun run(service, "run-outputs1");

  CHECK(agent_put(service, run, "outputs/model/weights.bin", "w").status == 201);
  CHECK(read(run.dir / "outputs" / "model" / "weights.bin") == "w");
  SECTION("a path through a link in outputs is refused") {
    fs::create_directory_symlink("/etc", run.dir / "outputs" / "escape");
    CHECK(agent_put(service, run, "outputs/escape/passwd", "x").status == 400);
    CHECK(read("/etc/hostname") != "x");
  }
  SECTION("a state that is not one is refused; a finished run's state is not replaced") {
    CHECK(agent_put(service, run, "state", "not json").status == 400);
    RunState finished;
    finished.observation.phase = RunObservation::Phase::finished;
    finished.observation.outcome = trainctl::api::RunStatus::Completed;
    CHECK(agent_put(service, run, "state", to_json(finished).dump()).status == 204);
    RunState later;
    later.observation.phase = RunObservation::Phase::running;
    CHECK(agent_put(service, run, "state", to_json(later).dump()).status == 409);
    CHECK(trainctl::service::engines::read_run_state(run.dir)->observation.phase ==
          RunObservation::Phase::finished);
  }
}

TEST_CASE("the node routes of a multi-node run check the node, its place and its credential",
          "[service][agent][nodes][security]") {
  ServiceFixture service;
  AgentRun run(service, "run-nodes1");
  AgentRun other(service, "run-nodes2");
  // A plan of two nodes: main-0 on node 0, main-1 on node 1.
  std::ofstream(run.dir / "launch.json")
      << R"({"run_id": "run-nodes1", "max_duration_seconds": 0, "grace_seconds": 10, "tasks": [)"
      << R"({"name": "rank-0", "node_rank": 0, "argv": ["true"], "env": [], "cwd": "/", "log_file": "/x"},)"
      << R"({"name": "rank-1", "node_rank": 1, "argv": ["true"], "env": [], "cwd": "/", "log_file": "/y"}]})";
  const std::string place = R"({"host": "n1", "address": "192.0.2.1", "ports": [5000]})";

  CHECK(json::parse(agent_get(service, run, "plan").body)["nodes"] == 2);
  SECTION("a node's part waits for every node's place") {
    CHECK(agent_get(service, run, "plan?node=1").status == 409);
    CHECK(agent_put(service, run, "nodes/0", place).status == 204);
    CHECK(fs::exists(run.dir / "nodes" / "0.place.json"));
    CHECK(agent_get(service, run, "plan?node=0").status == 409);  // node 1 has not reported
  }
  SECTION("a node that is not one of the run's is refused") {
    CHECK(agent_get(service, run, "plan?node=2").status == 400);
    CHECK(agent_get(service, run, "plan?node=-1").status == 400);
    CHECK(agent_put(service, run, "nodes/2", place).status == 400);
    CHECK(agent_put(service, run, "state?node=x", "{}").status == 400);
  }
  SECTION("a place that is not one is refused, and nothing is written") {
    CHECK(agent_put(service, run, "nodes/0", R"({"host": "n1"})").status == 400);
    CHECK(agent_put(service, run, "nodes/0", R"({"host": "../n1", "address": "a", "ports": []})").status == 400);
    CHECK_FALSE(fs::exists(run.dir / "nodes" / "0.place.json"));
  }
  SECTION("a node's state is kept as that node's, not as the run's") {
    RunState running;
    running.observation.phase = RunObservation::Phase::running;
    CHECK(agent_put(service, run, "state?node=1", to_json(running).dump()).status == 204);
    CHECK(fs::exists(run.dir / "nodes" / "1.state.json"));
    CHECK_FALSE(fs::exists(run.dir / "state.json"));
  }
  SECTION("another run's credential reports no place for this run") {
    CHECK(http_request(service, "PUT", run.route("nodes/0"), place, other.auth(), false,
                       "application/octet-stream")
              .status == 401);
    CHECK_FALSE(fs::exists(run.dir / "nodes"));
  }
}
