// trainctld's YAML config file as CLI11's config formatter: every option may be set, the command
// line wins, unknown keys are refused by name, and what is saved reads back.
#include <catch2/catch.hpp>

#include <fstream>

#include "support/service_fixture.hpp"
#include "trainctl/service/server_config.hpp"

namespace {

using trainctl::service::YamlConfig;

struct Options {
  std::string bind = "127.0.0.1";
  int port = 0;
  std::vector<std::string> networks;
  bool no_auth = false;
  CLI::App app{"trainctld"};
  trainctl::testing::TempDir dir;

  Options() {
    app.add_option("--bind", bind)->capture_default_str();
    app.add_option("--port", port)->capture_default_str();
    app.add_option("--allow-url-network", networks);
    app.add_flag("--no-auth", no_auth);
    app.set_config("--config");
    app.config_formatter(std::make_shared<YamlConfig>(trainctl::service::configurable_names(app)));
  }
  void parse(const std::string& yaml, std::vector<std::string> args = {}) {
    const auto file = dir.path() / "trainctld.yaml";
    std::ofstream(file) << yaml;
    args.insert(args.begin(), {"--config", file.string()});
    std::reverse(args.begin(), args.end());
    app.parse(args);
  }
};

}  // namespace

TEST_CASE("trainctld config file: YAML keys are the long options", "[service][config]") {
  Options options;
  SECTION("given values, lists and flags, they are taken; '_' stands for '-'") {
    options.parse("bind: 0.0.0.0\nport: 8080\nallow_url_network: [10.0.0.0/8, 127.0.0.0/8]\nno-auth: true\n");
    CHECK(options.bind == "0.0.0.0");
    CHECK(options.port == 8080);
    CHECK(options.networks == std::vector<std::string>{"10.0.0.0/8", "127.0.0.0/8"});
    CHECK(options.no_auth);
  }
  SECTION("given the same option on the command line, it wins") {
    options.parse("port: 8080\nallow-url-network: [10.0.0.0/8]\n", {"--port", "9090"});
    CHECK(options.port == 9090);
    const auto effective = trainctl::service::effective_options(options.app);
    CHECK(effective["port"] == 9090);
    CHECK(effective["bind"] == "127.0.0.1");
    CHECK(effective["no-auth"] == false);
  }
  SECTION("given an unknown key, the error names it, its line and the nearest option") {
    try {
      options.parse("bind: 0.0.0.0\nprt: 1\n");
      FAIL("parsed");
    } catch (const CLI::ConfigError& error) {
      CHECK_THAT(error.what(), Catch::Contains("line 2") && Catch::Contains("\"prt\"") &&
                                   Catch::Contains("did you mean \"port\""));
    }
  }
  SECTION("given a nested mapping, it is refused") {
    CHECK_THROWS_AS(options.parse("bind: {a: b}\n"), CLI::ConfigError);
  }
  SECTION("given options given, what is written reads back the same") {
    options.parse("allow-url-network: [10.0.0.0/8]\n", {"--port", "7070", "--no-auth"});
    const auto saved = options.app.config_to_str();
    CHECK_THAT(saved, Catch::Contains("port: 7070") && Catch::Contains("no-auth: true") &&
                          Catch::Contains("allow-url-network: [10.0.0.0/8]"));
    Options again;
    again.parse(saved);
    CHECK(again.port == 7070);
    CHECK(again.no_auth);
    CHECK(again.networks == std::vector<std::string>{"10.0.0.0/8"});
  }
}
