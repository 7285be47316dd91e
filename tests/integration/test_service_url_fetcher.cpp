// Dataset URLs (url_fetcher.hpp, RELIABILITY 18): real HTTP downloads from a fixture web server
// on loopback, into a real blob store, under the address policy, the size cap and the naming rules.
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/service_fixture.hpp"
#include "trainctl/service/url_fetcher.hpp"
#include "trainctl/util/sha256.hpp"

using namespace trainctl;
using namespace trainctl::testing;
using trainctl::service::BlobStore;
using trainctl::service::fetch_url;
using trainctl::service::file_name_for_url;
using trainctl::service::UrlPolicy;

namespace {

const std::string k_csv = "a,b\n1,2\n";
constexpr size_t k_large_size = 64 * 1024;
constexpr size_t k_chunk_size = 4096;

// A web server on 127.0.0.1 with the routes the tests download from; it counts requests.
class FixtureWebServer {
 public:
  FixtureWebServer() {
    m_server.set_pre_routing_handler([this](const httplib::Request&, httplib::Response&) {
      ++m_requests;
      return httplib::Server::HandlerResponse::Unhandled;
    });
    install_routes();
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FixtureWebServer() {
    m_stopping = true;
    m_server.stop();
    m_thread.join();
  }
  FixtureWebServer(const FixtureWebServer&) = delete;
  FixtureWebServer& operator=(const FixtureWebServer&) = delete;

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
  }
  int port() const { return m_port; }
  int requests() const { return m_requests; }

 private:
  void install_routes() {
    m_server.Get("/files/data.csv", [](const httplib::Request&, httplib::Response& response) {
      response.set_content(k_csv, "text/csv");
    });
    m_server.Get("/files/broken.csv", [](const httplib::Request&, httplib::Response& response) {
      response.status = 503;
    });
    m_server.Get("/files/large.bin", [](const httplib::Request&, httplib::Response& response) {
      response.set_content(std::string(k_large_size, 'x'), "application/octet-stream");
    });
    m_server.Get("/stream/large.bin", [](const httplib::Request&, httplib::Response& response) {
      response.set_chunked_content_provider("application/octet-stream",
                                            [](size_t offset, httplib::DataSink& sink) {
                                              if (offset >= k_large_size) {
                                                sink.done();
                                                return true;
                                              }
                                              const std::string chunk(k_chunk_size, 'y');
                                              return sink.write(chunk.data(), chunk.size());
                                            });
    });
    m_server.Get("/files/attachment.csv", [](const httplib::Request&, httplib::Response& response) {
      response.set_header("Content-Disposition", "attachment; filename=\"../../etc/passwd\"");
      response.set_content(k_csv, "text/csv");
    });
    m_server.Get("/redirect/data.csv", [](const httplib::Request&, httplib::Response& response) {
      response.set_redirect("/files/data.csv");
    });
    m_server.Get("/redirect/metadata.csv",
                 [](const httplib::Request&, httplib::Response& response) {
                   response.set_redirect("http://169.254.169.254/latest/meta-data/iam");
                 });
    m_server.Get("/redirect/file.csv", [](const httplib::Request&, httplib::Response& response) {
      response.set_redirect("file:///etc/passwd");
    });
    // One byte every 200 ms until the client goes away.
    m_server.Get("/slow/drip.bin", [this](const httplib::Request&, httplib::Response& response) {
      response.set_chunked_content_provider(
          "application/octet-stream", [this](size_t, httplib::DataSink& sink) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            return !m_stopping && sink.write("z", 1);
          });
    });
  }

  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
  std::atomic<int> m_requests{0};
  std::atomic<bool> m_stopping{false};
};

// A non-blocking listening socket on 127.0.0.1 that never accepts: it tells whether anything
// connected.
class SilentListener {
 public:
  SilentListener() : m_fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    auto* raw = reinterpret_cast<sockaddr*>(&address);
    REQUIRE(::bind(m_fd, raw, length) == 0);
    REQUIRE(::listen(m_fd, 16) == 0);
    REQUIRE(::getsockname(m_fd, raw, &length) == 0);
    m_port = ntohs(address.sin_port);
  }
  ~SilentListener() { ::close(m_fd); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;

  std::string url(const std::string& path) const {
    return "127.0.0.1:" + std::to_string(m_port) + path;
  }
  bool was_connected() const {
    const int connection = ::accept4(m_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) return false;
    ::close(connection);
    return true;
  }

 private:
  int m_fd;
  int m_port = 0;
};

// A blob store in a temp home: <home>/blobs and <home>/tmp.
struct BlobHome {
  TempDir home;
  BlobStore blobs{home.path() / "blobs", home.path() / "tmp"};

  bool has_temp_files() const {
    const auto tmp = home.path() / "tmp";
    return std::filesystem::exists(tmp) && !std::filesystem::is_empty(tmp);
  }
};

UrlPolicy loopback_allowed() {
  UrlPolicy policy;
  policy.allowed_networks = {"127.0.0.0/8"};
  return policy;
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("a URL is named after the last segment of its path, never anything unsafe", "[urls]") {
  SECTION("given a plain URL, then the name is its last path segment, decoded") {
    CHECK(file_name_for_url("https://example.com/data/train.csv") == "train.csv");
    CHECK(file_name_for_url("http://example.com/train%20set.csv?raw=1#top") == "train set.csv");
  }
  SECTION("given a URL that names no file or a traversal, then it is refused") {
    for (const std::string url :
         {"https://example.com", "https://example.com/", "https://example.com/data/",
          "https://example.com/data/..", "https://example.com/data/.",
          "https://example.com/data/%2e%2e", "https://example.com/data/%2E%2E",
          "https://example.com/..%2Fetc%2Fpasswd", "https://example.com/a%2fb.csv",
          "https://example.com/a%5Cb.csv", "https://example.com/a%00b.csv",
          "https://example.com/bad%zz.csv"}) {
      INFO(url);
      const auto name = file_name_for_url(url);
      REQUIRE_FALSE(name.has_value());
      CHECK(name.error().code == ErrorCode::invalid_argument);
    }
  }
  SECTION("given a scheme other than http or https, then it is refused, naming the scheme") {
    for (const std::string url :
         {"file:///etc/passwd", "ftp://example.com/data.csv", "gopher://example.com/data.csv"}) {
      INFO(url);
      const auto name = file_name_for_url(url);
      REQUIRE_FALSE(name.has_value());
      CHECK(name.error().code == ErrorCode::invalid_argument);
      CHECK_THAT(name.error().message, Catch::Contains("only http and https"));
    }
  }
  SECTION("given credentials in the URL, then it is refused") {
    for (const std::string url :
         {"https://user:secret@example.com/data.csv", "https://user@example.com/data.csv"}) {
      const auto name = file_name_for_url(url);
      REQUIRE_FALSE(name.has_value());
      CHECK_THAT(name.error().message, Catch::Contains("user name or password"));
    }
  }
  SECTION("given spaces or something that is not a URL, then it is refused") {
    CHECK_FALSE(file_name_for_url("https://example.com/a b.csv").has_value());
    CHECK_FALSE(file_name_for_url("example.com/data.csv").has_value());
    CHECK_FALSE(file_name_for_url("").has_value());
  }
}

TEST_CASE("the URL policy's networks are checked", "[urls]") {
  SECTION("given valid IPv4 and IPv6 networks, then the policy is valid") {
    UrlPolicy policy;
    policy.allowed_networks = {"127.0.0.0/8", "::1/128", "10.1.0.0/16", "0.0.0.0/0"};
    CHECK(service::validate_url_policy(policy).has_value());
  }
  SECTION("given a bad network, then it is refused, named") {
    for (const std::string cidr : {"127.0.0.1", "10.0.0.0/33", "::1/129", "example.com/8",
                                   "10.0.0.1/8", "10.0.0.0/x", "/8"}) {
      INFO(cidr);
      UrlPolicy policy;
      policy.allowed_networks = {"127.0.0.0/8", cidr};
      const auto valid = service::validate_url_policy(policy);
      REQUIRE_FALSE(valid.has_value());
      CHECK(valid.error().code == ErrorCode::invalid_argument);
      CHECK_THAT(valid.error().message, Catch::Contains("'" + cidr + "'"));
    }
  }
}

TEST_CASE("a URL is downloaded into the blob store with its hash", "[urls]") {
  FixtureWebServer web;
  BlobHome home;

  SECTION("given loopback is allowed, when a file is fetched, then its content and hash are kept") {
    const auto fetched = fetch_url(web.url("/files/data.csv"), loopback_allowed(), home.blobs);
    REQUIRE(fetched.has_value());
    CHECK(fetched->url == web.url("/files/data.csv"));
    CHECK(fetched->path == "data.csv");
    CHECK(fetched->sha256 == util::sha256_hex(k_csv));
    CHECK(fetched->size == k_csv.size());
    CHECK(slurp(home.blobs.path_of(fetched->sha256)) == k_csv);
    CHECK_FALSE(home.has_temp_files());
  }
  SECTION("given a chunked reply without a length, then the whole body is kept") {
    const auto fetched = fetch_url(web.url("/stream/large.bin"), loopback_allowed(), home.blobs);
    REQUIRE(fetched.has_value());
    CHECK(fetched->size == k_large_size);
    CHECK(fetched->sha256 == util::sha256_hex(std::string(k_large_size, 'y')));
  }
  SECTION(
      "given a redirect on the same server, then the target is fetched, named after the URL "
      "given") {
    const auto fetched = fetch_url(web.url("/redirect/data.csv"), loopback_allowed(), home.blobs);
    REQUIRE(fetched.has_value());
    CHECK(fetched->path == "data.csv");
    CHECK(fetched->sha256 == util::sha256_hex(k_csv));
  }
  SECTION(
      "given a Content-Disposition file name, then it is ignored: the name comes from the URL") {
    const auto fetched =
        fetch_url(web.url("/files/attachment.csv"), loopback_allowed(), home.blobs);
    REQUIRE(fetched.has_value());
    CHECK(fetched->path == "attachment.csv");
    CHECK_FALSE(std::filesystem::exists(home.home.path() / "etc"));
  }
  SECTION(
      "given a missing file, then it fails as a bad request naming the HTTP status, never as the "
      "service being unavailable") {
    const auto fetched = fetch_url(web.url("/files/missing.csv"), loopback_allowed(), home.blobs);
    REQUIRE_FALSE(fetched.has_value());
    CHECK(fetched.error().code == ErrorCode::invalid_argument);
    CHECK_THAT(fetched.error().message, Catch::Contains("404"));
    CHECK_FALSE(home.has_temp_files());
  }
  SECTION("given a server that fails, then it fails as an upstream failure naming the status") {
    const auto fetched = fetch_url(web.url("/files/broken.csv"), loopback_allowed(), home.blobs);
    REQUIRE_FALSE(fetched.has_value());
    CHECK(fetched.error().code == ErrorCode::upstream_failed);
    CHECK_THAT(fetched.error().message, Catch::Contains("answered HTTP 503"));
    CHECK_FALSE(home.has_temp_files());
  }
}

TEST_CASE("a URL to a refused address is never connected to", "[urls]") {
  BlobHome home;
  SilentListener listener;

  SECTION(
      "given the default policy, when a loopback URL is fetched, then it is refused naming the "
      "address and the option, without connecting") {
    const auto fetched = fetch_url("http://" + listener.url("/data.csv"), UrlPolicy{}, home.blobs);
    REQUIRE_FALSE(fetched.has_value());
    CHECK(fetched.error().code == ErrorCode::invalid_argument);
    CHECK_THAT(fetched.error().message,
               Catch::Contains("resolves to 127.0.0.1, a loopback address") &&
                   Catch::Contains("--allow-url-network 127.0.0.0/8"));
    CHECK_FALSE(listener.was_connected());
    CHECK_FALSE(home.has_temp_files());
  }
  SECTION("given IPv6 loopback or IPv4-mapped loopback, then they are refused too") {
    const auto ipv6 = fetch_url("http://[::1]:1/data.csv", UrlPolicy{}, home.blobs);
    REQUIRE_FALSE(ipv6.has_value());
    CHECK_THAT(ipv6.error().message, Catch::Contains("--allow-url-network ::1/128"));
    const auto mapped = fetch_url("http://[::ffff:127.0.0.1]:1/data.csv", UrlPolicy{}, home.blobs);
    REQUIRE_FALSE(mapped.has_value());
    CHECK_THAT(mapped.error().message, Catch::Contains("--allow-url-network 127.0.0.0/8"));
  }
  SECTION(
      "given the cloud metadata address, then it is refused at once, even with loopback allowed") {
    auto policy = loopback_allowed();
    policy.connect_timeout_seconds = 60;
    const auto started = std::chrono::steady_clock::now();
    const auto fetched =
        fetch_url("http://169.254.169.254/latest/meta-data/iam", policy, home.blobs);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    REQUIRE_FALSE(fetched.has_value());
    CHECK(fetched.error().code == ErrorCode::invalid_argument);
    CHECK_THAT(fetched.error().message, Catch::Contains("169.254.169.254, a link-local address") &&
                                            Catch::Contains("--allow-url-network 169.254.0.0/16"));
    CHECK(elapsed < std::chrono::seconds(policy.connect_timeout_seconds));
  }
  SECTION("given a scheme other than http or https, then nothing is connected to") {
    for (const std::string scheme : {"ftp", "gopher", "file"}) {
      const auto fetched =
          fetch_url(scheme + "://" + listener.url("/data.csv"), loopback_allowed(), home.blobs);
      REQUIRE_FALSE(fetched.has_value());
      CHECK(fetched.error().code == ErrorCode::invalid_argument);
    }
    CHECK_FALSE(listener.was_connected());
  }
  SECTION("given credentials in the URL, then nothing is connected to") {
    const auto fetched =
        fetch_url("http://user:pass@" + listener.url("/data.csv"), loopback_allowed(), home.blobs);
    REQUIRE_FALSE(fetched.has_value());
    CHECK(fetched.error().code == ErrorCode::invalid_argument);
    CHECK_FALSE(listener.was_connected());
  }
}

TEST_CASE("a redirect to a refused target is refused", "[urls]") {
  FixtureWebServer web;
  BlobHome home;

  SECTION("given a redirect to the metadata address, then it is refused naming the redirect") {
    const auto fetched =
        fetch_url(web.url("/redirect/metadata.csv"), loopback_allowed(), home.blobs);
    REQUIRE_FALSE(fetched.has_value());
    CHECK(fetched.error().code == ErrorCode::invalid_argument);
    CHECK_THAT(fetched.error().message,
               Catch::Contains("redirects to http://169.254.169.254/latest/meta-data/iam") &&
                   Catch::Contains("--allow-url-network 169.254.0.0/16"));
    CHECK_FALSE(home.has_temp_files());
  }
  SECTION("given a redirect to a file: URL, then it is refused") {
    const auto fetched = fetch_url(web.url("/redirect/file.csv"), loopback_allowed(), home.blobs);
    REQUIRE_FALSE(fetched.has_value());
    CHECK(fetched.error().code == ErrorCode::invalid_argument);
    CHECK_THAT(fetched.error().message, Catch::Contains("not http or https"));
  }
  SECTION("given no redirects are allowed, then a redirect fails") {
    auto policy = loopback_allowed();
    policy.max_redirects = 0;
    const auto fetched = fetch_url(web.url("/redirect/data.csv"), policy, home.blobs);
    REQUIRE_FALSE(fetched.has_value());
    CHECK(fetched.error().code == ErrorCode::upstream_failed);
  }
}

TEST_CASE("a URL download is capped and never left half-done", "[urls]") {
  FixtureWebServer web;
  BlobHome home;
  auto policy = loopback_allowed();
  policy.max_file_bytes = k_large_size - 1;

  SECTION("given a file over the cap with a Content-Length, then payload_too_large, no temp file") {
    const auto fetched = fetch_url(web.url("/files/large.bin"), policy, home.blobs);
    REQUIRE_FALSE(fetched.has_value());
    CHECK(fetched.error().code == ErrorCode::payload_too_large);
    CHECK_THAT(fetched.error().message, Catch::Contains("--max-url-bytes"));
    CHECK_FALSE(home.has_temp_files());
  }
  SECTION("given a chunked file over the cap, then payload_too_large once the cap is passed") {
    const auto fetched = fetch_url(web.url("/stream/large.bin"), policy, home.blobs);
    REQUIRE_FALSE(fetched.has_value());
    CHECK(fetched.error().code == ErrorCode::payload_too_large);
    CHECK_FALSE(home.has_temp_files());
  }
  SECTION("given a server that drips bytes, then the download is abandoned as an upstream failure") {
    policy.low_speed_seconds = 1;
    const auto fetched = fetch_url(web.url("/slow/drip.bin"), policy, home.blobs);
    REQUIRE_FALSE(fetched.has_value());
    CHECK(fetched.error().code == ErrorCode::upstream_failed);
    CHECK_THAT(fetched.error().message, Catch::Contains("1 KiB/s"));
    CHECK_FALSE(home.has_temp_files());
  }
}

TEST_CASE("trainctld takes the URL options and refuses bad ones", "[urls]") {
  SECTION("given valid options, then it starts") {
    ServiceFixture service({"--allow-url-network", "127.0.0.0/8", "--allow-url-network", "::1/128",
                            "--max-url-bytes", "1000"});
    CHECK(process_is_alive(service.pid()));
  }
  SECTION("given a bad network or a zero cap, then it exits with a usage error naming it") {
    TempDir home;
    const auto bad_network = run_command(
        {TRAINCTLD_BINARY, "--home", home.path().string(), "--allow-url-network", "10.0.0.1/8"});
    CHECK(bad_network.exit_code == exit_code::k_usage);
    CHECK_THAT(bad_network.err, Catch::Contains("10.0.0.1/8"));
    const auto zero_cap =
        run_command({TRAINCTLD_BINARY, "--home", home.path().string(), "--max-url-bytes", "0"});
    CHECK(zero_cap.exit_code == exit_code::k_usage);
  }
}
