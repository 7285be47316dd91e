// The gang scheduler with real runs through the real trainctld (docs/computes.md): capacity is
// never exceeded, runs wait in order and say why, a large run is not starved by small ones, the
// queue and the nodes runs hold survive a kill -9, and GPUs are shared out per node.
#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;

namespace {

using nlohmann::json;

const std::string k_runs = "/v1/workspaces/default/runs";

// A run of `node_count` nodes (pytorch ranks, one per node) on `compute` whose every rank
// waits until the file `gate` exists, then exits 0.
const char* const k_gated_script =
    "import os, sys, time\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    time.sleep(0.02)\n";

class GatedRuns {
 public:
  GatedRuns(const ServiceFixture& service, std::string compute)
      : m_service(service),
        m_compute(std::move(compute)),
        m_snapshot(upload_snapshot(service, {{"train.py", k_gated_script}})) {
    std::filesystem::create_directories(gate_dir());
  }

  // Submits a run; returns its id.
  std::string submit(int node_count, int priority = 0) {
    auto payload = script_payload(m_snapshot);
    payload["compute"] = m_compute;
    payload["priority"] = priority;
    payload["estimator"]["node_count"] = node_count;
    payload["estimator"]["distributed_training"] = {{"backend", "pytorch"}};
    const std::string gate = (gate_dir() / std::to_string(m_submitted++)).string();
    payload["estimator"]["script_params"] = json::array({gate});
    const auto created = body_json(http_request(m_service, "POST", k_runs, payload.dump()));
    const std::string id = created.value("id", "");
    m_gates[id] = gate;
    return id;
  }

  // Lets every rank of run `id` end.
  void open(const std::string& id) const { REQUIRE(trainctl::util::write_file_atomic(m_gates.at(id), "open\n")); }

 private:
  // Outside the service's home, which runs cannot see.
  std::filesystem::path gate_dir() const { return m_gate_root.path() / "gates"; }

  const ServiceFixture& m_service;
  TempDir m_gate_root;
  std::string m_compute;
  std::string m_snapshot;
  int m_submitted = 0;
  std::map<std::string, std::string> m_gates;
};

json get_run(const ServiceFixture& service, const std::string& id) {
  return body_json(http_request(service, "GET", k_runs + "/" + id));
}

std::string status_of(const ServiceFixture& service, const std::string& id) {
  return get_run(service, id).value("status", "");
}

// The ids of the runs `GET /runs?status=...` lists.
std::set<std::string> ids_with_status(const ServiceFixture& service, const std::string& status) {
  std::set<std::string> ids;
  const auto page = body_json(http_request(service, "GET", k_runs + "?status=" + status));
  for (const auto& run : page["items"]) {
    ids.insert(run.value("id", ""));
  }
  return ids;
}

// How many of `ids` hold nodes right now (out of the queue and not finished).
int holding_nodes(const ServiceFixture& service, const std::vector<std::string>& ids) {
  const std::set<std::string> holding{"Preparing", "Starting", "Running", "Finalizing"};
  int count = 0;
  for (const auto& id : ids) count += holding.contains(status_of(service, id)) ? 1 : 0;
  return count;
}

void create_target(const ServiceFixture& service, const std::string& name, const json& body) {
  REQUIRE(http_request(service, "PUT", "/v1/workspaces/default/computes/" + name, body.dump()).status ==
          201);
  REQUIRE(eventually([&] {
    return body_json(http_request(service, "GET", "/v1/workspaces/default/computes/" + name))
               .value("state", "") == "Succeeded";
  }));
}

json usage_of(const ServiceFixture& service, const std::string& compute) {
  return body_json(http_request(service, "GET", "/v1/workspaces/default/computes/" + compute))["usage"];
}

}  // namespace

TEST_CASE("three runs of 2 nodes on a target of 2: one runs, two wait in order, and the queue "
          "survives kill -9",
          "[service][scheduler][faults]") {
  ServiceFixture service;
  create_target(service, "pair", {{"type", "local"}, {"max_nodes", 2}});
  GatedRuns runs(service, "pair");
  const std::vector<std::string> ids{runs.submit(2), runs.submit(2), runs.submit(2)};
  const auto& first = ids[0];
  const auto& second = ids[1];
  const auto& third = ids[2];

  // Capacity is checked every time the test looks: never more than one 2-node run holds nodes.
  const auto settled = [&](const std::string& running_id) {
    return eventually([&] {
      REQUIRE(holding_nodes(service, ids) <= 1);
      return status_of(service, running_id) == "Running";
    });
  };

  REQUIRE(settled(first));
  const auto running = get_run(service, first);
  CHECK(running["nodes"] == json::array({0, 1}));
  CHECK(running["queue"].is_null());

  SECTION("the two others wait, each with its place and why") {
    const auto waiting = get_run(service, second);
    CHECK(waiting["status"] == "Queued");
    CHECK(waiting["queue"] ==
          json{{"position", 1}, {"queue_length", 2}, {"reason", "waiting for 2 nodes; 0 of 2 free"}});
    CHECK(get_run(service, third)["queue"] ==
          json{{"position", 2}, {"queue_length", 2}, {"reason", "queued behind " + second}});
    CHECK(ids_with_status(service, "Queued") == std::set<std::string>{second, third});
    CHECK(usage_of(service, "pair") ==
          json{{"busy_nodes", 2}, {"free_nodes", 0}, {"active_runs", 1}, {"queued_runs", 2}});
  }

  SECTION("they start in submission order as nodes are freed, and a kill -9 keeps the queue") {
    runs.open(first);
    REQUIRE(settled(second));
    CHECK(status_of(service, first) == "Completed");
    CHECK(get_run(service, third)["queue"]["position"] == 1);

    service.kill9();
    service.start();

    // The restarted service knows the second run holds both nodes: the third keeps waiting.
    const auto after = get_run(service, third);
    CHECK(after["status"] == "Queued");
    CHECK(after["queue"] ==
          json{{"position", 1}, {"queue_length", 1}, {"reason", "waiting for 2 nodes; 0 of 2 free"}});
    CHECK(status_of(service, second) == "Running");
    CHECK(usage_of(service, "pair")["busy_nodes"] == 2);

    runs.open(second);
    REQUIRE(settled(third));
    runs.open(third);
    for (const auto& id : ids) {
      const auto done = wait_for_run(service, id);
      INFO(done.dump());
      CHECK(done["status"] == "Completed");
    }
    // Each started only after the one before it had ended.
    CHECK(get_run(service, second)["started_at"] >= get_run(service, first)["ended_at"]);
    CHECK(get_run(service, third)["started_at"] >= get_run(service, second)["ended_at"]);
  }
}

// A pass reads no run of a full target, and places are worked out when asked: they must still be
// right for every run, after runs join, leave from the middle and the head starts.
TEST_CASE("a long queue on a full target: every run's place stays right as runs join and leave",
          "[service][scheduler]") {
  ServiceFixture service;
  create_target(service, "one", {{"type", "local"}, {"max_nodes", 1}});
  GatedRuns runs(service, "one");
  const std::string holder = runs.submit(1);
  REQUIRE(eventually([&] { return status_of(service, holder) == "Running"; }));
  std::vector<std::string> queued;
  for (int i = 0; i < 12; ++i) queued.push_back(runs.submit(1));

  // The reply to a submission leaves the place out; the run's GET has it.
  auto payload = script_payload(upload_snapshot(service, {{"train.py", "print(1)\n"}}));
  payload["compute"] = "one";
  const auto created = body_json(http_request(service, "POST", k_runs, payload.dump()));
  CHECK(created["status"] == "Queued");
  CHECK(created["queue"].is_null());
  queued.push_back(created.value("id", ""));

  const auto places_are = [&](const std::vector<std::string>& order, const std::string& reason_of_head) {
    for (size_t i = 0; i < order.size(); ++i) {
      const auto run = get_run(service, order[i]);
      INFO(order[i] << ": " << run.dump());
      REQUIRE(run["status"] == "Queued");
      CHECK(run["queue"]["position"] == i + 1);
      CHECK(run["queue"]["queue_length"] == order.size());
      CHECK(run["queue"]["reason"] == (i == 0 ? reason_of_head : "queued behind " + order[0]));
    }
  };
  places_are(queued, "waiting for 1 node; 0 of 1 free");
  CHECK(usage_of(service, "one")["queued_runs"] == queued.size());

  // One leaves from the middle, then the head starts: the places behind them move up.
  REQUIRE(http_request(service, "POST", k_runs + "/" + queued[5] + "/cancel", "{}").status < 300);
  queued.erase(queued.begin() + 5);
  places_are(queued, "waiting for 1 node; 0 of 1 free");
  runs.open(holder);
  REQUIRE(eventually([&] { return status_of(service, queued[0]) == "Running"; }));
  const std::string started = queued.front();
  queued.erase(queued.begin());
  places_are(queued, "waiting for 1 node; 0 of 1 free");

  // Nothing is left running: the queued runs are canceled, the started one let go.
  for (const auto& id : queued) {
    REQUIRE(http_request(service, "POST", k_runs + "/" + id + "/cancel", "{}").status < 300);
  }
  runs.open(started);
  CHECK(wait_for_run(service, started)["status"] == "Completed");
}

TEST_CASE("a run waiting for the whole target is not overtaken by smaller runs behind it",
          "[service][scheduler]") {
  ServiceFixture service;
  create_target(service, "pair", {{"type", "local"}, {"max_nodes", 2}});
  GatedRuns runs(service, "pair");

  const auto small = runs.submit(1);
  REQUIRE(eventually([&] { return status_of(service, small) == "Running"; }));
  const auto large = runs.submit(2);
  const auto later_small = runs.submit(1);

  // One node is free, which would fit the later small run: it still waits behind the large one.
  REQUIRE(eventually([&] { return get_run(service, later_small)["queue"].is_object(); }));
  CHECK(get_run(service, large)["queue"]["reason"] == "waiting for 2 nodes; 1 of 2 free");
  CHECK(get_run(service, later_small)["queue"]["reason"] == "queued behind " + large);
  CHECK(usage_of(service, "pair")["busy_nodes"] == 1);

  runs.open(small);
  REQUIRE(eventually([&] { return status_of(service, large) == "Running"; }));
  CHECK(status_of(service, later_small) == "Queued");
  runs.open(large);
  runs.open(later_small);
  CHECK(wait_for_run(service, later_small)["status"] == "Completed");
  CHECK(get_run(service, later_small)["started_at"] >= get_run(service, large)["ended_at"]);
}

TEST_CASE("a higher priority goes first, and within a priority the first submitted",
          "[service][scheduler]") {
  ServiceFixture service;
  create_target(service, "one", {{"type", "local"}, {"max_nodes", 1}});
  GatedRuns runs(service, "one");

  const auto blocker = runs.submit(1);
  REQUIRE(eventually([&] { return status_of(service, blocker) == "Running"; }));
  const auto low = runs.submit(1, -5);
  const auto normal = runs.submit(1);
  const auto urgent = runs.submit(1, 10);
  const auto normal_later = runs.submit(1);

  const std::vector<std::string> expected{urgent, normal, normal_later, low};
  REQUIRE(eventually([&] { return get_run(service, low)["queue"].is_object(); }));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("expected at position " << i + 1 << ": " << expected[i]);
    CHECK(get_run(service, expected[i])["queue"]["position"] == i + 1);
  }

  runs.open(blocker);
  for (const auto& id : expected) {
    REQUIRE(eventually([&] { return status_of(service, id) == "Running"; }));
    runs.open(id);
    CHECK(wait_for_run(service, id)["status"] == "Completed");
  }
}

TEST_CASE("with GPUs, each node of a run sees its own share through CUDA_VISIBLE_DEVICES",
          "[service][scheduler][gpu]") {
  ServiceFixture service({"--host-gpus", "4"});
  create_target(service, "gpus", {{"type", "local"}, {"max_nodes", 2}, {"gpus_per_node", 2}});

  auto payload = script_payload(upload_snapshot(service, {{"train.py", distributed_task_script()}}));
  payload["compute"] = "gpus";
  payload["estimator"].update(json{{"node_count", 2},
                                   {"use_gpu", true},
                                   {"distributed_training", {{"backend", "pytorch"}}},
                                   {"script_params", json::array()}});
  const auto created = body_json(http_request(service, "POST", k_runs, payload.dump()));
  const std::string id = created.value("id", "");
  REQUIRE_FALSE(id.empty());

  const auto records = wait_for_task_records(service, id, {"rank-0", "rank-1"});
  REQUIRE(records.at("rank-0").is_object());
  REQUIRE(records.at("rank-1").is_object());
  CHECK(records.at("rank-0")["env"]["CUDA_VISIBLE_DEVICES"] == "0,1");
  CHECK(records.at("rank-1")["env"]["CUDA_VISIBLE_DEVICES"] == "2,3");
  CHECK(wait_for_run(service, id)["status"] == "Completed");
}

TEST_CASE("runs queued behind a full target start as soon as the target grows",
          "[service][scheduler]") {
  // A submission to a full target asks for no scheduling pass (it could start nothing): what
  // frees room must start the queue itself, here an update that adds nodes.
  ServiceFixture service;
  create_target(service, "grow", {{"type", "local"}, {"max_nodes", 1}});
  GatedRuns runs(service, "grow");
  const auto holder = runs.submit(1);
  REQUIRE(eventually([&] { return status_of(service, holder) == "Running"; }));
  const auto first = runs.submit(1);
  const auto second = runs.submit(1);
  REQUIRE(eventually([&] { return get_run(service, second)["queue"]["position"] == 2; }));
  CHECK(get_run(service, first)["queue"]["position"] == 1);
  CHECK(status_of(service, first) == "Queued");

  const json bigger{{"type", "local"}, {"max_nodes", 3}};
  REQUIRE(http_request(service, "PUT", "/v1/workspaces/default/computes/grow", bigger.dump()).status ==
          200);
  REQUIRE(eventually([&] { return holding_nodes(service, {holder, first, second}) == 3; }));
  CHECK(usage_of(service, "grow")["busy_nodes"] == 3);
  for (const auto& id : {holder, first, second}) runs.open(id);
  for (const auto& id : {holder, first, second}) {
    CHECK(wait_for_run(service, id)["status"] == "Completed");
  }
}
