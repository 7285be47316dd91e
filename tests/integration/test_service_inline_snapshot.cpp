// POST /v1/workspaces/{ws}/runs with the snapshot inline, through the real trainctld: one request
// when the workspace has the snapshot; content_missing naming exactly what to send otherwise;
// nothing made until everything is there; a retry with the same key makes one run.
#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"
#include "trainctl/service/blob_store.hpp"

using namespace trainctl::testing;

namespace {

using nlohmann::json;

RawResponse submit(const ServiceFixture& service, const json& body, const std::string& key = {},
                   const std::string& workspace = "default") {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
  return http_request(service, "POST", "/v1/workspaces/" + workspace + "/runs", body.dump(),
                      headers);
}

size_t run_count(const ServiceFixture& service, const std::string& workspace = "default") {
  return body_json(http_request(service, "GET", "/v1/workspaces/" + workspace + "/runs?limit=1000"))
      ["items"]
          .size();
}

// A project of `count` files (train.py and data files), as the manifest a client sends.
struct Project {
  std::map<std::string, std::string> contents;
  json files = json::array();
  std::string id;  // what POST .../snapshots would name it
};

Project project(int count) {
  Project made;
  made.contents["train.py"] = "print('inline')\n";
  for (int i = 1; i < count; ++i) made.contents[fmt::format("data/{:03}.txt", i)] = fmt::format("{}\n", i);
  for (const auto& [path, content] : made.contents) {
    made.files.push_back({{"path", path},
                          {"sha256", trainctl::util::sha256_hex(content)},
                          {"size", content.size()},
                          {"mode", 0644}});
  }
  return made;
}

void upload_blobs(const ServiceFixture& service, const Project& made) {
  for (const auto& [path, content] : made.contents) {
    const auto put = http_request(service, "PUT",
                                  "/v1/workspaces/default/blobs/" + trainctl::util::sha256_hex(content),
                                  content, {}, true, "application/octet-stream");
    REQUIRE(put.status / 100 == 2);
  }
}

json with_snapshot(json snapshot, const std::string& experiment = "inline") {
  json body = script_payload("", experiment);
  body.erase("snapshot_id");
  body["snapshot"] = std::move(snapshot);
  return body;
}

std::set<std::string> detail_paths(const RawResponse& response) {
  std::set<std::string> paths;
  const auto body = body_json(response);
  for (const auto& detail : body["error"]["details"]) paths.insert(detail.value("path", ""));
  return paths;
}

}  // namespace

SCENARIO("a run submitted with its snapshot inline", "[service][runs][snapshot]") {
  ServiceFixture service;
  const Project made = project(30);
  // The id the old route gives the same files, made in another workspace.
  REQUIRE(http_request(service, "POST", "/v1/workspaces", json{{"name", "other"}}.dump()).status == 201);

  GIVEN("files whose blobs are not uploaded") {
    const auto response = submit(service, with_snapshot({{"files", made.files}}), "key-1");
    THEN("409 content_missing names every missing blob, and nothing is made") {
      REQUIRE(response.status == 409);
      CHECK(body_json(response)["error"]["code"] == "content_missing");
      std::set<std::string> hashes;
      for (const auto& file : made.files) hashes.insert(file["sha256"].get<std::string>());
      CHECK(detail_paths(response) == hashes);  // all 30, not a sample
      CHECK(run_count(service) == 0);
    }
    WHEN("the blobs are uploaded and the same request is sent again with the same key") {
      upload_blobs(service, made);
      const auto created = submit(service, with_snapshot({{"files", made.files}}), "key-1");
      THEN("the run and its snapshot are made, and the run runs its files") {
        REQUIRE(created.status == 201);
        const auto run = body_json(created);
        CHECK(run["snapshot_id"].get<std::string>().size() == 64);
        CHECK(wait_for_run(service, run["id"])["status"] == "Completed");
      }
      AND_WHEN("the submission is retried naming the snapshot by id alone, same key") {
        const std::string id = body_json(created)["snapshot_id"];
        const auto retried = submit(service, with_snapshot({{"id", id}}), "key-1");
        THEN("it is the same request: the first run, replayed") {
          REQUIRE(retried.status == 200);
          CHECK(header_of(retried, "Idempotent-Replay") == "true");
          CHECK(body_json(retried)["id"] == body_json(created)["id"]);
          CHECK(run_count(service) == 1);
        }
      }
      AND_WHEN("the old API submits the same payload by snapshot_id with the same key") {
        const std::string id = body_json(created)["snapshot_id"];
        const auto old_style = submit(service, script_payload(id, "inline"), "key-1");
        THEN("it replays the same run") {
          REQUIRE(old_style.status == 200);
          CHECK(body_json(old_style)["id"] == body_json(created)["id"]);
        }
      }
      AND_WHEN("another run is submitted naming the snapshot by id alone, new key") {
        const std::string id = body_json(created)["snapshot_id"];
        const auto second = submit(service, with_snapshot({{"id", id}}, "second"), "key-2");
        THEN("one request makes it") {
          REQUIRE(second.status == 201);
          CHECK(body_json(second)["snapshot_id"] == id);
          CHECK(run_count(service) == 2);
        }
      }
      AND_WHEN("another workspace names that snapshot by id alone") {
        const std::string id = body_json(created)["snapshot_id"];
        const auto foreign = submit(service, with_snapshot({{"id", id}}), "key-3", "other");
        THEN("it is asked for the files: a snapshot is not reused across workspaces by id") {
          REQUIRE(foreign.status == 409);
          CHECK(body_json(foreign)["error"]["code"] == "content_missing");
          CHECK(detail_paths(foreign) == std::set<std::string>{"snapshot.files"});
          CHECK(run_count(service, "other") == 0);
        }
      }
    }
  }

  GIVEN("a snapshot the workspace used, one of whose blob files was lost since") {
    upload_blobs(service, made);
    const auto first = submit(service, with_snapshot({{"files", made.files}}));
    REQUIRE(first.status == 201);
    const std::string id = body_json(first)["snapshot_id"];
    const std::string lost = made.files[0]["sha256"];
    const trainctl::service::BlobStore blobs(service.home() / "blobs", service.home() / "tmp");
    REQUIRE(std::filesystem::remove(blobs.path_of(lost)));
    const auto by_id = submit(service, with_snapshot({{"id", id}}, "again"), "lost-key");
    THEN("naming it by id is answered with that blob missing, and no run is made") {
      REQUIRE(by_id.status == 409);
      CHECK(detail_paths(by_id) == std::set<std::string>{lost});
      CHECK(run_count(service) == 1);
    }
    AND_WHEN("the blob is uploaded again and the request sent again") {
      upload_blobs(service, made);
      const auto again = submit(service, with_snapshot({{"id", id}}, "again"), "lost-key");
      THEN("the run is made and runs") {
        REQUIRE(again.status == 201);
        CHECK(wait_for_run(service, body_json(again)["id"])["status"] == "Completed");
      }
    }
  }

  GIVEN("an id no run of the workspace has used") {
    const std::string id = trainctl::util::sha256_hex("no such manifest");
    const auto response = submit(service, with_snapshot({{"id", id}}));
    THEN("409 content_missing asks for the files; nothing is made") {
      REQUIRE(response.status == 409);
      CHECK(body_json(response)["error"]["code"] == "content_missing");
      CHECK(detail_paths(response) == std::set<std::string>{"snapshot.files"});
      CHECK(run_count(service) == 0);
    }
  }

  GIVEN("files and an id that is not their digest") {
    upload_blobs(service, made);
    const auto response = submit(
        service,
        with_snapshot({{"id", trainctl::util::sha256_hex("other")}, {"files", made.files}}));
    THEN("400 naming snapshot.id; nothing is made") {
      REQUIRE(response.status == 400);
      CHECK(detail_paths(response) == std::set<std::string>{"snapshot.id"});
      CHECK(run_count(service) == 0);
    }
  }

  GIVEN("the snapshot made by the old route (blobs, snapshot, then the run)") {
    const auto id = upload_snapshot(service, made.contents);
    THEN("its id is the digest of the inline files, and the old three requests still make a run") {
      upload_blobs(service, made);
      const auto inline_run = submit(service, with_snapshot({{"files", made.files}}));
      REQUIRE(inline_run.status == 201);
      CHECK(body_json(inline_run)["snapshot_id"] == id);
      const auto old_run = submit(service, script_payload(id, "old"));
      REQUIRE(old_run.status == 201);
      CHECK(wait_for_run(service, body_json(old_run)["id"])["status"] == "Completed");
    }
  }
}
