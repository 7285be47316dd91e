// ApiClient over the scripted FakeTransport: the requests it sends and how it reads replies.
#include <catch2/catch.hpp>
#include <filesystem>

#include "fakes/fake_transport.hpp"
#include "support/service_fixture.hpp"
#include "trainctl/client/api_client.hpp"
#include "trainctl/util/fs.hpp"

namespace {

using trainctl::Error;
using trainctl::ErrorCode;
using trainctl::client::ApiClient;
using trainctl::client::HttpRequest;
using trainctl::testing::FakeTransport;
using Json = nlohmann::json;

std::string header_of(const HttpRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return {};
}

const Json k_run = {{"id", "run-abc"}, {"status", "Queued"}};

}  // namespace

TEST_CASE("a request carries the token and a JSON body", "[client][api]") {
  GIVEN("a client with a token") {
    FakeTransport fake;
    ApiClient client(fake.share(), "s3cret");
    fake.add_json("POST", "/v1/workspaces", 201, {{"name", "ws1"}});

    WHEN("it creates a workspace") {
      const auto created = client.create_workspace("ws1", "my runs");

      THEN("it POSTs the JSON body with the bearer token and answers the reply") {
        REQUIRE(created.has_value());
        CHECK((*created)["name"] == "ws1");
        REQUIRE(fake.requests().size() == 1);
        const auto& sent = fake.requests()[0];
        CHECK(sent.method == "POST");
        CHECK(sent.target == "/v1/workspaces");
        CHECK(header_of(sent, "Authorization") == "Bearer s3cret");
        CHECK(header_of(sent, "Content-Type") == "application/json");
        CHECK(Json::parse(sent.body) == Json{{"name", "ws1"}, {"description", "my runs"}});
      }
    }
  }
}

TEST_CASE("path segments and query values are percent-encoded", "[client][api]") {
  FakeTransport fake;
  ApiClient client(fake.share(), "t");

  SECTION("a workspace and run id holding reserved characters stay one segment each") {
    fake.add_json("GET", "/v1/workspaces/my%20ws%2Fx/runs/a%3Fb%23c%25", 200, k_run);
    REQUIRE(client.get_run("my ws/x", "a?b#c%").has_value());
  }
  SECTION("list filters are encoded and empty ones left out") {
    fake.add_json("GET",
                  "/v1/workspaces/default/runs?experiment=exp%20%26%20co&status=Running%2CQueued"
                  "&limit=10",
                  200, {{"items", Json::array()}, {"next_page_token", nullptr}});
    const auto runs = client.list_runs(
        "default",
        {.experiment = "exp & co", .status = "Running,Queued", .limit = 10, .page_token = ""});
    REQUIRE(runs.has_value());
  }
  SECTION("a run file path keeps its '/' separators but encodes each segment") {
    const trainctl::testing::TempDir dir;
    fake.add_stream("GET", "/v1/workspaces/default/runs/run-1/files/outputs/my%20model/w%3F.bin",
                    200, {"bytes"});
    REQUIRE(
        client
            .download_run_file("default", "run-1", "outputs/my model/w?.bin", dir.path() / "w.bin")
            .has_value());
  }
  CHECK(fake.pending_replies() == 0);
}

TEST_CASE("error replies become errors with their code, message and details", "[client][api]") {
  FakeTransport fake;
  ApiClient client(fake.share(), "t");

  SECTION("a 409 with an error body") {
    fake.add_json("POST", "/v1/workspaces", 409,
                  {{"error",
                    {{"code", "conflict"},
                     {"message", "workspace ws1 exists"},
                     {"details", {{{"path", "name"}, {"message", "taken"}}}}}}});
    const auto created = client.create_workspace("ws1", "");
    REQUIRE_FALSE(created.has_value());
    CHECK(created.error().code == ErrorCode::conflict);
    CHECK(created.error().message == "workspace ws1 exists");
    REQUIRE(created.error().details.size() == 1);
    CHECK(created.error().details[0].path == "name");
    CHECK(created.error().details[0].message == "taken");
  }
  SECTION("a 422 listing every problem") {
    fake.add_json("POST", "/v1/workspaces/default/runs", 422,
                  {{"error",
                    {{"code", "invalid_spec"},
                     {"message", "the payload is invalid"},
                     {"details",
                      {{{"path", "estimator.node_count"}, {"message", "must be at least 1"}},
                       {{"path", "compute"}, {"message", "no compute named gpu"}}}}}}});
    const auto run = client.create_run("default", {{"experiment", "e"}}, "");
    REQUIRE_FALSE(run.has_value());
    CHECK(run.error().code == ErrorCode::invalid_spec);
    REQUIRE(run.error().details.size() == 2);
    CHECK(run.error().details[1].path == "compute");
  }
  SECTION("a 502 with an HTML body is named by its status") {
    trainctl::client::HttpResponse gateway;
    gateway.status = 502;
    gateway.body = "<html><body>Bad Gateway</body></html>";
    fake.add_reply("GET", "/v1/workspaces", {.response = gateway, .chunks = {}, .failure = {}});
    const auto listed = client.list_workspaces();
    REQUIRE_FALSE(listed.has_value());
    CHECK(listed.error().code == ErrorCode::internal);
    CHECK_THAT(listed.error().message, Catch::Contains("HTTP 502 Bad Gateway"));
  }
  SECTION("a 503 without a body is unavailable") {
    trainctl::client::HttpResponse busy;
    busy.status = 503;
    fake.add_reply("GET", "/v1/workspaces", {.response = busy, .chunks = {}, .failure = {}});
    const auto listed = client.list_workspaces();
    REQUIRE_FALSE(listed.has_value());
    CHECK(listed.error().code == ErrorCode::unavailable);
  }
  SECTION("a service that cannot be reached") {
    fake.add_failure("GET", "/v1/workspaces",
                     Error(ErrorCode::unavailable, "cannot reach trainctld at http://x"));
    const auto listed = client.list_workspaces();
    REQUIRE_FALSE(listed.has_value());
    CHECK(listed.error().code == ErrorCode::unavailable);
  }
}

TEST_CASE("a submission sends its idempotency key and reports a replay", "[client][api]") {
  FakeTransport fake;
  ApiClient client(fake.share(), "t");
  fake.add_json("POST", "/v1/workspaces/default/runs", 201, k_run);
  fake.add_json("POST", "/v1/workspaces/default/runs", 200, k_run, {{"idempotent-replay", "true"}});

  const auto first = client.create_run("default", {{"experiment", "e"}}, "key-1");
  const auto second = client.create_run("default", {{"experiment", "e"}}, "key-1");

  REQUIRE(first.has_value());
  REQUIRE(second.has_value());
  CHECK_FALSE(first->replayed);
  CHECK(second->replayed);
  CHECK(second->run["id"] == "run-abc");
  CHECK(header_of(fake.requests()[0], "Idempotency-Key") == "key-1");
}

TEST_CASE("waiting for a run holds the request on the server", "[client][api]") {
  FakeTransport fake;
  ApiClient client(fake.share(), "t");
  fake.add_json("GET", "/v1/workspaces/default/runs/run-abc?wait=true&timeout=30", 200, k_run);

  REQUIRE(client.get_run("default", "run-abc", 30).has_value());
  CHECK(fake.requests()[0].timeout_seconds > 30);
}

TEST_CASE("blobs are asked for and uploaded from their file", "[client][api]") {
  const trainctl::testing::TempDir dir;
  const auto file = dir.path() / "train.py";
  REQUIRE(trainctl::util::write_file_atomic(file, "print('hi')\n").has_value());
  FakeTransport fake;
  ApiClient client(fake.share(), "t");
  const std::string hash(64, 'a');
  fake.add_json("POST", "/v1/workspaces/default/blobs/missing", 200, {{"missing", {hash}}});
  fake.add_json("PUT", "/v1/workspaces/default/blobs/" + hash, 201, {{"sha256", hash}});

  const auto missing = client.missing_blobs("default", {hash, std::string(64, 'b')});
  const auto uploaded = client.upload_blob("default", hash, file);

  REQUIRE(missing.has_value());
  CHECK(*missing == std::vector<std::string>{hash});
  REQUIRE(uploaded.has_value());
  const auto& put = fake.requests()[1];
  CHECK(header_of(put, "Content-Type") == "application/octet-stream");
  CHECK(put.body_file == file);
  CHECK(put.body == "print('hi')\n");
}

TEST_CASE("log events are parsed across chunk boundaries", "[client][api][logs]") {
  FakeTransport fake;
  ApiClient client(fake.share(), "t");
  const std::string target = "/v1/workspaces/default/runs/run-abc/logs";
  std::vector<Json> events;
  const auto collect = [&](const Json& event) {
    events.push_back(event);
    return true;
  };

  SECTION("events split mid-line, several in one chunk, and a last line without a newline") {
    fake.add_stream("GET", target + "?follow=true", 200,
                    {R"({"type":"log","task":"main","offset":0,"next_offset":6,"da)", "ta\":\"hel",
                     "lo\\n\"}\n{\"type\":\"heartbeat\"}\n{\"type\":\"sta",
                     "tus\",\"status\":\"Running\"}\n", R"({"type":"end","status":"Completed"})"});

    const auto streamed = client.stream_logs("default", "run-abc",
                                             {.task = "", .offset = "", .follow = true}, collect);

    REQUIRE(streamed.has_value());
    REQUIRE(events.size() == 4);
    CHECK(events[0]["data"] == "hello\n");
    CHECK(events[1]["type"] == "heartbeat");
    CHECK(events[2]["status"] == "Running");
    CHECK(events[3]["type"] == "end");
  }
  SECTION("a task and an offset resume the stream") {
    fake.add_stream("GET", target + "?task=worker-0&offset=120", 200, {"{\"type\":\"end\"}\n"});
    REQUIRE(client
                .stream_logs("default", "run-abc",
                             {.task = "worker-0", .offset = "120", .follow = false}, collect)
                .has_value());
    CHECK(events.size() == 1);
  }
  SECTION("the receiver stops the stream") {
    fake.add_stream("GET", target, 200, {"{\"type\":\"heartbeat\"}\n{\"type\":\"heartbeat\"}\n"});
    const auto streamed = client.stream_logs("default", "run-abc", {}, [&](const Json& event) {
      events.push_back(event);
      return false;
    });
    REQUIRE_FALSE(streamed.has_value());
    CHECK(streamed.error().code == ErrorCode::interrupted);
    CHECK(events.size() == 1);
  }
  SECTION("an unknown task is an error reply, not an event") {
    fake.add_stream("GET", target, 404,
                    {R"({"error":{"code":"not_found","message":"no task worker-9"}})"});
    const auto streamed = client.stream_logs("default", "run-abc", {}, collect);
    REQUIRE_FALSE(streamed.has_value());
    CHECK(streamed.error().code == ErrorCode::not_found);
    CHECK(streamed.error().message == "no task worker-9");
    CHECK(events.empty());
  }
  SECTION("a line that is not JSON") {
    fake.add_stream("GET", target, 200, {"{\"type\":\"heartbeat\"}\nnot json\n"});
    const auto streamed = client.stream_logs("default", "run-abc", {}, collect);
    REQUIRE_FALSE(streamed.has_value());
    CHECK(streamed.error().code == ErrorCode::internal);
    CHECK_THAT(streamed.error().message, Catch::Contains("not json"));
  }
}

TEST_CASE("a download replaces its destination only when complete", "[client][api][files]") {
  const trainctl::testing::TempDir dir;
  const auto dest = dir.path() / "model.pkl";
  REQUIRE(trainctl::util::write_file_atomic(dest, "old").has_value());
  FakeTransport fake;
  ApiClient client(fake.share(), "t");
  const std::string target = "/v1/workspaces/default/runs/run-1/files/outputs/model.pkl";
  const auto files_in_dir = [&] {
    return std::distance(std::filesystem::directory_iterator(dir.path()),
                         std::filesystem::directory_iterator());
  };

  SECTION("a complete download") {
    fake.add_stream("GET", target, 200, {"new ", "bytes"});
    REQUIRE(client.download_run_file("default", "run-1", "outputs/model.pkl", dest).has_value());
    CHECK(trainctl::util::read_file(dest).value() == "new bytes");
  }
  SECTION("a connection lost midway leaves the old file, and the bytes so far only in .partial") {
    fake.add_failure("GET", target, Error(ErrorCode::unavailable, "connection lost"), {"new "});
    const auto downloaded = client.download_run_file("default", "run-1", "outputs/model.pkl", dest);
    REQUIRE_FALSE(downloaded.has_value());
    CHECK(downloaded.error().code == ErrorCode::unavailable);
    CHECK(trainctl::util::read_file(dest).value() == "old");
    CHECK(trainctl::util::read_file(dir.path() / "model.pkl.partial").value() == "new ");
    std::filesystem::remove(dir.path() / "model.pkl.partial");
  }
  SECTION("a missing file") {
    fake.add_stream("GET", target, 404, {R"({"error":{"code":"not_found","message":"no file"}})"});
    const auto downloaded = client.download_run_file("default", "run-1", "outputs/model.pkl", dest);
    REQUIRE_FALSE(downloaded.has_value());
    CHECK(downloaded.error().code == ErrorCode::not_found);
    CHECK(trainctl::util::read_file(dest).value() == "old");
  }
  CHECK(files_in_dir() == 1);
}
