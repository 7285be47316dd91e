// The model registry through trainctld's REST API: a real run writes outputs/model, which is
// registered with its lineage and copied so it never changes; paths that leave the run's outputs
// (traversal, absolute paths, symlinks) are refused or not followed; only a Completed run's files
// are taken; versions are deleted without their numbers being reused.
#include <catch2/catch.hpp>
#include <fstream>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;

namespace {

const std::string k_workspace = "/v1/workspaces/default";
const std::string k_models = k_workspace + "/models";

// Writes outputs/model/{weights.bin,config/params.json}, a symlink in it to `sentinel` (a file
// outside the run), outputs/escape (a symlink to the sentinel's directory) and outputs/notes.txt.
std::string training_script(const std::filesystem::path& sentinel) {
  return fmt::format(R"(import os
out = os.environ['TRAINCTL_OUTPUTS_DIR']
os.makedirs(out + '/model/config')
with open(out + '/model/weights.bin', 'wb') as f:
    f.write(bytes(range(256)) * 64)
with open(out + '/model/config/params.json', 'w') as f:
    f.write('{{"layers": 3}}')
with open(out + '/notes.txt', 'w') as f:
    f.write('not part of the model')
os.symlink('{0}', out + '/model/leak.txt')
os.symlink('{1}', out + '/escape')
)",
                     sentinel.string(), sentinel.parent_path().string());
}

std::string expected_weights() {
  std::string bytes;
  for (int round = 0; round < 64; ++round) {
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  }
  return bytes;
}

// Creates dataset digits-data (version 1) for the run to use as an input.
void create_input_dataset(const ServiceFixture& service) {
  const std::string content = "1,2,3\n";
  const std::string hash = trainctl::util::sha256_hex(content);
  http_request(service, "PUT", k_workspace + "/blobs/" + hash, content, {}, true,
               "application/octet-stream");
  const nlohmann::json manifest = nlohmann::json::array(
      {{{"path", "digits.csv"}, {"sha256", hash}, {"size", content.size()}, {"mode", 0644}}});
  const auto created = http_request(service, "POST", k_workspace + "/datasets",
                                    nlohmann::json{{"name", "digits-data"}, {"files", manifest}}.dump());
  REQUIRE(created.status == 201);
}

// Runs `script` with digits-data as input "data" to its end; returns the run.
nlohmann::json run_to_end(const ServiceFixture& service, const std::string& script) {
  auto payload = script_payload(upload_snapshot(service, {{"train.py", script}}), "digits");
  payload["inputs"] = {{"data", {{"dataset", "digits-data"}, {"version", "latest"}, {"mode", "download"}}}};
  const auto created = http_request(service, "POST", k_workspace + "/runs", payload.dump());
  INFO(created.body);
  REQUIRE(created.status == 201);
  return wait_for_run(service, body_json(created).value("id", ""));
}

RawResponse register_model(const ServiceFixture& service, const std::string& run_id,
                           const std::string& path, const nlohmann::json& extra = nlohmann::json::object()) {
  nlohmann::json body{{"name", "digits"}, {"run_id", run_id}, {"path", path}};
  body.update(extra);
  return http_request(service, "POST", k_models, body.dump());
}

std::string error_code_of(const RawResponse& response) {
  return body_json(response)["error"].value("code", "");
}

std::vector<std::string> paths_of(const nlohmann::json& version) {
  std::vector<std::string> paths;
  for (const auto& file : version["files"]) paths.push_back(file.value("path", ""));
  return paths;
}

}  // namespace

SCENARIO("a model is registered from a Completed run's outputs, with its lineage", "[service][models]") {
  ServiceFixture service;
  TempDir outside;
  const auto sentinel = outside.path() / "secret.txt";
  { std::ofstream(sentinel) << "sentinel"; }
  create_input_dataset(service);
  const auto run = run_to_end(service, training_script(sentinel));
  REQUIRE(run["status"] == "Completed");
  const std::string run_id = run.value("id", "");

  GIVEN("the run wrote outputs/model") {
    const auto registered = register_model(
        service, run_id, "outputs/model",
        {{"framework", "sklearn"}, {"framework_version", "1.2.1"}, {"cpu", 0.5},
         {"memory_gb", 1}, {"description", "digits classifier"}, {"tags", {{"team", "vision"}}}});
    INFO(registered.body);
    REQUIRE(registered.status == 201);
    const auto version = body_json(registered);

    THEN("version 1 records the run, its experiment, snapshot and datasets") {
      CHECK(version["name"] == "digits");
      CHECK(version["version"] == 1);
      CHECK(version["run_id"] == run_id);
      CHECK(version["experiment"] == "digits");
      CHECK(version["snapshot_id"] == run["snapshot_id"]);
      CHECK(version["path"] == "outputs/model");
      CHECK(version["inputs"] == run["inputs"]);
      CHECK(version["inputs"][0]["dataset"] == "digits-data");
      CHECK(version["inputs"][0]["version"] == 1);
      CHECK(version["framework"] == "sklearn");
      CHECK(version["framework_version"] == "1.2.1");
      CHECK(version["cpu"] == 0.5);
      CHECK(version["memory_gb"] == 1);
      CHECK(version["tags"]["team"] == "vision");
      CHECK(header_of(registered, "Location") == k_models + "/digits/versions/1");
    }
    THEN("its files are those under outputs/model, relative to it, and the symlink is not taken") {
      CHECK(paths_of(version) == std::vector<std::string>{"config/params.json", "weights.bin"});
      CHECK(version["file_count"] == 2);
    }
    THEN("the files download byte for byte, and the sentinel outside is untouched") {
      const auto weights = http_request(service, "GET", k_models + "/digits/versions/1/files/weights.bin");
      CHECK(weights.status == 200);
      CHECK(weights.body == expected_weights());
      CHECK(http_request(service, "GET", k_models + "/digits/versions/latest/files/config/params.json")
                .body == R"({"layers": 3})");
      CHECK(http_request(service, "GET", k_models + "/digits/versions/1/files/leak.txt").status == 404);
      CHECK(trainctl::util::read_file(sentinel).value() == "sentinel");
    }
    THEN("the version does not change when the run's files do") {
      const auto weights_path = service.home() / "runs" / run_id / "outputs" / "model" / "weights.bin";
      { std::ofstream(weights_path, std::ios::trunc) << "overwritten"; }
      CHECK(http_request(service, "GET", k_models + "/digits/versions/1/files/weights.bin").body ==
            expected_weights());
    }
    THEN("the model is listed, and shows its versions") {
      const auto listed = body_json(http_request(service, "GET", k_models));
      REQUIRE(listed["items"].size() == 1);
      CHECK(listed["items"][0]["name"] == "digits");
      CHECK(listed["items"][0]["latest_version"] == 1);
      CHECK(listed["items"][0]["framework"] == "sklearn");
      const auto shown = body_json(http_request(service, "GET", k_models + "/digits"));
      REQUIRE(shown["versions"].size() == 1);
      CHECK_FALSE(shown["versions"][0].contains("files"));
    }
    WHEN("one file is registered, then version 1 is deleted") {
      const auto single = register_model(service, run_id, "outputs/model/weights.bin");
      REQUIRE(single.status == 201);
      CHECK(body_json(single)["version"] == 2);
      CHECK(paths_of(body_json(single)) == std::vector<std::string>{"weights.bin"});
      REQUIRE(http_request(service, "DELETE", k_models + "/digits/versions/1").status == 204);

      THEN("version 1 is gone, version 2 stays, and the next version is 3") {
        CHECK(http_request(service, "GET", k_models + "/digits/versions/1").status == 404);
        CHECK(body_json(http_request(service, "GET", k_models + "/digits/versions/latest"))["version"] == 2);
        CHECK(body_json(register_model(service, run_id, "outputs/model"))["version"] == 3);
      }
      THEN("deleting the model deletes every version") {
        CHECK(http_request(service, "DELETE", k_models + "/digits").status == 204);
        CHECK(http_request(service, "GET", k_models + "/digits").status == 404);
        CHECK(body_json(http_request(service, "GET", k_models))["items"].empty());
      }
    }
  }

  GIVEN("paths that leave the run's outputs") {
    for (const std::string path : {"../x", "/etc", "outputs/../../x", "outputs/model/../../../x",
                                   "logs/stdout.log", "", "outputs//model"}) {
      const auto refused = register_model(service, run_id, path);
      INFO(path << ": " << refused.body);
      CHECK(refused.status == 422);
    }
    THEN("a symlinked directory in outputs is not followed: no files, and nothing registered") {
      const auto refused = register_model(service, run_id, "outputs/escape");
      CHECK(refused.status == 404);
      CHECK_THAT(body_json(refused)["error"].value("message", ""), Catch::Contains("no files"));
      const auto through = register_model(service, run_id, "outputs/escape/secret.txt");
      CHECK(through.status == 404);
      CHECK(http_request(service, "GET", k_models + "/digits").status == 404);
      CHECK(trainctl::util::read_file(sentinel).value() == "sentinel");
    }
    THEN("a path with no files is a 404 that says so") {
      const auto missing = register_model(service, run_id, "outputs/nothing-here");
      CHECK(missing.status == 404);
      CHECK_THAT(body_json(missing)["error"].value("message", ""), Catch::Contains("no files at outputs/nothing-here"));
    }
  }

  GIVEN("bad fields") {
    CHECK(register_model(service, run_id, "outputs/model", {{"framework", "caffe"}}).status == 422);
    CHECK(register_model(service, run_id, "outputs/model", {{"cpu", -1}}).status == 422);
    CHECK(register_model(service, run_id, "outputs/model", {{"name", "../x"}}).status == 422);
    CHECK(register_model(service, run_id, "outputs/model", {{"unknown", 1}}).status == 422);
    CHECK(register_model(service, "run-doesnotexist", "outputs/model").status == 404);
  }
}

TEST_CASE("a model is not registered from a run that did not complete", "[service][models]") {
  ServiceFixture service;
  const auto run = submit_script(
      service, "import os\nopen(os.environ['TRAINCTL_OUTPUTS_DIR'] + '/model.bin', 'w').write('half')\n"
               "raise SystemExit(3)\n");
  const std::string run_id = run.value("id", "");
  REQUIRE(wait_for_run(service, run_id)["status"] == "Failed");

  const auto refused = register_model(service, run_id, "outputs/model.bin");
  CHECK(refused.status == 409);
  CHECK(error_code_of(refused) == "conflict");
  CHECK_THAT(body_json(refused)["error"].value("message", ""),
             Catch::Contains("Failed") && Catch::Contains("Completed"));
  CHECK(http_request(service, "GET", k_models + "/digits").status == 404);
}
