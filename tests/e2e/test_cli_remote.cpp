// A service that the loopback transport does not take (https, another host) is reached through
// libcurl, which the static trainctl cannot load: it hands the command to trainctl-curl
// (include/trainctl/cli/curl_handover.hpp). The endpoint here is the fixture's own loopback
// address written as http://127.1:PORT, a form only libcurl reads, so the hand-over runs for
// real without leaving the machine.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
namespace fs = std::filesystem;

// The fixture's endpoint with its host written as 127.1: the same address, but not one the
// loopback transport takes.
std::string curl_only_endpoint(const ServiceFixture& service) {
  std::string endpoint = service.endpoint();
  const std::string host = "127.0.0.1";
  const auto at = endpoint.find(host);
  REQUIRE(at != std::string::npos);
  return endpoint.replace(at, host.size(), "127.1");
}

// Whether this build's trainctl is the static one, with trainctl-curl beside it.
bool static_build() { return TRAINCTL_STATIC_CLI_BUILD != 0; }

// libcurl sends requests for such an endpoint through a proxy when the environment names one.
const EnvironmentVariables k_no_proxy{{"no_proxy", "*"}, {"NO_PROXY", "*"}};

// The environment of a copy of trainctl run on its own: config and cache in `home`, the
// fixture's token, no proxy, and `endpoint`.
EnvironmentVariables lone_environment(const TempDir& home, const ServiceFixture& service,
                                      const std::string& endpoint) {
  return {{"XDG_CONFIG_HOME", (home.path() / "config").string()},
          {"XDG_CACHE_HOME", (home.path() / "cache").string()},
          {"TRAINCTL_TOKEN", service.token()},
          {"TRAINCTL_ENDPOINT", endpoint},
          {"NO_COLOR", "1"},
          k_no_proxy[0],
          k_no_proxy[1]};
}

}  // namespace

TEST_CASE("e2e: a command for a service that needs libcurl runs whole, its input read once",
          "[e2e][cli][remote]") {
  ServiceFixture service;
  const CliEnvironment cli(EnvironmentVariables{{"TRAINCTL_ENDPOINT", curl_only_endpoint(service)},
                                                {"TRAINCTL_TOKEN", service.token()},
                                                k_no_proxy[0], k_no_proxy[1]});
  Project project("import sys\nprint(' '.join(sys.argv[1:]))\n");

  SECTION("given a batch's overrides on standard input, a run per line, each with its own") {
    const auto result = cli.run_with_input(
        {"-v", "submit", project.spec(), "--from-file", "-", "--wait", "-o", "name"},
        "estimator.script_params.--x=1\nestimator.script_params.--x=2\n");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const auto ids = non_empty_lines(result.out);
    REQUIRE(ids.size() == 2);
    CHECK(trimmed(cli.run({"logs", ids[0]}).out) == "--x 1");
    CHECK(trimmed(cli.run({"logs", ids[1]}).out) == "--x 2");
    if (static_build()) CHECK_THAT(result.err, Catch::Contains("handing the command to"));
  }
  SECTION("given a run that does not exist, exit 7 with the service's error") {
    const auto result = cli.run({"run", "show", "run-nope"});
    CHECK(result.exit_code == 7);
    CHECK_THAT(result.err, Catch::StartsWith("error: ") && Catch::Contains("run-nope"));
  }
}

TEST_CASE("e2e: the static trainctl without trainctl-curl serves a local service and says what "
          "is missing for another",
          "[e2e][cli][remote]") {
  if (!static_build()) {
    WARN("this build's trainctl is dynamic (TRAINCTL_STATIC_CLI=OFF): it has libcurl itself");
    return;
  }
  ServiceFixture service;
  const TempDir alone;
  const fs::path trainctl = alone.path() / "bin" / "trainctl";
  fs::create_directories(trainctl.parent_path());
  fs::copy_file(TRAINCTL_BINARY, trainctl);
  const TempDir home;
  const auto local = run_command({trainctl.string(), "workspace", "list", "-o", "name"},
                                 lone_environment(home, service, service.endpoint()));
  INFO(local.err);
  CHECK(local.exit_code == 0);
  CHECK_THAT(local.out, Catch::Contains("default"));

  const auto env = lone_environment(home, service, curl_only_endpoint(service));
  const auto other = run_command({trainctl.string(), "workspace", "list", "-o", "name"}, env);
  CHECK(other.exit_code == 1);
  CHECK_THAT(other.err, Catch::Contains("needs libcurl") && Catch::Contains("trainctl-curl") &&
                            Catch::Contains((alone.path() / "libexec/trainctl/trainctl-curl").string()) &&
                            Catch::Contains("reinstall trainctl"));
  CHECK(other.out.empty());

  // A command that never contacts a service is not handed over.
  const auto spec = alone.path() / "job.yaml";
  std::ofstream(spec) << "experiment: e\nestimator:\n  entry_script: main.py\n";
  std::ofstream(alone.path() / "main.py") << "print('x')\n";
  const auto validated = run_command({trainctl.string(), "validate", spec.string()}, env);
  INFO(validated.err);
  CHECK(validated.exit_code == 0);
}

TEST_CASE("e2e: a trainctl-curl that is a static trainctl again is refused, not run in a loop",
          "[e2e][cli][remote]") {
  if (!static_build()) {
    WARN("this build's trainctl is dynamic (TRAINCTL_STATIC_CLI=OFF): it hands nothing over");
    return;
  }
  ServiceFixture service;
  const TempDir alone;
  fs::copy_file(TRAINCTL_BINARY, alone.path() / "trainctl");
  fs::copy_file(TRAINCTL_BINARY, alone.path() / "trainctl-curl");
  const TempDir home;
  const auto result = run_command({(alone.path() / "trainctl").string(), "workspace", "list"},
                                  lone_environment(home, service, curl_only_endpoint(service)), {},
                                  {}, 30);
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.err, Catch::Contains("is a static trainctl too"));
}

TEST_CASE("e2e: the local service bound to another address of the machine is reached without "
          "libcurl",
          "[e2e][cli][remote]") {
  // A network namespace of this test's own, whose loopback also holds 10.200.0.1: trainctld is
  // bound there (`server start --bind`), and its server.json names that address.
  if (::geteuid() != 0 || !fs::exists("/usr/bin/unshare")) {
    WARN("needs root and unshare for a network namespace of its own");
    return;
  }
  const TempDir root;
  const std::string script =
      "set -e; ip link set lo up; ip addr add 10.200.0.1/32 dev lo; "
      "\"$1\" server start --bind 10.200.0.1 >/dev/null 2>&1; "
      "set +e; \"$1\" workspace list -o name; code=$?; "
      "\"$1\" server stop >/dev/null 2>&1; exit $code";
  const auto result = run_command(
      {"unshare", "--net", "sh", "-c", script, "sh", TRAINCTL_BINARY},
      {{"TRAINCTL_HOME", (root.path() / "home").string()},
       {"XDG_CONFIG_HOME", (root.path() / "config").string()},
       {"XDG_CACHE_HOME", (root.path() / "cache").string()}},
      {}, {}, 60);
  INFO(result.err);
  CHECK(result.exit_code == 0);
  CHECK(trimmed(result.out) == "default");
}
