// Compute targets in the store: every workspace's "local" target, create/update/read/list, state
// changes, and deletes refused while runs use a target.
#include "test_service_store_support.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::api::RunStatus;
using trainctl::service::ComputeRecord;
using trainctl::service::StoreOptions;
using trainctl::service::testing::create_run;
using trainctl::service::testing::draft_run;
using trainctl::service::testing::status_change;
using trainctl::service::testing::StoreFixture;

ComputeRecord gpu_target(const std::string& workspace = "default") {
  ComputeRecord record;
  record.workspace = workspace;
  record.name = "gpu";
  record.max_nodes = 4;
  record.cpus_per_node = 2;
  record.gpus_per_node = 1;
  record.python = "/usr/bin/python3";
  record.state = "Creating";
  return record;
}

std::vector<std::string> compute_names(trainctl::service::Store& store, const std::string& workspace) {
  auto computes = store.list_computes(workspace);
  REQUIRE(computes.has_value());
  std::vector<std::string> names;
  for (const auto& compute : *computes) names.push_back(compute.name);
  return names;
}

}  // namespace

TEST_CASE("every workspace has a 'local' compute target sized by the store's options",
          "[store][computes]") {
  StoreOptions options;
  options.local_max_nodes = 3;
  StoreFixture fixture(options);
  auto& store = *fixture.store;

  WHEN("a workspace is created") {
    REQUIRE(store.create_workspace("team-a", "").has_value());
    THEN("it has a Succeeded 'local' target with the configured nodes") {
      auto local = store.get_compute("team-a", "local");
      REQUIRE(local.has_value());
      CHECK(local->type == "local");
      CHECK(local->max_nodes == 3);
      CHECK(local->state == "Succeeded");
      CHECK(compute_names(store, "team-a") == std::vector<std::string>{"local"});
    }
  }
  WHEN("a workspace is made by ensure_workspace") {
    REQUIRE(store.ensure_workspace("team-b").has_value());
    THEN("it has its 'local' target too") { CHECK(store.get_compute("team-b", "local").has_value()); }
  }
  WHEN("ensure_local_compute is called for a workspace that has its target") {
    REQUIRE(store.ensure_local_compute("default", 5).has_value());
    THEN("the target is left as it was") {
      auto local = store.get_compute("default", "local");
      REQUIRE(local.has_value());
      CHECK(local->max_nodes == 8);  // the database's own default workspace, from migration 3
    }
  }
  WHEN("ensure_local_compute names a workspace that does not exist") {
    THEN("it is not found") {
      CHECK(store.ensure_local_compute("nope", 2).error().code == ErrorCode::not_found);
    }
  }
}

TEST_CASE("compute targets are created, updated, read, listed and change state",
          "[store][computes]") {
  StoreFixture fixture;
  auto& store = *fixture.store;

  GIVEN("a new target") {
    auto created = store.put_compute(gpu_target(), false);
    REQUIRE(created.has_value());
    CHECK(created->second);

    THEN("it reads back as written and is listed by name after 'local'") {
      auto read = store.get_compute("default", "gpu");
      REQUIRE(read.has_value());
      CHECK(read->max_nodes == 4);
      CHECK(read->cpus_per_node == 2);
      CHECK(read->gpus_per_node == 1);
      CHECK(read->python == "/usr/bin/python3");
      CHECK(read->state == "Creating");
      CHECK(read->created_at_ms > 0);
      CHECK(compute_names(store, "default") == std::vector<std::string>{"gpu", "local"});
      auto all = store.list_all_computes();
      REQUIRE(all.has_value());
      CHECK(all->size() == 2);
    }
    WHEN("it is created again without replace") {
      auto again = store.put_compute(gpu_target(), false);
      THEN("it is a conflict") { CHECK(again.error().code == ErrorCode::conflict); }
    }
    WHEN("it is replaced with another configuration") {
      auto changed = gpu_target();
      changed.max_nodes = 2;
      auto replaced = store.put_compute(changed, true);
      REQUIRE(replaced.has_value());
      THEN("it was not new, keeps its creation time and has the new configuration") {
        CHECK_FALSE(replaced->second);
        CHECK(replaced->first.created_at_ms == created->first.created_at_ms);
        CHECK(store.get_compute("default", "gpu")->max_nodes == 2);
      }
    }
    WHEN("a replace changes its type") {
      auto changed = gpu_target();
      changed.type = "slurm";
      THEN("it is refused") {
        CHECK(store.put_compute(changed, true).error().code == ErrorCode::invalid_argument);
      }
    }
    WHEN("its state is set") {
      auto failed = store.set_compute_state("default", "gpu", "Failed", "no interpreter");
      REQUIRE(failed.has_value());
      THEN("the state and message are stored") {
        auto read = store.get_compute("default", "gpu");
        CHECK(read->state == "Failed");
        CHECK(read->message == "no interpreter");
      }
    }
    WHEN("it is Deleting") {
      REQUIRE(store.set_compute_state("default", "gpu", "Deleting", "").has_value());
      THEN("it cannot be updated any more") {
        CHECK(store.put_compute(gpu_target(), true).error().code == ErrorCode::conflict);
      }
    }
  }
  WHEN("a target is put in a workspace that does not exist") {
    THEN("it is not found") {
      CHECK(store.put_compute(gpu_target("nope"), false).error().code == ErrorCode::not_found);
      CHECK(store.list_computes("nope").error().code == ErrorCode::not_found);
    }
  }
  WHEN("an unknown target is read, changed or deleted") {
    THEN("each is not found") {
      CHECK(store.get_compute("default", "nope").error().code == ErrorCode::not_found);
      CHECK(store.set_compute_state("default", "nope", "Failed", "").error().code ==
            ErrorCode::not_found);
      CHECK(store.delete_compute("default", "nope").error().code == ErrorCode::not_found);
    }
  }
  WHEN("a name holds SQL") {
    auto odd = gpu_target();
    odd.name = "x'; DROP TABLE computes;--";
    REQUIRE(store.put_compute(odd, false).has_value());
    THEN("it is stored verbatim") {
      CHECK(store.get_compute("default", odd.name).has_value());
      CHECK(compute_names(store, "default").size() == 2);
    }
  }
}

TEST_CASE("a compute target is deleted only once no unfinished run uses it", "[store][computes]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  REQUIRE(store.put_compute(gpu_target(), false).has_value());
  auto draft = draft_run("default");
  draft.compute = "gpu";
  const auto run = create_run(store, draft);

  WHEN("it is deleted while the run is queued") {
    auto deleted = store.delete_compute("default", "gpu");
    THEN("it is a conflict naming the run, and the target stays") {
      REQUIRE_FALSE(deleted.has_value());
      CHECK(deleted.error().code == ErrorCode::conflict);
      CHECK_THAT(deleted.error().message, Catch::Contains(run.id + " (Queued)"));
      CHECK_THAT(deleted.error().message, Catch::Contains("--force"));
      CHECK(store.get_compute("default", "gpu").has_value());
    }
  }
  WHEN("the run has ended") {
    REQUIRE(store.update_run(run.id, status_change(RunStatus::Canceled)).has_value());
    THEN("the delete succeeds and the target is gone") {
      REQUIRE(store.delete_compute("default", "gpu").has_value());
      CHECK(store.get_compute("default", "gpu").error().code == ErrorCode::not_found);
    }
  }
  WHEN("a target of the same name in another workspace is deleted") {
    REQUIRE(store.create_workspace("team-a", "").has_value());
    REQUIRE(store.put_compute(gpu_target("team-a"), false).has_value());
    THEN("this workspace's run does not hold it up") {
      CHECK(store.delete_compute("team-a", "gpu").has_value());
    }
  }
}

TEST_CASE("a Slurm target's partition, account, QOS and slurm.conf are stored and updated",
          "[store][computes][slurm]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  REQUIRE(store.ensure_workspace("default").has_value());
  ComputeRecord hpc = gpu_target();
  hpc.name = "hpc";
  hpc.type = "slurm";
  hpc.slurm = {.partition = "debug", .account = "lab", .qos = "normal", .conf = "/etc/c.conf"};
  REQUIRE(store.put_compute(hpc, true).has_value());

  auto read = store.get_compute("default", "hpc");
  REQUIRE(read.has_value());
  CHECK(read->type == "slurm");
  CHECK(read->slurm == hpc.slurm);

  hpc.slurm.partition = "gpu";
  hpc.slurm.qos = "";
  REQUIRE(store.put_compute(hpc, /*replace=*/true).has_value());
  read = store.get_compute("default", "hpc");
  REQUIRE(read.has_value());
  CHECK(read->slurm.partition == "gpu");
  CHECK(read->slurm.qos.empty());
  CHECK(read->slurm.account == "lab");
}
