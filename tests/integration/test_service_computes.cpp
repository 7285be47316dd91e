// Compute targets through the real trainctld: create, show, list, update and delete; provisioning
// that fails; deletes refused while runs use a target and forced ones that cancel them; and the
// checks a submission meets on its target.
#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;

namespace {

using nlohmann::json;

const std::string k_computes = "/v1/workspaces/default/computes";

RawResponse put_compute(const ServiceFixture& service, const std::string& name, const json& body,
                        bool create_only = false) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (create_only) headers.emplace_back("If-None-Match", "*");
  return http_request(service, "PUT", k_computes + "/" + name, body.dump(), headers);
}

json get_compute(const ServiceFixture& service, const std::string& name) {
  return body_json(http_request(service, "GET", k_computes + "/" + name));
}

// The target once provisioning has ended (or as last seen after 20 s).
json provisioned(const ServiceFixture& service, const std::string& name) {
  json compute;
  eventually([&] {
    compute = get_compute(service, name);
    return compute.value("state", "") != "Creating";
  });
  return compute;
}

RawResponse submit(const ServiceFixture& service, const std::string& snapshot, const json& changes) {
  auto payload = script_payload(snapshot);
  payload.merge_patch(changes);
  return http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump());
}

// field path -> message of a 422's details.
std::map<std::string, std::string> problems_of(const RawResponse& response) {
  std::map<std::string, std::string> problems;
  for (const auto& detail : body_json(response)["error"].value("details", json::array())) {
    problems[detail.value("path", "")] = detail.value("message", "");
  }
  return problems;
}

}  // namespace

TEST_CASE("a compute target is created, provisioned, listed, updated and deleted",
          "[service][computes]") {
  ServiceFixture service;

  GIVEN("a new target of two nodes") {
    const auto created = put_compute(service, "cpu2", {{"type", "local"}, {"max_nodes", 2}}, true);
    REQUIRE(created.status == 201);
    CHECK(body_json(created)["state"] == "Creating");

    THEN("it is provisioned with the service's interpreter and shows two free nodes") {
      const auto compute = provisioned(service, "cpu2");
      CHECK(compute["state"] == "Succeeded");
      CHECK_THAT(compute["message"].get<std::string>(), Catch::Contains("Python 3"));
      CHECK(compute["usage"] ==
            json{{"busy_nodes", 0}, {"free_nodes", 2}, {"active_runs", 0}, {"queued_runs", 0}});
    }
    THEN("it is listed after the default target 'local'") {
      const auto items = body_json(http_request(service, "GET", k_computes))["items"];
      REQUIRE(items.size() == 2);
      CHECK(items[0]["name"] == "cpu2");
      CHECK(items[1]["name"] == "local");
      CHECK(items[1]["state"] == "Succeeded");
    }
    WHEN("it is created again with If-None-Match: *") {
      const auto again = put_compute(service, "cpu2", {{"max_nodes", 4}}, true);
      THEN("409, and it keeps its nodes") {
        CHECK(again.status == 409);
        CHECK(get_compute(service, "cpu2")["max_nodes"] == 2);
      }
    }
    WHEN("it is updated by a PUT without If-None-Match") {
      const auto updated = put_compute(service, "cpu2", {{"max_nodes", 3}});
      THEN("200 with the new size, provisioned again") {
        CHECK(updated.status == 200);
        CHECK(body_json(updated)["max_nodes"] == 3);
        CHECK(provisioned(service, "cpu2")["state"] == "Succeeded");
      }
    }
    WHEN("it is deleted") {
      const auto deleted = http_request(service, "DELETE", k_computes + "/cpu2");
      THEN("204, and it is gone") {
        CHECK(deleted.status == 204);
        CHECK(http_request(service, "GET", k_computes + "/cpu2").status == 404);
      }
    }
  }
  WHEN("the default target 'local' is deleted") {
    const auto refused = http_request(service, "DELETE", k_computes + "/local?force=true");
    THEN("409: every spec uses it by default") {
      CHECK(refused.status == 409);
      CHECK(http_request(service, "GET", k_computes + "/local").status == 200);
    }
  }
  WHEN("a new workspace is created") {
    http_request(service, "POST", "/v1/workspaces", json{{"name", "team-a"}}.dump());
    THEN("it has its own 'local' target") {
      const auto local = body_json(http_request(service, "GET", "/v1/workspaces/team-a/computes/local"));
      CHECK(local["state"] == "Succeeded");
      CHECK(local["max_nodes"] == 8);
    }
  }
}

TEST_CASE("a target using trainctld's --python, a program not on PATH, fails provisioning",
          "[service][computes]") {
  ServiceFixture service({"--python", "python-of-nowhere"});
  REQUIRE(put_compute(service, "mine", {{"python", ""}}).status == 201);
  const auto compute = provisioned(service, "mine");
  CHECK(compute["state"] == "Failed");
  CHECK_THAT(compute["message"].get<std::string>(),
             Catch::Contains("python-of-nowhere is not on PATH") && Catch::Contains("--python"));
}

TEST_CASE("a compute target whose interpreter or resources are missing fails provisioning",
          "[service][computes]") {
  ServiceFixture service({"--host-gpus", "2"});

  WHEN("its python does not exist") {
    REQUIRE(put_compute(service, "broken", {{"python", "/nonexistent/bin/python3"}}).status == 201);
    THEN("it is Failed with a message naming the interpreter and the fix") {
      const auto compute = provisioned(service, "broken");
      CHECK(compute["state"] == "Failed");
      CHECK_THAT(compute["message"].get<std::string>(),
                 Catch::Contains("/nonexistent/bin/python3") && Catch::Contains("--python"));
    }
  }
  WHEN("its python runs but exits with an error") {
    REQUIRE(put_compute(service, "false", {{"python", "/bin/false"}}).status == 201);
    THEN("it is Failed with the exit status") {
      const auto compute = provisioned(service, "false");
      CHECK(compute["state"] == "Failed");
      CHECK_THAT(compute["message"].get<std::string>(), Catch::Contains("exited with status 1"));
    }
  }
  WHEN("its nodes need more GPUs than the host has") {
    REQUIRE(put_compute(service, "gpu", {{"max_nodes", 3}, {"gpus_per_node", 1}}).status == 201);
    THEN("it is Failed saying how many GPUs are needed") {
      const auto compute = provisioned(service, "gpu");
      CHECK(compute["state"] == "Failed");
      CHECK_THAT(compute["message"].get<std::string>(), Catch::Contains("need 3 GPUs"));
    }
  }
  WHEN("its nodes need no more GPUs than the host has") {
    REQUIRE(put_compute(service, "gpu", {{"max_nodes", 2}, {"gpus_per_node", 1}}).status == 201);
    THEN("it is Succeeded") { CHECK(provisioned(service, "gpu")["state"] == "Succeeded"); }
  }
}

TEST_CASE("a compute target's configuration is validated, every problem at once",
          "[service][computes]") {
  ServiceFixture service;

  WHEN("the body has an unsupported type, a bad size, a relative python and an unknown field") {
    const auto refused = put_compute(
        service, "bad",
        {{"type", "kubernetes"}, {"max_nodes", 0}, {"python", "python3"}, {"vm_size", "x"}});
    THEN("422 names each field, and no target is made") {
      CHECK(refused.status == 422);
      auto problems = problems_of(refused);
      CHECK(problems.size() == 4);
      CHECK_THAT(problems["type"], Catch::Contains("not supported by this version yet"));
      CHECK(problems.contains("max_nodes"));
      CHECK(problems.contains("python"));
      CHECK(problems.contains("vm_size"));
      CHECK(http_request(service, "GET", k_computes + "/bad").status == 404);
    }
  }
  WHEN("the name is not a valid resource name") {
    for (const std::string name : {"..", "%2e%2e", "a%00b", "x%20y", "x';DROP"}) {
      INFO(name);
      CHECK(put_compute(service, name, {{"max_nodes", 1}}).status == 400);
    }
  }
}

TEST_CASE("a compute target used by a run is deleted only with force, which cancels the run",
          "[service][computes]") {
  ServiceFixture service({"--grace-seconds", "1"});
  REQUIRE(put_compute(service, "busy", {{"max_nodes", 1}}).status == 201);
  REQUIRE(provisioned(service, "busy")["state"] == "Succeeded");
  const auto snapshot = upload_snapshot(service, {{"train.py", "import time\ntime.sleep(300)\n"}});
  const auto created = submit(service, snapshot, {{"compute", "busy"}});
  REQUIRE(created.status == 201);
  const std::string run_id = body_json(created)["id"];
  CHECK(body_json(created)["compute"] == "busy");

  WHEN("it is deleted without force") {
    const auto refused = http_request(service, "DELETE", k_computes + "/busy");
    THEN("409 names the run, and the target stays") {
      CHECK(refused.status == 409);
      CHECK_THAT(refused.body, Catch::Contains(run_id));
      CHECK(get_compute(service, "busy")["state"] == "Succeeded");
    }
  }
  WHEN("it is deleted with force") {
    const auto deleted = http_request(service, "DELETE", k_computes + "/busy?force=true");
    THEN("the run is canceled and the target disappears") {
      CHECK((deleted.status == 202 || deleted.status == 204));
      if (deleted.status == 202) CHECK(body_json(deleted)["state"] == "Deleting");
      CHECK(wait_for_run(service, run_id)["status"] == "Canceled");
      CHECK(eventually([&] {
        return http_request(service, "GET", k_computes + "/busy").status == 404;
      }));
      AND_THEN("a run submitted to it now is refused") {
        CHECK(problems_of(submit(service, snapshot, {{"compute", "busy"}})).contains("compute"));
      }
    }
  }
}

TEST_CASE("a submission is checked against its compute target, every problem at once",
          "[service][computes][runs]") {
  ServiceFixture service({"--host-gpus", "1"});
  const auto snapshot = upload_snapshot(service, {{"train.py", "print('hi')\n"}});

  WHEN("the run names a target the workspace does not have") {
    const auto refused = submit(service, snapshot, {{"compute", "nope"}});
    THEN("422 at compute says how to create it") {
      CHECK(refused.status == 422);
      CHECK(problems_of(refused)["compute"] ==
            "no compute target 'nope' in workspace 'default'; create it with `trainctl compute "
            "create nope --type local`");
    }
  }
  WHEN("the run asks for more nodes, GPUs and conda than 'local' has") {
    const auto refused = submit(
        service, snapshot,
        {{"estimator",
          {{"node_count", 9},
           {"distributed_training", {{"backend", "pytorch"}}},
           {"use_gpu", true},
           {"conda_packages", json::array({"numpy"})}}}});
    THEN("422 names node_count, use_gpu and conda_packages at once") {
      CHECK(refused.status == 422);
      auto problems = problems_of(refused);
      CHECK(problems.size() == 3);
      CHECK(problems["estimator.node_count"] == "the compute target 'local' has 8 nodes; node_count is 9");
      CHECK_THAT(problems["estimator.use_gpu"], Catch::Contains("has no GPUs"));
      CHECK_THAT(problems["estimator.conda_packages"],
                 Catch::Contains("compute target 'local' has no conda") &&
                     Catch::Contains("pip_packages"));
      CHECK(body_json(http_request(service, "GET", "/v1/workspaces/default/runs"))["items"].empty());
    }
  }
  WHEN("the run asks for a GPU on a target that has one per node") {
    REQUIRE(put_compute(service, "gpu", {{"max_nodes", 1}, {"gpus_per_node", 1}}).status == 201);
    const auto accepted = submit(service, snapshot, {{"compute", "gpu"}, {"estimator", {{"use_gpu", true}}}});
    THEN("it is accepted on that target") {
      CHECK(accepted.status == 201);
      CHECK(body_json(accepted)["compute"] == "gpu");
    }
  }
  WHEN("the run names a target that failed provisioning") {
    REQUIRE(put_compute(service, "broken", {{"python", "/nonexistent/python3"}}).status == 201);
    REQUIRE(provisioned(service, "broken")["state"] == "Failed");
    const auto refused = submit(service, snapshot, {{"compute", "broken"}});
    THEN("422 at compute carries the provisioning failure") {
      CHECK(refused.status == 422);
      CHECK_THAT(problems_of(refused)["compute"], Catch::Contains("failed to provision"));
    }
  }
}

TEST_CASE("a forced delete under way when the service is killed finishes after its restart",
          "[service][computes][restart]") {
  ServiceFixture service({"--grace-seconds", "3"});
  REQUIRE(put_compute(service, "slow", {{"max_nodes", 1}}).status == 201);
  REQUIRE(provisioned(service, "slow")["state"] == "Succeeded");
  // The run ignores SIGTERM: it ends only at the SIGKILL after the grace period.
  const auto snapshot = upload_snapshot(
      service, {{"train.py", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                             "time.sleep(300)\n"}});
  const std::string run_id = body_json(submit(service, snapshot, {{"compute", "slow"}}))["id"];
  const std::string run_path = "/v1/workspaces/default/runs/" + run_id;
  REQUIRE(eventually([&] {
    return body_json(http_request(service, "GET", run_path))["status"] == "Running";
  }));

  const auto deleting = http_request(service, "DELETE", k_computes + "/slow?force=true");
  REQUIRE(deleting.status == 202);
  service.kill9();
  service.start();

  THEN("the target is still Deleting, then gone once its canceled run has ended") {
    const auto compute = http_request(service, "GET", k_computes + "/slow");
    if (compute.status == 200) CHECK(body_json(compute)["state"] == "Deleting");
    CHECK(wait_for_run(service, run_id)["status"] == "Canceled");
    CHECK(eventually([&] {
      return http_request(service, "GET", k_computes + "/slow").status == 404;
    }));
  }
}
