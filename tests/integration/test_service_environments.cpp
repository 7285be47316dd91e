// The environment cache against real venv and pip runs, with wheels the tests make themselves
// and pip restricted to them (--no-index --find-links).
#include <httplib.h>

#include <catch2/catch.hpp>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "support/service_fixture.hpp"
#include "test_service_helpers.hpp"
#include "trainctl/service/environments.hpp"
#include "trainctl/service/runs/run_manager.hpp"
#include "trainctl/util/fs.hpp"

namespace fs = std::filesystem;
using trainctl::service::EnvironmentCache;
using trainctl::service::EnvironmentCacheOptions;
using trainctl::service::EnvironmentRequest;
using trainctl::testing::run_command;
using trainctl::testing::ServiceFixture;
using trainctl::testing::TempDir;

namespace {

constexpr const char* k_python = "/usr/bin/python3";

// A wheel directory holding tinypkg 1.0 and otherpkg 2.0, and a cache using only it.
struct CacheFixture {
  TempDir dir;
  fs::path wheels = dir.path() / "wheels";
  fs::path root = dir.path() / "environments";
  std::unique_ptr<EnvironmentCache> cache;

  CacheFixture() {
    fs::create_directories(wheels);
    make_wheel("tinypkg", "1.0");
    make_wheel("otherpkg", "2.0");
    cache = std::make_unique<EnvironmentCache>(options());
  }

  EnvironmentCacheOptions options() const {
    EnvironmentCacheOptions options;
    options.root = root;
    options.index.find_links = {wheels.string()};
    options.index.no_index = true;
    options.base_env = trainctl::service::allowlisted_environment();
    return options;
  }

  void make_wheel(const std::string& name, const std::string& version) const {
    const auto made =
        run_command({k_python, TRAINCTL_SOURCE_DIR "/tests/data/environments/make_wheel.py",
                     wheels.string(), name, version});
    REQUIRE(made.exit_code == 0);
  }

  fs::path log(const std::string& name) const {
    return dir.path() / "runs" / name / "preparing.log";
  }

  std::string read(const fs::path& path) const {
    return trainctl::util::read_file(path).value_or("");
  }

  // Entries of the cache root other than finished environments and their build logs.
  std::vector<std::string> leftovers() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(root)) {
      const bool finished_env = fs::exists(entry.path() / ".complete");
      if (!finished_env && entry.path().extension() != ".log")
        names.push_back(entry.path().filename());
    }
    return names;
  }
};

EnvironmentRequest request(std::vector<std::string> packages) {
  return {k_python, std::move(packages)};
}

// What `python -c code` prints, or its error output when it fails.
std::string run_python(const fs::path& python, const std::string& code) {
  const auto result = run_command({python.string(), "-c", code});
  return result.exit_code == 0 ? result.out : "failed: " + result.err;
}

}  // namespace

TEST_CASE("a run's pip packages are installed once and the environment is reused",
          "[environments]") {
  CacheFixture fixture;

  GIVEN("a request for a package from the wheel directory") {
    const auto wanted = request({"tinypkg==1.0"});

    WHEN("it is acquired for the first time") {
      auto python = fixture.cache->acquire(wanted, fixture.log("run-1"));

      THEN("an environment is built whose python imports the package and Debian's numpy") {
        REQUIRE(python.has_value());
        CHECK(python->string().starts_with(fixture.root.string()));
        CHECK(fixture.cache->builds_started() == 1);
        CHECK(run_python(*python, "import tinypkg, numpy; print(tinypkg.VERSION)") == "1.0\n");
        AND_THEN("the run's log has pip's output") {
          CHECK_THAT(fixture.read(fixture.log("run-1")),
                     Catch::Contains("Successfully installed tinypkg-1.0"));
        }
      }

      AND_WHEN("it is acquired again, by a new cache on the same root too") {
        auto again = fixture.cache->acquire(wanted, fixture.log("run-2"));
        EnvironmentCache restarted(fixture.options());
        auto after_restart = restarted.acquire(wanted, fixture.log("run-3"));

        THEN("the same environment is returned without a second build") {
          REQUIRE(again.has_value());
          REQUIRE(after_restart.has_value());
          CHECK(*again == *python);
          CHECK(*after_restart == *python);
          CHECK(fixture.cache->builds_started() == 1);
          CHECK(restarted.builds_started() == 0);
          CHECK_THAT(fixture.read(fixture.log("run-2")), Catch::Contains("already built"));
        }
      }
    }
  }

  GIVEN("no pip packages") {
    WHEN("the environment is acquired") {
      auto python = fixture.cache->acquire(request({}), fixture.log("run-1"));

      THEN("the interpreter itself is used and nothing is built") {
        REQUIRE(python.has_value());
        CHECK(*python == fs::path(k_python));
        CHECK(fixture.cache->builds_started() == 0);
      }
    }
  }
}

TEST_CASE("two runs asking for the same packages at once share one build", "[environments]") {
  CacheFixture fixture;
  const auto wanted = request({"tinypkg", "otherpkg==2.0"});

  WHEN("two threads acquire the same packages concurrently") {
    auto first = std::async(std::launch::async,
                            [&] { return fixture.cache->acquire(wanted, fixture.log("run-1")); });
    auto second = std::async(std::launch::async,
                             [&] { return fixture.cache->acquire(wanted, fixture.log("run-2")); });
    auto first_python = first.get();
    auto second_python = second.get();

    THEN("one build ran, both get its interpreter and both logs have pip's output") {
      REQUIRE(first_python.has_value());
      REQUIRE(second_python.has_value());
      CHECK(*first_python == *second_python);
      CHECK(fixture.cache->builds_started() == 1);
      for (const auto* run : {"run-1", "run-2"}) {
        CHECK_THAT(fixture.read(fixture.log(run)),
                   Catch::Contains("Successfully installed") || Catch::Contains("already built"));
      }
      CHECK(run_python(*first_python, "import tinypkg, otherpkg; print(otherpkg.VERSION)") ==
            "2.0\n");
    }
  }
}

TEST_CASE("a failed build leaves nothing a later run could reuse", "[environments]") {
  CacheFixture fixture;

  GIVEN("a package the wheel directory does not have") {
    const auto wanted = request({"tinypkg", "missingpkg"});

    WHEN("it is acquired") {
      auto python = fixture.cache->acquire(wanted, fixture.log("run-1"));

      THEN("the error names the package, and pip's reason is in the log") {
        REQUIRE_FALSE(python.has_value());
        CHECK(python.error().code == trainctl::ErrorCode::invalid_argument);
        CHECK_THAT(python.error().message,
                   Catch::Contains("missingpkg") && Catch::Contains("see the Preparing log"));
        CHECK_THAT(fixture.read(fixture.log("run-1")),
                   Catch::Contains("No matching distribution found for missingpkg"));
        CHECK(fixture.leftovers().empty());
      }

      AND_WHEN("it is acquired again once the wheel exists") {
        fixture.make_wheel("missingpkg", "0.1");
        auto retried = fixture.cache->acquire(wanted, fixture.log("run-2"));

        THEN("it is built again, successfully") {
          REQUIRE(retried.has_value());
          CHECK(fixture.cache->builds_started() == 2);
          CHECK(run_python(*retried, "import missingpkg; print(missingpkg.VERSION)") == "0.1\n");
        }
      }
    }
  }

  GIVEN("the remains of a build interrupted by a crash") {
    auto key = fixture.cache->key(request({"tinypkg"}));
    REQUIRE(key.has_value());
    fs::create_directories(fixture.root / *key / "bin");

    WHEN("the service starts again and a run asks for those packages") {
      EnvironmentCache restarted(fixture.options());
      const bool removed_at_start = !fs::exists(fixture.root / *key);
      auto python = restarted.acquire(request({"tinypkg"}), fixture.log("run-1"));

      THEN("the half-built environment was removed and a complete one built") {
        CHECK(removed_at_start);
        REQUIRE(python.has_value());
        CHECK(restarted.builds_started() == 1);
        CHECK(run_python(*python, "import tinypkg; print(tinypkg.VERSION)") == "1.0\n");
      }
    }
  }
}

TEST_CASE("the cache key follows the packages and the interpreter", "[environments]") {
  CacheFixture fixture;

  WHEN("keys are computed for several requests") {
    auto tiny = fixture.cache->key(request({"tinypkg", "otherpkg"}));
    auto reordered = fixture.cache->key(request({"otherpkg", "tinypkg"}));
    auto other = fixture.cache->key(request({"tinypkg"}));

    THEN("the order does not matter but the list does") {
      REQUIRE(tiny.has_value());
      REQUIRE(reordered.has_value());
      REQUIRE(other.has_value());
      CHECK(*tiny == *reordered);
      CHECK(*tiny != *other);
    }
  }

  WHEN("different package lists are acquired") {
    auto first = fixture.cache->acquire(request({"tinypkg"}), fixture.log("run-1"));
    auto second = fixture.cache->acquire(request({"otherpkg"}), fixture.log("run-2"));

    THEN("each gets its own environment") {
      REQUIRE(first.has_value());
      REQUIRE(second.has_value());
      CHECK(*first != *second);
      CHECK(fixture.cache->builds_started() == 2);
      CHECK(run_python(*second, "import otherpkg; print(otherpkg.VERSION)") == "2.0\n");
    }
  }

  WHEN("the interpreter does not exist") {
    auto key = fixture.cache->key({"/nonexistent/python3", {"tinypkg"}});

    THEN("the key cannot be computed") {
      REQUIRE_FALSE(key.has_value());
      CHECK_THAT(key.error().message, Catch::Contains("/nonexistent/python3"));
    }
  }
}

TEST_CASE("pip ignores the PIP_* settings of the service's environment", "[environments]") {
  CacheFixture fixture;

  GIVEN("a service environment that points pip at another wheel directory") {
    TempDir decoy;
    fixture.make_wheel("decoypkg",
                       "9.9");  // in the real wheel dir, so only --find-links can reach it
    auto options = fixture.options();
    options.index.find_links = {decoy.path().string()};
    options.base_env.emplace_back("PIP_FIND_LINKS", fixture.wheels.string());
    EnvironmentCache cache(options);

    WHEN("a package only that directory has is asked for") {
      auto python = cache.acquire(request({"decoypkg"}), fixture.log("run-1"));

      THEN("pip does not find it") {
        REQUIRE_FALSE(python.has_value());
        CHECK_THAT(python.error().message, Catch::Contains("decoypkg"));
      }
    }
  }
}

namespace {

// Submits train.py with `script` and these pip packages through the REST API; the run id.
std::string submit_with_packages(const ServiceFixture& service, const std::string& script,
                                 const std::vector<std::string>& packages) {
  using namespace trainctl::testing;
  auto payload = script_payload(upload_snapshot(service, {{"train.py", script}}));
  payload["estimator"]["pip_packages"] = packages;
  const auto created = http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump());
  INFO(created.body);
  REQUIRE(created.status == 201);
  return body_json(created).value("id", "");
}

// The data of every log event of the run's (non-following) log stream, for `query`.
std::string log_text(const ServiceFixture& service, const std::string& run_id,
                     const std::string& query) {
  const auto response = trainctl::testing::http_request(
      service, "GET", "/v1/workspaces/default/runs/" + run_id + "/logs" + query);
  std::string text;
  std::istringstream lines(response.body);
  for (std::string line; std::getline(lines, line);) {
    const auto event = nlohmann::json::parse(line, nullptr, false);
    if (event.is_object() && event.value("type", "") == "log") {
      text += "[" + event.value("task", "") + "] " + event.value("data", "");
    }
  }
  return text;
}

}  // namespace

TEST_CASE("a run with pip packages runs in its environment, and its build log is readable",
          "[environments]") {
  CacheFixture wheels;
  ServiceFixture service({"--pip-no-index", "--pip-find-links", wheels.wheels.string()});

  GIVEN("a run whose script imports a package from the wheel directory") {
    const auto id = submit_with_packages(
        service, "import tinypkg, numpy\nprint('tinypkg', tinypkg.VERSION)\n", {"tinypkg==1.0"});

    WHEN("it finishes") {
      const auto run = trainctl::testing::wait_for_run(service, id, 120);

      THEN("it completed, and the preparing log has pip's output, also in the merged view") {
        INFO(run.dump());
        CHECK(run.value("status", "") == "Completed");
        CHECK_THAT(log_text(service, id, "?task=preparing"),
                   Catch::Contains("Successfully installed tinypkg-1.0"));
        const auto merged = log_text(service, id, "");
        CHECK_THAT(merged, Catch::Contains("[preparing] ") && Catch::Contains("tinypkg 1.0"));
      }
    }
  }

  GIVEN("a run asking for a package nobody has") {
    const auto id = submit_with_packages(service, "print('never')\n", {"missingpkg"});

    WHEN("it finishes") {
      const auto run = trainctl::testing::wait_for_run(service, id, 120);

      THEN("it failed before starting, the reason naming the package") {
        INFO(run.dump());
        CHECK(run.value("status", "") == "Failed");
        CHECK_THAT(run.dump(), Catch::Contains("missingpkg"));
        CHECK_THAT(log_text(service, id, "?task=preparing"),
                   Catch::Contains("No matching distribution found for missingpkg"));
      }
    }
  }
}

// ---- time limits and cancels of builds, with pip held at a gate ------------------------------

namespace {

// The wheel directory as a find-links page over HTTP (`--find-links http://127.0.0.1:PORT/`),
// answering nothing until open(): pip really runs and waits for the page, for as long as a test
// needs. Every request is counted when it arrives.
class GatedWheelServer {
 public:
  explicit GatedWheelServer(fs::path wheels) : m_wheels(std::move(wheels)) {
    m_server.Get("/", [this](const httplib::Request&, httplib::Response& response) {
      hold();
      std::string page = "<html><body>\n";
      for (const auto& entry : fs::directory_iterator(m_wheels)) {
        const auto name = entry.path().filename().string();
        page += "<a href=\"" + name + "\">" + name + "</a>\n";
      }
      response.set_content(page + "</body></html>\n", "text/html");
    });
    m_server.Get(R"(/([A-Za-z0-9_.-]+\.whl))",
                 [this](const httplib::Request& request, httplib::Response& response) {
                   hold();
                   const auto wheel = trainctl::util::read_file(m_wheels / request.matches[1].str());
                   if (!wheel) {
                     response.status = 404;
                     return;
                   }
                   response.set_content(*wheel, "application/octet-stream");
                 });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~GatedWheelServer() {
    open();
    m_server.stop();
    m_thread.join();
  }
  GatedWheelServer(const GatedWheelServer&) = delete;
  GatedWheelServer& operator=(const GatedWheelServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/"; }
  void open() {
    {
      std::lock_guard lock(m_mutex);
      m_open = true;
    }
    m_changed.notify_all();
  }
  int requests() const {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }

 private:
  void hold() {
    std::unique_lock lock(m_mutex);
    ++m_requests;
    m_changed.wait(lock, [this] { return m_open; });
  }

  fs::path m_wheels;
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  bool m_open = false;
  int m_requests = 0;
};

// The live processes whose command line mentions `text` (e.g. an environment's directory: the
// venv and pip of its build).
std::vector<pid_t> processes_mentioning(const std::string& text) {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream file(entry.path() / "cmdline", std::ios::binary);
    const std::string cmdline((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const pid_t pid = std::stoi(name);
    if (cmdline.find(text) != std::string::npos && trainctl::testing::process_is_alive(pid)) {
      pids.push_back(pid);
    }
  }
  return pids;
}

// The directories under <home>/environments that are not finished environments.
std::vector<std::string> unfinished_environments(const fs::path& home) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(home / "environments", ec)) {
    if (entry.is_directory() && !fs::exists(entry.path() / ".complete")) {
      names.push_back(entry.path().filename().string());
    }
  }
  return names;
}

nlohmann::json get_run(const ServiceFixture& service, const std::string& id) {
  return trainctl::testing::body_json(
      trainctl::testing::http_request(service, "GET", "/v1/workspaces/default/runs/" + id));
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

}  // namespace

TEST_CASE("a build past trainctld's --pip-timeout is stopped and the run fails saying so",
          "[environments]") {
  CacheFixture wheels;
  GatedWheelServer gate(wheels.wheels);
  ServiceFixture service(
      {"--pip-no-index", "--pip-find-links", gate.url(), "--pip-timeout", "4"});
  const std::string environments = (service.home() / "environments").string();

  GIVEN("a run whose packages pip waits for and never gets") {
    const auto id = submit_with_packages(service, "import tinypkg\n", {"tinypkg==1.0"});

    WHEN("it finishes") {
      const auto run = trainctl::testing::wait_for_run(service, id, 120);

      THEN("it failed in Preparing with the limit and how to raise it, and no pip is left") {
        INFO(run.dump());
        CHECK(run.value("status", "") == "Failed");
        CHECK_THAT(run.value("failure_reason", ""),
                   Catch::Contains("could not install the pip packages tinypkg==1.0") &&
                       Catch::Contains("time limit of 4 s") &&
                       Catch::Contains("trainctld --pip-timeout SECONDS"));
        CHECK(processes_mentioning(environments).empty());
        CHECK(unfinished_environments(service.home()).empty());
        CHECK_THAT(log_text(service, id, "?task=preparing"),
                   Catch::Contains("the environment was not built") &&
                       Catch::Contains("--pip-timeout"));
      }

      AND_WHEN("the packages become available and a run asks for them again") {
        gate.open();
        const auto again = submit_with_packages(
            service, "import tinypkg\nprint('tinypkg', tinypkg.VERSION)\n", {"tinypkg==1.0"});
        const auto second = trainctl::testing::wait_for_run(service, again, 120);

        THEN("the environment is built afresh and the run completes") {
          INFO(second.dump());
          CHECK(second.value("status", "") == "Completed");
          const auto log = log_text(service, again, "?task=preparing");
          CHECK_THAT(log, Catch::Contains("building the environment") &&
                              Catch::Contains("Successfully installed tinypkg-1.0"));
          CHECK_THAT(log, !Catch::Contains("already built"));
        }
      }
    }
  }
}

TEST_CASE("a run canceled while its environment builds ends Canceled and pip is stopped",
          "[environments]") {
  CacheFixture wheels;
  GatedWheelServer gate(wheels.wheels);
  ServiceFixture service({"--pip-no-index", "--pip-find-links", gate.url()});
  const std::string environments = (service.home() / "environments").string();

  GIVEN("a run whose pip is waiting for its packages (no time limit will end it soon)") {
    const auto id = submit_with_packages(service, "import tinypkg\n", {"tinypkg==1.0"});
    REQUIRE(trainctl::testing::eventually([&] { return gate.requests() > 0; }, 60));
    CHECK(get_run(service, id).value("status", "") == "Preparing");
    REQUIRE_FALSE(processes_mentioning(environments).empty());

    WHEN("it is canceled") {
      const auto canceled = trainctl::testing::http_request(
          service, "POST", "/v1/workspaces/default/runs/" + id + "/cancel", "{}");
      REQUIRE(canceled.status == 202);
      const auto run = trainctl::testing::wait_for_run(service, id, 60);

      THEN("it is Canceled, and the build no run waits for is stopped and removed") {
        INFO(run.dump());
        CHECK(run.value("status", "") == "Canceled");
        CHECK(trainctl::testing::eventually(
            [&] { return processes_mentioning(environments).empty(); }, 30));
        CHECK(trainctl::testing::eventually(
            [&] { return unfinished_environments(service.home()).empty(); }, 30));
        CHECK_THAT(log_text(service, id, "?task=preparing"),
                   Catch::Contains("stopped waiting for the environment build"));
      }

      AND_WHEN("the packages become available and a run asks for them again") {
        gate.open();
        const auto again = submit_with_packages(service, "import tinypkg\n", {"tinypkg==1.0"});
        const auto second = trainctl::testing::wait_for_run(service, again, 120);

        THEN("it gets a complete environment of its own build") {
          INFO(second.dump());
          CHECK(second.value("status", "") == "Completed");
          CHECK_THAT(log_text(service, again, "?task=preparing"),
                     Catch::Contains("Successfully installed tinypkg-1.0"));
        }
      }
    }
  }
}

TEST_CASE("canceling one of two runs sharing a build leaves the build going for the other",
          "[environments]") {
  CacheFixture wheels;
  GatedWheelServer gate(wheels.wheels);
  ServiceFixture service({"--pip-no-index", "--pip-find-links", gate.url()});

  GIVEN("two runs waiting for the same build, pip held at the gate") {
    const auto first = submit_with_packages(service, "import tinypkg\n", {"tinypkg==1.0"});
    const auto second = submit_with_packages(
        service, "import tinypkg\nprint('tinypkg', tinypkg.VERSION)\n", {"tinypkg==1.0"});
    // Both logs show pip's command: the first run's as the build's, the second's as it joined.
    REQUIRE(trainctl::testing::eventually(
        [&] {
          return gate.requests() > 0 &&
                 log_text(service, first, "?task=preparing").find("-m pip install") !=
                     std::string::npos &&
                 log_text(service, second, "?task=preparing").find("-m pip install") !=
                     std::string::npos;
        },
        60));

    WHEN("the first is canceled, then pip gets its packages") {
      const auto canceled = trainctl::testing::http_request(
          service, "POST", "/v1/workspaces/default/runs/" + first + "/cancel", "{}");
      REQUIRE(canceled.status == 202);
      const auto first_run = trainctl::testing::wait_for_run(service, first, 60);
      REQUIRE(trainctl::testing::eventually(
          [&] {
            return log_text(service, first, "?task=preparing").find("stopped waiting") !=
                   std::string::npos;
          },
          30));
      const auto second_status = get_run(service, second).value("status", "");
      gate.open();
      const auto second_run = trainctl::testing::wait_for_run(service, second, 120);

      THEN("the first ended Canceled, the second completed with the one build's environment") {
        INFO(first_run.dump());
        INFO(second_run.dump());
        CHECK(first_run.value("status", "") == "Canceled");
        CHECK_THAT(log_text(service, first, "?task=preparing"),
                   Catch::Contains("it goes on for the 1 other run(s) waiting for it"));
        CHECK(second_status == "Preparing");
        CHECK(second_run.value("status", "") == "Completed");
        const auto log = log_text(service, second, "?task=preparing");
        CHECK(occurrences(log, "building the environment") == 1);
        CHECK_THAT(log, Catch::Contains("Successfully installed tinypkg-1.0"));
        CHECK_THAT(log_text(service, second, ""), Catch::Contains("tinypkg 1.0"));
      }
    }
  }
}
