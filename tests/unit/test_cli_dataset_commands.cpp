// `dataset` commands over the scripted FakeTransport: what they send and what a user sees.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fakes/fake_transport.hpp"
#include "support/service_fixture.hpp"
#include "trainctl/cli/commands/dataset.hpp"
#include "trainctl/util/sha256.hpp"

namespace {

using namespace trainctl::cli;
using nlohmann::json;
using trainctl::ErrorCode;
using trainctl::testing::FakeTransport;
using trainctl::testing::TempDir;

const std::string k_datasets = "/v1/workspaces/default/datasets";

// A session over a FakeTransport, printing into strings, with its cache in a temp folder.
struct DatasetSession {
  TempDir home;
  FakeTransport transport;
  std::ostringstream out;
  std::ostringstream err;
  Printer printer{out, err};
  Session session{config(home), printer,
                  [this](const trainctl::config::Config&, Printer&)
                      -> trainctl::Result<std::unique_ptr<trainctl::client::ApiClient>> {
                    return std::make_unique<trainctl::client::ApiClient>(transport.share(), "t");
                  }};

  static trainctl::config::Config config(const TempDir& dir) {
    trainctl::config::Config out;
    out.workspace = "default";
    out.cache_dir = dir.path() / "cache";
    return out;
  }
};

json version_reply(int version, bool created) {
  return {{"name", "mnist"},     {"version", version},  {"file_count", 2},
          {"total_size", 4404},  {"source", "files"},   {"created", created}};
}

}  // namespace

TEST_CASE("dataset create uploads only the missing blobs of a folder", "[cli][dataset]") {
  DatasetSession fake;
  const auto data = fake.home.path() / "data";
  std::filesystem::create_directories(data / ".git");
  std::ofstream(data / "a.csv") << "kept on the service";
  std::ofstream(data / ".git" / "HEAD") << std::string(4385, 'h');
  const auto missing = trainctl::util::sha256_hex(std::string(4385, 'h'));

  DatasetCreateOptions options;
  options.name = "mnist";
  options.path = data.string();
  options.tags = {"team=vision"};

  GIVEN("a service that lacks one blob and makes version 3") {
    fake.transport.add_json("POST", "/v1/workspaces/default/blobs/missing", 200,
                            {{"missing", {missing}}});
    fake.transport.add_json("PUT", "/v1/workspaces/default/blobs/" + missing, 201, json::object());
    fake.transport.add_json("POST", k_datasets, 201, version_reply(3, true));
    const auto code = run_dataset_create(fake.session, options);

    THEN("one blob travels, the manifest names every file, and the new version is reported") {
      REQUIRE(code.value() == 0);
      CHECK(fake.transport.requests_to("PUT", "/v1/workspaces/default/blobs/").size() == 1);
      const auto body = json::parse(fake.transport.requests_to("POST", k_datasets).at(0).body);
      CHECK(body.at("files").size() == 2);  // .git is data here
      CHECK(body.at("tags") == json{{"team", "vision"}});
      CHECK(body.at("create_new_version") == false);
      CHECK(fake.out.str() == "created mnist version 3 (2 files, 4.3 KiB)\n");
      CHECK(fake.err.str().empty());
    }
  }
  GIVEN("a service whose latest version has this content") {
    fake.transport.add_json("POST", "/v1/workspaces/default/blobs/missing", 200,
                            {{"missing", json::array()}});
    fake.transport.add_json("POST", k_datasets, 200, version_reply(2, false));
    const auto code = run_dataset_create(fake.session, options);

    THEN("nothing is uploaded and the user learns how to force a version") {
      REQUIRE(code.value() == 0);
      CHECK(fake.transport.requests_to("PUT", "/v1/workspaces/default/blobs/").empty());
      CHECK(fake.out.str() ==
            "mnist version 2 has the same content; use --new-version to make another\n");
    }
  }
}

TEST_CASE("dataset delete refused by the service is a conflict with its message",
          "[cli][dataset]") {
  DatasetSession fake;
  fake.transport.add_json(
      "DELETE", k_datasets + "/mnist/versions/2", 409,
      {{"error",
        {{"code", "conflict"},
         {"message", "dataset mnist:2 is used by run run-abc (Running); cancel it or wait for it "
                     "to finish"}}}});
  DatasetDeleteOptions options;
  options.ref = "mnist:2";
  options.yes = true;  // never a question, even when the test runs on a terminal
  const auto deleted = run_dataset_delete(fake.session, options);
  REQUIRE_FALSE(deleted.has_value());
  CHECK(deleted.error().code == ErrorCode::conflict);
  CHECK_THAT(deleted.error().message, Catch::Contains("used by run run-abc"));
}
