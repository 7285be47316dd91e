// The real trainctl against a real trainctld: a run trains, its outputs/model is registered,
// then listed, shown with its lineage, downloaded (resumably, verified) and deleted, as a user
// does through pipes.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"
#include "trainctl/util/fs.hpp"

namespace {

using namespace trainctl::testing;
using nlohmann::json;
namespace fs = std::filesystem;

const std::string k_training_script = R"(import os
out = os.environ['TRAINCTL_OUTPUTS_DIR']
os.makedirs(out + '/model/vocab')
with open(out + '/model/weights.txt', 'w') as f:
    f.write('w' * 200000)
with open(out + '/model/vocab/words.txt', 'w') as f:
    f.write('zero\none\n')
)";

std::string read(const fs::path& file) { return trainctl::util::read_file(file).value(); }

// Submits the project and waits for its run to complete; returns its id.
std::string run_to_completion(const CliEnvironment& cli, const Project& project) {
  const auto submitted = cli.run({"submit", project.spec(), "-o", "name"}, project.dir());
  INFO(submitted.out << submitted.err);
  REQUIRE(submitted.exit_code == 0);
  const std::string run_id = trimmed(submitted.out);
  const auto waited = cli.run({"run", "wait", run_id});
  INFO(waited.out << waited.err);
  REQUIRE(waited.exit_code == 0);
  return run_id;
}

}  // namespace

TEST_CASE("e2e: a run's model is registered, listed, shown, downloaded and deleted",
          "[e2e][cli][model]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  const Project project(k_training_script);
  const auto run_id = run_to_completion(cli, project);

  const auto registered =
      cli.run({"register", "--run", run_id, "--name", "digits", "--path", "outputs/model",
               "--framework", "sklearn", "--framework-version", "1.2.1", "--cpu", "1",
               "--memory-gb", "2", "--description", "digits classifier", "--tag", "team=vision"});
  INFO(registered.out << registered.err);
  REQUIRE(registered.exit_code == 0);
  CHECK_THAT(registered.out,
             Catch::Contains("registered digits version 1 from run " + run_id + " (2 files, "));

  SECTION("list shows the model with its latest version") {
    const auto listed = cli.run({"model", "list"});
    CHECK(listed.exit_code == 0);
    CHECK_THAT(listed.out, Catch::Contains("digits") && Catch::Contains("sklearn"));
    const auto names = cli.run({"model", "list", "-o", "name"});
    CHECK(trimmed(names.out) == "digits");
  }
  SECTION("show NAME:V prints the lineage and the files; -o json has them all") {
    const auto shown = cli.run({"model", "show", "digits:1"});
    INFO(shown.err);
    CHECK(shown.exit_code == 0);
    CHECK_THAT(shown.out, Catch::Contains(run_id) && Catch::Contains("sklearn 1.2.1") &&
                              Catch::Contains("1 CPU, 2 GB") && Catch::Contains("e2e") &&
                              Catch::Contains("weights.txt") && Catch::Contains("vocab/words.txt"));
    const auto as_json = json::parse(cli.run({"model", "show", "digits@latest", "-o", "json"}).out);
    CHECK(as_json["run_id"] == run_id);
    CHECK(as_json["experiment"] == "e2e");
    CHECK(as_json["files"].size() == 2);
  }
  SECTION("show NAME lists the versions") {
    const auto again = cli.run({"register", "--run", run_id, "--name", "digits", "--path",
                                "outputs/model/weights.txt", "-o", "json"});
    REQUIRE(again.exit_code == 0);
    CHECK(json::parse(again.out)["version"] == 2);
    const auto versions = cli.run({"model", "show", "digits"});
    CHECK(versions.exit_code == 0);
    CHECK_THAT(versions.out, Catch::Contains("VERSION") && Catch::Contains(run_id));
  }
  SECTION("download writes the files byte for byte, and a second download keeps them") {
    TempDir dest;
    const auto target = dest.path() / "model";
    const auto downloaded = cli.run({"model", "download", "digits", "--dest", target.string()});
    INFO(downloaded.err);
    REQUIRE(downloaded.exit_code == 0);
    CHECK_THAT(downloaded.out, Catch::Contains("downloaded digits version 1 (2 files"));
    CHECK(read(target / "weights.txt") == std::string(200000, 'w'));
    CHECK(read(target / "vocab" / "words.txt") == "zero\none\n");

    const auto again = cli.run({"model", "download", "digits:1", "--dest", target.string()});
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.out, Catch::Contains("2 already there"));
  }
  SECTION("delete removes the version; what is gone is exit code 7") {
    const auto deleted = cli.run({"model", "delete", "digits:1", "--yes"});
    CHECK(deleted.exit_code == 0);
    CHECK_THAT(deleted.out, Catch::Contains("deleted model digits version 1"));
    const auto missing = cli.run({"model", "show", "digits:1"});
    CHECK(missing.exit_code == 7);
    CHECK_THAT(missing.err, Catch::Contains("model digits:1 not found"));
  }
  SECTION("mistakes are usage errors or the service's refusal, with a message") {
    CHECK(cli.run({"model", "show", "digits:0"}).exit_code == 2);
    CHECK(cli.run({"model", "delete", "digits@latest"}).exit_code == 2);
    CHECK(cli.run({"register", "--run", run_id, "--name", "digits", "--path", "outputs/model",
                   "--framework", "caffe"})
              .exit_code == 2);
    const auto outside = cli.run({"register", "--run", run_id, "--name", "digits", "--path", "../etc"});
    CHECK(outside.exit_code == 6);
    CHECK_THAT(outside.err, Catch::Contains("path"));
  }
}
