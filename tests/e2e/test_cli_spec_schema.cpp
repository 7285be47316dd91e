// The JSON Schema editors use (configs/job-spec.schema.json) and trainctl's own loader agree on a
// corpus of specs (tests/data/schema): every valid one is valid to both, every invalid one is
// refused by both. A field added to the loader but not the schema (or the other way round) shows
// up here as soon as the corpus has it.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
namespace fs = std::filesystem;

const fs::path k_corpus = fs::path(TRAINCTL_SOURCE_DIR) / "tests/data/schema";
const fs::path k_schema = fs::path(TRAINCTL_SOURCE_DIR) / "configs/job-spec.schema.json";

// What the schema says of `spec`: "valid", or "invalid: <why>".
std::string schema_verdict(const fs::path& spec) {
  const auto checked =
      run_command({"/usr/bin/python3", (k_corpus / "check_schema.py").string(), k_schema.string(), spec.string()});
  INFO(checked.err);
  REQUIRE(checked.exit_code == 0);
  return trimmed(checked.out);
}

// The loader's exit code for `spec` in a project where its entry script exists.
int loader_exit(const CliEnvironment& cli, const fs::path& spec) {
  const Project project("print('hi')\n");
  fs::copy_file(spec, project.dir() / "job.yaml", fs::copy_options::overwrite_existing);
  std::ofstream(project.dir() / "train.py") << "print('hi')\n";
  return cli.run({"validate", (project.dir() / "job.yaml").string()}, project.dir()).exit_code;
}

}  // namespace

TEST_CASE("e2e: the job spec's JSON Schema and the loader agree on every spec of the corpus",
          "[e2e][cli][spec][schema]") {
  const CliEnvironment cli;
  for (const auto* kind : {"valid", "invalid"}) {
    for (const auto& entry : fs::directory_iterator(k_corpus / kind)) {
      INFO(entry.path().string());
      const std::string verdict = schema_verdict(entry.path());
      const int exit_code = loader_exit(cli, entry.path());
      if (std::string_view(kind) == "valid") {
        CHECK(verdict == "valid");
        CHECK(exit_code == 0);
      } else {
        CHECK_THAT(verdict, Catch::StartsWith("invalid"));
        CHECK(exit_code == 6);
      }
    }
  }
}
