// client::create_run_with_snapshot against a real trainctld, every request counted on the way:
// an unchanged resubmit is one request of a few kilobytes; a first submit sends the files and
// exactly the missing blobs; a retry makes no second run.
#include <catch2/catch.hpp>
#include <filesystem>

#include "support/service_fixture.hpp"
#include "trainctl/client/api_client.hpp"
#include "trainctl/client/snapshot.hpp"
#include "trainctl/util/fs.hpp"

namespace {

using trainctl::Result;
using trainctl::client::HttpRequest;
using trainctl::client::HttpResponse;

// The real transport, recording "METHOD path" and the body size of each request it sends.
class CountingTransport : public trainctl::client::Transport {
 public:
  CountingTransport(std::unique_ptr<Transport> inner, std::vector<std::string>& requests,
                    size_t& bytes_sent)
      : m_inner(std::move(inner)), m_requests(requests), m_bytes_sent(bytes_sent) {}

  Result<HttpResponse> send(const HttpRequest& request) override {
    record(request);
    return m_inner->send(request);
  }
  Result<HttpResponse> stream(const HttpRequest& request,
                              const std::function<bool(std::string_view)>& on_data) override {
    record(request);
    return m_inner->stream(request, on_data);
  }
  std::string endpoint() const override { return m_inner->endpoint(); }

 private:
  void record(const HttpRequest& request) {
    const auto target = request.target.substr(0, request.target.find('?'));
    m_requests.push_back(request.method + " " + target);
    m_bytes_sent += request.body.size();
    if (request.body_file) m_bytes_sent += std::filesystem::file_size(*request.body_file);
  }

  std::unique_ptr<Transport> m_inner;
  std::vector<std::string>& m_requests;
  size_t& m_bytes_sent;
};

void write(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  REQUIRE(trainctl::util::write_file_atomic(path, content).has_value());
}

nlohmann::json payload_for(const std::string& snapshot_id) {
  return {{"experiment", "inline"},
          {"snapshot_id", snapshot_id},
          {"estimator", {{"framework", "generic"}, {"entry_script", "train.py"}}}};
}

// Each request as "POST runs", "PUT blob" or its method and path.
std::vector<std::string> kinds(const std::vector<std::string>& requests) {
  std::vector<std::string> out;
  for (const auto& request : requests) {
    const auto space = request.find(' ');
    const std::string method = request.substr(0, space);
    out.push_back(method + (request.find("/blobs/") != std::string::npos ? " blob"
                            : request.ends_with("/runs")                  ? " runs"
                                                                          : " " + request));
  }
  return out;
}

}  // namespace

TEST_CASE("a submit sends one request when the service has the snapshot",
          "[client][service][snapshot][submit]") {
  trainctl::testing::ServiceFixture service;
  std::vector<std::string> requests;
  size_t bytes_sent = 0;
  trainctl::client::ApiClient client(
      std::make_unique<CountingTransport>(
          trainctl::client::make_curl_transport(
              {.endpoint = service.endpoint(), .token = service.token()}),
          requests, bytes_sent),
      service.token());
  const trainctl::testing::TempDir dir;
  const auto project = dir.path() / "project";
  write(project / "train.py", "print('inline')\n");
  for (int i = 0; i < 200; ++i) write(project / fmt::format("data/{:03}.txt", i), fmt::format("{}\n", i));
  const auto scan = trainctl::client::scan_source_directory(project);
  REQUIRE(scan.has_value());

  GIVEN("a project the service has never seen") {
    trainctl::client::UploadReport report;
    const auto first = trainctl::client::create_run_with_snapshot(
        client, "default", *scan, payload_for(scan->digest()), "first-key", {}, &report);
    THEN("the id, then the files, then exactly the missing blobs, then the files again") {
      REQUIRE(first.has_value());
      CHECK_FALSE(first->replayed);
      CHECK(first->run["snapshot_id"] == scan->digest());
      CHECK(report.uploaded_files == 201);
      std::vector<std::string> expected{"POST runs", "POST runs"};
      expected.insert(expected.end(), 201, "PUT blob");
      expected.push_back("POST runs");
      CHECK(kinds(requests) == expected);
    }
    AND_WHEN("the same project is submitted again unchanged") {
      requests.clear();
      bytes_sent = 0;
      const auto again = trainctl::client::create_run_with_snapshot(
          client, "default", *scan, payload_for(scan->digest()), "second-key");
      THEN("it is one request of a few hundred bytes, making a new run") {
        REQUIRE(again.has_value());
        CHECK_FALSE(again->replayed);
        CHECK(kinds(requests) == std::vector<std::string>{"POST runs"});
        CHECK(bytes_sent < 1000);
        CHECK(again->run["id"] != first->run["id"]);
      }
    }
    AND_WHEN("the first submission is retried with its key") {
      requests.clear();
      const auto retried = trainctl::client::create_run_with_snapshot(
          client, "default", *scan, payload_for(scan->digest()), "first-key");
      THEN("one request answers it with the first run, replayed") {
        REQUIRE(retried.has_value());
        CHECK(retried->replayed);
        CHECK(retried->run["id"] == first->run["id"]);
        CHECK(kinds(requests) == std::vector<std::string>{"POST runs"});
      }
    }
  }

  GIVEN("a project whose blobs are all uploaded but that no run has used") {
    REQUIRE(trainctl::client::upload_missing_blobs(client, "default", *scan).has_value());
    requests.clear();
    const auto submitted = trainctl::client::create_run_with_snapshot(
        client, "default", *scan, payload_for(scan->digest()), "key");
    THEN("the id, then the files: two requests, nothing uploaded") {
      REQUIRE(submitted.has_value());
      CHECK(kinds(requests) == std::vector<std::string>{"POST runs", "POST runs"});
    }
  }
}
