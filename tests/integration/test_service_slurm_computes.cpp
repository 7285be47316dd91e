// Compute targets of type slurm against a real Slurm cluster (tests/support/slurm_cluster.hpp):
// provisioning that asks Slurm about the partition and its nodes, the nodes shown live, what
// makes provisioning fail, and the runs its engine cannot run yet refused at submit.
#include <algorithm>
#include <fstream>

#include <catch2/catch.hpp>

#include "support/slurm_cluster.hpp"
#include "test_service_helpers.hpp"

using namespace trainctl::testing;

namespace {

using nlohmann::json;

const std::string k_computes = "/v1/workspaces/default/computes";

RawResponse put_compute(const ServiceFixture& service, const std::string& name, const json& body) {
  return http_request(service, "PUT", k_computes + "/" + name, body.dump());
}

json get_compute(const ServiceFixture& service, const std::string& name) {
  return body_json(http_request(service, "GET", k_computes + "/" + name));
}

// The target once provisioning has ended (or as last seen after 40 s).
json provisioned(const ServiceFixture& service, const std::string& name) {
  json compute;
  eventually(
      [&] {
        compute = get_compute(service, name);
        return compute.value("state", "") != "Creating";
      },
      40);
  return compute;
}

// A slurm target of the cluster with `changes` laid over it.
json slurm_target(const SlurmCluster& cluster, const json& changes = json::object()) {
  json body{{"type", "slurm"}, {"max_nodes", 3}, {"slurm_conf", cluster.slurm_conf().string()}};
  body.merge_patch(changes);
  return body;
}

// name -> state of the nodes a GET shows.
std::map<std::string, std::string> node_states(const json& compute) {
  std::map<std::string, std::string> states;
  for (const auto& node : compute.value("nodes", json::array()))
    states[node["name"]] = node["state"];
  return states;
}

std::string message_of(const json& compute) {
  return compute.value("message", "");
}

}  // namespace

TEST_CASE("a slurm compute target is provisioned against a real cluster and shows its nodes",
          "[service][computes][slurm]") {
  if (!slurm_cluster_available()) return;
  SlurmClusterService world;
  const auto& service = world.service;

  const auto created =
      put_compute(service, "hpc", slurm_target(world.cluster, {{"partition", "debug"}}));
  REQUIRE(created.status == 201);
  CHECK(body_json(created)["state"] == "Creating");
  CHECK(body_json(created)["slurm"] == json{{"partition", "debug"},
                                            {"account", ""},
                                            {"qos", ""},
                                            {"slurm_conf", world.cluster.slurm_conf().string()}});

  const auto compute = provisioned(service, "hpc");
  CHECK(compute["state"] == "Succeeded");
  CHECK_THAT(message_of(compute), Catch::Contains("partition debug: 3 of 3 nodes usable, 6 CPUs"));

  // The nodes are Slurm's, asked live.
  CHECK(node_states(compute) ==
        std::map<std::string, std::string>{{"n1", "idle"}, {"n2", "idle"}, {"n3", "idle"}});
  for (const auto& node : compute["nodes"]) {
    CHECK(node["cpus"] == 2);
    CHECK(node["gres"] == "");
  }
  CHECK(compute["nodes_partition"] == "debug");

  // The list has the target with its type, without asking Slurm.
  const auto items = body_json(http_request(service, "GET", k_computes))["items"];
  const auto listed = std::find_if(items.begin(), items.end(),
                                   [](const json& item) { return item["name"] == "hpc"; });
  REQUIRE(listed != items.end());
  CHECK((*listed)["type"] == "slurm");
  CHECK((*listed)["slurm"]["partition"] == "debug");
  CHECK_FALSE(listed->contains("nodes"));

  // Without a partition, Slurm's default partition is the target's.
  REQUIRE(put_compute(service, "default-part", slurm_target(world.cluster, {{"max_nodes", 2}}))
              .status == 201);
  const auto defaulted = provisioned(service, "default-part");
  CHECK(defaulted["state"] == "Succeeded");
  CHECK_THAT(message_of(defaulted), Catch::Contains("partition debug (Slurm's default)"));
  CHECK(defaulted["nodes_partition"] == "debug");
}

TEST_CASE("a slurm compute target fails to provision with what to fix",
          "[service][computes][slurm]") {
  if (!slurm_cluster_available()) return;
  SlurmClusterService world;
  const auto& service = world.service;

  REQUIRE(put_compute(service, "gpu", slurm_target(world.cluster, {{"partition", "gpu"}})).status ==
          201);
  REQUIRE(put_compute(service, "four", slurm_target(world.cluster, {{"max_nodes", 4}})).status ==
          201);
  REQUIRE(
      put_compute(service, "gres", slurm_target(world.cluster, {{"gpus_per_node", 1}})).status ==
      201);

  const auto gpu = provisioned(service, "gpu");
  CHECK(gpu["state"] == "Failed");
  CHECK_THAT(message_of(gpu), Catch::Contains("partition 'gpu' not found; partitions: debug") &&
                                  Catch::Contains("trainctl compute update gpu --partition NAME"));
  // Shown all the same, with why there are no nodes.
  CHECK_THAT(gpu.value("nodes_error", ""), Catch::Contains("partition 'gpu' not found"));
  CHECK_FALSE(gpu.contains("nodes"));

  const auto four = provisioned(service, "four");
  CHECK(four["state"] == "Failed");
  CHECK_THAT(message_of(four), Catch::Contains("partition debug (Slurm's default) has 3 nodes, "
                                               "max_nodes is 4") &&
                                   Catch::Contains("--max-nodes 3"));
  CHECK(node_states(four).size() == 3);

  const auto gres = provisioned(service, "gres");
  CHECK(gres["state"] == "Failed");
  CHECK_THAT(message_of(gres), Catch::Contains("0 of 3 nodes usable with 1 GPU each") &&
                                   Catch::Contains("n1 (no GPU)"));
}

TEST_CASE("nodes that are drained or down do not count for a slurm compute target",
          "[service][computes][slurm]") {
  if (!slurm_cluster_available()) return;
  SlurmClusterService world;
  const auto& service = world.service;

  REQUIRE(world.cluster.exec({"scontrol", "update", "nodename=n2", "state=drain", "reason=test"})
              .exit_code == 0);
  // A node lost: its slurmd gone, then marked down (so that it cannot register and come back).
  world.cluster.stop_node_daemon(3);
  REQUIRE(world.cluster.exec({"scontrol", "update", "nodename=n3", "state=down", "reason=test"})
              .exit_code == 0);

  REQUIRE(put_compute(service, "three", slurm_target(world.cluster)).status == 201);
  const auto three = provisioned(service, "three");
  CHECK(three["state"] == "Failed");
  CHECK_THAT(message_of(three), Catch::Contains("has 1 of 3 nodes usable, max_nodes is 3") &&
                                    Catch::Contains("not counted: n2 (drain), n3 (down") &&
                                    Catch::Contains("--max-nodes 1"));
  const auto states = node_states(three);
  CHECK(states.at("n1") == "idle");
  CHECK(states.at("n2") == "drain");
  CHECK(states.at("n3").starts_with("down"));

  REQUIRE(put_compute(service, "one", slurm_target(world.cluster, {{"max_nodes", 1}})).status ==
          201);
  const auto one = provisioned(service, "one");
  CHECK(one["state"] == "Succeeded");
  CHECK_THAT(message_of(one), Catch::Contains("1 of 3 nodes usable"));
}

TEST_CASE("a slurm compute target whose controller does not answer fails, and is still shown",
          "[service][computes][slurm]") {
  if (!slurm_cluster_available()) return;
  SlurmClusterService world;
  const auto& service = world.service;
  // The cluster's slurm.conf, with Slurm's clients giving up after 2 s rather than 10.
  TempDir folder;
  const auto conf = folder.path() / "slurm.conf";
  {
    std::ifstream in(world.cluster.slurm_conf());
    std::ofstream out(conf);
    out << in.rdbuf() << "MessageTimeout=2\n";
  }
  world.cluster.stop_controller();

  REQUIRE(put_compute(service, "hpc", slurm_target(world.cluster, {{"slurm_conf", conf.string()}}))
              .status == 201);
  const auto compute = provisioned(service, "hpc");
  CHECK(compute["state"] == "Failed");
  CHECK_THAT(message_of(compute), Catch::Contains("Slurm does not answer") &&
                                      Catch::Contains("Unable to contact slurm controller") &&
                                      Catch::Contains("slurm_conf is " + conf.string()));
  const auto shown = http_request(service, "GET", k_computes + "/hpc");
  CHECK(shown.status == 200);
  CHECK_THAT(body_json(shown).value("nodes_error", ""), Catch::Contains("Slurm"));

  // A slurm_conf that names no file is said so.
  REQUIRE(put_compute(service, "noconf",
                      slurm_target(world.cluster, {{"slurm_conf", "/nonexistent/slurm.conf"}}))
              .status == 201);
  const auto noconf = provisioned(service, "noconf");
  CHECK(noconf["state"] == "Failed");
  CHECK_THAT(message_of(noconf),
             Catch::Contains("slurm_conf /nonexistent/slurm.conf cannot be read"));
}

TEST_CASE("a slurm compute target takes runs of several nodes and with pip packages",
          "[service][computes][slurm]") {
  if (!slurm_cluster_available()) return;
  SlurmClusterService world;
  const auto& service = world.service;
  REQUIRE(put_compute(service, "hpc", slurm_target(world.cluster)).status == 201);
  REQUIRE(provisioned(service, "hpc")["state"] == "Succeeded");

  auto payload = script_payload(upload_snapshot(service, {{"train.py", "print('hi')\n"}}));
  payload["compute"] = "hpc";
  payload["estimator"]["node_count"] = 2;
  payload["estimator"]["distributed_training"] = json{{"backend", "mpi"}};
  payload["estimator"]["pip_packages"] = json::array({"tqdm"});
  const auto created = http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump());
  INFO(created.body);
  CHECK(created.status == 201);
  // More nodes than the target has is still refused, naming the field.
  payload["estimator"]["node_count"] = 4;
  const auto refused = http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump());
  CHECK(refused.status == 422);
  CHECK(body_json(refused)["error"]["details"][0]["path"] == "estimator.node_count");
}
