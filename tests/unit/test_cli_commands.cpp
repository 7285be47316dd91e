#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fakes/fake_transport.hpp"
#include "support/service_fixture.hpp"
#include "trainctl/api/run_status.hpp"
#include "trainctl/cli/commands/logs.hpp"
#include "trainctl/cli/commands/run.hpp"
#include "trainctl/cli/commands/submit.hpp"
#include "trainctl/cli/commands/workspace.hpp"
#include "trainctl/cli/session.hpp"

namespace {

using namespace trainctl::cli;
using nlohmann::json;
using trainctl::Error;
using trainctl::ErrorCode;
using trainctl::testing::FakeTransport;

const std::string k_runs = "/v1/workspaces/default/runs";

// A session whose client talks to a FakeTransport, printing into strings.
struct FakeSession {
  FakeTransport transport;
  std::ostringstream out;
  std::ostringstream err;
  Printer printer;
  int clients_made = 0;
  Session session;

  explicit FakeSession(OutputFormat format = OutputFormat::table)
      : printer(out, err, PrinterOptions{.format = format}),
        session(trainctl::config::Config{}, printer,
                [this](const trainctl::config::Config&,
                       Printer&) -> trainctl::Result<std::unique_ptr<trainctl::client::ApiClient>> {
                  ++clients_made;
                  return std::make_unique<trainctl::client::ApiClient>(transport.share(), "token");
                }) {}
};

json run_in(const std::string& status, json exit_code = nullptr) {
  return {{"id", "run-a"},
          {"workspace", "default"},
          {"experiment", "e"},
          {"status", status},
          {"exit_code", exit_code},
          {"tasks", json::array()},
          {"timeline", json::array()}};
}

// An options struct with the fields `set` assigns (the others at their defaults).
template <typename Options, typename Setter>
Options make(Setter set) {
  Options options;
  set(options);
  return options;
}

std::string event(const json& value) { return value.dump() + "\n"; }

json log_event(const std::string& data, int offset, const std::string& task = "main") {
  return {{"type", "log"},
          {"task", task},
          {"offset", offset},
          {"next_offset", offset + static_cast<int>(data.size())},
          {"data", data}};
}

}  // namespace

TEST_CASE("commands: options are validated before anything runs", "[cli][commands]") {
  auto code_of = [](const trainctl::Result<void>& result) {
    return result ? std::optional<ErrorCode>() : std::optional(result.error().code);
  };
  SECTION("given submit flags that contradict each other, a usage error") {
    CHECK(code_of(validate(make<SubmitOptions>([&](auto& o) {
            o.files = {"job.yaml"};
            o.cancel_on_interrupt = true;
          }))) == ErrorCode::usage);
    CHECK(code_of(validate(make<SubmitOptions>([&](auto& o) {
            o.files = {"job.yaml"};
            o.dry_run = true;
            o.stream = true;
          }))) == ErrorCode::usage);
    CHECK(code_of(validate(make<SubmitOptions>([&](auto& o) {
            o.files = {"job.yaml"};
            o.stream = true;
            o.cancel_on_interrupt = true;
          }))) == std::nullopt);
  }
  SECTION("given --set without '=', a usage error naming the entry") {
    auto result = validate(make<ValidateOptions>([&](auto& o) {
      o.file = "job.yaml";
      o.overrides = {"node_count"};
    }));
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error().message, Catch::Contains("node_count"));
  }
  SECTION("given an idempotency key with spaces or over 255 characters, a usage error") {
    CHECK(code_of(validate(make<SubmitOptions>([&](auto& o) {
            o.files = {"f"};
            o.idempotency_key = "a b";
          }))) == ErrorCode::usage);
    CHECK(code_of(validate(make<SubmitOptions>([&](auto& o) {
            o.files = {"f"};
            o.idempotency_key = std::string(256, 'k');
          }))) == ErrorCode::usage);
  }
  SECTION("given run list filters, unknown statuses and limits out of range are usage errors") {
    CHECK(code_of(validate(make<RunListOptions>([&](auto& o) { o.status = "Running,Failed"; }))) ==
          std::nullopt);
    CHECK(code_of(validate(make<RunListOptions>([&](auto& o) { o.status = "running"; }))) ==
          ErrorCode::usage);
    CHECK(code_of(validate(make<RunListOptions>([&](auto& o) { o.limit = 0; }))) ==
          ErrorCode::usage);
    CHECK(code_of(validate(make<RunListOptions>([&](auto& o) { o.limit = 1001; }))) ==
          ErrorCode::usage);
  }
  SECTION("given a wait timeout that is not a duration, a usage error") {
    CHECK(code_of(validate(make<RunWaitOptions>([&](auto& o) {
            o.run_ids = {"run-a"};
            o.timeout = "soon";
          }))) == ErrorCode::usage);
    CHECK(code_of(validate(make<RunWaitOptions>([&](auto& o) {
            o.run_ids = {"run-a"};
            o.timeout = "90s";
          }))) == std::nullopt);
  }
  SECTION("given run wait with both --all and --any, a usage error") {
    CHECK(code_of(validate(make<RunWaitOptions>([&](auto& o) {
            o.run_ids = {"run-a", "run-b"};
            o.all = true;
            o.any = true;
          }))) == ErrorCode::usage);
    CHECK(code_of(validate(make<RunWaitOptions>([&](auto& o) {
            o.run_ids = {"run-a", "run-b"};
            o.any = true;
          }))) == std::nullopt);
  }
  SECTION("given a download path that climbs out, a usage error") {
    CHECK(code_of(validate(make<RunDownloadOptions>([&](auto& o) {
            o.run_id = "run-a";
            o.path = "../etc";
          }))) == ErrorCode::usage);
    CHECK(code_of(validate(make<RunDownloadOptions>([&](auto& o) {
            o.run_id = "run-a";
            o.path = "outputs/model";
          }))) == std::nullopt);
  }
  SECTION("given logs with both --task and --rank, a usage error; either alone selects a task") {
    const auto both = make<LogsOptions>([&](auto& o) {
      o.run_id = "run-a";
      o.task = "worker-1";
      o.rank = 3;
    });
    CHECK(code_of(validate(both)) == ErrorCode::usage);
    const auto rank = make<LogsOptions>([&](auto& o) {
      o.run_id = "run-a";
      o.rank = 3;
    });
    CHECK(code_of(validate(rank)) == std::nullopt);
    CHECK(selected_task(rank) == "rank-3");
    const auto task = make<LogsOptions>([&](auto& o) {
      o.run_id = "run-a";
      o.task = "mpirun";
    });
    CHECK(selected_task(task) == "mpirun");
    CHECK(selected_task(make<LogsOptions>([&](auto& o) { o.run_id = "run-a"; })).empty());
    CHECK(code_of(validate(make<LogsOptions>([&](auto& o) {
            o.run_id = "run-a";
            o.rank = -1;
          }))) == ErrorCode::usage);
  }
  SECTION("given an invalid workspace name, an invalid argument") {
    CHECK(code_of(validate(make<WorkspaceOptions>([&](auto& o) { o.name = "../x"; }))) ==
          ErrorCode::invalid_argument);
  }
}

TEST_CASE("commands: a run's outcome is the exit code", "[cli][commands]") {
  CHECK(exit_code_for_run(run_in("Completed", 0)) == 0);
  CHECK(exit_code_for_run(run_in("Failed", 3)) == 3);
  CHECK(exit_code_for_run(run_in("Canceled")) == 4);
  CHECK(exit_code_for_run(run_in("TimedOut")) == 5);
  CHECK(exit_code_for_run(run_in("Running")) == 1);
  CHECK(trainctl::exit_code_of(ErrorCode::invalid_spec) == 6);
  CHECK(trainctl::exit_code_of(ErrorCode::not_found) == 7);
  CHECK(trainctl::exit_code_of(ErrorCode::unavailable) == 8);
  CHECK(trainctl::exit_code_of(ErrorCode::conflict) == 9);
  CHECK(trainctl::exit_code_of(ErrorCode::usage) == 2);
  CHECK(trainctl::exit_code_of(ErrorCode::interrupted) == 130);
}

TEST_CASE("commands: logs over a connection that drops", "[cli][commands][logs]") {
  FakeSession fake;
  const auto logs = k_runs + "/run-a/logs";
  SECTION(
      "given a follow that drops mid-run, it resumes at the last offset with nothing lost or "
      "repeated") {
    fake.transport.add_failure("GET", logs, Error{ErrorCode::unavailable, "connection reset"},
                               {event(log_event("one\n", 0)) + event(log_event("two\n", 4))});
    fake.transport.add_stream("GET", logs, 200,
                              {event(log_event("three\n", 8)),
                               event({{"type", "end"}, {"status", "Failed"}, {"exit_code", 2}})});
    auto code = run_logs(fake.session, make<LogsOptions>([&](auto& o) {
                           o.run_id = "run-a";
                           o.follow = true;
                         }));
    REQUIRE(code);
    CHECK(*code == 3);
    CHECK(fake.out.str() == "one\ntwo\nthree\n");
    const auto requests = fake.transport.requests_to("GET", logs);
    REQUIRE(requests.size() == 2);
    CHECK_THAT(requests[1].target, Catch::Contains("offset=main%3A8"));
  }
  SECTION("given no follow, the logs print and the exit code is 0 whatever the outcome") {
    fake.transport.add_stream("GET", logs, 200,
                              {event(log_event("done\n", 0)),
                               event({{"type", "end"}, {"status", "Failed"}, {"exit_code", 1}})});
    auto code = run_logs(fake.session, make<LogsOptions>([&](auto& o) { o.run_id = "run-a"; }));
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK(fake.out.str() == "done\n");
  }
  SECTION("given an unknown run, not found") {
    fake.transport.add_json("GET", logs, 404,
                            {{"error", {{"code", "not_found"}, {"message", "no run run-a"}}}});
    auto code = run_logs(fake.session, make<LogsOptions>([&](auto& o) {
                           o.run_id = "run-a";
                           o.follow = true;
                         }));
    REQUIRE_FALSE(code);
    CHECK(code.error().code == ErrorCode::not_found);
  }
}

TEST_CASE("commands: logs of a distributed run", "[cli][commands][logs]") {
  FakeSession fake;
  const auto logs = k_runs + "/run-a/logs";
  const std::string end = event({{"type", "end"}, {"status", "Completed"}, {"exit_code", 0}});
  SECTION("given the merged view, each line carries its task, also across events") {
    fake.transport.add_stream("GET", logs, 200,
                              {event(log_event("step 1\nst", 0, "worker-0")),
                               event(log_event("serving\n", 0, "ps-0")),
                               event(log_event("ep 2\n", 10, "worker-0")), end});
    REQUIRE(run_logs(fake.session, make<LogsOptions>([&](auto& o) { o.run_id = "run-a"; })));
    CHECK(fake.out.str() == "[worker-0] step 1\n[worker-0] st[ps-0] serving\nep 2\n");
  }
  SECTION("given --rank, only that rank's log is asked for and printed as written") {
    fake.transport.add_stream("GET", logs, 200, {event(log_event("rank one\n", 0, "rank-1")), end});
    REQUIRE(run_logs(fake.session, make<LogsOptions>([&](auto& o) {
      o.run_id = "run-a";
      o.rank = 1;
    })));
    CHECK(fake.out.str() == "rank one\n");
    const auto requests = fake.transport.requests_to("GET", logs);
    REQUIRE(requests.size() == 1);
    CHECK_THAT(requests[0].target, Catch::Contains("task=rank-1"));
  }
  SECTION("given an unknown task, the service's list of tasks reaches the user") {
    fake.transport.add_json(
        "GET", logs, 404,
        {{"error",
          {{"code", "not_found"},
           {"message",
            "run run-a has no task 'worker-9'; its tasks are chief-0, ps-0, worker-0"}}}});
    auto code = run_logs(fake.session, make<LogsOptions>([&](auto& o) {
      o.run_id = "run-a";
      o.task = "worker-9";
    }));
    REQUIRE_FALSE(code);
    CHECK(code.error().code == ErrorCode::not_found);
    CHECK_THAT(code.error().message, Catch::Contains("its tasks are chief-0, ps-0, worker-0"));
  }
}

TEST_CASE("commands: runs", "[cli][commands][run]") {
  SECTION("given a second cancel of a canceled run, it is a no-op with exit 0") {
    FakeSession fake;
    fake.transport.add_json("POST", k_runs + "/run-a/cancel", 202, run_in("CancelRequested"));
    fake.transport.add_json("POST", k_runs + "/run-a/cancel", 200, run_in("Canceled"));
    CHECK(run_run_cancel(fake.session, RunOptions{"run-a"}).value() == 0);
    CHECK(run_run_cancel(fake.session, RunOptions{"run-a"}).value() == 0);
    CHECK(fake.out.str() == "run run-a cancel requested\nrun run-a canceled\n");
  }
  SECTION("given a run that fails while waited for, wait exits 3") {
    FakeSession fake;
    fake.transport.add_json("GET", k_runs + "/run-a", 200, run_in("Running"));
    fake.transport.add_json("GET", k_runs + "/run-a", 200, run_in("Failed", 1));
    CHECK(run_run_wait(fake.session, make<RunWaitOptions>([&](auto& o) { o.run_ids = {"run-a"}; }))
              .value() == 3);
    const auto waits = fake.transport.requests_to("GET", k_runs + "/run-a");
    REQUIRE(waits.size() == 2);
    CHECK_THAT(waits[0].target, Catch::Contains("wait=true"));
  }
  SECTION("given several runs of which one fails, wait exits 3 once every one has ended") {
    FakeSession fake(OutputFormat::name);
    fake.transport.add_json("GET", k_runs + "/run-a", 200, run_in("Completed", 0));
    fake.transport.add_json("GET", k_runs + "/run-b", 200, run_in("Running"));
    fake.transport.add_json("GET", k_runs + "/run-b", 200, run_in("Failed", 1));
    fake.transport.add_json("GET", k_runs + "/run-c", 200, run_in("Canceled"));
    CHECK(run_run_wait(fake.session, make<RunWaitOptions>([&](auto& o) {
                         o.run_ids = {"run-a", "run-b", "run-c"};
                       }))
              .value() == 3);
    CHECK(fake.transport.requests_to("GET", k_runs + "/run-b").size() == 2);
  }
  SECTION("given --any, wait exits with the outcome of the first run that ended") {
    FakeSession fake(OutputFormat::name);
    fake.transport.add_json("GET", k_runs + "/run-a", 200, run_in("Running"));
    fake.transport.add_json("GET", k_runs + "/run-b", 200, run_in("Canceled"));
    CHECK(run_run_wait(fake.session, make<RunWaitOptions>([&](auto& o) {
                         o.run_ids = {"run-a", "run-b"};
                         o.any = true;
                       }))
              .value() == 4);
  }
  SECTION("given --all, list follows page tokens to the end") {
    FakeSession fake(OutputFormat::name);
    fake.transport.add_json(
        "GET", k_runs, 200,
        {{"items", {{{"id", "run-1"}}, {{"id", "run-2"}}}}, {"next_page_token", "p2"}});
    fake.transport.add_json("GET", k_runs, 200,
                            {{"items", {{{"id", "run-3"}}}}, {"next_page_token", nullptr}});
    CHECK(run_run_list(fake.session, make<RunListOptions>([&](auto& o) {
                         o.limit = 2;
                         o.all = true;
                       }))
              .value() == 0);
    CHECK(fake.out.str() == "run-1\nrun-2\nrun-3\n");
    const auto pages = fake.transport.requests_to("GET", k_runs);
    REQUIRE(pages.size() == 2);
    CHECK_THAT(pages[1].target, Catch::Contains("page_token=p2"));
  }
  SECTION("given no --all, one page prints and a notice says more exist") {
    FakeSession fake(OutputFormat::name);
    fake.transport.add_json("GET", k_runs, 200,
                            {{"items", {{{"id", "run-1"}}}}, {"next_page_token", "p2"}});
    CHECK(run_run_list(fake.session, make<RunListOptions>([&](auto& o) { o.limit = 1; })).value() ==
          0);
    CHECK(fake.out.str() == "run-1\n");
    CHECK_THAT(fake.err.str(), Catch::Contains("--all"));
  }
}

TEST_CASE("commands: run show describes stages and the time spent in each",
          "[cli][commands][run]") {
  const json run{{"id", "run-a"},
                 {"status", "Completed"},
                 {"exit_code", 0},
                 {"duration_ms", 1500},
                 {"tasks", {{{"name", "main"}, {"state", "exited"}, {"exit_code", 0}}}},
                 {"timeline",
                  {{{"status", "Queued"}, {"at", "2026-11-21T10:00:00.000Z"}},
                   {{"status", "Running"}, {"at", "2026-11-21T10:00:02.000Z"}},
                   {{"status", "Completed"}, {"at", "2026-11-21T10:01:02.000Z"}}}}};
  const auto description = describe_run(run, 0);
  REQUIRE(description.sections.size() == 3);  // tasks, timeline, time spent
  const auto& timeline = description.sections[1].rows;
  REQUIRE(timeline.size() == 3);
  CHECK(timeline[0][0] == "Queued");
  CHECK(timeline[0][2] == "2.0s");
  CHECK(timeline[1][2] == "1m00s");
  CHECK(timeline[2][2] == "-");
  CHECK(description.sections[0].rows.at(0).at(0) == "main");
}

TEST_CASE("commands: run show of a distributed run", "[cli][commands][run]") {
  auto task = [](std::string name, std::string role, int node, std::string state, json exit_code,
                 bool failed_first) {
    return json{{"name", name},         {"role", role},         {"index", 0},
                {"node", node},         {"state", state},       {"exit_code", exit_code},
                {"signal", nullptr},    {"message", ""},        {"failed_first", failed_first}};
  };
  const json run{{"id", "run-a"},
                 {"status", "Failed"},
                 {"exit_code", 3},
                 {"failure_reason", "task 'worker-1' exited with code 3"},
                 {"tasks",
                  {task("chief-0", "chief", 0, "stopped", 143, false),
                   task("ps-0", "ps", 1, "stopped", 143, false),
                   task("worker-0", "worker", 0, "stopped", 143, false),
                   task("worker-1", "worker", 1, "exited", 3, true)}},
                 {"timeline", json::array()}};
  const auto description = describe_run(run, 0);
  SECTION("the tasks show role, node and state, the first failure marked") {
    const auto& tasks = description.sections.at(0);
    CHECK(tasks.headers == std::vector<std::string>{"NAME", "ROLE", "NODE", "STATE", "EXIT",
                                                    "SIGNAL", "STARTED", "ENDED", "MESSAGE"});
    CHECK(tasks.rows.at(3).at(0) == "worker-1");
    CHECK(tasks.rows.at(3).at(2) == "1");
    CHECK(tasks.rows.at(3).at(3) == "exited (first failure)");
    CHECK(tasks.rows.at(1).at(3) == "stopped");
  }
  SECTION("a field names the task that failed first and how") {
    const auto field = std::find_if(description.fields.begin(), description.fields.end(),
                                    [](const auto& f) { return f.first == "First failure"; });
    REQUIRE(field != description.fields.end());
    CHECK(field->second == "worker-1: task 'worker-1' exited with code 3");
  }
  SECTION("the placement lists each node's tasks") {
    const auto& placement = description.sections.at(1);
    CHECK(placement.title == "Placement");
    CHECK(placement.rows == std::vector<std::vector<std::string>>{
                                {"node 0:", "chief-0, worker-0"}, {"node 1:", "ps-0, worker-1"}});
  }
}

TEST_CASE("commands: submit --dry-run contacts no service", "[cli][commands][submit]") {
  trainctl::testing::TempDir project;
  std::filesystem::create_directories(project.path() / "src");
  std::ofstream(project.path() / "src/train.py") << "print('hi')\n";
  std::ofstream(project.path() / "job.yaml")
      << "experiment: demo\nestimator:\n  source_directory: src\n  entry_script: train.py\n"
         "  script_params:\n    --lr: 0.1\n";
  const auto spec_file = (project.path() / "job.yaml").string();

  SECTION("given a valid spec, the payload and the launch plan print, and no client is made") {
    FakeSession fake(OutputFormat::json);
    auto code = run_submit(fake.session, make<SubmitOptions>([&](auto& o) {
                             o.files = {spec_file};
                             o.dry_run = true;
                           }));
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK(fake.clients_made == 0);
    const auto document = json::parse(fake.out.str());
    CHECK(document["payload"]["experiment"] == "demo");
    const auto& task = document["launch_plan"]["tasks"][0];
    CHECK(task["argv"].dump().find("train.py") != std::string::npos);
    CHECK(task["argv"].dump().find("--lr") != std::string::npos);
  }
  SECTION("given an mpi spec, the plan has the mpirun launcher wrapping ranks in <trainctld>") {
    FakeSession fake(OutputFormat::json);
    auto code = run_submit(fake.session, make<SubmitOptions>([&](auto& o) {
                             o.files = {spec_file};
                             o.dry_run = true;
                             o.overrides = {"estimator.distributed_training.backend=mpi",
                                            "estimator.process_count_per_node=2"};
                           }));
    REQUIRE(code);
    CHECK(fake.clients_made == 0);
    const auto plan = json::parse(fake.out.str())["launch_plan"];
    CHECK(plan["tasks"].size() == 2);
    const auto launcher = plan["launcher"]["argv"].dump();
    CHECK_THAT(launcher, Catch::Contains(R"("<trainctld>","rank")"));
  }
  SECTION("given an entry script missing from the source directory, invalid_spec naming the file") {
    FakeSession fake;
    std::filesystem::remove(project.path() / "src/train.py");
    auto code = run_submit(fake.session, make<SubmitOptions>([&](auto& o) {
                             o.files = {spec_file};
                             o.dry_run = true;
                           }));
    REQUIRE_FALSE(code);
    CHECK(code.error().code == ErrorCode::invalid_spec);
    REQUIRE(code.error().details.size() == 1);
    CHECK_THAT(code.error().details[0].to_string(),
               Catch::StartsWith(spec_file) && Catch::Contains("estimator.entry_script"));
  }
}
