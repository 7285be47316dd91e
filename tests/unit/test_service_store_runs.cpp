// Runs: idempotent creation, listing pages, status updates and the timeline.
#include <algorithm>
#include <set>
#include <thread>

#include "test_service_store_support.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::api::RunStatus;
using trainctl::service::CreateRunOutcome;
using trainctl::service::RunQuery;
using trainctl::service::RunRecord;
using trainctl::service::RunUpdate;
using trainctl::service::Store;
using trainctl::service::testing::create_run;
using trainctl::service::testing::draft_run;
using trainctl::service::testing::runs_in;
using trainctl::service::testing::status_change;
using trainctl::service::testing::StoreFixture;
using trainctl::testing::TempDir;

// Every run `query` selects, page after page; each page's ids in order.
std::vector<std::string> all_pages(Store& store, RunQuery query) {
  std::vector<std::string> ids;
  while (true) {
    auto page = store.list_runs(query);
    REQUIRE(page.has_value());
    for (const auto& run : page->items) ids.push_back(run.id);
    if (!page->next_before_seq) return ids;
    REQUIRE(page->items.size() == static_cast<size_t>(query.limit));
    query.before_seq = page->next_before_seq;
  }
}

// `threads` threads each submit `per_thread` runs to the default workspace, alternating
// experiments "a" and "b", and call `after(i, run)` on the i-th run of each. Returns every run
// made, in the store's order (seq).
template <typename After>
std::vector<RunRecord> submit_concurrently(Store& store, int threads, int per_thread, After after) {
  std::vector<std::vector<RunRecord>> made(static_cast<size_t>(threads));
  std::vector<std::thread> submitters;
  for (int t = 0; t < threads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto created = store.create_run(draft_run("default", i % 2 == 0 ? "a" : "b"));
        if (!created) continue;
        after(i, created->run);
        made[static_cast<size_t>(t)].push_back(created->run);
      }
    });
  }
  for (auto& submitter : submitters) submitter.join();
  std::vector<RunRecord> runs;
  for (auto& some : made) runs.insert(runs.end(), some.begin(), some.end());
  std::sort(runs.begin(), runs.end(), [](auto& x, auto& y) { return x.seq < y.seq; });
  return runs;
}

std::vector<RunStatus> timeline(Store& store, const std::string& id) {
  auto events = store.run_events(id);
  REQUIRE(events.has_value());
  std::vector<RunStatus> statuses;
  for (const auto& event : *events) statuses.push_back(event.status);
  return statuses;
}

}  // namespace

TEST_CASE("a new run is queued with an id, a sequence number and its first event",
          "[store][runs]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  auto draft = draft_run("default", "mnist");
  draft.payload["tags"] = {{"note", "héllo"}};

  auto created = store.create_run(draft);
  REQUIRE(created.has_value());
  const auto& run = created->run;
  CHECK_FALSE(created->replayed);
  CHECK(run.id.size() == 14);
  CHECK(run.id.rfind("run-", 0) == 0);
  CHECK(std::all_of(run.id.begin() + 4, run.id.end(),
                    [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }));
  CHECK(run.status == RunStatus::Queued);
  CHECK(run.seq > 0);
  CHECK(run.created_at_ms > 0);

  THEN("it reads back as it was written") {
    auto read = store.get_run("default", run.id);
    REQUIRE(read.has_value());
    CHECK(read->experiment == "mnist");
    CHECK(read->payload == draft.payload);
    CHECK(read->tasks == nlohmann::json::array());
    CHECK(read->seq == run.seq);
    CHECK_FALSE(read->exit_code.has_value());
    CHECK(timeline(store, run.id) == std::vector{RunStatus::Queued});
  }
  THEN("it is not found under another workspace or another id") {
    REQUIRE(store.create_workspace("other", "").has_value());
    CHECK(store.get_run("other", run.id).error().code == ErrorCode::not_found);
    CHECK(store.get_run("default", "run-0000000000").error().code == ErrorCode::not_found);
  }
  THEN("a run in a workspace that does not exist is refused") {
    auto orphan = store.create_run(draft_run("nowhere"));
    REQUIRE_FALSE(orphan.has_value());
    CHECK(orphan.error().code == ErrorCode::not_found);
  }
}

TEST_CASE("a submission retried with its idempotency key creates one run", "[store][runs]") {
  StoreFixture fixture;
  auto& store = *fixture.store;

  GIVEN("16 threads submitting the same request with the same key at once") {
    constexpr int k_threads = 16;
    std::vector<trainctl::Result<CreateRunOutcome>> outcomes(k_threads);
    std::vector<std::thread> threads;
    for (int i = 0; i < k_threads; ++i) {
      threads.emplace_back([&, i] {
        outcomes[static_cast<size_t>(i)] = store.create_run(draft_run("default", "exp", "key-1"));
      });
    }
    for (auto& thread : threads) thread.join();

    THEN("exactly one run was made and every thread got it") {
      int fresh = 0;
      for (const auto& outcome : outcomes) {
        REQUIRE(outcome.has_value());
        CHECK(outcome->run.id == outcomes[0]->run.id);
        if (!outcome->replayed) ++fresh;
      }
      CHECK(fresh == 1);
      CHECK(store.list_runs(runs_in("default"))->items.size() == 1);
    }
  }

  GIVEN("a run submitted with a key") {
    const auto first = create_run(store, draft_run("default", "exp", "key-1", "hash-a"));
    WHEN("the key is reused for a different request") {
      auto second = store.create_run(draft_run("default", "exp", "key-1", "hash-b"));
      THEN("it is a conflict naming the key and the earlier run") {
        REQUIRE_FALSE(second.has_value());
        CHECK(second.error().code == ErrorCode::conflict);
        CHECK(second.error().message ==
              "idempotency key 'key-1' was already used for a different request (run " + first.id +
                  ")");
      }
    }
    WHEN("the key is used in another workspace") {
      REQUIRE(store.create_workspace("other", "").has_value());
      auto elsewhere = store.create_run(draft_run("other", "exp", "key-1", "hash-b"));
      THEN("it is a new run there") {
        REQUIRE(elsewhere.has_value());
        CHECK_FALSE(elsewhere->replayed);
        CHECK(elsewhere->run.id != first.id);
      }
    }
    WHEN("runs are submitted without a key") {
      THEN("each is a new run") {
        const auto a = create_run(store, draft_run("default"));
        const auto b = create_run(store, draft_run("default"));
        CHECK(a.id != b.id);
        CHECK(store.list_runs(runs_in("default"))->items.size() == 3);
      }
    }
  }
}

TEST_CASE("runs submitted concurrently all get distinct ids and sequence numbers",
          "[store][runs]") {
  TempDir home;
  std::set<std::string> ids;
  std::set<int64_t> seqs;
  {
    auto store = Store::open(home.path() / "trainctl.db");
    REQUIRE(store.has_value());
    for (const auto& run : submit_concurrently(**store, 8, 10, [](int, RunRecord&) {})) {
      ids.insert(run.id);
      seqs.insert(run.seq);
    }
  }
  CHECK(ids.size() == 80);
  CHECK(seqs.size() == 80);

  WHEN("the store is opened again") {
    auto store = Store::open(home.path() / "trainctl.db");
    REQUIRE(store.has_value());
    THEN("every run was durably stored") {
      auto page = (*store)->list_runs(runs_in("default", 1000));
      REQUIRE(page.has_value());
      std::set<std::string> stored;
      for (const auto& run : page->items) stored.insert(run.id);
      CHECK(stored == ids);
    }
  }
}

TEST_CASE("many writers at once: each returns once its own write is durable, none is lost",
          "[store][runs]") {
  // 32 threads keep the group committer's queue long: every batch's leader hands over to the
  // next queued writer, and each writer is woken when its own write is committed.
  StoreFixture fixture;
  auto& store = *fixture.store;
  const auto runs = submit_concurrently(store, 32, 20, [](int, RunRecord&) {});
  REQUIRE(runs.size() == 640);
  std::set<int64_t> seqs;
  for (const auto& run : runs) seqs.insert(run.seq);
  CHECK(seqs.size() == runs.size());
  CHECK(store.get_run("default", runs.back().id).has_value());
  auto page = store.list_runs(runs_in("default", 1000));
  REQUIRE(page.has_value());
  CHECK(page->items.size() == 640);
}

TEST_CASE("a failing write does not undo the writes committed with it", "[store][runs]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  // Half the threads submit to a workspace that does not exist; with group commit their
  // failures share transactions with the others' successes.
  std::vector<trainctl::Result<CreateRunOutcome>> outcomes(16);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    threads.emplace_back(
        [&, i] { outcomes[i] = store.create_run(draft_run(i % 2 == 0 ? "default" : "nowhere")); });
  }
  for (auto& thread : threads) thread.join();

  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (i % 2 == 0) {
      REQUIRE(outcomes[i].has_value());
      CHECK(store.get_run("default", outcomes[i]->run.id).has_value());
    } else {
      CHECK(outcomes[i].error().code == ErrorCode::not_found);
    }
  }
  CHECK(store.list_runs(runs_in("default"))->items.size() == 8);
}

TEST_CASE("run lists are newest first and page without gaps or duplicates", "[store][runs]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  // 250 runs from 5 concurrent submitters: experiments a/b alternate, every third run is
  // Completed. Their order is the store's (seq).
  std::vector<RunRecord> runs = submit_concurrently(store, 5, 50, [&](int i, RunRecord& run) {
    if (i % 3 == 0) {
      auto updated = store.update_run(run.id, status_change(RunStatus::Completed));
      if (updated) run = *updated;
    }
  });
  REQUIRE(runs.size() == 250);
  auto expected_ids = [&](auto&& keep) {  // newest first
    std::vector<std::string> ids;
    for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
      if (keep(*it)) ids.push_back(it->id);
    }
    return ids;
  };

  WHEN("every run is listed 40 at a time") {
    THEN("the pages hold each run once, newest first") {
      CHECK(all_pages(store, runs_in("default", 40)) == expected_ids([](auto&) { return true; }));
    }
  }
  WHEN("one experiment is listed 7 at a time") {
    auto query = runs_in("default", 7);
    query.experiment = "b";
    THEN("only its runs are listed, all of them") {
      CHECK(all_pages(store, query) ==
            expected_ids([](const RunRecord& run) { return run.experiment == "b"; }));
    }
  }
  WHEN("one experiment and one status are listed 10 at a time") {
    auto query = runs_in("default", 10);
    query.experiment = "a";
    query.statuses = {RunStatus::Completed, RunStatus::Completed};
    THEN("only runs with both are listed") {
      CHECK(all_pages(store, query) == expected_ids([](const RunRecord& run) {
              return run.experiment == "a" && run.status == RunStatus::Completed;
            }));
    }
  }
  WHEN("several statuses are listed 1000 at a time") {
    auto query = runs_in("default", 1000);
    query.statuses = {RunStatus::Queued, RunStatus::Running};
    auto page = store.list_runs(query);
    THEN("one page holds them all, with no next page") {
      REQUIRE(page.has_value());
      CHECK_FALSE(page->next_before_seq.has_value());
      CHECK(page->items.size() ==
            static_cast<size_t>(std::count_if(runs.begin(), runs.end(), [](const RunRecord& run) {
              return run.status != RunStatus::Completed;
            })));
    }
  }
  WHEN("runs are submitted while a client pages through the list") {
    auto query = runs_in("default", 100);
    auto first = store.list_runs(query);
    REQUIRE(first.has_value());
    create_run(store, draft_run("default"));
    query.before_seq = first->next_before_seq;
    THEN("the next pages continue where the first stopped, without the newer run") {
      std::vector<std::string> ids;
      for (const auto& run : first->items) ids.push_back(run.id);
      const auto rest = all_pages(store, query);
      ids.insert(ids.end(), rest.begin(), rest.end());
      CHECK(ids == expected_ids([](auto&) { return true; }));
    }
  }
}

TEST_CASE("listing runs of a missing workspace or with a bad limit fails", "[store][runs]") {
  StoreFixture fixture;
  CHECK(fixture.store->list_runs(runs_in("nowhere")).error().code == ErrorCode::not_found);
  CHECK(fixture.store->list_runs(runs_in("default", 0)).error().code ==
        ErrorCode::invalid_argument);
}

TEST_CASE("status changes build the run's timeline and a terminal status is final",
          "[store][runs]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  const auto run = create_run(store, draft_run("default"));

  for (auto status : {RunStatus::Preparing, RunStatus::Starting, RunStatus::Running}) {
    REQUIRE(store.update_run(run.id, status_change(status, "now " + std::string(to_string(status))))
                .has_value());
  }
  RunUpdate tasks_only;
  tasks_only.tasks = nlohmann::json::array({{{"name", "main"}, {"state", "running"}}});
  REQUIRE(store.update_run(run.id, tasks_only).has_value());
  REQUIRE(store.update_run(run.id, status_change(RunStatus::Running)).has_value());

  THEN("the timeline has one event per change, in order, with its message") {
    auto events = store.run_events(run.id);
    REQUIRE(events.has_value());
    REQUIRE(events->size() == 4);
    CHECK(timeline(store, run.id) == std::vector{RunStatus::Queued, RunStatus::Preparing,
                                                 RunStatus::Starting, RunStatus::Running});
    CHECK((*events)[3].message == "now Running");
    for (size_t i = 1; i < events->size(); ++i) {
      CHECK((*events)[i].at_ms >= (*events)[i - 1].at_ms);
    }
    CHECK(store.get_run("default", run.id)->tasks[0]["state"] == "running");
  }

  WHEN("the run completes with its outcome") {
    RunUpdate done = status_change(RunStatus::Completed, "exit 0");
    done.exit_code = 0;
    done.ended_at_ms = 1234;
    auto completed = store.update_run(run.id, done);
    REQUIRE(completed.has_value());
    CHECK(completed->status == RunStatus::Completed);

    THEN("it is no longer active") {
      CHECK(store.list_active_runs()->empty());
    }
    THEN("another status change is a conflict and changes nothing") {
      RunUpdate late = status_change(RunStatus::Failed, "too late");
      late.exit_code = 1;
      auto refused = store.update_run(run.id, late);
      REQUIRE_FALSE(refused.has_value());
      CHECK(refused.error().code == ErrorCode::conflict);
      auto read = store.get_run("default", run.id);
      CHECK(read->status == RunStatus::Completed);
      CHECK(read->exit_code == 0);
      CHECK(read->ended_at_ms == 1234);
      CHECK(timeline(store, run.id).back() == RunStatus::Completed);
    }
    THEN("its task observations can still be updated") {
      CHECK(store.update_run(run.id, tasks_only).has_value());
    }
  }
  WHEN("a new attempt records the status the run already has") {
    auto again = status_change(RunStatus::Running, "attempt 2 of 3: killed by SIGKILL");
    again.always_record = true;
    REQUIRE(store.update_run(run.id, again).has_value());
    THEN("the timeline gets the event with its message all the same") {
      auto events = store.run_events(run.id);
      REQUIRE(events->size() == 5);
      CHECK(events->back().status == RunStatus::Running);
      CHECK(events->back().message == "attempt 2 of 3: killed by SIGKILL");
    }
  }
  WHEN("a run that does not exist is updated") {
    THEN("it is not_found") {
      CHECK(store.update_run("run-nope", status_change(RunStatus::Running)).error().code ==
            ErrorCode::not_found);
      CHECK(store.run_events("run-nope").error().code == ErrorCode::not_found);
    }
  }
}

TEST_CASE("active runs are listed across workspaces, oldest first", "[store][runs]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  REQUIRE(store.create_workspace("other", "").has_value());
  const auto a = create_run(store, draft_run("default"));
  const auto b = create_run(store, draft_run("other"));
  const auto c = create_run(store, draft_run("default"));
  REQUIRE(store.update_run(b.id, status_change(RunStatus::Running)).has_value());
  REQUIRE(store.update_run(c.id, status_change(RunStatus::Failed)).has_value());

  auto active = store.list_active_runs();
  REQUIRE(active.has_value());
  REQUIRE(active->size() == 2);
  CHECK((*active)[0].id == a.id);
  CHECK((*active)[1].id == b.id);
  CHECK((*active)[1].status == RunStatus::Running);

  // The same runs as summaries, for who polls them (metrics, compute deletion).
  auto summaries = store.list_active_run_summaries();
  REQUIRE(summaries.has_value());
  REQUIRE(summaries->size() == 2);
  CHECK((*summaries)[0].id == a.id);
  CHECK((*summaries)[1].id == b.id);
  CHECK((*summaries)[1].workspace == "other");
  CHECK((*summaries)[1].status == RunStatus::Running);
  CHECK((*summaries)[1].attempt == 1);
}

TEST_CASE("a batch of runs is stored whole or not at all", "[store][runs][batch]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  const auto earlier = create_run(store, draft_run("default", "exp", "batch/1", "hash-b"));

  GIVEN("three drafts, of which the second replays a run made before with its key") {
    const std::vector<RunRecord> drafts{draft_run("default", "a", "batch/0", "hash-a"),
                                        draft_run("default", "exp", "batch/1", "hash-b"),
                                        draft_run("default", "c", "batch/2", "hash-c")};
    auto outcomes = store.create_runs(drafts);
    THEN("the other two are made, in order, and the second is the earlier run") {
      REQUIRE(outcomes.has_value());
      REQUIRE(outcomes->size() == 3);
      CHECK_FALSE((*outcomes)[0].replayed);
      CHECK((*outcomes)[0].run.experiment == "a");
      CHECK((*outcomes)[1].replayed);
      CHECK((*outcomes)[1].run.id == earlier.id);
      CHECK((*outcomes)[2].run.experiment == "c");
      CHECK((*outcomes)[0].run.seq < (*outcomes)[2].run.seq);
      CHECK(store.list_runs(runs_in("default"))->items.size() == 3);
    }
  }
  GIVEN("drafts of which the third reuses a key for another request") {
    const std::vector<RunRecord> drafts{draft_run("default", "a", "other/0", "hash-a"),
                                        draft_run("default", "b", "other/1", "hash-b"),
                                        draft_run("default", "exp", "batch/1", "hash-other")};
    auto outcomes = store.create_runs(drafts);
    THEN("a conflict naming the item, and none of them is stored") {
      REQUIRE_FALSE(outcomes.has_value());
      CHECK(outcomes.error().code == ErrorCode::conflict);
      CHECK_THAT(outcomes.error().message, Catch::StartsWith("runs[2]: idempotency key 'batch/1'"));
      CHECK(store.list_runs(runs_in("default"))->items.size() == 1);
      CHECK_FALSE(store.find_idempotent_run("default", "other/0")->has_value());
    }
  }
}

TEST_CASE("run summaries page exactly as whole runs, with the same fields", "[store][runs]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  for (int i = 0; i < 23; ++i) {
    const auto run = create_run(store, draft_run("default", i % 2 == 0 ? "a" : "b"));
    if (i % 4 == 0) REQUIRE(store.update_run(run.id, status_change(RunStatus::Completed)).has_value());
  }
  for (const auto& [experiment, limit] : {std::pair<std::string, int>{"", 5}, {"a", 4}, {"b", 100}}) {
    auto query = runs_in("default", limit);
    if (!experiment.empty()) query.experiment = experiment;
    if (limit == 4) query.statuses = {RunStatus::Queued};
    INFO("experiment '" << experiment << "', " << limit << " a page");
    int pages = 0;
    while (pages++ < 30) {
      auto whole = store.list_runs(query);
      auto summaries = store.list_run_summaries(query);
      REQUIRE(whole.has_value());
      REQUIRE(summaries.has_value());
      REQUIRE(summaries->items.size() == whole->items.size());
      for (size_t i = 0; i < whole->items.size(); ++i) {
        const auto expected = trainctl::service::summary_of(whole->items[i]);
        const auto& summary = summaries->items[i];
        CHECK(summary.id == expected.id);
        CHECK(summary.experiment == expected.experiment);
        CHECK(summary.status == expected.status);
        CHECK(summary.created_at_ms == expected.created_at_ms);
        CHECK(summary.updated_at_ms == expected.updated_at_ms);
        CHECK(summary.exit_code == expected.exit_code);
        CHECK(summary.attempt == expected.attempt);
        CHECK(summary.seq == expected.seq);
      }
      CHECK(summaries->next_before_seq == whole->next_before_seq);
      if (!whole->next_before_seq) break;
      query.before_seq = whole->next_before_seq;
    }
  }
  CHECK(store.list_run_summaries(runs_in("nowhere")).error().code == ErrorCode::not_found);
  CHECK(store.list_run_summaries(runs_in("default", 0)).error().code == ErrorCode::invalid_argument);
}
