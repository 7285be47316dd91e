// The provisioning decision of a compute target of type slurm
// (include/trainctl/service/slurm/slurm_target.hpp) over a FakeSlurmClient: which partition,
// which nodes count, and the message that says what is wrong and what to do.
#include <catch2/catch.hpp>

#include "fakes/fake_slurm_client.hpp"
#include "trainctl/service/slurm/slurm_target.hpp"

namespace {

using namespace trainctl;
using namespace trainctl::service;
using namespace trainctl::service::slurm;
using trainctl::testing::FakeSlurmClient;

ComputeRecord hpc(int max_nodes, std::string partition = "") {
  ComputeRecord target;
  target.workspace = "default";
  target.name = "hpc";
  target.type = "slurm";
  target.max_nodes = max_nodes;
  target.slurm.partition = std::move(partition);
  target.slurm.conf = "/etc/slurm/cluster.conf";
  return target;
}

Node node(std::string name, std::string state = "idle", std::string gres = "") {
  return Node{std::move(name), std::move(state), 4, std::move(gres)};
}

// A cluster with the default partition "debug" (n1..n3, idle) and "gpu" (g1, g2: 2 GPUs each).
FakeSlurmClient cluster() {
  FakeSlurmClient slurm;
  slurm.partition_list = {{"debug", true, "up"}, {"gpu", false, "up"}};
  slurm.nodes_by_partition["debug"] = {node("n1"), node("n2"), node("n3")};
  slurm.nodes_by_partition["gpu"] = {node("g1", "idle", "gpu:a100:2(S:0)"),
                                     node("g2", "mix", "gpu:a100:2(S:0)")};
  return slurm;
}

}  // namespace

TEST_CASE("a slurm target whose partition has enough usable nodes is Succeeded",
          "[slurm][provisioning]") {
  auto slurm = cluster();
  SECTION("the partition it names") {
    const auto outcome = provision_slurm_target(hpc(3, "debug"), slurm);
    CHECK(outcome.state == "Succeeded");
    CHECK(outcome.message == "partition debug: 3 of 3 nodes usable, 12 CPUs");
    CHECK(slurm.asked == std::vector<std::string>{"partitions", "nodes debug"});
    // Slurm is asked with the target's settings (its slurm.conf).
    CHECK(slurm.settings_seen.front().conf == "/etc/slurm/cluster.conf");
  }
  SECTION("Slurm's default partition when it names none") {
    const auto outcome = provision_slurm_target(hpc(2), slurm);
    CHECK(outcome.state == "Succeeded");
    CHECK(outcome.message == "partition debug (Slurm's default): 3 of 3 nodes usable, 12 CPUs");
  }
  SECTION("nodes with the GPUs it asks for") {
    auto target = hpc(2, "gpu");
    target.gpus_per_node = 2;
    const auto outcome = provision_slurm_target(target, slurm);
    CHECK(outcome.state == "Succeeded");
    CHECK(outcome.message == "partition gpu: 2 of 2 nodes usable with 2 GPUs each, 8 CPUs");
  }
}

TEST_CASE("a slurm target fails to provision when Slurm cannot be asked", "[slurm][provisioning]") {
  auto slurm = cluster();
  SECTION("the controller does not answer") {
    slurm.partitions_error = Error{ErrorCode::unavailable,
                                   "slurm_load_partitions: Unable to contact slurm controller "
                                   "(connect failure)"};
    const auto outcome = provision_slurm_target(hpc(1), slurm);
    CHECK(outcome.state == "Failed");
    CHECK(outcome.message ==
          "Slurm does not answer: slurm_load_partitions: Unable to contact slurm controller "
          "(connect failure); check that trainctld's host reaches the controller and that "
          "slurm_conf is /etc/slurm/cluster.conf");
  }
  SECTION("it gives no answer in time, while listing the nodes") {
    slurm.nodes_error = Error{ErrorCode::timeout, "Slurm did not answer within 30 s"};
    const auto outcome = provision_slurm_target(hpc(1), slurm);
    CHECK(outcome.state == "Failed");
    CHECK_THAT(outcome.message, Catch::StartsWith("Slurm does not answer: Slurm did not answer "
                                                  "within 30 s; check"));
  }
  SECTION("its commands are not installed: said as it is") {
    slurm.partitions_error = Error{ErrorCode::not_found, "sinfo is not on trainctld's PATH"};
    const auto outcome = provision_slurm_target(hpc(1), slurm);
    CHECK(outcome.state == "Failed");
    CHECK(outcome.message == "sinfo is not on trainctld's PATH");
  }
}

TEST_CASE("a slurm target fails to provision without its partition", "[slurm][provisioning]") {
  auto slurm = cluster();
  SECTION("an unknown partition: the ones there are") {
    const auto outcome = provision_slurm_target(hpc(1, "gpus"), slurm);
    CHECK(outcome.state == "Failed");
    CHECK(outcome.message ==
          "partition 'gpus' not found; partitions: debug, gpu (did you mean 'gpu'?); choose one "
          "with `trainctl compute update hpc --partition NAME`");
    CHECK(slurm.asked == std::vector<std::string>{"partitions"});
  }
  SECTION("no partition named, and Slurm has no default") {
    slurm.partition_list[0].is_default = false;
    const auto outcome = provision_slurm_target(hpc(1), slurm);
    CHECK(outcome.state == "Failed");
    CHECK(outcome.message ==
          "Slurm has no default partition; name one with `trainctl compute update hpc "
          "--partition NAME` (partitions: debug, gpu)");
  }
  SECTION("a partition that is down") {
    slurm.partition_list[0].availability = "down";
    const auto outcome = provision_slurm_target(hpc(1, "debug"), slurm);
    CHECK(outcome.state == "Failed");
    CHECK_THAT(outcome.message, Catch::StartsWith("partition debug is down in Slurm, so its jobs "
                                                  "would not start"));
  }
}

TEST_CASE("a slurm target fails to provision with fewer usable nodes than max_nodes",
          "[slurm][provisioning]") {
  auto slurm = cluster();
  SECTION("too few nodes") {
    const auto outcome = provision_slurm_target(hpc(4, "debug"), slurm);
    CHECK(outcome.state == "Failed");
    CHECK(outcome.message ==
          "partition debug has 3 nodes, max_nodes is 4; lower it with `trainctl compute update "
          "hpc --max-nodes 3`; or choose a larger partition with --partition");
  }
  SECTION("drained and down nodes are not counted") {
    slurm.nodes_by_partition["debug"] = {node("n1", "drain"), node("n2", "down*"), node("n3")};
    const auto outcome = provision_slurm_target(hpc(2, "debug"), slurm);
    CHECK(outcome.state == "Failed");
    CHECK(outcome.message ==
          "partition debug has 1 of 3 nodes usable, max_nodes is 2 (not counted: n1 (drain), n2 "
          "(down*)); lower it with `trainctl compute update hpc --max-nodes 1`; or bring the "
          "nodes back, then run `trainctl compute update hpc`");
    CHECK(provision_slurm_target(hpc(1, "debug"), slurm).state == "Succeeded");
  }
  SECTION("nodes without the GPUs asked for are not counted") {
    auto target = hpc(1, "debug");
    target.gpus_per_node = 1;
    const auto outcome = provision_slurm_target(target, slurm);
    CHECK(outcome.state == "Failed");
    CHECK_THAT(outcome.message,
               Catch::StartsWith("partition debug has 0 of 3 nodes usable with 1 GPU each, "
                                 "max_nodes is 1 (not counted: n1 (no GPU), n2 (no GPU), n3 (no "
                                 "GPU)); lower --gpus-per-node, or choose a partition with GPUs "
                                 "with --partition"));
    target.slurm.partition = "gpu";
    target.gpus_per_node = 4;
    CHECK_THAT(provision_slurm_target(target, slurm).message,
               Catch::Contains("not counted: g1 (2 GPUs), g2 (2 GPUs)"));
  }
  SECTION("a long list of nodes not counted is cut short") {
    std::vector<Node> nodes;
    for (int i = 1; i <= 8; ++i) nodes.push_back(node("n" + std::to_string(i), "down"));
    slurm.nodes_by_partition["debug"] = nodes;
    CHECK_THAT(provision_slurm_target(hpc(1, "debug"), slurm).message,
               Catch::Contains("n5 (down), and 3 more)"));
  }
}

TEST_CASE("which node states count among a slurm target's nodes", "[slurm][provisioning]") {
  for (const auto* state : {"idle", "mix", "alloc", "comp", "plnd", "idle~", "idle#", "mix@",
                            "alloc-", "idle%", "idle!"}) {
    INFO(state);
    CHECK(node_counts(state));
  }
  for (const auto* state : {"down", "down*", "drain", "drng", "drain*", "idle*", "alloc*",
                            "fail", "failg", "maint", "resv", "idle$",  "boot",  "unk",
                            "unk*", "futr",  "inval", "npc",  "",       "IDLE",  "whatever"}) {
    INFO(state);
    CHECK_FALSE(node_counts(state));
  }
}
