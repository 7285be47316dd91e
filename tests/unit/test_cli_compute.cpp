// The compute commands (src/cli/commands/compute.cpp): usage checks of the Slurm flags, the
// body create and update send, and what `compute show` prints for a slurm target.
#include <sstream>

#include <catch2/catch.hpp>

#include "trainctl/cli/commands/compute.hpp"
#include "trainctl/cli/printer.hpp"

namespace {

using namespace trainctl;
using namespace trainctl::cli;
using nlohmann::json;

ComputeConfigOptions slurm_options() {
  ComputeConfigOptions options;
  options.name = "hpc";
  options.type = "slurm";
  return options;
}

std::string usage_message(const ComputeConfigOptions& options) {
  const auto valid = validate(options);
  REQUIRE_FALSE(valid);
  CHECK(valid.error().code == ErrorCode::usage);
  return valid.error().message;
}

// A slurm target as GET computes/hpc shows it.
json hpc_resource() {
  return {
      {"name", "hpc"},
      {"type", "slurm"},
      {"max_nodes", 3},
      {"cpus_per_node", 0},
      {"gpus_per_node", 0},
      {"python", ""},
      {"conda", ""},
      {"state", "Succeeded"},
      {"message", "partition debug: 3 of 3 nodes usable, 6 CPUs"},
      {"slurm",
       {{"partition", "debug"}, {"account", ""}, {"qos", "high"}, {"slurm_conf", "/etc/s.conf"}}},
      {"usage", {{"busy_nodes", 0}, {"free_nodes", 3}, {"active_runs", 0}, {"queued_runs", 0}}},
      {"nodes_partition", "debug"},
      {"nodes",
       {{{"name", "n1"}, {"state", "idle"}, {"cpus", 2}, {"gres", ""}},
        {{"name", "n2"}, {"state", "drain"}, {"cpus", 2}, {"gres", "gpu:2"}}}},
      {"created_at", "2026-11-22T07:48:27.000Z"},
      {"updated_at", "2026-11-22T07:48:27.000Z"}};
}

std::string shown(const json& compute) {
  std::ostringstream out;
  std::ostringstream err;
  Printer printer(out, err);
  printer.print_description(ResourceKind{.name = "compute", .columns = {}, .name_pointer = "/name"},
                            compute, describe_compute(compute));
  return out.str();
}

}  // namespace

TEST_CASE("compute create and update check the Slurm flags before sending",
          "[cli][compute][slurm]") {
  auto options = slurm_options();
  options.partition = "debug";
  options.account = "";
  options.qos = "high.prio";
  options.slurm_conf = "/etc/slurm/slurm.conf";
  options.max_nodes = 3;
  CHECK(validate(options));

  SECTION("Slurm names outside the safe characters") {
    options.partition = "-p";
    CHECK_THAT(usage_message(options),
               Catch::StartsWith("--partition -p: invalid Slurm partition"));
    options.partition = "debug";
    options.account = "a;b";
    CHECK_THAT(usage_message(options), Catch::StartsWith("--account a;b:"));
  }
  SECTION("a relative --slurm-conf") {
    options.slurm_conf = "slurm.conf";
    CHECK(usage_message(options) == "--slurm-conf slurm.conf: an absolute path is required");
  }
  SECTION("Slurm flags with another --type") {
    options.type = "local";
    CHECK(usage_message(options) == "--partition is for compute targets of --type slurm");
  }
  SECTION("--cpus-per-node with --type slurm") {
    options.cpus_per_node = 4;
    CHECK_THAT(usage_message(options), Catch::Contains("Slurm knows the CPUs of its nodes"));
  }
  SECTION("without --type (update: the target's), the server judges the pairing") {
    options.type.clear();
    CHECK(validate(options));
  }
}

TEST_CASE("compute create sends the Slurm settings given", "[cli][compute][slurm]") {
  auto options = slurm_options();
  options.partition = "debug";
  options.slurm_conf = "/etc/s.conf";
  options.max_nodes = 3;
  CHECK(compute_body(options, json::object()) == json{{"type", "slurm"},
                                                      {"max_nodes", 3},
                                                      {"cpus_per_node", 0},
                                                      {"gpus_per_node", 0},
                                                      {"python", ""},
                                                      {"partition", "debug"},
                                                      {"slurm_conf", "/etc/s.conf"}});
}

TEST_CASE("compute update keeps the Slurm settings it is not given", "[cli][compute][slurm]") {
  ComputeConfigOptions options;
  options.name = "hpc";
  options.qos = "";
  options.max_nodes = 2;
  const auto body = compute_body(options, hpc_resource());
  CHECK(body == json{{"type", "slurm"},
                     {"max_nodes", 2},
                     {"cpus_per_node", 0},
                     {"gpus_per_node", 0},
                     {"python", ""},
                     {"partition", "debug"},
                     {"account", ""},
                     {"qos", ""},
                     {"slurm_conf", "/etc/s.conf"}});
  SECTION("a local target's body has no Slurm settings") {
    auto local = hpc_resource();
    local["type"] = "local";
    local.erase("slurm");
    options.qos.reset();
    CHECK_FALSE(compute_body(options, local).contains("partition"));
  }
}

TEST_CASE("compute show prints a slurm target's settings and its partition's nodes",
          "[cli][compute][slurm]") {
  const auto text = shown(hpc_resource());
  CHECK_THAT(text, Catch::Contains("Partition:") && Catch::Contains("debug"));
  CHECK_THAT(text, Catch::Matches("(.|\n)*Account: +the user's default\n(.|\n)*"));
  CHECK_THAT(text, Catch::Matches("(.|\n)*QOS: +high\n(.|\n)*"));
  CHECK_THAT(text, Catch::Matches("(.|\n)*slurm.conf: +/etc/s.conf\n(.|\n)*"));
  CHECK_THAT(text, Catch::Matches("(.|\n)*Max nodes: +3 per run\n(.|\n)*"));
  CHECK_THAT(text, Catch::Contains("Nodes of partition debug:"));
  CHECK_THAT(text, Catch::Matches("(.|\n)*NAME +STATE +CPUS +GRES\n(.|\n)*"));
  CHECK_THAT(text, Catch::Matches("(.|\n)*n1 +idle +2 +-\n(.|\n)*"));
  CHECK_THAT(text, Catch::Matches("(.|\n)*n2 +drain +2 +gpu:2\n(.|\n)*"));
  CHECK_THAT(text, !Catch::Contains("Conda") && !Catch::Contains("Free nodes"));

  SECTION("Slurm's default partition is named when Slurm said which") {
    auto compute = hpc_resource();
    compute["slurm"]["partition"] = "";
    CHECK_THAT(shown(compute),
               Catch::Matches("(.|\n)*Partition: +Slurm's default \\(debug\\)\n(.|\n)*"));
  }
  SECTION("when Slurm could not be asked, why, and no table") {
    auto compute = hpc_resource();
    compute.erase("nodes");
    compute.erase("nodes_partition");
    compute["nodes_error"] = "Slurm does not answer: connect failure";
    const auto unknown = shown(compute);
    CHECK_THAT(
        unknown,
        Catch::Matches("(.|\n)*Nodes: +unknown: Slurm does not answer: connect failure\n(.|\n)*"));
    CHECK_THAT(unknown, !Catch::Contains("NAME"));
  }
}
