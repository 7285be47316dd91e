// The output for scripts (-o jsonpath=, custom-columns=, tsv, --no-headers, wide) against a real
// service, the formats each command refuses before it does anything, and shell completion in a
// real bash.
#include <catch2/catch.hpp>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
using nlohmann::json;
namespace fs = std::filesystem;

// A finished run on `service`: its id.
std::string finished_run(const CliEnvironment& cli) {
  const Project project("print('done', flush=True)\n");
  const auto submitted = cli.run({"submit", project.spec(), "-o", "name"}, project.dir());
  INFO(submitted.err);
  REQUIRE(submitted.exit_code == 0);
  const auto id = trimmed(submitted.out);
  const auto waited = cli.run({"run", "wait", id});
  INFO(waited.out << waited.err);
  REQUIRE(waited.exit_code == 0);
  return id;
}

// Runs bash with the completion script sourced and COMP_WORDS set to `words` (the last one
// completed); the candidates, one a line.
std::string bash_complete(const EnvironmentVariables& env, const std::string& words, int cword) {
  const std::string script = "source <(trainctl completion bash) || exit 9; COMP_WORDS=(" + words +
                             "); COMP_CWORD=" + std::to_string(cword) +
                             "; _trainctl; printf '%s\\n' \"${COMPREPLY[@]}\"";
  const auto result = run_command({"bash", "-c", script}, env);
  INFO(result.err);
  CHECK(result.exit_code == 0);
  return result.out;
}

EnvironmentVariables shell_environment(const TempDir& root, EnvironmentVariables extra) {
  const char* path = std::getenv("PATH");
  extra.emplace_back("PATH", fs::path(TRAINCTL_BINARY).parent_path().string() + ":" +
                                 (path != nullptr ? path : "/usr/bin:/bin"));
  extra.emplace_back("XDG_CONFIG_HOME", (root.path() / "config").string());
  extra.emplace_back("XDG_CACHE_HOME", (root.path() / "cache").string());
  extra.emplace_back("NO_COLOR", "1");
  return extra;
}

}  // namespace

TEST_CASE("e2e: output for scripts from a real service", "[e2e][cli][output]") {
  const ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  const auto id = finished_run(cli);

  SECTION("given -o jsonpath, the template picks fields of the list") {
    const auto ids = cli.run({"run", "list", "-o", "jsonpath={.items[*].id}"});
    INFO(ids.err);
    CHECK(ids.exit_code == 0);
    CHECK(ids.out == id);
    const auto rows =
        cli.run({"run", "list", "-o", R"(jsonpath={range .items[*]}{.id}{"\t"}{.status}{"\n"}{end})"});
    CHECK(rows.out == id + "\tCompleted\n");
    CHECK(cli.run({"run", "show", id, "-o", "jsonpath={.exit_code}"}).out == "0");
  }
  SECTION("given -o custom-columns, those columns, <none> for a missing value, --no-headers") {
    const auto table = cli.run({"run", "list", "-o", "custom-columns=RUN:.id,EXIT:.exit_code,X:.nope"});
    INFO(table.err);
    CHECK(table.exit_code == 0);
    CHECK(table.out == "RUN" + std::string(id.size() - 3, ' ') + "   EXIT   X\n" + id + "   0      <none>\n");
    const auto bare = cli.run({"run", "list", "--no-headers", "-o", "custom-columns=RUN:.id"});
    CHECK(bare.out == id + "\n");
    const auto plain = cli.run({"run", "list", "--no-headers"});
    CHECK_THAT(plain.out, Catch::StartsWith(id + " "));
  }
  SECTION("given -o tsv, one line of values per run, no header") {
    const auto tsv = cli.run({"run", "list", "-o", "tsv"});
    CHECK(tsv.exit_code == 0);
    CHECK(std::count(tsv.out.begin(), tsv.out.end(), '\n') == 1);
    CHECK_THAT(tsv.out, Catch::Contains("\t" + id + "\t") && Catch::Contains("\tCompleted\t"));
  }
  SECTION("given -o wide, run show and run list show more than the table") {
    const auto table = cli.run({"run", "show", id});
    const auto wide = cli.run({"run", "show", id, "-o", "wide"});
    CHECK(wide.exit_code == 0);
    CHECK_THAT(wide.out, Catch::Contains("Snapshot:") && Catch::Contains("HOST") &&
                             Catch::Contains("DURATION") && Catch::Contains("Estimator:") &&
                             Catch::Contains("entry_script: main.py"));
    CHECK_THAT(table.out, !Catch::Contains("Snapshot:") && !Catch::Contains("Estimator:"));
    CHECK_THAT(cli.run({"run", "list", "-o", "wide"}).out, Catch::Contains("COMPUTE"));
    CHECK_THAT(cli.run({"run", "list"}).out, !Catch::Contains("COMPUTE"));
  }
  SECTION("given the table, each row says what the whole run says, from summaries or whole runs") {
    const auto whole = json::parse(cli.run({"run", "list", "-o", "json"}).out)["items"].at(0);
    const auto from_summaries = cli.run({"run", "list", "-o", "wide", "--no-headers"});
    // Sorting by a tag needs the whole runs; the table must not change.
    const auto from_whole_runs =
        cli.run({"run", "list", "-o", "wide", "--no-headers", "--sort", "tags.nope"});
    INFO(from_summaries.err << from_whole_runs.err);
    CHECK(from_summaries.exit_code == 0);
    CHECK(from_whole_runs.out == from_summaries.out);
    CHECK_THAT(from_summaries.out,
               Catch::StartsWith(id + " ") &&
                   Catch::Contains(whole["experiment"].get<std::string>()) &&
                   Catch::Contains("Completed") && Catch::Contains(whole["compute"].get<std::string>()));
    CHECK(cli.run({"run", "list", "-o", "name"}).out == id + "\n");
  }
  SECTION("given a format a command has no form for, it is refused (exit 2) before it runs") {
    const auto logs = cli.run({"logs", id, "-o", "json"});
    CHECK(logs.exit_code == 2);
    CHECK_THAT(logs.err, Catch::Contains("logs prints a run's log as written: -o json is not one of its formats (table)"));
    REQUIRE(cli.run({"workspace", "create", "scratch"}).exit_code == 0);
    const auto removed = cli.run({"workspace", "delete", "scratch", "-o", "jsonpath={.name}"});
    CHECK(removed.exit_code == 2);
    CHECK_THAT(removed.err, Catch::Contains("workspace delete prints only what it did"));
    CHECK(cli.run({"workspace", "show", "scratch"}).exit_code == 0);
    CHECK(cli.run({"run", "metrics", id, "-o", "name"}).exit_code == 2);
    CHECK(cli.run({"run", "metrics", id, "--follow", "-o", "yaml"}).exit_code == 2);
    CHECK(cli.run({"completion", "bash", "-o", "json"}).exit_code == 2);
  }
  SECTION("given a template that does not parse or an unknown format, exit 2 naming the problem") {
    const auto bad = cli.run({"run", "list", "-o", "jsonpath={.items[*"});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.err, Catch::Contains("jsonpath:"));
    const auto unknown = cli.run({"run", "list", "-o", "xml"});
    CHECK(unknown.exit_code == 2);
    CHECK_THAT(unknown.err, Catch::Contains("jsonpath=TEMPLATE|custom-columns=SPEC"));
  }
  SECTION("given bash, completion lists commands, options, values and the service's names") {
    const TempDir root;
    const auto env = shell_environment(root, {{"TRAINCTL_ENDPOINT", service.endpoint()},
                                              {"TRAINCTL_TOKEN", service.token()}});
    CHECK(bash_complete(env, "trainctl ru", 1) == "run\n");
    CHECK(bash_complete(env, "trainctl run s", 2) == "show\n");
    CHECK(bash_complete(env, "trainctl run show --wo", 3) == "--workspace\n");
    CHECK(bash_complete(env, "trainctl run list -o js", 4) == "json\njsonpath=\n");
    CHECK(bash_complete(env, "trainctl run list --output = ya", 5) == "yaml\n");
    CHECK(bash_complete(env, "trainctl run list --status Ru", 4) == "Running\n");
    CHECK(bash_complete(env, "trainctl run show ''", 3) == id + "\n");
    CHECK(bash_complete(env, "trainctl -w default logs ''", 4) == id + "\n");
    CHECK(bash_complete(env, "trainctl compute show ''", 3) == "local\n");
    CHECK(bash_complete(env, "trainctl workspace delete d", 3) == "default\n");
  }
}

TEST_CASE("e2e: completion never starts a service, and the scripts parse", "[e2e][cli][completion]") {
  const TempDir root;
  const auto env = shell_environment(root, {{"TRAINCTL_HOME", (root.path() / "home").string()}});
  CHECK(trimmed(bash_complete(env, "trainctl run show ''", 3)).empty());
  CHECK(run_command({TRAINCTL_BINARY, "server", "status"}, env).exit_code == 8);
  CHECK_FALSE(trimmed(bash_complete(env, "trainctl submit ''", 2)).empty());  // file names
  const auto zsh = run_command({"sh", "-c", "command -v zsh"});
  if (zsh.exit_code == 0) {
    const auto script = run_command({TRAINCTL_BINARY, "completion", "zsh"}, env);
    CHECK(run_command({"zsh", "-n", "-c", script.out}).exit_code == 0);
  }
  const auto fish = run_command({"sh", "-c", "command -v fish"});
  if (fish.exit_code == 0) {
    const auto words = run_command(
        {"fish", "-c", "trainctl completion fish | source; complete -C 'trainctl run li'"}, env);
    INFO(words.err);
    CHECK(words.out == "list\n");
  }
}
