// The store's deployments (store.hpp, Deployments): revisions, the model versions each uses.
#include "test_service_store_support.hpp"

namespace trainctl::service::testing {

namespace {

ModelVersionRecord register_model(Store& store, const std::string& name) {
  ModelVersionRecord draft;
  draft.workspace = "default";
  draft.name = name;
  draft.run_id = "run-abc";
  draft.source_path = "outputs/model";
  auto created = store.create_model_version(draft);
  REQUIRE(created.has_value());
  return *created;
}

DeploymentRecord deployment_of(const ModelVersionRecord& model, int replicas = 1) {
  DeploymentRecord draft;
  draft.workspace = "default";
  draft.name = "digits-svc";
  draft.models = {{model.name, model.version}};
  draft.entry_script = "score.py";
  draft.snapshot_id = std::string(64, 'a');
  draft.replicas = replicas;
  draft.cpu = 0.5;
  draft.memory_gb = 1.5;
  draft.environment_variables = {{"MODE", "fast"}};
  return draft;
}

}  // namespace

TEST_CASE("Given a deployment, when it is created and updated, then each update is a new revision",
          "[store][deployments]") {
  StoreFixture fixture;
  Store& store = *fixture.store;
  const auto first = register_model(store, "digits");
  auto created = store.put_deployment(deployment_of(first));
  REQUIRE(created.has_value());
  CHECK(created->second);
  CHECK(created->first.revision == 1);

  WHEN("it is updated to a new model version with more replicas") {
    const auto second = register_model(store, "digits");
    auto updated = store.put_deployment(deployment_of(second, 3));
    REQUIRE(updated.has_value());
    THEN("the stored configuration is the new one, at revision 2, created_at kept") {
      CHECK_FALSE(updated->second);
      auto shown = store.get_deployment("default", "digits-svc");
      REQUIRE(shown.has_value());
      CHECK(shown->revision == 2);
      CHECK(shown->replicas == 3);
      CHECK(shown->models.front().version == second.version);
      CHECK(shown->cpu == 0.5);
      CHECK(shown->memory_gb == 1.5);
      CHECK(shown->environment_variables == nlohmann::json{{"MODE", "fast"}});
      CHECK(shown->created_at_ms == created->first.created_at_ms);
    }
    THEN("only the version it uses now is protected from deletion") {
      CHECK(store.delete_model("default", "digits", first.version).has_value());
      auto refused = store.delete_model("default", "digits", second.version);
      REQUIRE_FALSE(refused.has_value());
      CHECK(refused.error().code == ErrorCode::conflict);
    }
  }
  WHEN("it is deleted") {
    REQUIRE(store.delete_deployment("default", "digits-svc").has_value());
    THEN("it is gone and its model version can be deleted") {
      CHECK(store.get_deployment("default", "digits-svc").error().code == ErrorCode::not_found);
      CHECK(store.list_deployments("default")->empty());
      CHECK(store.delete_deployment("default", "digits-svc").error().code == ErrorCode::not_found);
      CHECK(store.delete_model("default", "digits", first.version).has_value());
    }
  }
}

TEST_CASE("Given missing models or workspaces, when a deployment is stored, then it is not_found",
          "[store][deployments]") {
  StoreFixture fixture;
  Store& store = *fixture.store;
  const auto model = register_model(store, "digits");
  auto unknown_version = deployment_of(model);
  unknown_version.models = {{"digits", 7}};
  CHECK(store.put_deployment(unknown_version).error().code == ErrorCode::not_found);
  auto unknown_workspace = deployment_of(model);
  unknown_workspace.workspace = "nowhere";
  CHECK(store.put_deployment(unknown_workspace).error().code == ErrorCode::not_found);
  CHECK(store.list_deployments("nowhere").error().code == ErrorCode::not_found);
  CHECK(store.list_all_deployments()->empty());
}

TEST_CASE("Given a no-code deployment, when it is stored, then what it serves comes back",
          "[store][deployments]") {
  StoreFixture fixture;
  Store& store = *fixture.store;
  auto draft = deployment_of(register_model(store, "iris"));
  draft.entry_script.clear();
  draft.snapshot_id.clear();
  draft.no_code = NoCodeScoring{"sklearn", "model.pkl"};
  REQUIRE(store.put_deployment(draft).has_value());
  auto shown = store.get_deployment("default", "digits-svc");
  REQUIRE(shown.has_value());
  CHECK(shown->entry_script.empty());
  CHECK(shown->snapshot_id.empty());
  REQUIRE(shown->no_code.has_value());
  CHECK(shown->no_code->framework == "sklearn");
  CHECK(shown->no_code->model_file == "model.pkl");

  WHEN("it is updated to an entry script") {
    auto with_script = deployment_of(register_model(store, "iris"));
    REQUIRE(store.put_deployment(with_script).has_value());
    THEN("it serves nothing built in any more") {
      auto updated = store.get_deployment("default", "digits-svc");
      REQUIRE(updated.has_value());
      CHECK_FALSE(updated->no_code.has_value());
      CHECK(updated->entry_script == "score.py");
    }
  }
}

}  // namespace trainctl::service::testing
