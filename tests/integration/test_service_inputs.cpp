// Runs with dataset inputs against a real trainctld: inputs resolved to a fixed version at
// submit and shown on the run, refused when they name nothing, and seen from inside a real run —
// a mounted input as read-only hard links to the blobs, a downloaded one as the run's own copy.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "test_service_helpers.hpp"

using trainctl::testing::body_json;
using trainctl::testing::http_request;
using trainctl::testing::ServiceFixture;
using trainctl::testing::upload_snapshot;
using trainctl::testing::wait_for_run;

namespace {

using Files = std::map<std::string, std::string>;  // path -> content

const std::string k_workspace_path = "/v1/workspaces/default";

// Uploads the blobs of `files` and creates a new version of dataset `name` from them; returns
// the version resource.
nlohmann::json create_dataset(const ServiceFixture& service, const std::string& name,
                              const Files& files) {
  auto manifest = nlohmann::json::array();
  for (const auto& [path, content] : files) {
    const std::string hash = trainctl::util::sha256_hex(content);
    http_request(service, "PUT", k_workspace_path + "/blobs/" + hash, content, {}, true,
                 "application/octet-stream");
    manifest.push_back(
        {{"path", path}, {"sha256", hash}, {"size", content.size()}, {"mode", 0644}});
  }
  const auto created = http_request(service, "POST", k_workspace_path + "/datasets",
                                    nlohmann::json{{"name", name}, {"files", manifest}}.dump());
  INFO(created.body);
  REQUIRE(created.status == 201);
  return body_json(created);
}

// The payload of a run of `script` (train.py) with `inputs` ({name: {dataset, version, mode}})
// and `script_params`.
nlohmann::json payload_with_inputs(const ServiceFixture& service, const std::string& script,
                                   const nlohmann::json& inputs,
                                   const std::vector<std::string>& script_params = {}) {
  nlohmann::json payload =
      trainctl::testing::script_payload(upload_snapshot(service, {{"train.py", script}}));
  payload["inputs"] = inputs;
  payload["estimator"]["script_params"] = script_params;
  return payload;
}

trainctl::testing::RawResponse submit(const ServiceFixture& service,
                                      const nlohmann::json& payload) {
  return http_request(service, "POST", k_workspace_path + "/runs", payload.dump());
}

// Submits and waits for the run to finish; returns it.
nlohmann::json run_to_end(const ServiceFixture& service, const nlohmann::json& payload) {
  const auto created = submit(service, payload);
  INFO(created.body);
  REQUIRE(created.status == 201);
  const auto run = wait_for_run(service, body_json(created).value("id", ""));
  INFO(run.dump());
  REQUIRE(run.value("status", "") == "Completed");
  return run;
}

// outputs/<name> of a finished run, as JSON.
nlohmann::json output_json(const ServiceFixture& service, const nlohmann::json& run,
                           const std::string& name) {
  const auto response = http_request(
      service, "GET", k_workspace_path + "/runs/" + run.value("id", "") + "/files/outputs/" + name);
  INFO(response.body);
  REQUIRE(response.status == 200);
  return body_json(response);
}

std::string blob_path(const ServiceFixture& service, const std::string& content) {
  const std::string hash = trainctl::util::sha256_hex(content);
  return (service.home() / "blobs" / hash.substr(0, 2) / hash).string();
}

ino_t inode_of(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_ino;
}

// What a run sees of its inputs: every file of --images and --labels (inode, mode, content);
// whether a user other than root may open a mounted file for reading, for writing, or create a
// file next to it (root's writes ignore permission bits, so a root run asks uid 65534); and what
// it read back after writing into its downloaded copy.
const std::string k_inspect_script = R"(
import json, os, sys

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
images, labels = args["--images"], args["--labels"]

def listing(root):
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            info = os.stat(path)
            with open(path) as handle:
                files[os.path.relpath(path, root)] = {
                    "inode": info.st_ino, "mode": info.st_mode & 0o777, "content": handle.read()}
    return {"files": files, "dir_mode": os.stat(root).st_mode & 0o777}

def succeeds(action):
    try:
        action()
        return True
    except OSError:
        return False

def unprivileged(folder, name, flags):
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    opens = lambda: os.close(os.open(name, flags, 0o644, dir_fd=folder_fd))
    if os.geteuid() != 0:
        return succeeds(opens)
    pid = os.fork()
    if pid == 0:
        os.setgid(65534)
        os.setuid(65534)
        os._exit(0 if succeeds(opens) else 1)
    return os.waitpid(pid, 0)[1] == 0

seen = {
    "images": listing(images),
    "labels": listing(labels),
    "env_images": os.environ.get("TRAINCTL_INPUT_IMAGES"),
    "env_labels": os.environ.get("TRAINCTL_INPUT_LABELS"),
    "images_file_readable": unprivileged(images, "a.txt", os.O_RDONLY),
    "images_file_writable": unprivileged(images, "a.txt", os.O_WRONLY | os.O_APPEND),
    "images_dir_writable": unprivileged(images, "new.txt", os.O_WRONLY | os.O_CREAT),
    # The run's own user, root included: the supervisor bind-mounts these read-only for root.
    "images_file_writable_by_run": succeeds(
        lambda: os.close(os.open(os.path.join(images, "a.txt"), os.O_WRONLY | os.O_APPEND))),
    # The stored snapshot itself (the working directory's copy of a source file may be written).
    "snapshot_writable_by_run": succeeds(
        lambda: os.close(os.open(os.path.join(os.path.dirname(os.environ["TRAINCTL_OUTPUTS_DIR"]),
                                              "snapshot", os.path.basename(sys.argv[0])),
                                 os.O_WRONLY | os.O_APPEND))),
}
with open(os.path.join(labels, "labels.csv"), "a") as handle:
    handle.write("3\n")
with open(os.path.join(labels, "new.txt"), "w") as handle:
    handle.write("new")
seen["labels_after_writing"] = listing(labels)
with open(os.path.join(os.environ["TRAINCTL_OUTPUTS_DIR"], "seen.json"), "w") as out:
    json.dump(seen, out)
)";

// Records the content of <input>/data.txt in outputs/data.json.
const std::string k_read_data_script = R"(
import json, os
with open(os.path.join(os.environ["TRAINCTL_INPUT_DATA"], "data.txt")) as handle:
    content = handle.read()
with open(os.path.join(os.environ["TRAINCTL_OUTPUTS_DIR"], "data.json"), "w") as out:
    json.dump({"content": content}, out)
)";

nlohmann::json data_input(const std::string& version) {
  return {{"data", {{"dataset", "numbers"}, {"version", version}, {"mode", "mount"}}}};
}

const std::string k_ok_script = "print('never run')\n";

}  // namespace

TEST_CASE("A run sees a mounted input read-only and a downloaded input as its own copy",
          "[service][inputs]") {
  ServiceFixture service;
  GIVEN(
      "dataset images (two files) and dataset labels, and a run mounting one, downloading the "
      "other") {
    create_dataset(service, "images", {{"a.txt", "alpha"}, {"sub/b.txt", "beta"}});
    create_dataset(service, "labels", {{"labels.csv", "1,2\n"}});
    const auto payload = payload_with_inputs(
        service, k_inspect_script,
        {{"images", {{"dataset", "images"}, {"version", "latest"}, {"mode", "mount"}}},
         {"labels", {{"dataset", "labels"}, {"version", "1"}, {"mode", "download"}}}},
        {"--images", "${{inputs.images}}", "--labels", "${{inputs.labels}}"});
    WHEN("the run completes") {
      const auto run = run_to_end(service, payload);
      const auto seen = output_json(service, run, "seen.json");
      const std::string inputs_dir =
          (service.home() / "runs" / run.value("id", "") / "inputs").string();
      THEN("its parameters and variables name <run>/inputs/NAME, and it found every file there") {
        CHECK(seen["env_images"] == inputs_dir + "/images");
        CHECK(seen["env_labels"] == inputs_dir + "/labels");
        CHECK(seen["images"]["files"]["a.txt"]["content"] == "alpha");
        CHECK(seen["images"]["files"]["sub/b.txt"]["content"] == "beta");
        CHECK(seen["labels"]["files"]["labels.csv"]["content"] == "1,2\n");
      }
      THEN("the mounted files are the blobs themselves, read-only, and nobody could write them") {
        CHECK(seen["images"]["files"]["a.txt"]["inode"] == inode_of(blob_path(service, "alpha")));
        CHECK(seen["images"]["files"]["sub/b.txt"]["inode"] ==
              inode_of(blob_path(service, "beta")));
        CHECK(seen["images"]["files"]["a.txt"]["mode"] == 0444);
        CHECK(seen["images"]["dir_mode"] == 0555);
        CHECK(seen["images_file_readable"] == true);
        CHECK(seen["images_file_writable"] == false);
        CHECK(seen["images_dir_writable"] == false);
        CHECK(seen["images_file_writable_by_run"] == false);
        CHECK(seen["snapshot_writable_by_run"] == false);
        CHECK(trainctl::util::read_file(blob_path(service, "alpha")).value() == "alpha");
      }
      THEN("the downloaded files are writable copies, and writing them left the blob alone") {
        CHECK(seen["labels"]["files"]["labels.csv"]["inode"] !=
              inode_of(blob_path(service, "1,2\n")));
        CHECK(seen["labels"]["files"]["labels.csv"]["mode"] == 0644);
        CHECK(seen["labels"]["dir_mode"] == 0755);
        const auto after = seen["labels_after_writing"]["files"];
        CHECK(after["labels.csv"]["content"] == "1,2\n3\n");
        CHECK(after["new.txt"]["content"] == "new");
        CHECK(trainctl::util::read_file(blob_path(service, "1,2\n")).value() == "1,2\n");
      }
      THEN("the run resource lists both inputs at their fixed versions") {
        CHECK(run["inputs"] == nlohmann::json::parse(R"([
          {"name": "images", "dataset": "images", "version": 1, "mode": "mount"},
          {"name": "labels", "dataset": "labels", "version": 1, "mode": "download"}])"));
      }
    }
  }
}

TEST_CASE("version: latest is fixed when the run is submitted", "[service][inputs]") {
  ServiceFixture service;
  GIVEN("dataset numbers at version 1 and a run of its latest version") {
    create_dataset(service, "numbers", {{"data.txt", "one"}});
    const auto first =
        run_to_end(service, payload_with_inputs(service, k_read_data_script, data_input("latest")));
    WHEN("version 2 is created afterwards") {
      create_dataset(service, "numbers", {{"data.txt", "two"}});
      const auto again = body_json(
          http_request(service, "GET", k_workspace_path + "/runs/" + first.value("id", "")));
      THEN("the first run still used, and still shows, version 1") {
        CHECK(output_json(service, first, "data.json")["content"] == "one");
        CHECK(again["inputs"][0]["version"] == 1);
      }
      THEN("a run submitted now gets version 2") {
        const auto second = run_to_end(
            service, payload_with_inputs(service, k_read_data_script, data_input("latest")));
        CHECK(second["inputs"][0]["version"] == 2);
        CHECK(output_json(service, second, "data.json")["content"] == "two");
      }
    }
  }
}

TEST_CASE("Inputs that name no dataset version are refused at submit", "[service][inputs]") {
  ServiceFixture service;
  create_dataset(service, "numbers", {{"data.txt", "one"}});
  const auto refusal_of = [&](const nlohmann::json& inputs) {
    const auto response = submit(service, payload_with_inputs(service, k_ok_script, inputs));
    INFO(response.body);
    REQUIRE(response.status == 422);
    const auto error = body_json(response)["error"];
    CHECK(error["code"] == "invalid_spec");
    REQUIRE(error["details"].size() == 1);
    return error["details"][0];
  };
  const auto no_run_was_made = [&] {
    const auto runs = body_json(http_request(service, "GET", k_workspace_path + "/runs"));
    return runs["items"].empty();
  };
  GIVEN("an input of a dataset that does not exist") {
    const auto detail =
        refusal_of({{"data", {{"dataset", "nothing"}, {"version", "latest"}, {"mode", "mount"}}}});
    THEN("the problem is at inputs.data.dataset and no run is made") {
      CHECK(detail["path"] == "inputs.data.dataset");
      CHECK_THAT(detail["message"].get<std::string>(), Catch::Contains("no dataset 'nothing'"));
      CHECK(no_run_was_made());
    }
  }
  GIVEN("an input of a version the dataset does not have") {
    const auto detail = refusal_of(data_input("7"));
    THEN("the problem is at inputs.data.version, naming the latest version") {
      CHECK(detail["path"] == "inputs.data.version");
      CHECK_THAT(detail["message"].get<std::string>(), Catch::Contains("the latest is 1"));
      CHECK(no_run_was_made());
    }
  }
  GIVEN("an input of a version that was deleted") {
    create_dataset(service, "numbers", {{"data.txt", "two"}});
    REQUIRE(
        http_request(service, "DELETE", k_workspace_path + "/datasets/numbers/versions/1").status ==
        204);
    const auto detail = refusal_of(data_input("1"));
    THEN("it is refused like a version that never was") {
      CHECK(detail["path"] == "inputs.data.version");
      CHECK(no_run_was_made());
    }
  }
  GIVEN("a script parameter that names an input the spec does not have") {
    auto payload = payload_with_inputs(service, k_ok_script, data_input("1"), {"${{inputs.dta}}"});
    const auto response = submit(service, payload);
    THEN("the spec's rule refuses it at the parameter's path") {
      REQUIRE(response.status == 422);
      CHECK(body_json(response)["error"]["details"][0]["path"] == "estimator.script_params[0]");
      CHECK(no_run_was_made());
    }
  }
}

TEST_CASE("A retry with its idempotency key returns the run, even after its input was deleted",
          "[service][inputs]") {
  ServiceFixture service;
  create_dataset(service, "numbers", {{"data.txt", "one"}});
  const auto payload = payload_with_inputs(service, k_read_data_script, data_input("1"));
  const std::string body = payload.dump();
  const std::vector<std::pair<std::string, std::string>> key{{"Idempotency-Key", "ci-job-42"}};
  const auto first = http_request(service, "POST", k_workspace_path + "/runs", body, key);
  REQUIRE(first.status == 201);
  const std::string run_id = body_json(first).value("id", "");
  REQUIRE(wait_for_run(service, run_id).value("status", "") == "Completed");
  REQUIRE(
      http_request(service, "DELETE", k_workspace_path + "/datasets/numbers/versions/1").status ==
      204);

  const auto retry = http_request(service, "POST", k_workspace_path + "/runs", body, key);
  INFO(retry.body);
  CHECK(retry.status == 200);
  CHECK(body_json(retry).value("id", "") == run_id);
  CHECK(body_json(retry)["inputs"][0].value("version", 0) == 1);
  // Without the key, the same payload is a new submission, refused: the version is gone.
  CHECK(http_request(service, "POST", k_workspace_path + "/runs", body).status == 422);
}

TEST_CASE("An input that cannot be filled fails the run in Preparing, naming it",
          "[service][inputs]") {
  ServiceFixture service;
  GIVEN("a dataset whose blob went missing from the service's store") {
    create_dataset(service, "numbers", {{"data.txt", "one"}});
    std::filesystem::remove(blob_path(service, "one"));
    WHEN("a run mounting it is submitted") {
      const auto created =
          submit(service, payload_with_inputs(service, k_read_data_script, data_input("1")));
      REQUIRE(created.status == 201);
      const auto run = wait_for_run(service, body_json(created).value("id", ""));
      THEN("the run fails before it starts, and its reason names the input and its version") {
        CHECK(run["status"] == "Failed");
        CHECK(run["started_at"].is_null());
        const std::string reason = run.value("failure_reason", "");
        CHECK_THAT(reason, Catch::Contains("input 'data' (dataset numbers version 1, mount)"));
        std::vector<std::string> timeline;
        for (const auto& event : run["timeline"]) timeline.push_back(event["status"]);
        CHECK(timeline == std::vector<std::string>{"Queued", "Preparing", "Failed"});
      }
    }
  }
}
