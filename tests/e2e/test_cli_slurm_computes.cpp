// The real trainctl against a real trainctld and a real Slurm cluster
// (tests/support/slurm_cluster.hpp): a compute target of type slurm created with --wait, shown
// with its partition's nodes, listed with its type, and refused as a run's target.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/slurm_cluster.hpp"
#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
using nlohmann::json;

constexpr int k_exit_invalid_spec = 6;

}  // namespace

TEST_CASE("e2e: a slurm compute target is created with --wait and shows its nodes",
          "[e2e][cli][compute][slurm]") {
  if (!slurm_cluster_available()) return;
  SlurmClusterService world;
  // The CLI is started from this thread, so it is in the controller's network as trainctld is.
  const auto cli = CliEnvironment::for_service(world.service);
  const std::string conf = world.cluster.slurm_conf().string();

  const auto created = cli.run({"compute", "create", "hpc", "--type", "slurm", "--partition",
                                "debug", "--max-nodes", "3", "--slurm-conf", conf, "--wait"});
  INFO(created.err);
  REQUIRE(created.exit_code == 0);
  CHECK_THAT(created.out, Catch::Contains("compute target hpc created and ready: partition "
                                          "debug: 3 of 3 nodes usable"));

  const auto shown = cli.run({"compute", "show", "hpc"});
  INFO(shown.err);
  CHECK(shown.exit_code == 0);
  CHECK_THAT(shown.out, Catch::Contains("Type:") && Catch::Contains("slurm") &&
                            Catch::Contains("Succeeded") && Catch::Contains("Partition:") &&
                            Catch::Contains("debug") && Catch::Contains(conf));
  CHECK_THAT(shown.out, Catch::Contains("Nodes of partition debug:") &&
                            Catch::Matches("(.|\n)*NAME +STATE +CPUS +GRES(.|\n)*") &&
                            Catch::Matches("(.|\n)*n1 +idle +2 +-(.|\n)*") &&
                            Catch::Matches("(.|\n)*n3 +idle +2 +-(.|\n)*"));

  const auto as_json = cli.run({"compute", "show", "hpc", "-o", "json"});
  const auto compute = json::parse(as_json.out, nullptr, false);
  CHECK(compute["slurm"]["partition"] == "debug");
  CHECK(compute["slurm"]["slurm_conf"] == conf);
  CHECK(compute["nodes"].size() == 3);

  const auto listed = cli.run({"compute", "list"});
  CHECK(listed.exit_code == 0);
  CHECK_THAT(listed.out, Catch::Matches("(.|\n)*hpc +slurm +Succeeded +0/3(.|\n)*"));

  // update keeps the Slurm settings it is not given.
  const auto updated =
      cli.run({"compute", "update", "hpc", "--max-nodes", "2", "--wait", "-o", "json"});
  INFO(updated.err);
  REQUIRE(updated.exit_code == 0);
  const auto update = json::parse(updated.out, nullptr, false);
  CHECK(update["max_nodes"] == 2);
  CHECK(update["slurm"]["partition"] == "debug");
  CHECK(update["slurm"]["slurm_conf"] == conf);

  // A submission of more nodes than the target has is refused with the reason.
  Project project("print('hi')\n", "  node_count: 3\n  distributed_training: {backend: mpi}\ncompute: hpc\n");
  const auto submitted = cli.run({"submit", project.spec()}, project.dir());
  CHECK(submitted.exit_code == k_exit_invalid_spec);
  CHECK_THAT(submitted.err, Catch::Contains("the compute target 'hpc' has 2 nodes"));
}

TEST_CASE("e2e: compute create --type slurm --wait exits 1 with what to fix",
          "[e2e][cli][compute][slurm]") {
  if (!slurm_cluster_available()) return;
  SlurmClusterService world;
  const auto cli = CliEnvironment::for_service(world.service);

  const auto created = cli.run({"compute", "create", "big", "--type", "slurm", "--max-nodes", "4",
                                "--slurm-conf", world.cluster.slurm_conf().string(), "--wait"});
  CHECK(created.exit_code == 1);
  CHECK_THAT(created.err, Catch::Contains("compute target big failed to provision: partition "
                                          "debug (Slurm's default) has 3 nodes, max_nodes is 4"));
}

TEST_CASE("e2e: Slurm flags are checked before anything is sent", "[e2e][cli][compute][slurm]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  const auto bad_name =
      cli.run({"compute", "create", "hpc", "--type", "slurm", "--partition", "-x"});
  CHECK(bad_name.exit_code == 2);
  CHECK_THAT(bad_name.err, Catch::Contains("--partition -x"));
  const auto relative =
      cli.run({"compute", "create", "hpc", "--type", "slurm", "--slurm-conf", "slurm.conf"});
  CHECK(relative.exit_code == 2);
  const auto local = cli.run({"compute", "create", "hpc", "--type", "local", "--qos", "high"});
  CHECK(local.exit_code == 2);
  CHECK_THAT(local.err, Catch::Contains("--qos is for compute targets of --type slurm"));
  CHECK(cli.run({"compute", "show", "hpc"}).exit_code == 7);
}
