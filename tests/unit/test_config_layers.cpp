#include <catch2/catch.hpp>

#include <fstream>
#include <map>

#include "support/service_fixture.hpp"
#include "trainctl/config/config.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::config::ConfigSources;
using trainctl::config::load_config;
using trainctl::testing::TempDir;
namespace fs = std::filesystem;

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

// A file system and environment of one test: /etc, $HOME, a project folder with a subfolder.
struct Machine {
  TempDir root;
  std::map<std::string, std::string> environment;

  fs::path system_file() const { return root.path() / "etc/trainctl/config.yaml"; }
  fs::path home() const { return root.path() / "home"; }
  fs::path project() const { return root.path() / "project"; }
  fs::path cwd() const { return project() / "src/deep"; }

  Machine() {
    fs::create_directories(cwd());
    environment["HOME"] = home().string();
  }

  ConfigSources sources() const {
    return ConfigSources{
        .getenv = [env = environment](std::string_view name) -> std::optional<std::string> {
          auto it = env.find(std::string(name));
          if (it == env.end()) return std::nullopt;
          return it->second;
        },
        .system_file = system_file(),
        .cwd = cwd()};
  }
};

}  // namespace

TEST_CASE("config: every layer overrides the ones below it", "[config]") {
  Machine machine;
  auto workspace = [&](const trainctl::config::FlagValues& flags = {}) {
    auto config = load_config(machine.sources(), flags);
    REQUIRE(config);
    return config->workspace;
  };

  SECTION("given nothing, the defaults hold") {
    auto config = load_config(machine.sources());
    REQUIRE(config);
    CHECK(config->workspace == "default");
    CHECK(config->output == "table");
    CHECK(config->endpoint.empty());
    CHECK(config->home == machine.home() / ".local/share/trainctl");
    CHECK(config->cache_dir == machine.home() / ".cache/trainctl");
  }
  SECTION("given each layer in turn, the highest one wins") {
    write(machine.system_file(), "workspace: from-etc\n");
    CHECK(workspace() == "from-etc");
    write(machine.home() / ".config/trainctl/config.yaml", "workspace: from-user\n");
    CHECK(workspace() == "from-user");
    write(machine.project() / ".trainctl.yaml", "workspace: from-project\n");
    CHECK(workspace() == "from-project");
    machine.environment["TRAINCTL_WORKSPACE"] = "from-env";
    CHECK(workspace() == "from-env");
    CHECK(workspace({{"workspace", "from-flag"}}) == "from-flag");
  }
  SECTION("given XDG_CONFIG_HOME, the user file is read there instead of ~/.config") {
    write(machine.home() / ".config/trainctl/config.yaml", "workspace: from-home-config\n");
    write(machine.root.path() / "xdg/trainctl/config.yaml", "workspace: from-xdg\n");
    machine.environment["XDG_CONFIG_HOME"] = (machine.root.path() / "xdg").string();
    CHECK(workspace() == "from-xdg");
  }
  SECTION("given .trainctl.yaml in several parents, the nearest one is used") {
    write(machine.project() / ".trainctl.yaml", "workspace: outer\n");
    write(machine.project() / "src/.trainctl.yaml", "workspace: inner\n");
    CHECK(workspace() == "inner");
  }
  SECTION("given layers setting different keys, each key keeps its highest value") {
    write(machine.system_file(), "endpoint: http://etc:1\noutput: yaml\n");
    machine.environment["TRAINCTL_TOKEN"] = "secret";
    auto config = load_config(machine.sources(), {{"output", "json"}});
    REQUIRE(config);
    CHECK(config->endpoint == "http://etc:1");
    CHECK(config->token == "secret");
    CHECK(config->output == "json");
  }
  SECTION("given an empty environment variable, it does not override a file") {
    write(machine.system_file(), "workspace: from-etc\n");
    machine.environment["TRAINCTL_WORKSPACE"] = "";
    CHECK(workspace() == "from-etc");
  }
}

TEST_CASE("config: home and paths", "[config]") {
  Machine machine;
  SECTION("given XDG_DATA_HOME and XDG_CACHE_HOME, home and the cache live there") {
    machine.environment["XDG_DATA_HOME"] = "/data";
    machine.environment["XDG_CACHE_HOME"] = "/cache";
    auto config = load_config(machine.sources());
    REQUIRE(config);
    CHECK(config->home == fs::path("/data/trainctl"));
    CHECK(config->cache_dir == fs::path("/cache/trainctl"));
  }
  SECTION("given TRAINCTL_HOME, it is the home") {
    machine.environment["TRAINCTL_HOME"] = "/srv/trainctl";
    auto config = load_config(machine.sources());
    REQUIRE(config);
    CHECK(config->home == fs::path("/srv/trainctl"));
  }
  SECTION("given a relative path in a config file, it is relative to that file's folder") {
    const auto user_dir = machine.home() / ".config/trainctl";
    write(user_dir / "config.yaml", "home: state\nserver_binary: bin/trainctld\n");
    auto config = load_config(machine.sources());
    REQUIRE(config);
    CHECK(config->home == user_dir / "state");
    CHECK(config->server_binary == user_dir / "bin/trainctld");
  }
}

TEST_CASE("config: bad files and values are clear errors", "[config]") {
  Machine machine;
  SECTION("given a misspelt key, the error names the file, the line and the key it meant") {
    write(machine.project() / ".trainctl.yaml", "workspace: a\nendpont: http://x\n");
    auto config = load_config(machine.sources());
    REQUIRE_FALSE(config);
    CHECK(config.error().code == ErrorCode::usage);
    CHECK_THAT(config.error().message,
               Catch::Contains((machine.project() / ".trainctl.yaml").string()));
    CHECK_THAT(config.error().message, Catch::Contains("line 2"));
    CHECK_THAT(config.error().message, Catch::Contains("did you mean \"endpoint\""));
  }
  SECTION("given a file that is not a mapping, the error names the file") {
    write(machine.system_file(), "- a\n- b\n");
    auto config = load_config(machine.sources());
    REQUIRE_FALSE(config);
    CHECK_THAT(config.error().message, Catch::Contains(machine.system_file().string()));
  }
  SECTION("given malformed YAML, the error names the file and the place") {
    write(machine.system_file(), "workspace: [unclosed\n");
    auto config = load_config(machine.sources());
    REQUIRE_FALSE(config);
    CHECK_THAT(config.error().message, Catch::Contains(machine.system_file().string()));
    CHECK_THAT(config.error().message, Catch::Contains("line 2, column 1: malformed YAML"));
  }
  SECTION("given a key written twice, the second is refused where it is written") {
    write(machine.system_file(), "workspace: a\nworkspace: b\n");
    auto config = load_config(machine.sources());
    REQUIRE_FALSE(config);
    CHECK_THAT(config.error().message,
               Catch::Contains("line 2, column 1: duplicate key 'workspace'"));
  }
  SECTION("given a nested value, the error names the key") {
    write(machine.system_file(), "workspace: {a: b}\n");
    auto config = load_config(machine.sources());
    REQUIRE_FALSE(config);
    CHECK_THAT(config.error().message, Catch::Contains("\"workspace\" must be a string"));
  }
  SECTION("given an output format in the environment, the config says which layer set it") {
    machine.environment["TRAINCTL_OUTPUT"] = "xml";
    auto config = load_config(machine.sources());
    REQUIRE(config);
    CHECK(config->output == "xml");
    CHECK(config->output_origin == "the environment");
  }
  SECTION("given an empty file, it is no error") {
    write(machine.system_file(), "");
    CHECK(load_config(machine.sources()));
  }
}

TEST_CASE("config: a project file cannot choose a program, a token or the home (RELIABILITY 38)",
          "[config]") {
  Machine machine;
  const auto project_file = machine.project() / ".trainctl.yaml";
  const std::vector<std::pair<std::string, std::string>> refused{
      {"server_binary", "TRAINCTL_SERVER_BINARY"},
      {"token", "TRAINCTL_TOKEN"},
      {"home", "TRAINCTL_HOME"}};
  for (const auto& [key, variable] : refused) {
    SECTION("given " + key +
            " in a project's .trainctl.yaml, an error names it and where to set it") {
      write(project_file, "workspace: a\n" + key + ": ./evil.sh\n");
      auto config = load_config(machine.sources());
      REQUIRE_FALSE(config);
      CHECK(config.error().code == ErrorCode::usage);
      CHECK_THAT(
          config.error().message,
          Catch::Contains(project_file.string()) && Catch::Contains("line 2") &&
              Catch::Contains("\"" + key + "\" cannot be set in a project's .trainctl.yaml") &&
              Catch::Contains((machine.home() / ".config/trainctl/config.yaml").string()) &&
              Catch::Contains(machine.system_file().string()) && Catch::Contains(variable));
    }
    SECTION("given " + key + " in the user's file and in the machine's, it is taken") {
      write(machine.system_file(), key + ": /from/etc\n");
      write(machine.home() / ".config/trainctl/config.yaml", key + ": /from/user\n");
      auto config = load_config(machine.sources());
      REQUIRE(config);
      const std::string value = key == "token"  ? config->token
                                : key == "home" ? config->home.string()
                                                : config->server_binary.string();
      CHECK(value == "/from/user");
    }
  }
  SECTION("given endpoint, workspace and output in a project file, they are taken") {
    write(project_file, "endpoint: http://shared:7070\nworkspace: nlp\noutput: wide\n");
    auto config = load_config(machine.sources());
    REQUIRE(config);
    CHECK(config->endpoint == "http://shared:7070");
    CHECK(config->workspace == "nlp");
    CHECK(config->output == "wide");
  }
}

TEST_CASE("config: an endpoint must be an http:// or https:// URL, naming where it was set",
          "[config]") {
  Machine machine;
  for (const std::string endpoint : {"http://10.0.0.5:7070", "https://trainctl.example:443/api",
                                     "HTTP://LOCALHOST:7070"}) {
    INFO(endpoint);
    auto config = load_config(machine.sources(), {{"endpoint", endpoint}});
    REQUIRE(config);
    CHECK(trainctl::config::check_endpoint(*config));
  }
  SECTION("given none, the local service") {
    auto config = load_config(machine.sources());
    REQUIRE(config);
    CHECK(trainctl::config::check_endpoint(*config));
  }
  SECTION("given one without a scheme in the environment, a usage error naming it") {
    machine.environment["TRAINCTL_ENDPOINT"] = "10.0.0.5:7070";
    auto config = load_config(machine.sources());
    REQUIRE(config);
    const auto checked = trainctl::config::check_endpoint(*config);
    REQUIRE_FALSE(checked);
    CHECK(checked.error().code == ErrorCode::usage);
    CHECK_THAT(checked.error().message, Catch::Contains("\"10.0.0.5:7070\"") &&
                                            Catch::Contains("the environment") &&
                                            Catch::Contains("http://"));
  }
  SECTION("given a mistyped scheme in a config file, the file is named") {
    write(machine.home() / ".config/trainctl/config.yaml", "endpoint: htp://trainctl:7070\n");
    auto config = load_config(machine.sources());
    REQUIRE(config);
    const auto checked = trainctl::config::check_endpoint(*config);
    REQUIRE_FALSE(checked);
    CHECK_THAT(checked.error().message,
               Catch::Contains((machine.home() / ".config/trainctl/config.yaml").string()));
  }
}
