// The Debian package (`cpack -G DEB`): it declares what it needs, holds the binaries, and what it
// installs runs a job on the embedded service with nothing from the build tree.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
namespace fs = std::filesystem;

}  // namespace

TEST_CASE("e2e: the Debian package declares its dependencies and its binaries run a job",
          "[e2e][package]") {
  const fs::path build = fs::path(TRAINCTL_BINARY).parent_path();
  const TempDir out;
  const auto packed = run_command({"cpack", "-G", "DEB", "-B", out.path().string(), "--config",
                                   (build / "CPackConfig.cmake").string()},
                                  {}, build, {}, 600);
  INFO(packed.out << packed.err);
  REQUIRE(packed.exit_code == 0);
  fs::path deb;
  for (const auto& entry : fs::directory_iterator(out.path())) {
    if (entry.path().extension() == ".deb") deb = entry.path();
  }
  REQUIRE_FALSE(deb.empty());

  // Its dependencies: the shared libraries the binaries link (read by dpkg-shlibdeps), and what
  // runs need besides.
  const auto depends = run_command({"dpkg-deb", "-f", deb.string(), "Depends"});
  CHECK_THAT(depends.out, Catch::Contains("libc6") && Catch::Contains("libsqlite3") &&
                              Catch::Contains("python3") && Catch::Contains("libcurl4"));
  const auto contents = run_command({"dpkg-deb", "-c", deb.string()});
  CHECK_THAT(contents.out, Catch::Contains("./usr/bin/trainctl\n") && Catch::Contains("./usr/bin/trainctld\n") &&
                               Catch::Contains("./usr/libexec/trainctl/trainctl-curl\n") &&
                               Catch::Contains("./usr/share/doc/trainctl/README.md"));
  // A man page per command, and the completion scripts where each shell looks.
  CHECK_THAT(contents.out, Catch::Contains("./usr/share/man/man1/trainctl.1\n") &&
                               Catch::Contains("./usr/share/man/man1/trainctl-run-show.1\n") &&
                               Catch::Contains("./usr/share/man/man1/trainctl-server-start.1\n") &&
                               Catch::Contains("./usr/share/man/man1/trainctld.1\n") &&
                               Catch::Contains("./usr/share/bash-completion/completions/trainctl\n") &&
                               Catch::Contains("./usr/share/zsh/vendor-completions/_trainctl\n") &&
                               Catch::Contains("./usr/share/fish/vendor_completions.d/trainctl.fish\n"));

  // What it installs, unpacked in a folder of its own, finds its service next to itself.
  const TempDir root;
  REQUIRE(run_command({"dpkg-deb", "-x", deb.string(), root.path().string()}).exit_code == 0);
  const std::string trainctl = (root.path() / "usr/bin/trainctl").string();
  const TempDir home;
  const EnvironmentVariables env{{"TRAINCTL_HOME", home.path().string()},
                                 {"XDG_CONFIG_HOME", (home.path() / "config").string()},
                                 {"XDG_CACHE_HOME", (home.path() / "cache").string()},
                                 {"NO_COLOR", "1"}};
  CHECK_THAT(run_command({trainctl, "--version"}, env).out, Catch::Contains("0.1.0"));
  const auto page = run_command({"man", "-l", (root.path() / "usr/share/man/man1/trainctl-submit.1").string()},
                                {{"MANWIDTH", "80"}, {"MANPAGER", "cat"}});
  INFO(page.err);
  CHECK(page.exit_code == 0);
  CHECK_THAT(page.out, Catch::Contains("SYNOPSIS") && Catch::Contains("trainctl submit") &&
                           Catch::Contains("--stream"));
  const auto daemon_page = run_command({"man", "-l", (root.path() / "usr/share/man/man1/trainctld.1").string()},
                                       {{"MANWIDTH", "80"}, {"MANPAGER", "cat"}});
  CHECK_THAT(daemon_page.out, Catch::Contains("--allow-url-network") && Catch::Contains("trainctld.yaml"));
  const auto completed = run_command(
      {"bash", "-c",
       "source \"$1\" && COMP_WORDS=(trainctl run l) && COMP_CWORD=2 && _trainctl && echo \"${COMPREPLY[*]}\"",
       "bash", (root.path() / "usr/share/bash-completion/completions/trainctl").string()},
      {{"PATH", (root.path() / "usr/bin").string() + ":/usr/bin:/bin"},
       {"TRAINCTL_HOME", home.path().string()}, {"XDG_CONFIG_HOME", (home.path() / "config").string()}});
  CHECK(completed.out == "list\n");
  const Project project("print('hello from the package', flush=True)\n");
  const auto streamed = run_command({trainctl, "submit", project.spec(), "--stream"}, env, project.dir(), {}, 120);
  INFO(streamed.out << streamed.err);
  CHECK(streamed.exit_code == 0);
  CHECK_THAT(streamed.out, Catch::Contains("hello from the package"));
  // A service that needs libcurl (here the same one, its address written as 127.1) is reached
  // through the package's trainctl-curl in usr/libexec/trainctl.
  const auto endpoint = nlohmann::json::parse(run_command({trainctl, "server", "status", "-o", "json"}, env).out)
                            .at("endpoint").get<std::string>();
  auto remote_env = env;
  remote_env.emplace_back("no_proxy", "*");  // libcurl would send it through a proxy if one is set
  remote_env.emplace_back("NO_PROXY", "*");
  remote_env.emplace_back("TRAINCTL_ENDPOINT", "http://127.1" + endpoint.substr(endpoint.rfind(':')));
  std::string token;
  std::ifstream(home.path() / "token") >> token;
  remote_env.emplace_back("TRAINCTL_TOKEN", token);
  const auto remote = run_command({trainctl, "-v", "run", "list", "-o", "name"}, remote_env);
  INFO(remote.err);
  CHECK(remote.exit_code == 0);
  CHECK_THAT(remote.out, Catch::StartsWith("run-"));
  CHECK_THAT(remote.err, Catch::Contains((root.path() / "usr/libexec/trainctl/trainctl-curl").string()));
  const auto status = run_command({trainctl, "server", "status", "-o", "json"}, env);
  const auto pid = nlohmann::json::parse(status.out).at("pid").get<int64_t>();
  CHECK(fs::read_symlink(fs::path("/proc") / std::to_string(pid) / "exe") ==
        root.path() / "usr/bin/trainctld");  // the package's own service
  CHECK(run_command({trainctl, "server", "stop"}, env).exit_code == 0);
}
