// The real trainctl against a real trainctld: register, version, show, list, download and delete
// a dataset as a user does, through pipes (so no progress output may appear).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"
#include "trainctl/util/fs.hpp"

namespace {

using namespace trainctl::testing;
using nlohmann::json;
namespace fs = std::filesystem;

// A data folder of a few files, one in a subfolder, one executable, one under .git (kept: datasets
// ignore nothing).
fs::path make_data(const fs::path& root) {
  const auto data = root / "mnist";
  fs::create_directories(data / "labels");
  fs::create_directories(data / ".git");
  std::ofstream(data / "train.csv") << "x,y\n1,2\n3,4\n";
  std::ofstream(data / "labels" / "names.txt") << "zero\none\n";
  std::ofstream(data / ".git" / "HEAD") << "ref: refs/heads/main\n";
  std::ofstream(data / "big.bin") << std::string(300'000, 'z');
  return data;
}

std::string read(const fs::path& file) { return trainctl::util::read_file(file).value(); }

}  // namespace

TEST_CASE("e2e: a dataset is created, versioned, shown, listed, downloaded and deleted",
          "[e2e][cli][dataset]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  TempDir work;
  const auto data = make_data(work.path());

  const auto created = cli.run({"dataset", "create", "mnist", "--path", data.string(),
                                "--description", "digits", "--tag", "source=test"});
  INFO(created.err);
  REQUIRE(created.exit_code == 0);
  CHECK_THAT(created.out, Catch::Contains("created mnist version 1 (4 files, "));
  CHECK(created.err.find('\r') == std::string::npos);  // no progress line on a pipe

  SECTION("the same content again makes no new version") {
    const auto again = cli.run({"dataset", "create", "mnist", "--path", data.string()});
    INFO(again.err);
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.out, Catch::Contains("mnist version 1 has the same content; use "
                                          "--new-version to make another"));
  }
  SECTION("--new-version makes version 2, which show and list report") {
    const auto second =
        cli.run({"dataset", "create", "mnist", "--path", data.string(), "--new-version", "-o", "json"});
    INFO(second.err);
    REQUIRE(second.exit_code == 0);
    CHECK(json::parse(second.out).value("version", 0) == 2);

    const auto versions = cli.run({"dataset", "show", "mnist"});
    CHECK(versions.exit_code == 0);
    CHECK_THAT(versions.out, Catch::Contains("VERSION") && Catch::Contains("files"));

    const auto listed = cli.run({"dataset", "list", "-o", "json"});
    INFO(listed.out);
    REQUIRE(listed.exit_code == 0);
    const auto items = json::parse(listed.out).at("items");
    REQUIRE(items.size() == 1);
    CHECK(items[0].value("latest_version", 0) == 2);
  }
  SECTION("show NAME:VERSION lists its files") {
    const auto shown = cli.run({"dataset", "show", "mnist:1"});
    INFO(shown.err);
    CHECK(shown.exit_code == 0);
    CHECK_THAT(shown.out, Catch::Contains("labels/names.txt") && Catch::Contains(".git/HEAD") &&
                              Catch::Contains("digits") && Catch::Contains("source=test"));
  }
  SECTION("download writes every file with the same bytes, and again keeps them") {
    const auto dest = work.path() / "copy";
    const auto downloaded = cli.run({"dataset", "download", "mnist@latest", "--dest", dest.string()});
    INFO(downloaded.err);
    REQUIRE(downloaded.exit_code == 0);
    CHECK(downloaded.err.find('\r') == std::string::npos);
    for (const auto* file : {"train.csv", "labels/names.txt", ".git/HEAD", "big.bin"}) {
      INFO(file);
      CHECK(read(dest / file) == read(data / file));
      CHECK_FALSE(fs::exists(dest / (std::string(file) + ".partial")));
    }
    const auto again = cli.run({"dataset", "download", "mnist:1", "--dest", dest.string()});
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.out, Catch::Contains("4 already there"));
  }
  SECTION("a broken-off download resumes from its partial file") {
    const auto dest = work.path() / "resumed";
    fs::create_directories(dest);
    std::ofstream(dest / "big.bin.partial") << std::string(100'000, 'z');
    const auto downloaded = cli.run({"dataset", "download", "mnist", "--dest", dest.string()});
    INFO(downloaded.err);
    REQUIRE(downloaded.exit_code == 0);
    CHECK(read(dest / "big.bin") == read(data / "big.bin"));
    CHECK_FALSE(fs::exists(dest / "big.bin.partial"));
  }
  SECTION("a single file becomes a one-file dataset named by its base name") {
    const auto single = cli.run({"dataset", "create", "labels", "--path",
                                 (data / "labels" / "names.txt").string(), "-o", "json"});
    INFO(single.err);
    REQUIRE(single.exit_code == 0);
    const auto shown = cli.run({"dataset", "show", "labels:1", "-o", "json"});
    REQUIRE(shown.exit_code == 0);
    const auto files = json::parse(shown.out).at("files");
    REQUIRE(files.size() == 1);
    CHECK(files[0].value("path", "") == "names.txt");
  }
  SECTION("delete removes a version; a missing one is not found (exit 7)") {
    const auto deleted = cli.run({"dataset", "delete", "mnist:1"});
    INFO(deleted.err);
    CHECK(deleted.exit_code == 0);
    const auto gone = cli.run({"dataset", "show", "mnist:1"});
    CHECK(gone.exit_code == 7);
  }
  SECTION("a malformed reference is a usage error (exit 2)") {
    const auto bad = cli.run({"dataset", "show", "mnist:latest"});
    CHECK(bad.exit_code == 2);
  }
}

TEST_CASE(
    "e2e: a dataset URL that answers an HTTP error is an error of the request, never 'service "
    "unreachable'",
    "[e2e][cli][dataset][urls]") {
  httplib::Server web;
  web.Get("/broken.csv", [](const httplib::Request&, httplib::Response& response) {
    response.status = 500;
  });
  const int port = web.bind_to_any_port("127.0.0.1");
  std::thread serving([&web] { web.listen_after_bind(); });
  while (!web.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::string base = "http://127.0.0.1:" + std::to_string(port);

  ServiceFixture service({"--allow-url-network", "127.0.0.0/8"});
  const auto cli = CliEnvironment::for_service(service);

  const auto missing = cli.run({"dataset", "create", "web", "--url", base + "/missing.csv"});
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Catch::Contains("missing.csv answered HTTP 404"));

  const auto broken = cli.run({"dataset", "create", "web", "--url", base + "/broken.csv"});
  CHECK(broken.exit_code == 1);
  CHECK_THAT(broken.err, Catch::Contains("broken.csv answered HTTP 500"));

  CHECK(cli.run({"dataset", "show", "web"}).exit_code == 7);  // nothing was created
  web.stop();
  serving.join();
}
