// Resumable downloads over the scripted FakeTransport: `<dest>.partial` survives a dropped
// transfer, the next download resumes it with a Range request, and `dest` only ever holds a
// complete, verified file.
#include <catch2/catch.hpp>

#include <filesystem>

#include "fakes/fake_transport.hpp"
#include "support/service_fixture.hpp"
#include "trainctl/client/api_client.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/sha256.hpp"

namespace {

using trainctl::Error;
using trainctl::ErrorCode;
using trainctl::client::ApiClient;
using trainctl::client::DownloadOptions;
using trainctl::client::HttpRequest;
using trainctl::testing::FakeReply;
using trainctl::testing::FakeTransport;
using trainctl::testing::TempDir;
namespace fs = std::filesystem;

const std::string k_target = "/v1/workspaces/default/datasets/mnist/versions/2/files/train.csv";
const std::string k_content = "0123456789abcdef";

std::string header_of(const HttpRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return {};
}

FakeReply reply(int status, std::vector<std::string> chunks,
                std::vector<std::pair<std::string, std::string>> headers = {}) {
  FakeReply out;
  out.response.status = status;
  out.response.headers = std::move(headers);
  out.chunks = std::move(chunks);
  return out;
}

std::string content_of(const fs::path& file) { return trainctl::util::read_file(file).value(); }

struct Download {
  TempDir dir;
  fs::path dest = dir.path() / "train.csv";
  fs::path partial = dir.path() / "train.csv.partial";
  FakeTransport fake;
  ApiClient client{fake.share(), "t"};
  DownloadOptions expected{.size = k_content.size(),
                           .sha256 = trainctl::util::sha256_hex(k_content),
                           .on_progress = {}};

  trainctl::Result<void> run() {
    return client.download_dataset_file("default", "mnist", "2", "train.csv", dest, expected);
  }
};

}  // namespace

TEST_CASE("a dropped download resumes where it stopped", "[client][download]") {
  Download download;
  GIVEN("a transfer that breaks off after 6 bytes") {
    download.fake.add_failure("GET", k_target, Error(ErrorCode::unavailable, "connection lost"),
                              {k_content.substr(0, 6)});
    const auto first = download.run();

    THEN("it fails, dest does not exist and <dest>.partial keeps the 6 bytes") {
      REQUIRE_FALSE(first.has_value());
      CHECK(first.error().code == ErrorCode::unavailable);
      CHECK_FALSE(fs::exists(download.dest));
      CHECK(content_of(download.partial) == k_content.substr(0, 6));
    }
    WHEN("it is downloaded again and the service answers 206") {
      download.fake.add_reply("GET", k_target,
                              reply(206, {k_content.substr(6)}, {{"Content-Range", "bytes 6-15/16"}}));
      std::vector<uint64_t> seen;
      download.expected.on_progress = [&](uint64_t present) { seen.push_back(present); };
      const auto second = download.run();

      THEN("it asks for the rest with a Range request and completes the file") {
        REQUIRE(second.has_value());
        const auto requests = download.fake.requests_to("GET", k_target);
        REQUIRE(requests.size() == 2);
        CHECK(header_of(requests[0], "Range").empty());
        CHECK(header_of(requests[1], "Range") == "bytes=6-");
        CHECK(content_of(download.dest) == k_content);
        CHECK_FALSE(fs::exists(download.partial));
        CHECK(seen.front() == 6);
        CHECK(seen.back() == 16);
      }
    }
    WHEN("it is downloaded again and the service ignores the range (200)") {
      download.fake.add_reply("GET", k_target, reply(200, {k_content.substr(0, 9), k_content.substr(9)}));
      const auto second = download.run();

      THEN("it starts over cleanly: the file is exactly the content") {
        REQUIRE(second.has_value());
        CHECK(content_of(download.dest) == k_content);
        CHECK_FALSE(fs::exists(download.partial));
      }
    }
    WHEN("the service answers 416 (the kept bytes no longer fit)") {
      download.fake.add_stream("GET", k_target, 416,
                               {R"({"error":{"code":"invalid_argument","message":"range"}})"});
      download.fake.add_reply("GET", k_target, reply(200, {k_content}));
      const auto second = download.run();

      THEN("it asks once more for the whole file") {
        REQUIRE(second.has_value());
        const auto requests = download.fake.requests_to("GET", k_target);
        REQUIRE(requests.size() == 3);
        CHECK(header_of(requests[2], "Range").empty());
        CHECK(content_of(download.dest) == k_content);
      }
    }
  }
}

TEST_CASE("a download that does not verify leaves dest untouched", "[client][download]") {
  Download download;
  REQUIRE(trainctl::util::write_file_atomic(download.dest, "old").has_value());

  SECTION("given content with another sha256, an error and no partial file") {
    download.fake.add_reply("GET", k_target, reply(200, {"0123456789ABCDEF"}));
    const auto downloaded = download.run();
    REQUIRE_FALSE(downloaded.has_value());
    CHECK_THAT(downloaded.error().message, Catch::Contains("sha256"));
    CHECK(content_of(download.dest) == "old");
    CHECK_FALSE(fs::exists(download.partial));
  }
  SECTION("given fewer bytes than the manifest's size, an error and no partial file") {
    download.fake.add_reply("GET", k_target, reply(200, {k_content.substr(0, 10)}));
    const auto downloaded = download.run();
    REQUIRE_FALSE(downloaded.has_value());
    CHECK_THAT(downloaded.error().message, Catch::Contains("expected 16"));
    CHECK(content_of(download.dest) == "old");
    CHECK_FALSE(fs::exists(download.partial));
  }
  SECTION("given a 206 that does not continue the kept bytes, an error") {
    REQUIRE(trainctl::util::write_file_atomic(download.partial, "012").has_value());
    download.fake.add_reply("GET", k_target,
                            reply(206, {k_content.substr(5)}, {{"Content-Range", "bytes 5-15/16"}}));
    const auto downloaded = download.run();
    REQUIRE_FALSE(downloaded.has_value());
    CHECK(content_of(download.dest) == "old");
    CHECK_FALSE(fs::exists(download.partial));
  }
  SECTION("given a file the service does not have, not_found and no partial file") {
    download.fake.add_stream("GET", k_target, 404,
                             {R"({"error":{"code":"not_found","message":"no such file"}})"});
    const auto downloaded = download.run();
    REQUIRE_FALSE(downloaded.has_value());
    CHECK(downloaded.error().code == ErrorCode::not_found);
    CHECK(content_of(download.dest) == "old");
    CHECK_FALSE(fs::exists(download.partial));
  }
}

TEST_CASE("a run file download without an expected size checks the announced one",
          "[client][download]") {
  TempDir dir;
  FakeTransport fake;
  ApiClient client(fake.share(), "t");
  const auto dest = dir.path() / "model.bin";
  fake.add_reply("GET", "/v1/workspaces/default/runs/run-1/files/outputs/model.bin",
                 reply(200, {"abc"}, {{"Content-Length", "5"}}));
  const auto downloaded = client.download_run_file("default", "run-1", "outputs/model.bin", dest);
  REQUIRE_FALSE(downloaded.has_value());
  CHECK_FALSE(fs::exists(dest));
}
