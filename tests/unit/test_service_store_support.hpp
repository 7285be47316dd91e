#pragma once
// Shared by the store's tests: a Store on a fresh database in a temp directory, and run drafts
// the way the run handler makes them.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "support/service_fixture.hpp"
#include "trainctl/service/store.hpp"

namespace trainctl::service::testing {

struct StoreFixture {
  explicit StoreFixture(StoreOptions options = {}) : db_path(home.path() / "trainctl.db") {
    auto opened = Store::open(db_path, options);
    REQUIRE(opened.has_value());
    store = std::move(*opened);
  }

  trainctl::testing::TempDir home;
  std::filesystem::path db_path;
  std::unique_ptr<Store> store;
};

// A run as the handler submits it: id and seq left for the store to assign.
inline RunRecord draft_run(const std::string& workspace, const std::string& experiment = "exp",
                           const std::string& idempotency_key = "",
                           const std::string& request_hash = "hash-1") {
  RunRecord run;
  run.workspace = workspace;
  run.experiment = experiment;
  run.compute = "local";
  run.payload = {{"experiment", experiment}, {"estimator", {{"entry_script", "train.py"}}}};
  run.idempotency_key = idempotency_key;
  run.request_hash = request_hash;
  return run;
}

inline RunUpdate status_change(api::RunStatus status, const std::string& message = "") {
  RunUpdate update;
  update.status = status;
  update.message = message;
  return update;
}

inline RunQuery runs_in(const std::string& workspace, int limit = 100) {
  RunQuery query;
  query.workspace = workspace;
  query.limit = limit;
  return query;
}

// Creates a run that must succeed and returns it.
inline RunRecord create_run(Store& store, const RunRecord& draft) {
  auto created = store.create_run(draft);
  REQUIRE(created.has_value());
  return created->run;
}

}  // namespace trainctl::service::testing
