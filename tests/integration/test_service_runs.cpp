// Runs through the real trainctld: submit (idempotent), validation, listing, long-poll, cancel,
// the tasks of a distributed run, and the dry-run plan against the plan the engine ran.
#include <signal.h>

#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"
#include "trainctl/cli/commands/submit.hpp"
#include "trainctl/spec/launch_plan.hpp"
#include "trainctl/util/fs.hpp"

using namespace trainctl::testing;

namespace {

using nlohmann::json;

const std::string k_quick_script = "print('hello from the run')\n";

// Each rank says who it is; rank 1 exits with `rank_1_exit`.
std::string rank_script(int rank_1_exit = 0) {
  return fmt::format(
      "import os, sys\n"
      "print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'], flush=True)\n"
      "sys.exit({} if os.environ['RANK'] == '1' else 0)\n",
      rank_1_exit);
}

// A PyTorch-backend run of two ranks on two nodes running train.py of `snapshot`.
json two_rank_payload(const std::string& snapshot) {
  auto payload = script_payload(snapshot);
  payload["estimator"]["node_count"] = 2;
  payload["estimator"]["distributed_training"] = {{"backend", "pytorch"}};
  return payload;
}

RawResponse submit_raw(const ServiceFixture& service, const nlohmann::json& payload,
                       const std::string& key = {}) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
  return http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump(), headers);
}

// `text` with every `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// What a dry run and the engine's launch.json must agree on: each process's name, role, node,
// argv, cwd, log and environment, with the run's directory and id as the dry run's
// placeholders, the port MASTER_PORT masked (picked when the run starts) and the variables the
// service passes on from its own environment left out.
json comparable_processes(const trainctl::spec::LaunchPlan& plan, const std::string& run_dir,
                          const std::string& run_id) {
  auto processes = plan.to_json()["tasks"];
  for (auto& process : processes) {
    auto env = json::array();
    for (const auto& entry : process["env"]) {
      const std::string name = entry[0];
      if (trainctl::spec::is_inherited_variable(name)) continue;
      const std::string value = entry[1];
      env.push_back({name, name == "MASTER_PORT" ? "<port>" : value});
    }
    process["env"] = std::move(env);
  }
  return json::parse(replaced(replaced(processes.dump(), run_dir, "<run>"), run_id, "<run-id>"));
}

}  // namespace

TEST_CASE("a script run goes to Completed with its log and timeline", "[service][runs]") {
  ServiceFixture service;
  const auto run = submit_script(service, "for i in range(3):\n    print('line', i)\n");
  REQUIRE(run.value("status", "") == "Queued");

  const auto done = wait_for_run(service, run["id"]);
  CHECK(done["status"] == "Completed");
  CHECK(done["exit_code"] == 0);
  CHECK(done["tasks"].size() == 1);
  CHECK(done["tasks"][0]["name"] == "main");
  CHECK_FALSE(done["started_at"].is_null());
  std::vector<std::string> timeline;
  for (const auto& event : done["timeline"]) timeline.push_back(event["status"]);
  CHECK(timeline == std::vector<std::string>{"Queued", "Preparing", "Starting", "Running",
                                             "Finalizing", "Completed"});
  const auto log = http_request(service, "GET", "/v1/workspaces/default/runs/" +
                                                    done["id"].get<std::string>() + "/files/logs/main.log");
  CHECK(log.body == "line 0\nline 1\nline 2\n");
}

TEST_CASE("a run file resumes from a byte range, and a range past its end is 416",
          "[service][runs]") {
  ServiceFixture service;
  const auto run = submit_script(service, "for i in range(1000):\n    print('line', i)\n");
  const auto done = wait_for_run(service, run["id"]);
  REQUIRE(done["status"] == "Completed");
  const std::string file =
      "/v1/workspaces/default/runs/" + done["id"].get<std::string>() + "/files/logs/main.log";
  const std::string whole = http_request(service, "GET", file).body;
  REQUIRE(whole.size() > 100);

  const auto rest = http_request(service, "GET", file, {}, {{"Range", "bytes=100-"}});
  CHECK(rest.status == 206);
  CHECK(whole.substr(0, 100) + rest.body == whole);
  const auto beyond = http_request(service, "GET", file, {},
                                   {{"Range", fmt::format("bytes={}-", whole.size() + 10)}});
  CHECK(beyond.status == 416);
  const auto missing = http_request(service, "GET", file + ".nope", {}, {{"Range", "bytes=2-4"}});
  CHECK(missing.status == 404);
  CHECK(body_json(missing)["error"]["code"] == "not_found");
}

TEST_CASE("a failing script ends Failed with its exit code", "[service][runs]") {
  ServiceFixture service;
  const auto run = submit_script(service, "import sys\nsys.exit(3)\n");
  const auto done = wait_for_run(service, run["id"]);
  CHECK(done["status"] == "Failed");
  CHECK(done["exit_code"] == 3);
}

TEST_CASE("submits are idempotent by key", "[service][runs]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"train.py", k_quick_script}});
  const auto payload = script_payload(snapshot);

  const auto first = submit_raw(service, payload, "key-1");
  REQUIRE(first.status == 201);
  WHEN("the same key and body are sent again") {
    const auto again = submit_raw(service, payload, "key-1");
    THEN("the original run is answered with 200 and the replay header") {
      CHECK(again.status == 200);
      CHECK(header_of(again, "Idempotent-Replay") == "true");
      CHECK(body_json(again)["id"] == body_json(first)["id"]);
    }
  }
  WHEN("the same key comes with another body") {
    auto other = payload;
    other["experiment"] = "other";
    const auto conflict = submit_raw(service, other, "key-1");
    THEN("409") { CHECK(conflict.status == 409); }
  }
  WHEN("the key is not printable") {
    THEN("400") { CHECK(submit_raw(service, payload, std::string(300, 'k')).status == 400); }
  }
}

TEST_CASE("a submission that prefers return=minimal is answered with the run's id, workspace and "
          "status only",
          "[service][runs]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"train.py", k_quick_script}});
  const auto payload = script_payload(snapshot);
  const std::vector<std::pair<std::string, std::string>> minimal{
      {"Idempotency-Key", "key-minimal"}, {"Prefer", "handling=strict, Return=Minimal"}};

  const auto first = http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump(), minimal);
  REQUIRE(first.status == 201);
  CHECK(header_of(first, "Preference-Applied") == "return=minimal");
  const auto body = body_json(first);
  CHECK(body.size() == 3);
  CHECK(body["workspace"] == "default");
  CHECK(body["status"] == "Queued");
  const auto stored = body_json(http_request(service, "GET", "/v1/workspaces/default/runs/" +
                                                                 body["id"].get<std::string>()));
  CHECK(stored["id"] == body["id"]);
  CHECK(stored["experiment"] == payload["experiment"]);

  WHEN("it is sent again") {
    const auto again = http_request(service, "POST", "/v1/workspaces/default/runs", payload.dump(), minimal);
    THEN("the same minimal reply, marked as a replay") {
      CHECK(again.status == 200);
      CHECK(header_of(again, "Idempotent-Replay") == "true");
      CHECK(body_json(again)["id"] == body["id"]);
      CHECK(body_json(again).size() == 3);
    }
  }
  WHEN("the same key comes without the preference") {
    const auto whole = submit_raw(service, payload, "key-minimal");
    THEN("the whole run") {
      CHECK(whole.status == 200);
      CHECK(header_of(whole, "Preference-Applied").empty());
      CHECK(body_json(whole).contains("estimator"));
      CHECK(body_json(whole).contains("timeline"));
    }
  }
}

TEST_CASE("invalid payloads and snapshots are refused with every problem", "[service][runs]") {
  ServiceFixture service;
  WHEN("the payload has wrong values") {
    nlohmann::json payload = script_payload(std::string(64, 'a'));
    payload["estimator"]["node_count"] = -1;
    const auto response = submit_raw(service, payload);
    THEN("422 with details") {
      CHECK(response.status == 422);
      CHECK_FALSE(body_json(response)["error"]["details"].empty());
    }
  }
  WHEN("a snapshot names blobs that were never uploaded") {
    const std::string hash(64, 'b');
    const auto response = http_request(
        service, "POST", "/v1/workspaces/default/snapshots",
        nlohmann::json{{"files", {{{"path", "a.py"}, {"sha256", hash}, {"size", 1}, {"mode", 420}}}}}.dump());
    THEN("400 listing the missing hash") {
      CHECK(response.status == 400);
      CHECK(body_json(response)["error"]["details"][0]["path"] == hash);
    }
  }
  WHEN("a snapshot path climbs out") {
    const auto response = http_request(
        service, "POST", "/v1/workspaces/default/snapshots",
        nlohmann::json{{"files", {{{"path", "../evil"}, {"sha256", std::string(64, 'c')}, {"size", 1}, {"mode", 420}}}}}.dump());
    THEN("400") { CHECK(response.status == 400); }
  }
}

TEST_CASE("runs are listed newest first, page by page", "[service][runs]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"train.py", k_quick_script}});
  std::vector<std::string> created;
  for (int i = 0; i < 5; ++i) created.push_back(body_json(submit_raw(service, script_payload(snapshot)))["id"]);

  std::vector<std::string> listed;
  std::string token;
  int pages = 0;
  do {
    const auto page = body_json(http_request(
        service, "GET", "/v1/workspaces/default/runs?limit=2" + (token.empty() ? "" : "&page_token=" + token)));
    for (const auto& run : page["items"]) listed.push_back(run["id"]);
    token = page["next_page_token"].is_null() ? "" : page["next_page_token"].get<std::string>();
    ++pages;
  } while (!token.empty() && pages < 10);

  CHECK(pages == 3);
  CHECK(listed == std::vector<std::string>(created.rbegin(), created.rend()));
  CHECK(http_request(service, "GET", "/v1/workspaces/default/runs?limit=0").status == 400);
  CHECK(http_request(service, "GET", "/v1/workspaces/default/runs?status=Nope").status == 400);
  const auto by_experiment =
      body_json(http_request(service, "GET", "/v1/workspaces/default/runs?experiment=nope"));
  CHECK(by_experiment["items"].empty());
}

TEST_CASE("wait=true holds the request until the run finishes or the timeout", "[service][runs]") {
  ServiceFixture service;
  const auto run = submit_script(service, "import time\ntime.sleep(1.5)\n");
  const std::string target = "/v1/workspaces/default/runs/" + run["id"].get<std::string>();

  WHEN("the timeout is shorter than the run") {
    const auto started = std::chrono::steady_clock::now();
    const auto early = body_json(http_request(service, "GET", target + "?wait=true&timeout=1"));
    THEN("the run is answered as it is after about the timeout") {
      CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(900));
      CHECK(early["status"] != "Completed");
    }
  }
  WHEN("the timeout is longer than the run") {
    const auto done = body_json(http_request(service, "GET", target + "?wait=true&timeout=30"));
    THEN("it answers as soon as the run is finished") { CHECK(done["status"] == "Completed"); }
  }
}

TEST_CASE("cancel stops every process of a run, daemons included", "[service][runs]") {
  ServiceFixture service({"--grace-seconds", "1"});
  const auto run = submit_script(service,
                                 "import os, sys, time\n"
                                 "out = os.environ['TRAINCTL_OUTPUTS_DIR']\n"
                                 "if os.fork() == 0:\n"
                                 "    os.setsid()\n"
                                 "    if os.fork() == 0:\n"
                                 "        open(out + '/daemon.pid.tmp', 'w').write(str(os.getpid()))\n"
                                 "        os.rename(out + '/daemon.pid.tmp', out + '/daemon.pid')\n"
                                 "        time.sleep(1000)\n"
                                 "    os._exit(0)\n"
                                 "time.sleep(1000)\n");
  const std::string id = run["id"];
  const auto pid_file = service.home() / "runs" / id / "outputs" / "daemon.pid";
  REQUIRE(eventually([&] { return std::filesystem::exists(pid_file); }));
  std::ifstream pid_text(pid_file);
  pid_t daemon = 0;
  pid_text >> daemon;
  REQUIRE(daemon > 0);

  const auto canceled = http_request(service, "POST", "/v1/workspaces/default/runs/" + id + "/cancel", "{}");
  CHECK(canceled.status == 202);
  CHECK(body_json(canceled)["status"] == "CancelRequested");
  CHECK(wait_for_run(service, id)["status"] == "Canceled");
  CHECK(eventually([&] { return ::kill(daemon, 0) != 0; }, 10));

  const auto again = http_request(service, "POST", "/v1/workspaces/default/runs/" + id + "/cancel", "{}");
  CHECK(again.status == 200);
  CHECK(body_json(again)["status"] == "Canceled");
}

TEST_CASE("deleting a workspace removes its runs and their directories", "[service][runs]") {
  ServiceFixture service;
  REQUIRE(http_request(service, "POST", "/v1/workspaces", R"({"name":"temp"})").status == 201);
  const auto run = submit_script(service, k_quick_script, "temp");
  const std::string id = run["id"];
  REQUIRE(wait_for_run(service, id, 60, "temp")["status"] == "Completed");
  REQUIRE(std::filesystem::exists(service.home() / "runs" / id / "snapshot"));

  CHECK(http_request(service, "DELETE", "/v1/workspaces/temp").status == 204);
  CHECK_FALSE(std::filesystem::exists(service.home() / "runs" / id));
  CHECK(http_request(service, "GET", "/v1/workspaces/temp").status == 404);
}

TEST_CASE("a run canceled while it starts is never shown Running again", "[service][runs]") {
  ServiceFixture service({"--grace-seconds", "1"});
  // Ignores SIGTERM, so CancelRequested lasts the grace period.
  const auto snapshot = upload_snapshot(
      service, {{"train.py", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                             "time.sleep(1000)\n"}});
  for (int attempt = 0; attempt < 8; ++attempt) {
    const std::string id = body_json(submit_raw(service, script_payload(snapshot)))["id"];
    const std::string base = "/v1/workspaces/default/runs/" + id;
    REQUIRE(eventually([&] { return body_json(http_request(service, "GET", base))["status"] != "Queued"; }));
    const auto canceled = body_json(http_request(service, "POST", base + "/cancel", "{}"));
    INFO(id);
    std::vector<std::string> seen{canceled["status"]};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (seen.back() != "Canceled" && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      seen.push_back(body_json(http_request(service, "GET", base))["status"]);
    }
    CHECK(seen.back() == "Canceled");
    CHECK(std::find(seen.begin(), seen.end(), "Running") == seen.end());
    const auto timeline = body_json(http_request(service, "GET", base))["timeline"];
    bool cancel_recorded = false;
    for (const auto& event : timeline) {
      if (event["status"] == "CancelRequested") cancel_recorded = true;
      if (cancel_recorded) CHECK(event["status"] != "Running");
    }
  }
}

TEST_CASE("a run asking for more nodes than the local compute target has is refused",
          "[service][runs][distributed]") {
  ServiceFixture service({"--local-max-nodes", "2"});
  const auto snapshot = upload_snapshot(service, {{"train.py", k_quick_script}});
  auto payload = two_rank_payload(snapshot);

  WHEN("node_count is 3 on a target of 2 nodes") {
    payload["estimator"]["node_count"] = 3;
    const auto response = submit_raw(service, payload);
    THEN("422 invalid_spec names estimator.node_count and both numbers, and no run exists") {
      CHECK(response.status == 422);
      const auto error = body_json(response)["error"];
      CHECK(error["code"] == "invalid_spec");
      REQUIRE(error["details"].size() == 1);
      CHECK(error["details"][0]["path"] == "estimator.node_count");
      CHECK(error["details"][0]["message"] ==
            "the compute target 'local' has 2 nodes; node_count is 3");
      CHECK(body_json(http_request(service, "GET", "/v1/workspaces/default/runs"))["items"].empty());
    }
  }
  WHEN("the payload has another problem as well") {
    payload["estimator"]["node_count"] = 5;
    payload["estimator"]["process_count_per_node"] = 0;
    const auto details = body_json(submit_raw(service, payload))["error"]["details"];
    THEN("both are reported at once") {
      std::set<std::string> paths;
      for (const auto& detail : details) paths.insert(detail["path"].get<std::string>());
      CHECK(paths.contains("estimator.node_count"));
      CHECK(paths.contains("estimator.process_count_per_node"));
    }
  }
  WHEN("node_count is what the target has") {
    THEN("the run is created") { CHECK(submit_raw(service, payload).status == 201); }
  }
}

TEST_CASE("a PyTorch run of two ranks shows each rank as a task with its role and node",
          "[service][runs][distributed]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"train.py", rank_script()}});
  const std::string id = body_json(submit_raw(service, two_rank_payload(snapshot)))["id"];
  const auto done = wait_for_run(service, id);
  REQUIRE(done["status"] == "Completed");

  REQUIRE(done["tasks"].size() == 2);
  for (int rank = 0; rank < 2; ++rank) {
    const auto& task = done["tasks"][rank];
    CHECK(task["name"] == fmt::format("rank-{}", rank));
    CHECK(task["role"] == "rank");
    CHECK(task["index"] == rank);
    CHECK(task["node"] == rank);
    CHECK(task["state"] == "exited");
    CHECK(task["exit_code"] == 0);
    CHECK(task["failed_first"] == false);
  }
  const auto one = read_run_logs(service, id, "rank-1");
  CHECK(one.status == 200);
  CHECK(one.by_task == std::map<std::string, std::string>{{"rank-1", "rank 1 of 2\n"}});
  const auto merged = read_run_logs(service, id);
  CHECK(merged.by_task == std::map<std::string, std::string>{{"rank-0", "rank 0 of 2\n"},
                                                             {"rank-1", "rank 1 of 2\n"}});
}

TEST_CASE("the rank whose end failed the run is marked as the first failure",
          "[service][runs][distributed]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"train.py", rank_script(3)}});
  const std::string id = body_json(submit_raw(service, two_rank_payload(snapshot)))["id"];
  const auto done = wait_for_run(service, id);
  CHECK(done["status"] == "Failed");
  CHECK(done["exit_code"] == 3);
  const auto failed = task_named(done, "rank-1");
  REQUIRE(failed.is_object());
  CHECK(failed["failed_first"] == true);
  CHECK(failed["exit_code"] == 3);
  CHECK(task_named(done, "rank-0")["failed_first"] == false);
}

TEST_CASE("the dry-run plan is the plan the engine ran, but for paths, the run id and ports",
          "[service][runs][distributed]") {
  ServiceFixture service;
  const auto snapshot = upload_snapshot(service, {{"train.py", rank_script()}});
  const auto payload = two_rank_payload(snapshot);
  auto spec = trainctl::spec::job_spec_from_payload(payload);
  REQUIRE(spec);
  const auto dry_run = trainctl::cli::placeholder_launch_plan(*spec);
  REQUIRE(dry_run);

  const std::string id = body_json(submit_raw(service, payload))["id"];
  REQUIRE(wait_for_run(service, id)["status"] == "Completed");
  const auto run_dir = service.home() / "runs" / id;
  const auto launched = trainctl::util::read_file(run_dir / "launch.json");
  REQUIRE(launched);
  const auto real = trainctl::spec::LaunchPlan::from_json(json::parse(*launched));
  REQUIRE(real);

  CHECK(real->backend == dry_run->backend);
  CHECK(real->success == dry_run->success);
  CHECK(comparable_processes(*real, run_dir.string(), id) ==
        comparable_processes(*dry_run, "<run>", "<run-id>"));
}
