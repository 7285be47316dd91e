// The client against a real trainctld: snapshots uploaded once, and the errors a user sees.
#include <catch2/catch.hpp>
#include <filesystem>

#include "support/service_fixture.hpp"
#include "trainctl/client/api_client.hpp"
#include "trainctl/client/snapshot.hpp"
#include "trainctl/util/fs.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::client::ApiClient;

ApiClient client_of(const trainctl::testing::ServiceFixture& service, const std::string& token) {
  return ApiClient(
      trainctl::client::make_transport({.endpoint = service.endpoint(), .token = token}),
      token);
}

void write(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  REQUIRE(trainctl::util::write_file_atomic(path, content).has_value());
}

}  // namespace

TEST_CASE("a snapshot is uploaded once, and an unchanged resubmit uploads nothing",
          "[client][service][snapshot]") {
  GIVEN("a running service and a project directory") {
    trainctl::testing::ServiceFixture service;
    auto client = client_of(service, service.token());
    const trainctl::testing::TempDir dir;
    const auto project = dir.path() / "project";
    write(project / "train.py", "print('hello')\n");
    write(project / "pkg/model.py", "class Model: pass\n");
    write(project / "pkg/copy.py", "class Model: pass\n");
    write(project / "data/big.bin", std::string(1 << 20, 'b'));
    trainctl::client::ScanOptions options;
    options.hash_cache_file = dir.path() / "hashes";

    WHEN("it is scanned and uploaded") {
      const auto scan = trainctl::client::scan_source_directory(project, options);
      REQUIRE(scan.has_value());
      const auto first = trainctl::client::upload_snapshot(client, "default", *scan);

      THEN("every distinct file is uploaded and the snapshot is created") {
        REQUIRE(first.has_value());
        CHECK(first->files == 4);
        CHECK(first->uploaded_files == 3);
        CHECK(first->uploaded_bytes == 15 + 18 + (1 << 20));
        CHECK_FALSE(first->snapshot_id.empty());
      }
      AND_WHEN("it is scanned and uploaded again unchanged") {
        const auto rescan = trainctl::client::scan_source_directory(project, options);
        REQUIRE(rescan.has_value());
        const auto second = trainctl::client::upload_snapshot(client, "default", *rescan);

        THEN("nothing is uploaded and the snapshot is the same") {
          REQUIRE(second.has_value());
          CHECK(second->uploaded_files == 0);
          CHECK(second->uploaded_bytes == 0);
          CHECK(second->snapshot_id == first->snapshot_id);
        }
      }
    }
  }
}

TEST_CASE("a run's logs stream as events and its outputs download", "[client][service][run]") {
  GIVEN("a run submitted with an idempotency key") {
    trainctl::testing::ServiceFixture service;
    auto client = client_of(service, service.token());
    const trainctl::testing::TempDir dir;
    write(dir.path() / "project/train.py",
          "import os\n"
          "for i in range(3): print('line', i)\n"
          "open(os.environ['TRAINCTL_OUTPUTS_DIR'] + '/model.txt', 'w').write('weights')\n");
    const auto scan = trainctl::client::scan_source_directory(dir.path() / "project");
    REQUIRE(scan.has_value());
    const auto snapshot = trainctl::client::upload_snapshot(client, "default", *scan);
    REQUIRE(snapshot.has_value());
    const nlohmann::json payload = {{"experiment", "client-test"},
                                    {"compute", "local"},
                                    {"snapshot_id", snapshot->snapshot_id},
                                    {"estimator",
                                     {{"framework", "generic"},
                                      {"entry_script", "train.py"},
                                      {"node_count", 1},
                                      {"process_count_per_node", 1},
                                      {"distributed_training", {{"backend", "none"}}}}}};
    const auto run = client.create_run("default", payload, "client-test-key");
    REQUIRE(run.has_value());
    const std::string run_id = run->run["id"];

    WHEN("it is submitted again with the same key") {
      const auto replay = client.create_run("default", payload, "client-test-key");
      THEN("the original run is answered as a replay") {
        REQUIRE(replay.has_value());
        CHECK(replay->replayed);
        CHECK(replay->run["id"] == run_id);
      }
    }
    WHEN("its logs are followed") {
      std::string output;
      nlohmann::json end;
      const auto followed =
          client.stream_logs("default", run_id, {.task = "", .offset = "", .follow = true},
                             [&](const nlohmann::json& event) {
                               if (event["type"] == "log")
                                 output += event["data"].get<std::string>();
                               if (event["type"] == "end") end = event;
                               return true;
                             });
      THEN("every line arrives, then the end with the outcome") {
        REQUIRE(followed.has_value());
        CHECK(output == "line 0\nline 1\nline 2\n");
        CHECK(end["status"] == "Completed");
        CHECK(end["exit_code"] == 0);
      }
    }
    WHEN("it has finished and its output is downloaded") {
      const auto finished = client.get_run("default", run_id, 30);
      REQUIRE(finished.has_value());
      REQUIRE((*finished)["status"] == "Completed");
      const auto dest = dir.path() / "model.txt";
      const auto downloaded =
          client.download_run_file("default", run_id, "outputs/model.txt", dest);
      THEN("the file is listed and its bytes are on disk") {
        REQUIRE(downloaded.has_value());
        CHECK(trainctl::util::read_file(dest).value() == "weights");
        const auto files = client.list_run_files("default", run_id);
        REQUIRE(files.has_value());
        CHECK((*files)["items"].dump().find("outputs/model.txt") != std::string::npos);
      }
    }
    WHEN("a file that does not exist is downloaded") {
      const auto dest = dir.path() / "missing.txt";
      const auto downloaded = client.download_run_file("default", run_id, "outputs/nope", dest);
      THEN("it is not found and nothing is left behind") {
        REQUIRE_FALSE(downloaded.has_value());
        CHECK(downloaded.error().code == ErrorCode::not_found);
        CHECK_FALSE(std::filesystem::exists(dest));
      }
    }
  }
}

TEST_CASE("the service's answers reach the user as errors", "[client][service]") {
  trainctl::testing::ServiceFixture service;

  SECTION("a wrong token is unauthorized") {
    auto client = client_of(service, "not-the-token");
    const auto workspaces = client.list_workspaces();
    REQUIRE_FALSE(workspaces.has_value());
    CHECK(workspaces.error().code == ErrorCode::unauthorized);
  }
  SECTION("health needs no token") {
    auto client = client_of(service, "");
    const auto health = client.health();
    REQUIRE(health.has_value());
    CHECK((*health)["status"] == "ok");
  }
  SECTION("an unknown workspace is not found") {
    auto client = client_of(service, service.token());
    const auto workspace = client.get_workspace("no-such-workspace");
    REQUIRE_FALSE(workspace.has_value());
    CHECK(workspace.error().code == ErrorCode::not_found);
  }
  SECTION("a workspace created twice is a conflict") {
    auto client = client_of(service, service.token());
    REQUIRE(client.create_workspace("ws1", "first").has_value());
    const auto again = client.create_workspace("ws1", "second");
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().code == ErrorCode::conflict);
  }
}

TEST_CASE("a stopped service is unavailable", "[client][service]") {
  trainctl::testing::ServiceFixture service;
  auto client = client_of(service, service.token());
  REQUIRE(client.health().has_value());

  service.stop();
  const auto health = client.health();

  REQUIRE_FALSE(health.has_value());
  CHECK(health.error().code == ErrorCode::unavailable);
  CHECK_THAT(health.error().message, Catch::Contains("Connection refused"));
}
