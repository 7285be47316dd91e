// How the real SlurmClient asks sinfo and reads its answers (include/trainctl/service/slurm/
// sinfo.hpp): the argv of each question, the environment, the parsers, GPUs from GRES.
#include <catch2/catch.hpp>

#include "trainctl/service/slurm/sinfo.hpp"

namespace {

using namespace trainctl;
using namespace trainctl::service;
using namespace trainctl::service::slurm;

SlurmSettings with_conf(std::string conf) {
  SlurmSettings settings;
  settings.conf = std::move(conf);
  return settings;
}

}  // namespace

TEST_CASE("sinfo is asked with an argv and a stable format", "[slurm][sinfo]") {
  CHECK(partitions_command("/usr/bin/sinfo") ==
        std::vector<std::string>{"/usr/bin/sinfo", "--noheader", "--all", "--format=%P|%a"});
  CHECK(nodes_command("/usr/bin/sinfo", "gpu-a100") ==
        std::vector<std::string>{"/usr/bin/sinfo", "--noheader", "--Node", "--partition=gpu-a100",
                                 "--format=%N|%t|%c|%G"});
}

TEST_CASE("the Slurm commands get the target's slurm.conf as SLURM_CONF", "[slurm][sinfo]") {
  const Environment base{{"PATH", "/usr/bin"}, {"SLURM_CONF", "/etc/service.conf"}};
  SECTION("a target that names one replaces the service's") {
    CHECK(command_environment(base, with_conf("/srv/slurm.conf")) ==
          Environment{{"PATH", "/usr/bin"}, {"SLURM_CONF", "/srv/slurm.conf"}});
  }
  SECTION("a target that names none leaves Slurm's own lookup: the service's, or none") {
    CHECK(command_environment(base, {}) == base);
    CHECK(command_environment({{"PATH", "/usr/bin"}}, {}) == Environment{{"PATH", "/usr/bin"}});
  }
}

TEST_CASE("sinfo's partitions are read, the default one marked", "[slurm][sinfo]") {
  const auto partitions = parse_partitions("debug*|up\ngpu|down\n\ngpu|down\nlong|inact\n");
  REQUIRE(partitions);
  CHECK(*partitions == std::vector<Partition>{{"debug", true, "up"},
                                              {"gpu", false, "down"},
                                              {"long", false, "inact"}});
  CHECK(parse_partitions("")->empty());
  for (const auto* output : {"debug\n", "debug|up|x\n", "|up\n", "*|up\n", "debug|\n"}) {
    INFO(output);
    const auto bad = parse_partitions(output);
    REQUIRE_FALSE(bad);
    CHECK_THAT(bad.error().message, Catch::StartsWith("unexpected output from sinfo: '"));
  }
}

TEST_CASE("sinfo's nodes are read with their state, CPUs and GRES", "[slurm][sinfo]") {
  const auto nodes = parse_nodes(
      "n1|idle|2|(null)\nn2|drain|2|(null)\r\nn3|down*|64|gpu:a100:4(S:0-1),mps:400\n"
      "n1|idle|2|(null)\n");
  REQUIRE(nodes);
  CHECK(*nodes == std::vector<Node>{{"n1", "idle", 2, ""},
                                    {"n2", "drain", 2, ""},
                                    {"n3", "down*", 64, "gpu:a100:4(S:0-1),mps:400"}});
  CHECK(parse_nodes("")->empty());
  for (const auto* output : {"n1|idle|2\n", "n1|idle|two|(null)\n", "n1|idle|-1|(null)\n",
                             "|idle|2|(null)\n", "n1||2|(null)\n", "sinfo: error: x\n"}) {
    INFO(output);
    CHECK_FALSE(parse_nodes(output));
  }
}

TEST_CASE("a node's GPUs are the counts of the gpu entries of its GRES", "[slurm][sinfo]") {
  CHECK(gpus_of("") == 0);
  CHECK(gpus_of("gpu:2") == 2);
  CHECK(gpus_of("gpu:a100:4(S:0-1)") == 4);
  CHECK(gpus_of("gpu:v100:1,gpu:a100:2,mps:100") == 3);
  CHECK(gpus_of("gpu:tesla:2(S:0,2),gpu:k80:1") == 3);
  CHECK(gpus_of("gpu") == 1);
  CHECK(gpus_of("mps:100,shard:8") == 0);
  CHECK(gpus_of("gpus:3") == 0);
}
