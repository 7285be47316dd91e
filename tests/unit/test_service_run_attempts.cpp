// The attempts kept in a run directory: archive_attempt makes room for the next attempt, and
// the run's files (list_run_files, open_run_file) include the logs of earlier attempts.
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "support/service_fixture.hpp"
#include "trainctl/service/runs/run_files.hpp"

namespace {

namespace fs = std::filesystem;
using trainctl::ErrorCode;
using trainctl::service::archive_attempt;
using trainctl::service::attempt_dir;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST_CASE("retries: archiving an attempt keeps its files and makes room for the next",
          "[service][attempts]") {
  trainctl::testing::TempDir temp;
  const fs::path run = temp.path() / "run";
  for (const auto* dir : {"logs", "tasks", "outputs", "snapshot", "inputs"}) {
    fs::create_directories(run / dir);
  }
  write_text(run / "logs/main.log", "attempt one\n");
  write_text(run / "tasks/rank-0.json", "{}");
  write_text(run / "outputs/checkpoint", "step 100");
  write_text(run / "snapshot/train.py", "print()");
  write_text(run / "launch.json", "{}");
  write_text(run / "state.json", "{}");
  write_text(run / "supervisor.log", "");

  REQUIRE(archive_attempt(run, 1));

  SECTION("the attempt's logs, task reports and engine files move under attempts/1") {
    const fs::path kept = attempt_dir(run, 1);
    CHECK(kept == run / "attempts/1");
    CHECK(read_text(kept / "logs/main.log") == "attempt one\n");
    CHECK(fs::exists(kept / "tasks/rank-0.json"));
    CHECK(fs::exists(kept / "launch.json"));
    CHECK(fs::exists(kept / "state.json"));
    CHECK(fs::exists(kept / "supervisor.log"));
  }
  SECTION("the run directory is ready for a new start: empty logs/ and tasks/, no state") {
    CHECK(fs::is_empty(run / "logs"));
    CHECK(fs::is_empty(run / "tasks"));
    CHECK_FALSE(fs::exists(run / "state.json"));
    CHECK_FALSE(fs::exists(run / "launch.json"));
  }
  SECTION("outputs (checkpoints), the snapshot and the inputs stay") {
    CHECK(read_text(run / "outputs/checkpoint") == "step 100");
    CHECK(fs::exists(run / "snapshot/train.py"));
    CHECK(fs::exists(run / "inputs"));
  }
  SECTION("the next attempt's files are archived beside the first's") {
    write_text(run / "logs/main.log", "attempt two\n");
    write_text(run / "state.json", "{}");
    REQUIRE(archive_attempt(run, 2));
    CHECK(read_text(run / "attempts/1/logs/main.log") == "attempt one\n");
    CHECK(read_text(run / "attempts/2/logs/main.log") == "attempt two\n");
  }
  SECTION("archiving the same attempt twice is refused, and nothing is overwritten") {
    write_text(run / "logs/main.log", "attempt two\n");
    const auto again = archive_attempt(run, 1);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::conflict);
    CHECK(read_text(run / "attempts/1/logs/main.log") == "attempt one\n");
  }
}

TEST_CASE("retries: an archive cut short is completed by archiving again", "[service][attempts]") {
  trainctl::testing::TempDir temp;
  const fs::path run = temp.path() / "run";
  fs::create_directories(run / "attempts/1/logs");
  write_text(run / "attempts/1/logs/main.log", "moved before the crash\n");
  write_text(run / "launch.json", "{}");
  write_text(run / "state.json", "{}");

  REQUIRE(archive_attempt(run, 1));
  CHECK(read_text(run / "attempts/1/logs/main.log") == "moved before the crash\n");
  CHECK(fs::exists(run / "attempts/1/state.json"));
  CHECK(fs::exists(run / "attempts/1/launch.json"));
  CHECK(fs::is_empty(run / "logs"));
}

TEST_CASE("retries: the logs of earlier attempts are run files, their engine files are not",
          "[service][attempts]") {
  trainctl::testing::TempDir temp;
  const fs::path run = temp.path() / "run";
  fs::create_directories(run / "logs");
  fs::create_directories(run / "outputs");
  write_text(run / "logs/main.log", "first\n");
  write_text(run / "state.json", "{}");
  REQUIRE(archive_attempt(run, 1));
  write_text(run / "logs/main.log", "second\n");
  fs::create_directories(run / "attempts/not-a-number/logs");
  write_text(run / "attempts/not-a-number/logs/x.log", "hidden");

  SECTION("the listing holds both attempts' logs and nothing else of the archive") {
    auto files = trainctl::service::list_run_files(run);
    REQUIRE(files);
    std::vector<std::string> paths;
    for (const auto& file : *files) paths.push_back(file.path);
    CHECK(paths == std::vector<std::string>{"attempts/1/logs/main.log", "logs/main.log"});
  }
  SECTION("an earlier attempt's log opens by its path") {
    auto opened = trainctl::service::open_run_file(run, "attempts/1/logs/main.log");
    REQUIRE(opened);
    CHECK(opened->size == 6);
  }
  SECTION("the archived engine files and malformed attempt paths are refused") {
    for (const auto* path : {"attempts/1/state.json", "attempts/x/logs/x.log", "attempts/01/logs/main.log",
                             "attempts/1", "attempts/1/logs/../state.json"}) {
      auto opened = trainctl::service::open_run_file(run, path);
      REQUIRE_FALSE(opened);
      CHECK(opened.error().code == ErrorCode::invalid_argument);
    }
  }
  SECTION("a symlink among an attempt's logs is not followed") {
    fs::create_symlink("/etc/passwd", run / "attempts/1/logs/passwd.log");
    auto opened = trainctl::service::open_run_file(run, "attempts/1/logs/passwd.log");
    REQUIRE_FALSE(opened);
    CHECK(opened.error().code == ErrorCode::not_found);
  }
}
