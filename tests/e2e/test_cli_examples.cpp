// The examples under configs/examples, run as a user runs them: the real trainctl against a real
// trainctld. The digits example needs numpy and scikit-learn (scripts/install-deps.sh).
#include <fstream>
#include <regex>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
namespace fs = std::filesystem;

// The first capture of `pattern` in `text`, or "" when it does not match.
std::string first_match(const std::string& text, const std::string& pattern) {
  std::smatch match;
  return std::regex_search(text, match, std::regex(pattern)) ? match[1].str() : std::string();
}

}  // namespace

TEST_CASE("e2e: the digits example trains to 90% and its outputs download",
          "[e2e][cli][examples]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  const fs::path spec = fs::path(TRAINCTL_SOURCE_DIR) / "configs/examples/digits/job.yaml";

  WHEN("the user submits the example and streams it") {
    const auto submitted = cli.run({"submit", spec.string(), "--stream"}, {}, 300);
    INFO(submitted.out << submitted.err);
    const std::string run_id = first_match(submitted.err, R"(submitted run (run-[a-z0-9]+))");
    THEN("it exits 0 and prints a final test accuracy of at least 0.90") {
      REQUIRE(submitted.exit_code == 0);
      const std::string accuracy = first_match(submitted.out, R"(final test accuracy ([0-9.]+))");
      REQUIRE_FALSE(accuracy.empty());
      CHECK(std::stod(accuracy) >= 0.90);
      AND_THEN("the run lists its model and metrics, and the metrics download as JSON") {
        REQUIRE_FALSE(run_id.empty());
        const auto files = cli.run({"run", "files", run_id});
        CHECK(files.exit_code == 0);
        CHECK_THAT(files.out, Catch::Contains("outputs/model/model.pkl") &&
                                  Catch::Contains("outputs/metrics.json"));

        const TempDir dest;
        const auto downloaded = cli.run({"run", "download", run_id, "--path",
                                         "outputs/metrics.json", "--dest", dest.path().string()});
        INFO(downloaded.err);
        REQUIRE(downloaded.exit_code == 0);
        std::ifstream metrics_file(dest.path() / "outputs/metrics.json");
        const auto metrics = nlohmann::json::parse(metrics_file, nullptr, false);
        REQUIRE(metrics.is_object());
        CHECK(metrics.value("test_accuracy", 0.0) >= 0.90);
      }
    }
  }
}
