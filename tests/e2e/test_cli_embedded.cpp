// The embedded default: no endpoint configured, so trainctl finds or starts the trainctld of
// $TRAINCTL_HOME; and the commands that need no service at all.
#include <catch2/catch.hpp>

#include <future>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
using nlohmann::json;

// A CLI environment whose TRAINCTL_HOME is a temp folder; stops its service at the end.
struct EmbeddedHome {
  TempDir home;
  CliEnvironment cli{EnvironmentVariables{{"TRAINCTL_HOME", home.path().string()}}};
  ~EmbeddedHome() { cli.run({"server", "stop"}); }
};

}  // namespace

TEST_CASE("e2e: the embedded service starts on demand", "[e2e][cli]") {
  EmbeddedHome embedded;
  const auto& cli = embedded.cli;

  SECTION("given no service, the first command starts one and says so on stderr") {
    CHECK(cli.run({"server", "status"}).exit_code == 8);
    const auto listed = cli.run({"workspace", "list", "-o", "name"});
    INFO(listed.err);
    REQUIRE(listed.exit_code == 0);
    CHECK_THAT(listed.out, Catch::Contains("default"));
    CHECK_THAT(listed.err, Catch::StartsWith("started trainctld (pid "));
    const auto again = cli.run({"workspace", "list", "-o", "name"});
    CHECK(again.err.empty());

    const auto status = cli.run({"server", "status", "-o", "json"});
    REQUIRE(status.exit_code == 0);
    CHECK_THAT(json::parse(status.out)["endpoint"].get<std::string>(),
               Catch::StartsWith("http://127.0.0.1:"));

    CHECK(cli.run({"server", "stop"}).exit_code == 0);
    CHECK(cli.run({"server", "status"}).exit_code == 8);
    CHECK(cli.run({"server", "stop"}).exit_code == 0);
  }
  SECTION("given -q, the start message is not printed") {
    const auto listed = cli.run({"workspace", "list", "-q"});
    REQUIRE(listed.exit_code == 0);
    CHECK(listed.err.empty());
  }
  SECTION("given two CLIs starting it at once, both succeed against one service") {
    auto first = std::async(std::launch::async, [&] { return cli.run({"server", "start"}); });
    auto second = std::async(std::launch::async, [&] {
      return cli.run({"workspace", "list", "-o", "name"});
    });
    const auto a = first.get();
    const auto b = second.get();
    INFO(a.err << b.err);
    CHECK(a.exit_code == 0);
    CHECK(b.exit_code == 0);
    CHECK(cli.run({"server", "status"}).exit_code == 0);
  }
  SECTION("given a submit with --stream, it runs on the started service") {
    Project project("print('embedded ok')\n");
    const auto result = cli.run({"submit", project.spec(), "--stream", "-q"});
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK(result.out == "embedded ok\n");
  }
}

TEST_CASE("e2e: a service that cannot start is a clear error", "[e2e][cli]") {
  TempDir dir;
  const auto broken = dir.path() / "trainctld";
  std::ofstream(broken) << "#!/bin/sh\necho 'cannot bind: address in use' >&2\nexit 1\n";
  std::filesystem::permissions(broken, std::filesystem::perms::owner_all);
  const CliEnvironment cli(EnvironmentVariables{{"TRAINCTL_HOME", (dir.path() / "home").string()},
                                                {"TRAINCTL_SERVER_BINARY", broken.string()}});

  SECTION("given trainctld exits at start, exit 8 quoting the end of its log") {
    const auto result = cli.run({"workspace", "list"});
    CHECK(result.exit_code == 8);
    CHECK_THAT(result.err,
               Catch::Contains("trainctld.log") && Catch::Contains("cannot bind: address in use"));
  }
}

TEST_CASE("e2e: offline commands contact no service", "[e2e][cli]") {
  EmbeddedHome embedded;
  Project project("print('x')\n", "  script_params:\n    --epochs: 3\n");

  SECTION("given --dry-run, the payload and plan print and no service is started") {
    const auto result = embedded.cli.run({"submit", project.spec(), "--dry-run", "-o", "json"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const auto document = json::parse(result.out);
    CHECK(document["payload"]["estimator"]["entry_script"] == "main.py");
    CHECK(document["launch_plan"]["tasks"][0]["argv"].dump().find("--epochs") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(embedded.home.path() / "server.json"));
  }
  SECTION("given validate, 'FILE is valid' and each task's command line") {
    const auto result = embedded.cli.run({"validate", project.spec()});
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::StartsWith(project.spec() + " is valid\n") &&
                               Catch::Contains("command:") &&
                               Catch::Contains("main.py --epochs 3"));
  }
  SECTION("given --version, the version") {
    const auto result = embedded.cli.run({"--version"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::StartsWith("trainctl "));
  }
  SECTION("given --help, usage with examples and exit 0") {
    const auto result = embedded.cli.run({"submit", "--help"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("Examples:") && Catch::Contains("--dry-run"));
  }
}

TEST_CASE("e2e: a cloned project's .trainctl.yaml runs no program of its own (RELIABILITY 38)",
          "[e2e][cli]") {
  namespace fs = std::filesystem;
  EmbeddedHome embedded;
  TempDir repository;
  const auto ran = repository.path() / "evil-ran";
  const auto evil = repository.path() / "evil.sh";
  std::ofstream(evil) << "#!/bin/sh\ntouch '" << ran.string() << "'\nexit 1\n";
  fs::permissions(evil, fs::perms::owner_all);
  std::ofstream(repository.path() / ".trainctl.yaml") << "workspace: default\n"
                                                         "server_binary: ./evil.sh\n";

  WHEN("trainctl run list is run in the repository, with no service running") {
    const auto result = embedded.cli.run({"run", "list"}, repository.path());
    THEN("it stops at the config, naming the key and where it may be set, and runs nothing") {
      CHECK(result.exit_code == 2);
      CHECK_THAT(result.err, Catch::Contains(".trainctl.yaml") &&
                                 Catch::Contains("\"server_binary\" cannot be set") &&
                                 Catch::Contains("TRAINCTL_SERVER_BINARY"));
      CHECK_FALSE(fs::exists(ran));
      CHECK_FALSE(fs::exists(embedded.home.path() / "server.json"));
    }
  }
}
