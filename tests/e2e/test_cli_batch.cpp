// Batch submission as a script runs it: several specs, multi-document files, --matrix and
// --from-file, one request for all, -o name in input order, exit 6 naming the invalid item,
// and waiting for several runs.
#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
using nlohmann::json;

// The script every run of these tests runs: prints its arguments, exits with --exit (0).
const std::string k_echo_script =
    "import sys\n"
    "args = sys.argv[1:]\n"
    "print(' '.join(args))\n"
    "sys.exit(int(args[args.index('--exit') + 1]) if '--exit' in args else 0)\n";

// A spec file next to the project's job.yaml, using its source folder.
std::string write_spec(const Project& project, const std::string& name, const std::string& text) {
  const auto path = project.dir() / name;
  std::ofstream(path) << text;
  return path.string();
}

std::string spec_text(const std::string& experiment, const std::string& extra = {}) {
  return "experiment: " + experiment +
         "\nestimator:\n  source_directory: src\n  entry_script: main.py\n" + extra;
}

json show(const CliEnvironment& cli, const std::string& run_id) {
  const auto shown = cli.run({"run", "show", run_id, "-o", "json"});
  return json::parse(shown.out, nullptr, false);
}

}  // namespace

TEST_CASE("e2e: submit of several specs and documents is one batch, printed in input order",
          "[e2e][cli][batch]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project(k_echo_script);
  const auto multi = write_spec(project, "multi.yaml",
                                "---\n" + spec_text("m1") + "---\n" + spec_text("m2") + "---\n");
  const auto other = write_spec(project, "other.yaml", spec_text("other"));

  SECTION("given a spec, a file of two documents and another spec, four runs in that order") {
    const auto result = cli.run({"submit", project.spec(), multi, other, "-o", "name"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const auto ids = non_empty_lines(result.out);
    REQUIRE(ids.size() == 4);
    const std::vector<std::string> experiments{"e2e", "m1", "m2", "other"};
    for (size_t i = 0; i < ids.size(); ++i) CHECK(show(cli, ids[i])["experiment"] == experiments[i]);
    THEN("their one source folder is one snapshot, uploaded once") {
      CHECK_THAT(result.err, Catch::Contains("1 snapshot for 4 runs: uploaded 1 of 1 files"));
    }
    THEN("run wait of all of them exits 0 and lists them") {
      std::vector<std::string> wait{"run", "wait"};
      wait.insert(wait.end(), ids.begin(), ids.end());
      const auto waited = cli.run(wait);
      CHECK(waited.exit_code == 0);
      CHECK(non_empty_lines(waited.out).size() == 5);  // the header and a row per run
    }
  }
  SECTION("given two folders with the same files, one snapshot for both") {
    std::filesystem::copy(project.dir() / "src", project.dir() / "copy");
    const auto copy = write_spec(project, "copy.yaml",
                                 "experiment: copy\nestimator:\n  source_directory: copy\n"
                                 "  entry_script: main.py\n");
    const auto result = cli.run({"submit", project.spec(), copy, "-o", "name"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.err, Catch::Contains("1 snapshot for 2 runs"));
    const auto ids = non_empty_lines(result.out);
    REQUIRE(ids.size() == 2);
    CHECK(show(cli, ids[0])["snapshot_id"] == show(cli, ids[1])["snapshot_id"]);
  }
  SECTION("given -o json, a list of the runs") {
    const auto result = cli.run({"submit", project.spec(), other, "-o", "json"});
    REQUIRE(result.exit_code == 0);
    const auto items = json::parse(result.out)["items"];
    REQUIRE(items.size() == 2);
    CHECK(items[1]["experiment"] == "other");
  }
  SECTION("given the same batch twice with one --idempotency-key, the same runs") {
    const auto first = cli.run({"submit", project.spec(), other, "--idempotency-key", "ci-7",
                                "-o", "name"});
    const auto second = cli.run({"submit", project.spec(), other, "--idempotency-key", "ci-7",
                                 "-o", "name"});
    INFO(first.err << second.err);
    REQUIRE(first.exit_code == 0);
    REQUIRE(second.exit_code == 0);
    CHECK(first.out == second.out);
    CHECK_THAT(second.err, Catch::Contains("2 of the 2 runs were already submitted"));
    CHECK(non_empty_lines(cli.run({"run", "list", "-o", "name"}).out).size() == 2);
  }
}

TEST_CASE("e2e: --matrix and --from-file make a run per combination and per line",
          "[e2e][cli][batch]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project(k_echo_script);

  SECTION("given two --matrix keys of two values, four runs, the first key varying slowest") {
    const auto result =
        cli.run({"submit", project.spec(), "--matrix", "estimator.script_params.--x=1,2",
                 "--matrix", "estimator.script_params.--y=a,b", "--wait", "-o", "name"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const auto ids = non_empty_lines(result.out);
    REQUIRE(ids.size() == 4);
    const std::vector<std::string> expected{"--x 1 --y a", "--x 1 --y b", "--x 2 --y a",
                                            "--x 2 --y b"};
    for (size_t i = 0; i < ids.size(); ++i) {
      CHECK(trimmed(cli.run({"logs", ids[i]}).out) == expected[i]);
    }
  }
  SECTION("given --from-file - with key=value and JSON lines, a comment and a blank line") {
    const auto result = cli.run_with_input(
        {"submit", project.spec(), "--from-file", "-", "--set", "estimator.script_params.--z=0",
         "--wait", "-o", "name"},
        "# one run per line\n"
        "estimator.script_params.--x=1\n"
        "\n"
        "{\"estimator.script_params.--x\": 2, \"experiment\": \"json-line\"}\n");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const auto ids = non_empty_lines(result.out);
    REQUIRE(ids.size() == 2);
    CHECK(trimmed(cli.run({"logs", ids[0]}).out) == "--z 0 --x 1");
    CHECK(trimmed(cli.run({"logs", ids[1]}).out) == "--z 0 --x 2");
    CHECK(show(cli, ids[1])["experiment"] == "json-line");
  }
  SECTION("given a --from-file line that is not overrides, exit 2 naming the line") {
    const auto file = write_spec(project, "params.txt", "estimator.script_params.--x=1\noops\n");
    const auto result = cli.run({"submit", project.spec(), "--from-file", file});
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("params.txt:2"));
  }
}

TEST_CASE("e2e: an invalid item fails the whole batch with exit 6, naming the item",
          "[e2e][cli][batch]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project(k_echo_script);

  SECTION("given a document with a wrong value among valid ones, nothing is submitted") {
    const auto multi = write_spec(project, "multi.yaml",
                                  spec_text("ok") + "---\n" + spec_text("bad", "  node_count: two\n"));
    const auto result = cli.run({"submit", project.spec(), multi, "-o", "name"});
    CHECK(result.exit_code == 6);
    CHECK(result.out.empty());
    CHECK_THAT(result.err, Catch::Contains("1 of the 3 runs of the batch is not valid") &&
                               Catch::Contains("item 3 (" + multi + " (document 2))") &&
                               Catch::Contains("estimator.node_count"));
    CHECK(cli.run({"run", "list", "-o", "name"}).out.empty());
  }
  SECTION("given a combination the compute target refuses, the service names the item") {
    const auto result = cli.run({"submit", project.spec(), "--matrix",
                                 "estimator.node_count=1,99", "-o", "name"});
    CHECK(result.exit_code == 6);
    CHECK_THAT(result.err, Catch::Contains("item 2 (" + project.spec() +
                                           " [estimator.node_count=99])") &&
                               Catch::Contains("node_count"));
    CHECK(cli.run({"run", "list", "-o", "name"}).out.empty());
  }
}

TEST_CASE("e2e: waiting for and following several runs", "[e2e][cli][batch]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project(k_echo_script);
  const std::vector<std::string> batch{"submit", project.spec(), "--matrix",
                                       "estimator.script_params.--exit=0,3"};

  SECTION("given a batch where one run fails, --wait and run wait exit 3; --any waits for one") {
    auto with_wait = batch;
    with_wait.insert(with_wait.end(), {"--wait", "-o", "name"});
    const auto waited = cli.run(with_wait);
    INFO(waited.err);
    CHECK(waited.exit_code == 3);
    const auto ids = non_empty_lines(waited.out);
    REQUIRE(ids.size() == 2);
    CHECK(cli.run({"run", "wait", ids[0], ids[1]}).exit_code == 3);
    CHECK(cli.run({"run", "wait", ids[0]}).exit_code == 0);
    CHECK(cli.run({"run", "wait", "--any", ids[0], ids[1]}).exit_code == 0);
  }
  SECTION("given --stream, every run's lines prefixed with its run, and the worst outcome") {
    auto streamed = batch;
    streamed.push_back("--stream");
    const auto result = cli.run(streamed);
    INFO(result.err);
    CHECK(result.exit_code == 3);
    const auto ids = non_empty_lines(cli.run({"run", "list", "-o", "name"}).out);
    REQUIRE(ids.size() == 2);
    for (const auto& id : ids) CHECK_THAT(result.out, Catch::Contains("[" + id + "] --exit "));
    CHECK_THAT(result.err, Catch::Contains("Completed") && Catch::Contains("Failed"));
  }
}
