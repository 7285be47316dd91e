// The run manager over a fake engine (tests/fakes/fake_engine.hpp): what it records as the engine
// reports, with a real store and no process. The engines' own behaviour is tested with real
// processes elsewhere (tests/integration/test_engine_*.cpp, the Slurm e2e tests).
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <thread>

#include "fakes/fake_engine.hpp"
#include "test_service_store_support.hpp"
#include "trainctl/service/blob_store.hpp"
#include "trainctl/service/runs/run_manager.hpp"
#include "trainctl/spec/job_spec.hpp"

namespace {

using namespace trainctl::service;
using trainctl::api::RunStatus;
using trainctl::service::testing::draft_run;
using trainctl::service::testing::StoreFixture;
using trainctl::testing::FakeEngine;

// An empty snapshot (an id is a SHA-256).
const std::string k_snapshot(64, 'e');

bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

// A run manager whose local targets' engine is `engine`, over a fresh store with one target.
struct World {
  explicit World(FakeEngine& engine) : blobs(store.home.path() / "blobs", store.home.path() / "tmp") {
    REQUIRE(store.store->ensure_workspace("default"));
    REQUIRE(store.store->ensure_local_compute("default", 4));
    SnapshotRecord snapshot;
    snapshot.id = k_snapshot;
    REQUIRE(store.store->put_snapshot(snapshot));
    engines.add(std::string(k_local_type), engine);
    RunManagerOptions options;
    options.runs_dir = store.home.path() / "runs";
    options.rank_wrapper = "/usr/bin/true";
    options.watch_interval = std::chrono::milliseconds(5);
    runs = std::make_unique<RunManager>(*store.store, blobs, engines, std::move(options));
    runs->start();
  }
  ~World() { runs->stop(); }

  // A run of train.py that may be retried `max_retries` times.
  std::string submit(int max_retries = 0) {
    trainctl::spec::JobSpec spec;
    spec.experiment = "exp";
    spec.estimator.entry_script = "train.py";
    spec.limits.max_retries = max_retries;
    RunRecord draft = draft_run("default");
    draft.snapshot_id = k_snapshot;
    draft.payload = trainctl::spec::build_payload(spec, k_snapshot);

    auto created = store.store->create_run(draft);
    REQUIRE(created.has_value());
    runs->submit(created->run);
    return created->run.id;
  }

  RunRecord run(const std::string& id) { return store.store->get_run("default", id).value(); }
  bool reaches(const std::string& id, RunStatus status) {
    return eventually([&] { return run(id).status == status; });
  }

  StoreFixture store;
  BlobStore blobs;
  Engines engines;
  std::unique_ptr<RunManager> runs;
};

RunObservation running(RunObservation observation, std::string placement = {}) {
  observation.phase = RunObservation::Phase::running;
  observation.started_at_ms = 1000;
  observation.placement = std::move(placement);
  return observation;
}

RunObservation finished(RunObservation observation, RunStatus outcome, std::optional<int> exit_code) {
  observation.phase = RunObservation::Phase::finished;
  observation.started_at_ms = 1000;
  observation.ended_at_ms = 2000;
  observation.outcome = outcome;
  observation.exit_code = exit_code;
  return observation;
}

}  // namespace

TEST_CASE("The run manager records what its engine reports, from start to the outcome",
          "[service][run_manager]") {
  FakeEngine engine;
  World world(engine);
  const std::string id = world.submit();

  REQUIRE(eventually([&] { return engine.started() == std::vector<std::string>{id}; }));
  CHECK(world.reaches(id, RunStatus::Starting));
  engine.report(id, running(engine.with_tasks(id, "running"), "on the fake host"));
  CHECK(world.reaches(id, RunStatus::Running));
  engine.report(id, finished(engine.with_tasks(id, "exited"), RunStatus::Completed, 0));
  CHECK(world.reaches(id, RunStatus::Completed));
  const auto events = world.store.store->run_events(id).value();
  CHECK(std::ranges::any_of(events, [](const RunEvent& event) {
    return event.status == RunStatus::Running && event.message == "on the fake host";
  }));
  CHECK(world.run(id).exit_code == 0);
}

TEST_CASE("A failed attempt with retries left is started again on the engine",
          "[service][run_manager]") {
  FakeEngine engine;
  World world(engine);
  const std::string id = world.submit(/*max_retries=*/1);
  REQUIRE(eventually([&] { return engine.started().size() == 1; }));

  auto killed = engine.with_tasks(id, "killed");
  killed.tasks[0].signal = 9;
  killed.tasks[0].exit_code = 137;
  killed.first_failed_task = killed.tasks[0].name;
  engine.report(id, finished(killed, RunStatus::Failed, 137));
  REQUIRE(eventually([&] { return engine.started().size() == 2; }));  // attempt 2
  CHECK(world.run(id).attempt == 2);
  engine.report(id, finished(engine.with_tasks(id, "exited"), RunStatus::Completed, 0));
  CHECK(world.reaches(id, RunStatus::Completed));
}

TEST_CASE("A cancel reaches the engine, and the run ends as the engine says",
          "[service][run_manager]") {
  FakeEngine engine;
  World world(engine);
  const std::string id = world.submit();
  REQUIRE(eventually([&] { return engine.started().size() == 1; }));
  engine.report(id, running(engine.with_tasks(id, "running")));
  REQUIRE(world.reaches(id, RunStatus::Running));

  REQUIRE(world.runs->cancel("default", id).has_value());
  CHECK(world.run(id).status == RunStatus::CancelRequested);
  CHECK(engine.canceled() == std::vector<std::string>{id});
  engine.report(id, finished(engine.with_tasks(id, "stopped"), RunStatus::Canceled, std::nullopt));
  CHECK(world.reaches(id, RunStatus::Canceled));
}

TEST_CASE("A run its engine's system holds in a queue of its own is Queued with that system's "
          "reason, then runs",
          "[service][run_manager]") {
  FakeEngine engine(/*queues_runs=*/true);
  World world(engine);
  const std::string id = world.submit();
  REQUIRE(eventually([&] { return engine.started().size() == 1; }));

  auto pending = engine.with_tasks(id, "pending");
  pending.waiting = "Slurm job 7 is pending: Resources";
  engine.report(id, pending);
  REQUIRE(world.reaches(id, RunStatus::Queued));
  const auto queue = world.runs->queue_info(id);
  REQUIRE(queue.has_value());
  CHECK(queue->reason == "Slurm job 7 is pending: Resources");
  CHECK(queue->position == 0);  // the place is the other system's

  // A cancel of such a run goes to its engine (its job must end), not only to the record.
  SECTION("canceled while its engine queues it") {
    REQUIRE(world.runs->cancel("default", id).has_value());
    CHECK(engine.canceled() == std::vector<std::string>{id});
  }
  SECTION("let go by its engine's queue") {
    engine.report(id, running(engine.with_tasks(id, "running")));
    CHECK(world.reaches(id, RunStatus::Running));
    CHECK_FALSE(world.runs->queue_info(id).has_value());
  }
}
