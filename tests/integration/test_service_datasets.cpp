// Datasets through trainctld's REST API: versions from uploaded blobs, listing, file downloads
// with byte ranges, traversal in every name and path, and deletes refused while a run uses them.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;

namespace {

const std::string k_datasets = "/v1/workspaces/default/datasets";

std::string upload_blob(const ServiceFixture& service, const std::string& content) {
  const std::string hash = trainctl::util::sha256_hex(content);
  const auto put = http_request(service, "PUT", "/v1/workspaces/default/blobs/" + hash, content, {},
                                true, "application/octet-stream");
  REQUIRE((put.status == 201 || put.status == 200));
  return hash;
}

// Uploads `files` (path -> content) and returns their manifest.
nlohmann::json upload_files(const ServiceFixture& service,
                            const std::map<std::string, std::string>& files) {
  auto manifest = nlohmann::json::array();
  for (const auto& [path, content] : files) {
    manifest.push_back({{"path", path},
                        {"sha256", upload_blob(service, content)},
                        {"size", content.size()},
                        {"mode", 0644}});
  }
  return manifest;
}

// A manifest of one entry with these fields, well-formed or not.
nlohmann::json one_file(const std::string& path, const std::string& sha256,
                        const nlohmann::json& size, const nlohmann::json& mode) {
  return nlohmann::json::array(
      {nlohmann::json{{"path", path}, {"sha256", sha256}, {"size", size}, {"mode", mode}}});
}

RawResponse create_dataset(const ServiceFixture& service, const nlohmann::json& body) {
  return http_request(service, "POST", k_datasets, body.dump());
}

// Creates mnist from `files` (which must succeed); returns the version resource.
nlohmann::json create_mnist(const ServiceFixture& service,
                            const std::map<std::string, std::string>& files) {
  const auto created =
      create_dataset(service, {{"name", "mnist"}, {"files", upload_files(service, files)}});
  REQUIRE(created.status == 201);
  return body_json(created);
}

std::string error_code_of(const RawResponse& response) {
  return body_json(response)["error"].value("code", "");
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// 100 KiB that differ at every offset a test looks at.
std::string sample_bytes() {
  std::string bytes;
  for (int i = 0; i < 100 * 1024; ++i) bytes.push_back(static_cast<char>((i * 7 + i / 256) % 256));
  return bytes;
}

// A web server on 127.0.0.1 serving two different files both named data.csv.
class WebServer {
 public:
  WebServer() {
    m_server.Get("/a/data.csv", [](const httplib::Request&, httplib::Response& response) {
      response.set_content("a,b\n1,2\n", "text/csv");
    });
    m_server.Get("/b/data.csv", [](const httplib::Request&, httplib::Response& response) {
      response.set_header("Content-Disposition", "attachment; filename=\"../../evil\"");
      response.set_content("c,d\n3,4\n", "text/csv");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~WebServer() {
    m_server.stop();
    m_thread.join();
  }
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
  }

 private:
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
};

}  // namespace

TEST_CASE("a dataset made from URLs is downloaded by the service and names its files safely",
          "[service][datasets][urls]") {
  WebServer web;
  const auto urls = nlohmann::json::array({web.url("/a/data.csv"), web.url("/b/data.csv")});

  GIVEN("a service that allows loopback URLs") {
    ServiceFixture service({"--allow-url-network", "127.0.0.0/8"});
    const auto created = create_dataset(service, {{"name", "web"}, {"urls", urls}});
    REQUIRE(created.status == 201);
    CHECK(body_json(created)["source"] == "urls");
    CHECK(body_json(created)["file_count"] == 2);

    const auto version = body_json(http_request(service, "GET", k_datasets + "/web/versions/1"));
    REQUIRE(version["files"].size() == 2);
    CHECK(version["files"][0]["path"] == "data-2.csv");
    CHECK(version["files"][0]["url"] == urls[1]);
    CHECK(version["files"][0]["mode"] == 0644);
    CHECK(version["files"][1]["path"] == "data.csv");
    CHECK(version["files"][1]["url"] == urls[0]);
    CHECK(http_request(service, "GET", k_datasets + "/web/versions/1/files/data.csv").body ==
          "a,b\n1,2\n");
    CHECK(http_request(service, "GET", k_datasets + "/web/versions/1/files/data-2.csv").body ==
          "c,d\n3,4\n");

    THEN("the same downloads again make no new version") {
      const auto again = create_dataset(service, {{"name", "web"}, {"urls", urls}});
      CHECK(again.status == 200);
      CHECK(body_json(again)["version"] == 1);
    }
  }
  GIVEN("a service with the default URL policy") {
    ServiceFixture service;
    THEN("a loopback URL is refused, and so is a scheme other than http and https") {
      for (const auto& url : {web.url("/a/data.csv"), std::string("file:///etc/passwd")}) {
        INFO(url);
        const auto refused =
            create_dataset(service, {{"name", "web"}, {"urls", nlohmann::json::array({url})}});
        CHECK(refused.status == 400);
      }
      CHECK(http_request(service, "GET", k_datasets + "/web").status == 404);
    }
  }
}

TEST_CASE("a dataset made from uploaded blobs is versioned, listed and shown",
          "[service][datasets]") {
  ServiceFixture service;
  const auto manifest =
      upload_files(service, {{"train.csv", "1,2,3\n"}, {"images/zero.png", "PNG0"}});
  const nlohmann::json body{{"name", "mnist"},
                            {"description", "handwritten digits"},
                            {"tags", {{"team", "vision"}}},
                            {"files", manifest}};

  const auto created = create_dataset(service, body);
  REQUIRE(created.status == 201);
  const auto first = body_json(created);
  CHECK(first["created"] == true);
  CHECK(first["version"] == 1);
  CHECK(first["name"] == "mnist");
  CHECK(first["description"] == "handwritten digits");
  CHECK(first["tags"] == nlohmann::json{{"team", "vision"}});
  CHECK(first["file_count"] == 2);
  CHECK(first["total_size"] == 10);
  CHECK(first["source"] == "files");
  CHECK_FALSE(first.contains("files"));
  CHECK(header_of(created, "Location") == k_datasets + "/mnist/versions/1");

  SECTION("its content hash is the id a snapshot of the same files gets") {
    const auto snapshot = http_request(service, "POST", "/v1/workspaces/default/snapshots",
                                       nlohmann::json{{"files", manifest}}.dump());
    CHECK(body_json(snapshot)["id"] == first["content_hash"]);
  }
  SECTION("the same content again is the existing version, unless a new version is asked for") {
    const auto again = create_dataset(service, body);
    CHECK(again.status == 200);
    CHECK(body_json(again)["created"] == false);
    CHECK(body_json(again)["version"] == 1);

    auto asked = body;
    asked["create_new_version"] = true;
    const auto second = create_dataset(service, asked);
    CHECK(second.status == 201);
    CHECK(body_json(second)["version"] == 2);

    const auto listed = body_json(http_request(service, "GET", k_datasets));
    REQUIRE(listed["items"].size() == 1);
    CHECK(listed["items"][0]["name"] == "mnist");
    CHECK(listed["items"][0]["latest_version"] == 2);
    CHECK(listed["items"][0]["version_count"] == 2);
    CHECK(listed["items"][0]["description"] == "handwritten digits");

    const auto shown = body_json(http_request(service, "GET", k_datasets + "/mnist"));
    REQUIRE(shown["versions"].size() == 2);
    CHECK(shown["versions"][0]["version"] == 1);
    CHECK(shown["versions"][1]["version"] == 2);
    CHECK_FALSE(shown["versions"][0].contains("files"));

    const auto latest =
        body_json(http_request(service, "GET", k_datasets + "/mnist/versions/latest"));
    CHECK(latest["version"] == 2);
    const auto one = body_json(http_request(service, "GET", k_datasets + "/mnist/versions/1"));
    CHECK(one["version"] == 1);
    CHECK(one["files"] == manifest);  // as uploaded, sorted by path
  }
  SECTION("versions and datasets that do not exist are 404; malformed versions are 400") {
    CHECK(http_request(service, "GET", k_datasets + "/mnist/versions/9").status == 404);
    CHECK(http_request(service, "GET", k_datasets + "/cifar").status == 404);
    CHECK(http_request(service, "GET", k_datasets + "/cifar/versions/latest").status == 404);
    CHECK(http_request(service, "GET", "/v1/workspaces/nowhere/datasets").status == 404);
    for (const std::string& version :
         std::vector<std::string>{"0", "-1", "abc", "1.5", "+1", "99999999999999999999999"}) {
      INFO(version);
      CHECK(http_request(service, "GET", k_datasets + "/mnist/versions/" + version).status == 400);
    }
    CHECK(http_request(service, "DELETE", k_datasets + "/mnist/versions/latest").status == 400);
  }
}

TEST_CASE("a dataset body is checked before anything is stored", "[service][datasets]") {
  ServiceFixture service;
  const auto manifest = upload_files(service, {{"train.csv", "1,2,3\n"}});
  const std::string missing_hash = trainctl::util::sha256_hex("never uploaded");

  SECTION("a blob that was not uploaded is named, and no version is made") {
    auto files = manifest;
    files.push_back({{"path", "test.csv"}, {"sha256", missing_hash}, {"size", 14}, {"mode", 0644}});
    const auto response = create_dataset(service, {{"name", "mnist"}, {"files", files}});
    CHECK(response.status == 400);
    const auto error = body_json(response)["error"];
    CHECK_THAT(error.value("message", ""), Catch::Contains("upload the missing blobs first"));
    REQUIRE(error["details"].size() == 1);
    CHECK(error["details"][0]["path"] == missing_hash);
    CHECK(http_request(service, "GET", k_datasets + "/mnist").status == 404);
  }
  SECTION("malformed bodies are 400") {
    const auto entry = manifest[0];
    const std::vector<nlohmann::json> bad_bodies{
        {{"files", manifest}},
        {{"name", "mnist"}},
        {{"name", "mnist"},
         {"files", manifest},
         {"urls", nlohmann::json::array({"http://127.0.0.1/x.csv"})}},
        {{"name", "mnist"}, {"files", nlohmann::json::array()}},
        {{"name", "mnist"}, {"files", nlohmann::json::array({entry, entry})}},
        {{"name", "mnist"}, {"files", manifest}, {"tags", {{"bad key", "v"}}}},
        {{"name", "mnist"}, {"files", manifest}, {"tags", {{"k", 1}}}},
        {{"name", "mnist"}, {"files", manifest}, {"create_new_version", "yes"}},
        {{"name", "mnist"}, {"files", manifest}, {"description", 3}},
        {{"name", "mnist"}, {"files", one_file("a", "abc", 1, 420)}},
        {{"name", "mnist"}, {"files", one_file("a", missing_hash, -1, 420)}},
        {{"name", "mnist"}, {"files", one_file("a", missing_hash, 1, "rw")}},
    };
    for (const auto& body : bad_bodies) {
      INFO(body.dump());
      const auto response = create_dataset(service, body);
      CHECK(response.status == 400);
      CHECK(error_code_of(response) == "invalid_argument");
    }
    CHECK(body_json(http_request(service, "GET", k_datasets))["items"].empty());
  }
}

TEST_CASE("a dataset file downloads whole, and a byte range resumes it exactly",
          "[service][datasets]") {
  ServiceFixture service;
  const std::string bytes = sample_bytes();
  create_mnist(service, {{"data/train.bin", bytes}, {"empty.txt", ""}});
  const std::string file = k_datasets + "/mnist/versions/1/files/data/train.bin";

  const auto whole = http_request(service, "GET", file);
  CHECK(whole.status == 200);
  CHECK(whole.body == bytes);
  CHECK(header_of(whole, "Content-Length") == std::to_string(bytes.size()));
  CHECK(header_of(whole, "Content-Type") == "application/octet-stream");
  CHECK(header_of(whole, "Accept-Ranges") == "bytes");
  CHECK(http_request(service, "GET", k_datasets + "/mnist/versions/latest/files/data/train.bin")
            .body == bytes);

  SECTION("a download cut short resumes from where it stopped") {
    const size_t have = 40'000;
    const auto rest =
        http_request(service, "GET", file, {}, {{"Range", fmt::format("bytes={}-", have)}});
    CHECK(rest.status == 206);
    CHECK(header_of(rest, "Content-Range") ==
          fmt::format("bytes {}-{}/{}", have, bytes.size() - 1, bytes.size()));
    CHECK(bytes.substr(0, have) + rest.body == bytes);
  }
  SECTION("closed, suffix and overlong ranges are answered exactly") {
    const auto middle = http_request(service, "GET", file, {}, {{"Range", "bytes=10-19"}});
    CHECK(middle.status == 206);
    CHECK(middle.body == bytes.substr(10, 10));
    const auto tail = http_request(service, "GET", file, {}, {{"Range", "bytes=-5"}});
    CHECK(tail.status == 206);
    CHECK(tail.body == bytes.substr(bytes.size() - 5));
    const auto past_end =
        http_request(service, "GET", file, {}, {{"Range", "bytes=100000-999999999"}});
    CHECK(past_end.status == 206);
    CHECK(past_end.body == bytes.substr(100000));
    CHECK(header_of(past_end, "Content-Range") ==
          fmt::format("bytes 100000-{}/{}", bytes.size() - 1, bytes.size()));
  }
  SECTION("a range beyond the file is 416 naming the size") {
    const auto beyond =
        http_request(service, "GET", file, {}, {{"Range", fmt::format("bytes={}-", bytes.size())}});
    CHECK(beyond.status == 416);
    CHECK(header_of(beyond, "Content-Range") == fmt::format("bytes */{}", bytes.size()));
    CHECK(body_json(beyond)["error"].contains("message"));
  }
  SECTION("an error answered to a range request keeps its whole JSON body") {
    const auto missing = http_request(service, "GET", k_datasets + "/mnist/versions/1/files/nope",
                                      {}, {{"Range", "bytes=2-4"}});
    CHECK(missing.status == 404);
    CHECK(error_code_of(missing) == "not_found");
  }
  SECTION("an empty file downloads as zero bytes") {
    const auto empty =
        http_request(service, "GET", k_datasets + "/mnist/versions/1/files/empty.txt");
    CHECK(empty.status == 200);
    CHECK(empty.body.empty());
  }
}

TEST_CASE("traversal in dataset names, versions and file paths is refused and reaches nothing",
          "[service][datasets]") {
  ServiceFixture service;
  TempDir outside;
  const auto sentinel = outside.path() / "sentinel";
  std::ofstream(sentinel) << "keep";
  const std::string secret = "a blob no dataset lists";
  const std::string secret_hash = upload_blob(service, secret);
  create_mnist(service, {{"train.csv", "1,2,3\n"}});

  SECTION("in the name of a new dataset") {
    const auto manifest = upload_files(service, {{"train.csv", "1,2,3\n"}});
    for (const std::string& name : std::vector<std::string>{
             "..", ".", "../x", "/etc/passwd", "a/b", "..\\x", std::string("x\0y", 3), "",
             std::string(300, 'n'), "x'; DROP TABLE runs;--"}) {
      INFO(name);
      CHECK(create_dataset(service, {{"name", name}, {"files", manifest}}).status == 400);
    }
  }
  SECTION("in the file paths of a new dataset") {
    const std::string hash = upload_blob(service, "x");
    for (const std::string& path : std::vector<std::string>{
             "../x", "/etc/passwd", "a/../../b", "..\\x", "x/./y", "", ".", std::string("a\0b", 3),
             "a//b", std::string(300, 'p'), "../../../../../.." + sentinel.string(),
             "%2e%2e/x", "a/%252e%252e/b", "x%2fy"}) {
      INFO(path);
      const auto files = one_file(path, hash, 1, 0644);
      CHECK(create_dataset(service, {{"name", "evil"}, {"files", files}}).status == 400);
    }
    CHECK(http_request(service, "GET", k_datasets + "/evil").status == 404);
  }
  SECTION("in the dataset name and version of a route") {
    for (const std::string& name :
         std::vector<std::string>{"..", "%2e%2e", "a%2f..%2f..%2fb", "..%5cx", "%00",
                                  std::string(300, 'w'), "%e2%80%aeabc"}) {
      INFO(name);
      CHECK(http_request(service, "GET", k_datasets + "/" + name).status == 400);
      CHECK(http_request(service, "GET", k_datasets + "/" + name + "/versions/1").status == 400);
      CHECK(http_request(service, "DELETE", k_datasets + "/" + name).status == 400);
      CHECK(http_request(service, "GET", k_datasets + "/mnist/versions/" + name).status == 400);
    }
  }
  SECTION("in the file path of a download") {
    const std::string files = k_datasets + "/mnist/versions/1/files/";
    for (const std::string& path : std::vector<std::string>{
             "../x", "train.csv/../../x", "/etc/passwd", "a/../../b", "..%5Cx", "%2e%2e/x",
             "%252e%252e%252fx", "x%00", "", ".", std::string(300, 'a'),
             "../../../../../../.." + sentinel.string()}) {
      INFO(path);
      CHECK(http_request(service, "GET", files + path).status == 400);
    }
    THEN("only the manifest's paths are served: a blob's hash or store path reaches nothing") {
      CHECK(http_request(service, "GET", files + secret_hash).status == 404);
      CHECK(http_request(service, "GET",
                         files + "blobs/" + secret_hash.substr(0, 2) + "/" + secret_hash)
                .status == 404);
      CHECK(http_request(service, "GET", files + "trainctl.db").status == 404);
      CHECK(http_request(service, "GET", files + "train.csv").body == "1,2,3\n");
    }
  }
  CHECK(slurp(sentinel) == "keep");
}

TEST_CASE("a dataset version a run uses is kept until the run finishes", "[service][datasets]") {
  ServiceFixture service;
  create_mnist(service, {{"train.csv", "1,2,3\n"}});
  create_mnist(service, {{"train.csv", "4,5,6\n"}});

  GIVEN("a running run that mounts version 2") {
    const auto snapshot = upload_snapshot(
        service, {{"train.py", "import time\nprint('started', flush=True)\ntime.sleep(60)\n"}});
    auto payload = script_payload(snapshot);
    payload["inputs"] = {
        {"digits", {{"dataset", "mnist"}, {"version", "latest"}, {"mode", "mount"}}}};
    const auto created =
        http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump());
    REQUIRE(created.status == 201);
    const std::string run_id = body_json(created).value("id", "");

    THEN("deleting that version or the dataset is refused naming the run, and nothing is deleted") {
      for (const std::string& target :
           std::vector<std::string>{k_datasets + "/mnist/versions/2", k_datasets + "/mnist"}) {
        INFO(target);
        const auto refused = http_request(service, "DELETE", target);
        CHECK(refused.status == 409);
        CHECK_THAT(body_json(refused)["error"].value("message", ""),
                   Catch::StartsWith("dataset mnist:2 is used by run " + run_id + " (") &&
                       Catch::EndsWith("; cancel it or wait for it to finish"));
      }
      CHECK(body_json(http_request(service, "GET", k_datasets + "/mnist"))["versions"].size() == 2);
    }
    THEN("version 1, which it does not use, is deleted, and its number is not reused") {
      CHECK(http_request(service, "DELETE", k_datasets + "/mnist/versions/1").status == 204);
      CHECK(http_request(service, "GET", k_datasets + "/mnist/versions/1").status == 404);
      CHECK(http_request(service, "DELETE", k_datasets + "/mnist/versions/1").status == 404);
      const auto third = create_mnist(service, {{"train.csv", "1,2,3\n"}});
      CHECK(third["version"] == 3);
    }
    WHEN("the run is canceled and has finished") {
      REQUIRE(
          http_request(service, "POST", "/v1/workspaces/default/runs/" + run_id + "/cancel", "{}")
              .status < 300);
      wait_for_run(service, run_id);
      THEN("the whole dataset can be deleted") {
        CHECK(http_request(service, "DELETE", k_datasets + "/mnist").status == 204);
        CHECK(http_request(service, "GET", k_datasets + "/mnist").status == 404);
        CHECK(body_json(http_request(service, "GET", k_datasets))["items"].empty());
      }
    }
  }
}
