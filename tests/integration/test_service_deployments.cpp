// Deployments over a real trainctld (docs/deployments.md): a model trained by a real run,
// registered through the real route, deployed as replica processes of the scoring harness and
// scored over HTTP.
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <set>
#include <thread>

#include "integration/test_service_deployment_helpers.hpp"

namespace trainctl::testing {

namespace {

nlohmann::json deployment_body(const ServiceFixture& service, int64_t version, int replicas = 1,
                               const nlohmann::json& env = nlohmann::json::object(),
                               const std::string& workspace = "default") {
  return {{"models", {{{"name", "digits"}, {"version", version}}}},
          {"entry_script", "score.py"},
          {"snapshot_id",
           upload_snapshot(service, {{"score.py", deployment_file("score.py")}}, workspace)},
          {"replicas", replicas},
          {"cpu", 0.5},
          {"memory_gb", 1},
          {"environment_variables", env}};
}

// Creates `name` from a freshly trained model and waits until it is Healthy; returns the
// scoring key.
std::string deploy_healthy(const ServiceFixture& service, const std::string& name, int replicas = 1) {
  const int64_t version = train_and_register(service, 2, "a");
  const auto created = put_deployment(service, name, deployment_body(service, version, replicas));
  INFO(created.body);
  REQUIRE(created.status == 201);
  const auto deployment = wait_for_state(service, name, "Healthy");
  INFO(deployment.dump());
  REQUIRE(deployment.value("state", "") == "Healthy");
  return body_json(created).value("scoring_key", "");
}

}  // namespace

TEST_CASE("a model trained by a run is deployed and answers scoring requests",
          "[deployments]") {
  ServiceFixture service;
  GIVEN("a deployment of the model a real run trained") {
    const std::string key = deploy_healthy(service, "digits-svc");
    const auto deployment = get_deployment(service, "digits-svc");
    CHECK(deployment["models"] == nlohmann::json::parse(R"([{"name": "digits", "version": 1}])"));
    CHECK(deployment["replica_status"][0]["state"] == "ready");
    CHECK(deployment["scoring_path"] == "/v1/workspaces/default/services/digits-svc/score");
    CHECK(deployment["cpu"] == 0.5);

    WHEN("a client scores a request") {
      const auto reply = score(service, "digits-svc", key, R"({"x": 21})");
      THEN("run() answers with the registered model's weights") {
        INFO(reply.body);
        REQUIRE(reply.status == 200);
        CHECK(body_json(reply)["prediction"] == 42.0);
        CHECK(body_json(reply)["model"] == "a");
      }
    }
    WHEN("the body is not JSON, nests too deep, or is compressed (RELIABILITY 35, 36)") {
      const auto reply = score(service, "digits-svc", key, "{not json");
      const auto deep =
          score(service, "digits-svc", key,
                R"({"x": )" + std::string(10000, '[') + std::string(10000, ']') + "}");
      const auto compressed =
          http_request(service, "POST", k_services + "digits-svc/score", gzip(R"({"x": 21})"),
                       {{"Authorization", "Bearer " + key}, {"Content-Encoding", "gzip"}}, false);
      THEN("it is refused before a replica sees it") {
        CHECK(reply.status == 400);
        CHECK(deep.status == 400);
        CHECK_THAT(deep.body, Catch::Contains("nested deeper than 64 levels"));
        CHECK(compressed.status == 415);
        CHECK_THAT(read_logs(service, "digits-svc"), !Catch::Contains("Traceback"));
      }
    }
    WHEN("run() raises") {
      const auto pid = body_json(score(service, "digits-svc", key, R"({"x": 1})"))["pid"];
      const auto reply = score(service, "digits-svc", key, R"({"raise": "the input has no pixels"})");
      THEN("the caller gets a 500 with the message and the replica serves the next request") {
        CHECK(reply.status == 500);
        CHECK(body_json(reply)["error"]["code"] == "scoring_failed");
        CHECK(body_json(reply)["error"]["message"] == "ValueError: the input has no pixels");
        const auto next = score(service, "digits-svc", key, R"({"x": 2})");
        CHECK(next.status == 200);
        CHECK(body_json(next)["pid"] == pid);
        CHECK_THAT(read_logs(service, "digits-svc"),
                   Catch::Contains("loaded model version a") && Catch::Contains("Traceback") &&
                       Catch::Contains("ValueError: the input has no pixels"));
      }
    }
  }
}

TEST_CASE("bad deployment requests are refused with the field or resource at fault",
          "[deployments]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"score.py", deployment_file("score.py")}});
  WHEN("fields are wrong") {
    const auto reply = put_deployment(
        service, "bad", {{"models", nlohmann::json::array()}, {"entry_script", "../score.py"},
                         {"snapshot_id", snapshot}, {"replicas", 0}, {"colour", "red"}});
    THEN("every problem is reported with a 422") {
      CHECK(reply.status == 422);
      CHECK(body_json(reply)["error"]["details"].size() == 4);
    }
  }
  WHEN("the model version does not exist") {
    const auto reply = put_deployment(
        service, "bad",
        {{"models", {{{"name", "nothing"}, {"version", 3}}}}, {"entry_script", "score.py"},
         {"snapshot_id", snapshot}});
    THEN("it is a 404") { CHECK(reply.status == 404); }
  }
}

TEST_CASE("init() raising fails the deployment with the traceback in its logs", "[deployments]") {
  ServiceFixture service;
  const int64_t version = train_and_register(service, 2, "a");
  const auto created = put_deployment(
      service, "broken",
      deployment_body(service, version, 1, {{"FAIL_INIT", "weights are corrupt"}}));
  REQUIRE(created.status == 201);
  const auto deployment = wait_for_state(service, "broken", "Failed");
  THEN("the deployment is Failed with the exception as message, not hanging") {
    CHECK(deployment.value("state", "") == "Failed");
    CHECK_THAT(deployment.value("message", ""),
               Catch::Contains("RuntimeError: cannot load the model: weights are corrupt"));
    CHECK(deployment["replica_status"][0]["state"] == "failed");
    CHECK_THAT(read_logs(service, "broken"),
               Catch::Contains("Traceback") && Catch::Contains("in init"));
    const auto key = body_json(created).value("scoring_key", "");
    const auto reply = score(service, "broken", key, R"({"x": 1})");
    CHECK(reply.status == 503);
    CHECK(header_of(reply, "Retry-After") == "1");
  }
}

TEST_CASE("a deployment's scoring key is its own (RELIABILITY 19, 22)", "[deployments]") {
  ServiceFixture service;
  const std::string key = deploy_healthy(service, "keyed");
  const std::string path = k_services + "keyed/score";
  THEN("the service token, no key and a wrong key are refused on the scoring route") {
    CHECK(http_request(service, "POST", path, R"({"x": 1})").status == 401);
    CHECK(http_request(service, "POST", path, R"({"x": 1})", {}, false).status == 401);
    CHECK(score(service, "keyed", std::string(key.size(), 'a'), R"({"x": 1})").status == 401);
  }
  THEN("the scoring key is refused on every other route") {
    CHECK(http_request(service, "GET", k_services + "keyed", "", {{"Authorization", "Bearer " + key}},
                       false).status == 401);
    CHECK(http_request(service, "GET", k_services + "keyed/keys", "",
                       {{"Authorization", "Bearer " + key}}, false).status == 401);
  }
  WHEN("the key is regenerated") {
    CHECK(body_json(http_request(service, "GET", k_services + "keyed/keys"))["primary_key"] == key);
    const auto fresh = body_json(http_request(service, "POST", k_services + "keyed/keys/regenerate", "{}"));
    const std::string new_key = fresh.value("primary_key", "");
    THEN("the old key stops working and the new one scores") {
      CHECK(new_key != key);
      CHECK(score(service, "keyed", key, R"({"x": 1})").status == 401);
      CHECK(score(service, "keyed", new_key, R"({"x": 1})").status == 200);
    }
  }
  THEN("the key is kept in a 0600 file, never in the database") {
    const auto key_file = service.home() / "services/default/keyed/scoring_key";
    CHECK((std::filesystem::status(key_file).permissions() & std::filesystem::perms::group_all) ==
          std::filesystem::perms::none);
    const auto database = util::read_file(service.home() / "trainctl.db");
    REQUIRE(database);
    CHECK(database->find(key) == std::string::npos);
  }
}

TEST_CASE("a replica killed with SIGKILL is restarted and serves again", "[deployments]") {
  ServiceFixture service;
  const std::string key = deploy_healthy(service, "crashy");
  const pid_t first = get_deployment(service, "crashy")["replica_status"][0].value("pid", 0);
  REQUIRE(first > 0);
  ::kill(first, SIGKILL);
  nlohmann::json deployment;
  REQUIRE(eventually([&] {
    deployment = get_deployment(service, "crashy");
    const auto& replica = deployment["replica_status"][0];
    return replica.value("restarts", 0) == 1 && replica.value("state", "") == "ready";
  }, 30));
  CHECK(deployment.value("state", "") == "Healthy");
  const auto reply = score(service, "crashy", key, R"({"x": 5})");
  CHECK(reply.status == 200);
  CHECK(body_json(reply)["pid"] != first);
  CHECK_THAT(deployment["replica_status"][0].value("message", ""),
             Catch::Contains("restarted 1 time; last, the replica was killed by signal 9"));
}

TEST_CASE("16 concurrent scoring requests over 2 replicas are all answered", "[deployments]") {
  ServiceFixture service;
  const std::string key = deploy_healthy(service, "busy", 2);
  std::vector<RawResponse> replies(16);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < replies.size(); ++i) {
    clients.emplace_back([&, i] {
      replies[i] = score(service, "busy", key, fmt::format(R"({{"x": {}, "sleep": 0.05}})", i));
    });
  }
  for (auto& client : clients) client.join();
  std::set<int> pids;
  for (size_t i = 0; i < replies.size(); ++i) {
    INFO(replies[i].body);
    REQUIRE(replies[i].status == 200);
    CHECK(body_json(replies[i])["prediction"] == 2.0 * static_cast<double>(i));
    pids.insert(body_json(replies[i])["pid"].get<int>());
  }
  CHECK(pids.size() == 2);
}

TEST_CASE("an update swaps the model version without dropping a request", "[deployments]") {
  ServiceFixture service;
  const std::string key = deploy_healthy(service, "rolling", 2);
  const int64_t second = train_and_register(service, 3, "b");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> answered_by_b{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&] {
      while (!stop) {
        const auto reply = score(service, "rolling", key, R"({"x": 1})");
        if (reply.status != 200) {
          ++failures;
        } else if (body_json(reply)["model"] == "b") {
          ++answered_by_b;
        }
      }
    });
  }
  const auto updated = put_deployment(service, "rolling", deployment_body(service, second, 2));
  CHECK(updated.status == 200);
  CHECK(body_json(updated)["revision"] == 2);
  const bool switched = eventually([&] { return answered_by_b > 10; }, 60);
  stop = true;
  for (auto& client : clients) client.join();
  CHECK(switched);
  CHECK(failures == 0);
  const auto deployment = wait_for_state(service, "rolling", "Healthy");
  CHECK(deployment["models"][0]["version"] == second);
  CHECK(deployment["replica_status"].size() == 2);
}

TEST_CASE("deployments come back after trainctld restarts", "[deployments]") {
  ServiceFixture service;
  const std::string key = deploy_healthy(service, "durable");
  const auto before = replica_pids(get_deployment(service, "durable"));
  service.stop();
  THEN("its replicas ended with the service") {
    for (const pid_t pid : before) CHECK(eventually([&] { return !process_is_alive(pid); }, 10));
  }
  service.start();
  const auto deployment = wait_for_state(service, "durable", "Healthy");
  CHECK(deployment.value("state", "") == "Healthy");
  const auto reply = score(service, "durable", key, R"({"x": 4})");
  CHECK(reply.status == 200);
  CHECK(body_json(reply)["prediction"] == 8.0);
}

TEST_CASE("deleting a deployment stops its replicas and frees its model version", "[deployments]") {
  ServiceFixture service;
  const std::string key = deploy_healthy(service, "gone");
  const auto pids = replica_pids(get_deployment(service, "gone"));
  THEN("the model version cannot be deleted while deployed") {
    CHECK(http_request(service, "DELETE", "/v1/workspaces/default/models/digits/versions/1").status == 409);
  }
  WHEN("the deployment is deleted") {
    REQUIRE(http_request(service, "DELETE", k_services + "gone").status == 204);
    THEN("its processes and files are gone and the model version can be deleted") {
      for (const pid_t pid : pids) CHECK(eventually([&] { return !process_is_alive(pid); }, 10));
      CHECK(http_request(service, "GET", k_services + "gone").status == 404);
      CHECK_FALSE(std::filesystem::exists(service.home() / "services/default/gone"));
      CHECK(score(service, "gone", key, R"({"x": 1})").status == 401);
      CHECK(http_request(service, "DELETE", "/v1/workspaces/default/models/digits/versions/1").status == 204);
    }
  }
}

TEST_CASE("deleting a workspace stops the replicas of its deployments", "[deployments]") {
  ServiceFixture service;
  GIVEN("a Healthy deployment in a workspace of its own, and one in the default workspace") {
    REQUIRE(http_request(service, "POST", "/v1/workspaces", R"({"name": "team"})").status == 201);
    const std::string team_services = "/v1/workspaces/team/services/";
    const int64_t version = train_and_register(service, 2, "a", "digits", "team");
    const auto created = http_request(service, "PUT", team_services + "doomed",
                                      deployment_body(service, version, 2, nlohmann::json::object(), "team").dump());
    INFO(created.body);
    REQUIRE(created.status == 201);
    nlohmann::json deployment;
    REQUIRE(eventually(
        [&] {
          deployment = body_json(http_request(service, "GET", team_services + "doomed"));
          return deployment.value("state", "") == "Healthy";
        },
        60));
    const auto pids = replica_pids(deployment);
    REQUIRE(pids.size() == 2);
    const std::string key = deploy_healthy(service, "bystander");

    WHEN("the workspace is deleted") {
      REQUIRE(http_request(service, "DELETE", "/v1/workspaces/team").status == 204);

      THEN("its replicas and files are gone, and the other workspace's deployment serves on") {
        for (const pid_t pid : pids) {
          CHECK(eventually([&] { return !process_is_alive(pid); }, 30));
        }
        CHECK_FALSE(std::filesystem::exists(service.home() / "services/team"));
        CHECK(http_request(service, "GET", team_services + "doomed").status == 404);
        CHECK(get_deployment(service, "bystander").value("state", "") == "Healthy");
        CHECK(score(service, "bystander", key, R"({"x": 1})").status == 200);
      }

      AND_WHEN("a workspace of the same name is made again and trainctld restarts") {
        REQUIRE(http_request(service, "POST", "/v1/workspaces", R"({"name": "team"})").status ==
                201);
        service.stop();
        service.start();
        THEN("no deployment of the old workspace comes back") {
          const auto listed = body_json(http_request(service, "GET", "/v1/workspaces/team/services"));
          INFO(listed.dump());
          CHECK(listed["items"].empty());
          for (const pid_t pid : pids) CHECK_FALSE(process_is_alive(pid));
        }
      }
    }
  }
}

TEST_CASE("an update whose new replicas fail is rolled back to the revision still serving",
          "[deployments]") {
  ServiceFixture service;
  GIVEN("a Healthy deployment of model version 1 under a steady stream of requests") {
    const std::string key = deploy_healthy(service, "steady");
    const auto serving_pids = replica_pids(get_deployment(service, "steady"));
    const int64_t second = train_and_register(service, 3, "b");
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    std::atomic<int> answered_by_b{0};
    std::thread client([&] {
      while (!stop) {
        const auto reply = score(service, "steady", key, R"({"x": 1})");
        if (reply.status != 200) {
          ++failures;
        } else if (body_json(reply)["model"] == "b") {
          ++answered_by_b;
        }
      }
    });

    WHEN("it is updated to version 2 with an init() that raises") {
      const auto updated = put_deployment(
          service, "steady", deployment_body(service, second, 1, {{"FAIL_INIT", "bad weights"}}));
      INFO(updated.body);
      REQUIRE(updated.status == 200);
      CHECK(body_json(updated)["revision"] == 2);
      nlohmann::json deployment;
      const bool rolled_back = eventually(
          [&] {
            // Revision 3 is stored first, saying "rolling back"; the rollback is announced (the
            // message) once it is done.
            deployment = get_deployment(service, "steady");
            return deployment.value("revision", 0) == 3 &&
                   deployment.value("message", "").find("was rolled back") != std::string::npos;
          },
          60);
      stop = true;
      client.join();

      THEN("it is Failed saying so, stores the serving configuration again, and never stopped "
           "serving version 1") {
        INFO(deployment.dump());
        REQUIRE(rolled_back);
        CHECK(deployment.value("state", "") == "Failed");
        CHECK_THAT(deployment.value("message", ""),
                   Catch::Contains("revision 2 failed and was rolled back") &&
                       Catch::Contains("RuntimeError: cannot load the model: bad weights") &&
                       Catch::Contains("revision 3 (the configuration of revision 1) serves"));
        CHECK(deployment["models"][0]["version"] == 1);
        CHECK(deployment["environment_variables"] == nlohmann::json::object());
        CHECK(replica_pids(deployment) == serving_pids);
        CHECK(failures == 0);
        CHECK(answered_by_b == 0);
        const auto reply = score(service, "steady", key, R"({"x": 2})");
        CHECK(reply.status == 200);
        CHECK(body_json(reply)["model"] == "a");
        CHECK(std::filesystem::exists(service.home() / "services/default/steady/rev-1"));
        CHECK_FALSE(std::filesystem::exists(service.home() / "services/default/steady/rev-2"));
        CHECK(http_request(service, "DELETE", "/v1/workspaces/default/models/digits/versions/2")
                  .status == 204);
      }

      AND_WHEN("trainctld restarts") {
        service.stop();
        service.start();
        const auto after = wait_for_state(service, "steady", "Healthy");

        THEN("the working configuration comes back, not the failed one") {
          INFO(after.dump());
          CHECK(after.value("state", "") == "Healthy");
          CHECK(after.value("revision", 0) == 3);
          const auto reply = score(service, "steady", key, R"({"x": 2})");
          CHECK(reply.status == 200);
          CHECK(body_json(reply)["model"] == "a");
        }
      }

      AND_WHEN("it is updated again with a working version 2") {
        const auto fixed = put_deployment(service, "steady", deployment_body(service, second));
        REQUIRE(fixed.status == 200);
        const auto after = wait_for_state(service, "steady", "Healthy");

        THEN("that rolls out as usual and the failure is forgotten") {
          INFO(after.dump());
          CHECK(after.value("state", "") == "Healthy");
          CHECK(after.value("revision", 0) == 4);
          CHECK(after.value("message", "") == "");
          const auto reply = score(service, "steady", key, R"({"x": 2})");
          CHECK(reply.status == 200);
          CHECK(body_json(reply)["model"] == "b");
        }
      }
    }
  }
}

// RELIABILITY 41: what a replica started outside its process group (a daemon that called setsid)
// goes with the deployment.
TEST_CASE("a replica's daemons are gone after deploy delete", "[deployments][reliability]") {
  ServiceFixture service;
  const int64_t version = train_and_register(service, 2, "a");
  const std::string daemon_seconds = "43217";
  REQUIRE(put_deployment(service, "daemons",
                         deployment_body(service, version, 1, {{"START_DAEMON", daemon_seconds}}))
              .status == 201);
  REQUIRE(wait_for_state(service, "daemons", "Healthy").value("state", "") == "Healthy");
  const auto daemon_runs = [&] {
    return run_command({"pgrep", "-f", "sleep " + daemon_seconds}).exit_code == 0;
  };
  REQUIRE(eventually(daemon_runs, 10));

  CHECK(http_request(service, "DELETE", k_services + "daemons").status < 300);
  CHECK(eventually([&] { return !daemon_runs(); }, 10));
}

}  // namespace trainctl::testing
