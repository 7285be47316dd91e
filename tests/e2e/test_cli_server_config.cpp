// The local service's configuration: `server start --OPTION ...` saves trainctld options in
// <home>/trainctld.yaml, every later start reads them, a restart keeps the port, and
// `server status` shows what the service runs with.
#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
using nlohmann::json;
namespace fs = std::filesystem;

struct LocalHome {
  TempDir home;
  CliEnvironment cli{EnvironmentVariables{{"TRAINCTL_HOME", home.path().string()}}};
  ~LocalHome() { cli.run({"server", "stop"}); }

  json status() const {
    const auto result = cli.run({"server", "status", "-o", "json"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    return json::parse(result.out);
  }
};

std::string file_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("e2e: server start saves trainctld options that every later start uses", "[e2e][cli][server]") {
  LocalHome local;
  const auto& cli = local.cli;
  const auto config_file = local.home.path() / "trainctld.yaml";

  const auto started = cli.run({"server", "start", "--allow-url-network", "127.0.0.0/8",
                                "--host-gpus", "1", "--log-level", "debug", "-o", "json"});
  INFO(started.err);
  REQUIRE(started.exit_code == 0);
  CHECK(json::parse(started.out)["config"]["host-gpus"] == 1);  // -o after the options still applies
  CHECK_THAT(file_text(config_file), Catch::Contains("host-gpus: 1") &&
                                         Catch::Contains("allow-url-network: [127.0.0.0/8]"));

  auto status = local.status();
  CHECK(status["config_file"] == config_file.string());
  CHECK(status["config"]["allow-url-network"] == json::array({"127.0.0.0/8"}));
  CHECK(status["config"]["log-level"] == "debug");
  CHECK(status["config"]["bind"] == "127.0.0.1");  // a default, shown too
  const auto endpoint = status["endpoint"].get<std::string>();
  const auto people = cli.run({"server", "status"});
  CHECK_THAT(people.out, Catch::Contains("Configuration:") && Catch::Contains("host-gpus: 1"));

  SECTION("given a stop and the next command's auto-start, the options and the port are kept") {
    REQUIRE(cli.run({"server", "stop"}).exit_code == 0);
    REQUIRE(cli.run({"workspace", "list"}).exit_code == 0);  // starts the service again
    status = local.status();
    CHECK(status["endpoint"] == endpoint);
    CHECK(status["config"]["host-gpus"] == 1);
    CHECK(status["config"]["allow-url-network"] == json::array({"127.0.0.0/8"}));
  }
  SECTION("given restart with another option, it is added to the saved ones and applied") {
    const auto restarted = cli.run({"server", "restart", "--pip-find-links", "/srv/wheels"});
    INFO(restarted.err);
    REQUIRE(restarted.exit_code == 0);
    status = local.status();
    CHECK(status["endpoint"] == endpoint);
    CHECK(status["config"]["pip-find-links"] == json::array({"/srv/wheels"}));
    CHECK(status["config"]["host-gpus"] == 1);
  }
  SECTION("given start with options while it runs, they are saved and it says a restart applies them") {
    const auto again = cli.run({"server", "start", "--host-gpus", "2"});
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.err, Catch::Contains("trainctl server restart"));
    CHECK(local.status()["config"]["host-gpus"] == 1);
    CHECK_THAT(file_text(config_file), Catch::Contains("host-gpus: 2"));
  }
  SECTION("given an option trainctld refuses, exit 2 with its message, and nothing saved") {
    const auto before = file_text(config_file);
    const auto typo = cli.run({"server", "start", "--bnd", "0.0.0.0"});
    CHECK(typo.exit_code == 2);
    CHECK_THAT(typo.err, Catch::Contains("--bnd"));
    const auto range = cli.run({"server", "start", "--host-gpus", "-3"});
    CHECK(range.exit_code == 2);
    CHECK_THAT(range.err, Catch::Contains("host-gpus"));
    CHECK(file_text(config_file) == before);
  }
}

TEST_CASE("e2e: trainctld reads its config file, flags win, unknown keys are refused", "[e2e][server]") {
  const TempDir dir;
  const auto home = dir.path() / "home";
  fs::create_directories(home);
  const auto file = dir.path() / "team.yaml";
  std::ofstream(file) << "host_gpus: 2\nlog-level: warn\npip-find-links:\n  - /a\n  - /b\n";
  const auto saved = run_command({TRAINCTLD_BINARY, "--home", home.string(), "--config", file.string(),
                                  "--log-level", "error", "--write-config"});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  const auto text = file_text(home / "trainctld.yaml");
  CHECK_THAT(text, Catch::Contains("host-gpus: 2") && Catch::Contains("log-level: error") &&
                       Catch::Contains("pip-find-links: [/a, /b]") && !Catch::Contains("home:"));

  std::ofstream(file) << "bind: 127.0.0.1\nallow-url-netwrk: [10.0.0.0/8]\n";
  const auto refused = run_command({TRAINCTLD_BINARY, "--home", home.string(), "--config", file.string()});
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.err, Catch::Contains("line 2") && Catch::Contains("allow-url-netwrk") &&
                              Catch::Contains("did you mean \"allow-url-network\""));
  std::ofstream(file) << "host-gpus: lots\n";
  CHECK(run_command({TRAINCTLD_BINARY, "--home", home.string(), "--config", file.string()}).exit_code == 2);
  CHECK(run_command({TRAINCTLD_BINARY, "--home", home.string(), "--config",
                     (dir.path() / "missing.yaml").string()})
            .exit_code == 2);
}
