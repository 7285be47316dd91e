// What a `PUT computes/{name}` body may say (src/service/handlers/compute_config.hpp): types,
// sizes, paths and Slurm names, every problem at once by field.
#include <map>

#include <catch2/catch.hpp>

#include "../../src/service/handlers/compute_config.hpp"

namespace {

using namespace trainctl;
using namespace trainctl::service;
using nlohmann::json;

ComputeRecord named() {
  ComputeRecord record;
  record.workspace = "default";
  record.name = "hpc";
  return record;
}

// field -> message of the problems of a refused body.
std::map<std::string, std::string> problems_of(const json& body) {
  const auto parsed = handlers::compute_config(body, named());
  REQUIRE_FALSE(parsed);
  CHECK(parsed.error().code == ErrorCode::invalid_spec);
  std::map<std::string, std::string> problems;
  for (const auto& detail : parsed.error().details) problems[detail.path] = detail.message;
  return problems;
}

}  // namespace

TEST_CASE("a slurm compute target's configuration is read from the body", "[computes][slurm]") {
  const auto parsed = handlers::compute_config({{"type", "slurm"},
                                                {"partition", "gpu-a100"},
                                                {"account", "lab_1"},
                                                {"qos", "high.prio"},
                                                {"slurm_conf", "/etc/slurm/slurm.conf"},
                                                {"max_nodes", 4},
                                                {"gpus_per_node", 2},
                                                {"python", "/opt/py/bin/python3"},
                                                {"cpus_per_node", 0}},
                                               named());
  REQUIRE(parsed);
  CHECK(parsed->type == "slurm");
  CHECK(parsed->slurm == SlurmSettings{.partition = "gpu-a100",
                                       .account = "lab_1",
                                       .qos = "high.prio",
                                       .conf = "/etc/slurm/slurm.conf"});
  CHECK(parsed->max_nodes == 4);
  CHECK(parsed->gpus_per_node == 2);
  CHECK(parsed->python == "/opt/py/bin/python3");

  SECTION("empty Slurm settings leave the choice to Slurm") {
    const auto defaults = handlers::compute_config({{"type", "slurm"}, {"partition", ""}}, named());
    REQUIRE(defaults);
    CHECK(defaults->slurm == SlurmSettings{});
    CHECK(defaults->max_nodes == 1);
  }
}

TEST_CASE("bad Slurm settings are refused, every problem at once", "[computes][slurm]") {
  const std::string long_name(65, 'p');
  SECTION("names outside the safe characters or too long, and a relative slurm_conf") {
    auto problems = problems_of({{"type", "slurm"},
                                 {"partition", "-p debug"},
                                 {"account", long_name},
                                 {"qos", 7},
                                 {"slurm_conf", "etc/slurm.conf"}});
    CHECK(problems.size() == 4);
    CHECK_THAT(problems["partition"], Catch::Contains("invalid Slurm partition name"));
    CHECK_THAT(problems["account"], Catch::Contains("at most 64"));
    CHECK_THAT(problems["qos"], Catch::Contains("a string is required"));
    CHECK_THAT(problems["slurm_conf"], Catch::Contains("absolute path"));
  }
  SECTION("names that could reach a shell or be an option") {
    for (const std::string name : {"a;b", "$(id)", "a b", "-x", ".hidden", "a/b", "é"}) {
      INFO(name);
      CHECK(problems_of({{"type", "slurm"}, {"partition", name}}).contains("partition"));
    }
  }
  SECTION("cpus_per_node is Slurm's to know") {
    CHECK_THAT(problems_of({{"type", "slurm"}, {"cpus_per_node", 8}})["cpus_per_node"],
               Catch::Contains("Slurm knows the CPUs of its nodes"));
  }
  SECTION("a slurm_conf with control characters") {
    CHECK(problems_of({{"type", "slurm"}, {"slurm_conf", "/etc/slurm\n.conf"}})
              .contains("slurm_conf"));
  }
}

TEST_CASE("Slurm settings belong to targets of type slurm only", "[computes][slurm]") {
  auto problems = problems_of({{"partition", "debug"}, {"slurm_conf", "/etc/slurm.conf"}});
  CHECK(problems.size() == 2);
  CHECK(problems["partition"] == "only compute targets of type slurm have it");
  CHECK(problems["slurm_conf"] == "only compute targets of type slurm have it");
  // Left empty, they are no problem (an update sends the body it read back).
  CHECK(handlers::compute_config({{"type", "local"}, {"partition", ""}, {"qos", ""}}, named()));
}

TEST_CASE("compute types are local and slurm, kubernetes not yet", "[computes][slurm]") {
  CHECK(handlers::compute_config({{"type", "local"}}, named())->type == "local");
  CHECK(handlers::compute_config(json::object(), named())->type == "local");
  CHECK_THAT(problems_of({{"type", "kubernetes"}})["type"],
             Catch::Contains("'kubernetes' is not supported by this version yet"));
  CHECK_THAT(problems_of({{"type", "ec2"}})["type"],
             Catch::Contains("the supported ones are local and slurm"));
  CHECK(problems_of({{"type", 1}}).contains("type"));
  CHECK(problems_of({{"type", "slurm"}, {"vm_size", "x"}})["vm_size"] == "unknown field");
}
