// The environment cache against real venv and pip runs, with wheels the tests make themselves
// and pip restricted to them (--no-index --find-links).
#include <catch2/catch.hpp>
#include <filesystem>
#include <future>
#include <sstream>
#include <string>

#include "support/service_fixture.hpp"
#include "test_service_helpers.hpp"
#include "trainctl/service/environments.hpp"
#include "trainctl/service/run_manager.hpp"
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
