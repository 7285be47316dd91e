// Workspaces: create, list, get, delete, and the conflicts between them.
#include "test_service_store_support.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::api::RunStatus;
using trainctl::service::testing::create_run;
using trainctl::service::testing::draft_run;
using trainctl::service::testing::runs_in;
using trainctl::service::testing::status_change;
using trainctl::service::testing::StoreFixture;

std::vector<std::string> workspace_names(trainctl::service::Store& store) {
  auto workspaces = store.list_workspaces();
  REQUIRE(workspaces.has_value());
  std::vector<std::string> names;
  for (const auto& workspace : *workspaces) names.push_back(workspace.name);
  return names;
}

}  // namespace

TEST_CASE("workspaces are created, listed, read and deleted", "[store][workspaces]") {
  StoreFixture fixture;
  auto& store = *fixture.store;

  GIVEN("a new workspace") {
    auto created = store.create_workspace("team-a", "vision models");
    REQUIRE(created.has_value());
    CHECK(created->name == "team-a");
    CHECK(created->created_at_ms > 0);

    THEN("it is listed by name next to the default one and can be read back") {
      CHECK(workspace_names(store) == std::vector<std::string>{"default", "team-a"});
      auto read = store.get_workspace("team-a");
      REQUIRE(read.has_value());
      CHECK(read->description == "vision models");
      CHECK(read->created_at_ms == created->created_at_ms);
    }
    WHEN("the same name is created again") {
      auto again = store.create_workspace("team-a", "other");
      THEN("it is a conflict and the first one is unchanged") {
        REQUIRE_FALSE(again.has_value());
        CHECK(again.error().code == ErrorCode::conflict);
        CHECK(again.error().message == "workspace 'team-a' already exists");
        CHECK(store.get_workspace("team-a")->description == "vision models");
      }
    }
    WHEN("ensure_workspace names it") {
      REQUIRE(store.ensure_workspace("team-a").has_value());
      THEN("nothing changes") {
        CHECK(store.get_workspace("team-a")->description == "vision models");
      }
    }
    WHEN("it is deleted") {
      REQUIRE(store.delete_workspace("team-a").has_value());
      THEN("it is gone") {
        CHECK(store.get_workspace("team-a").error().code == ErrorCode::not_found);
        CHECK(workspace_names(store) == std::vector<std::string>{"default"});
      }
    }
  }

  GIVEN("a name no workspace has") {
    THEN("reading and deleting it are not_found") {
      CHECK(store.get_workspace("nope").error().code == ErrorCode::not_found);
      CHECK(store.delete_workspace("nope").error().code == ErrorCode::not_found);
    }
    THEN("ensure_workspace creates it") {
      REQUIRE(store.ensure_workspace("nope").has_value());
      CHECK(store.get_workspace("nope").has_value());
    }
  }

  GIVEN("the default workspace") {
    THEN("it cannot be deleted") {
      auto deleted = store.delete_workspace("default");
      REQUIRE_FALSE(deleted.has_value());
      CHECK(deleted.error().code == ErrorCode::conflict);
      CHECK(store.get_workspace("default").has_value());
    }
  }
}

TEST_CASE("a workspace with unfinished runs cannot be deleted", "[store][workspaces]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  REQUIRE(store.create_workspace("ws", "").has_value());
  const auto first = create_run(store, draft_run("ws"));
  const auto second = create_run(store, draft_run("ws"));
  REQUIRE(store.update_run(first.id, status_change(RunStatus::Completed)).has_value());
  CHECK(store.get_workspace("ws")->run_count == 2);

  WHEN("one run is still queued") {
    auto deleted = store.delete_workspace("ws");
    THEN("deleting is a conflict that says why, and every run is kept") {
      REQUIRE_FALSE(deleted.has_value());
      CHECK(deleted.error().code == ErrorCode::conflict);
      CHECK(deleted.error().message.find("1 run(s) that have not finished") != std::string::npos);
      CHECK(store.get_run("ws", first.id).has_value());
      CHECK(store.get_run("ws", second.id).has_value());
    }
  }
  WHEN("every run has finished") {
    REQUIRE(store.update_run(second.id, status_change(RunStatus::Canceled)).has_value());
    REQUIRE(store.delete_workspace("ws").has_value());
    THEN("its runs and their timelines are deleted with it") {
      CHECK(store.get_run("ws", first.id).error().code == ErrorCode::not_found);
      CHECK(store.run_events(second.id).error().code == ErrorCode::not_found);
      CHECK(store.list_active_runs()->empty());
      AND_THEN("a new workspace of the same name starts empty") {
        REQUIRE(store.create_workspace("ws", "").has_value());
        CHECK(store.get_workspace("ws")->run_count == 0);
        auto page = store.list_runs(runs_in("ws"));
        REQUIRE(page.has_value());
        CHECK(page->items.empty());
      }
    }
  }
}

TEST_CASE("names that look like SQL or patterns are stored verbatim", "[store][security]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  // RELIABILITY 15: bound parameters only, and no LIKE for exact matches.
  const std::vector<std::string> names{"x'; DROP TABLE runs;--", "%", "_", "a%", "Robert'); --"};

  for (const auto& name : names) {
    REQUIRE(store.create_workspace(name, name).has_value());
    auto run = create_run(store, draft_run(name, name, name));
    CHECK(run.workspace == name);
    CHECK(run.experiment == name);
  }

  THEN("each reads back exactly, and matches only itself") {
    for (const auto& name : names) {
      auto workspace = store.get_workspace(name);
      REQUIRE(workspace.has_value());
      CHECK(workspace->name == name);
      CHECK(workspace->description == name);
      CHECK(workspace->run_count == 1);
      auto query = runs_in(name);
      query.experiment = name;
      auto page = store.list_runs(query);
      REQUIRE(page.has_value());
      REQUIRE(page->items.size() == 1);
      CHECK(page->items[0].idempotency_key == name);
    }
    CHECK(store.get_workspace("x").error().code == ErrorCode::not_found);
    CHECK(store.get_workspace("ab").error().code == ErrorCode::not_found);
  }
  THEN("the runs table is still there") {
    CHECK(store.list_runs(runs_in("default")).has_value());
  }
}
