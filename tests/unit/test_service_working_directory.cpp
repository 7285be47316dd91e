#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "support/service_fixture.hpp"
#include "trainctl/service/engines/working_directory.hpp"
#include "trainctl/util/fs.hpp"

namespace {

namespace fs = std::filesystem;
using trainctl::service::engines::make_working_directory;
using trainctl::service::engines::remove_working_directory;
using trainctl::service::engines::SourceLayer;
using trainctl::testing::TempDir;

std::string read(const fs::path& file) { return trainctl::util::read_file(file).value(); }

// A run directory with a snapshot of a few files (one in a folder, and a top-level `outputs`
// folder of the source), outputs/ and logs/.
class RunFolders {
 public:
  RunFolders() {
    fs::create_directories(snapshot() / "pkg" / "deep");
    fs::create_directories(snapshot() / "outputs");
    std::ofstream(snapshot() / "train.py") << "print('hi')\n";
    std::ofstream(snapshot() / "pkg" / "deep" / "util.py") << "X = 1\n";
    std::ofstream(snapshot() / "outputs" / "stale.txt") << "from the source\n";
    fs::create_directories(m_dir.path() / "outputs");
    fs::create_directories(m_dir.path() / "logs");
  }
  fs::path snapshot() const { return m_dir.path() / "snapshot"; }
  fs::path work() const { return m_dir.path() / "work"; }
  fs::path outputs() const { return m_dir.path() / "outputs"; }
  fs::path logs() const { return m_dir.path() / "logs"; }
  trainctl::spec::WorkingDirectory spec() const {
    return {work().string(), snapshot().string(), outputs().string(), logs().string()};
  }

 private:
  TempDir m_dir;
};

}  // namespace

// The overlay layer needs a mount namespace of its own: the supervisor's, tested end to end
// (tests/e2e/test_cli_working_directory.cpp). Here, the links every user can have.
TEST_CASE("a working directory mirrors the snapshot with links and collects outputs and logs",
          "[service][engine][workdir]") {
  RunFolders run;
  const auto made = make_working_directory(run.spec(), SourceLayer::links);
  REQUIRE(made.has_value());
  CHECK(*made == SourceLayer::links);

  THEN("source files are short relative links to the snapshot's files, folders are real") {
    CHECK(fs::is_symlink(run.work() / "train.py"));
    CHECK(fs::read_symlink(run.work() / "train.py") == "../snapshot/train.py");
    CHECK(fs::read_symlink(run.work() / "pkg" / "deep" / "util.py") ==
          "../../../snapshot/pkg/deep/util.py");
    CHECK(read(run.work() / "pkg" / "deep" / "util.py") == "X = 1\n");
    CHECK(fs::is_directory(fs::symlink_status(run.work() / "pkg" / "deep")));
    std::ofstream(run.work() / "pkg" / "deep" / "scratch.txt") << "scratch";
    CHECK(fs::exists(run.work() / "pkg" / "deep" / "scratch.txt"));
    CHECK_FALSE(fs::exists(run.snapshot() / "pkg" / "deep" / "scratch.txt"));
  }
  THEN("./outputs and ./logs are the run's folders, not the source's outputs folder") {
    CHECK(fs::read_symlink(run.work() / "outputs") == run.outputs());
    CHECK(fs::read_symlink(run.work() / "logs") == run.logs());
    CHECK_FALSE(fs::exists(run.work() / "outputs" / "stale.txt"));
    std::ofstream(run.work() / "outputs" / "model.bin") << "weights";
    CHECK(read(run.outputs() / "model.bin") == "weights");
  }
  THEN("removing it throws scratch away and keeps outputs, logs and the snapshot") {
    std::ofstream(run.work() / "scratch.bin") << "scratch";
    std::ofstream(run.work() / "outputs" / "model.bin") << "weights";
    std::ofstream(run.work() / "logs" / "x.log") << "line\n";
    REQUIRE(remove_working_directory(run.spec()).has_value());
    CHECK_FALSE(fs::exists(run.work()));
    CHECK(read(run.outputs() / "model.bin") == "weights");
    CHECK(read(run.logs() / "x.log") == "line\n");
    CHECK(read(run.snapshot() / "train.py") == "print('hi')\n");
    CHECK(read(run.snapshot() / "outputs" / "stale.txt") == "from the source\n");
  }
  THEN("made again, it starts fresh: the previous attempt's scratch is gone") {
    std::ofstream(run.work() / "scratch.bin") << "scratch";
    REQUIRE(make_working_directory(run.spec(), SourceLayer::links).has_value());
    CHECK_FALSE(fs::exists(run.work() / "scratch.bin"));
    CHECK(fs::is_symlink(run.work() / "train.py"));
  }
}

TEST_CASE("a task that replaced the outputs link with a folder of its own loses nothing",
          "[service][engine][workdir]") {
  RunFolders run;
  std::ofstream(run.outputs() / "kept.txt") << "before";
  REQUIRE(make_working_directory(run.spec(), SourceLayer::links).has_value());
  fs::remove(run.work() / "outputs");
  fs::create_directories(run.work() / "outputs" / "model");
  std::ofstream(run.work() / "outputs" / "model" / "weights.txt") << "w";
  std::ofstream(run.work() / "outputs" / "kept.txt") << "after";

  REQUIRE(remove_working_directory(run.spec()).has_value());
  CHECK(read(run.outputs() / "model" / "weights.txt") == "w");
  CHECK(read(run.outputs() / "kept.txt") == "before");
  CHECK(read(run.outputs() / "kept.txt.work") == "after");
  CHECK_FALSE(fs::exists(run.work()));
}

TEST_CASE("a plan without a working directory makes and removes nothing",
          "[service][engine][workdir]") {
  CHECK(make_working_directory({}, SourceLayer::overlay).has_value());
  CHECK(remove_working_directory({}).has_value());
}
