// Model versions in the store: numbering that never reuses a deleted number, the latest version,
// lineage kept as given, listing, and deletes refused while a deployment uses a version.
#include "../../src/service/store/sqlite.hpp"
#include "test_service_store_support.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::service::ModelVersionRecord;
using trainctl::service::Store;
using trainctl::service::store::AccessMode;
using trainctl::service::store::Connection;
using trainctl::service::testing::StoreFixture;

ModelVersionRecord draft_model(const std::string& name, const std::string& run_id = "run-abc",
                               const std::string& workspace = "default") {
  ModelVersionRecord draft;
  draft.workspace = workspace;
  draft.name = name;
  draft.description = "digits classifier from " + run_id;
  draft.tags = {{"team", "vision"}};
  draft.framework = "sklearn";
  draft.framework_version = "1.2.1";
  draft.cpu = 0.5;
  draft.memory_gb = 1.5;
  draft.run_id = run_id;
  draft.experiment = "digits";
  draft.snapshot_id = std::string(64, 'b');
  draft.source_path = "outputs/model";
  draft.inputs = nlohmann::json::array(
      {{{"name", "data"}, {"dataset", "digits"}, {"version", 2}, {"mode", "mount"}}});
  draft.files = nlohmann::json::array(
      {{{"path", "model.pkl"}, {"sha256", std::string(64, 'a')}, {"size", 12}, {"mode", 0644}}});
  draft.file_count = 1;
  draft.total_size = 12;
  return draft;
}

int64_t register_version(Store& store, const ModelVersionRecord& draft) {
  auto created = store.create_model_version(draft);
  REQUIRE(created.has_value());
  return created->version;
}

std::vector<int64_t> live_versions(Store& store, const std::string& name) {
  auto versions = store.list_model_versions("default", name);
  REQUIRE(versions.has_value());
  std::vector<int64_t> numbers;
  for (const auto& version : *versions) numbers.push_back(version.version);
  return numbers;
}

// Records that deployment `service` uses model:version, as the deployments store does. The table
// is created here when the deployments migration has not made it.
void deploy(const std::filesystem::path& db_path, const std::string& service,
            const std::string& model, int64_t version) {
  auto connection = Connection::open(db_path, AccessMode::read_write, 2000);
  REQUIRE(connection.has_value());
  REQUIRE((*connection)
              ->exec("CREATE TABLE IF NOT EXISTS service_models"
                     " (workspace TEXT, service TEXT, model TEXT, version INTEGER)")
              .has_value());
  auto statement = (*connection)
                       ->prepare("INSERT INTO service_models (workspace, service, model, version)"
                                 " VALUES ('default', ?1, ?2, ?3)");
  REQUIRE(statement.has_value());
  auto inserted = statement->bind(service, model, version).execute();
  INFO((inserted ? std::string() : inserted.error().message));
  REQUIRE(inserted.has_value());
}

void undeploy(const std::filesystem::path& db_path, const std::string& service) {
  auto connection = Connection::open(db_path, AccessMode::read_write, 2000);
  REQUIRE(connection.has_value());
  auto statement = (*connection)->prepare("DELETE FROM service_models WHERE service = ?1");
  REQUIRE(statement.has_value());
  REQUIRE(statement->bind(service).execute().has_value());
}

}  // namespace

TEST_CASE("Given a new model, when versions are registered, then they count up from 1 with their lineage",
          "[store][models]") {
  StoreFixture fixture;
  auto& store = *fixture.store;

  CHECK(register_version(store, draft_model("digits", "run-one")) == 1);
  CHECK(register_version(store, draft_model("digits", "run-two")) == 2);
  CHECK(register_version(store, draft_model("iris")) == 1);

  SECTION("then version 0 reads the latest, with files and lineage as registered") {
    auto latest = store.get_model_version("default", "digits", 0);
    REQUIRE(latest.has_value());
    CHECK(latest->version == 2);
    CHECK(latest->run_id == "run-two");
    CHECK(latest->experiment == "digits");
    CHECK(latest->snapshot_id == std::string(64, 'b'));
    CHECK(latest->source_path == "outputs/model");
    CHECK(latest->inputs == draft_model("digits").inputs);
    CHECK(latest->files == draft_model("digits").files);
    CHECK(latest->framework == "sklearn");
    CHECK(latest->framework_version == "1.2.1");
    CHECK(latest->cpu == 0.5);
    CHECK(latest->memory_gb == 1.5);
    CHECK(latest->tags == nlohmann::json{{"team", "vision"}});
    CHECK(latest->created_at_ms > 0);
  }
  SECTION("then the listing shows each model once, with its latest version and count") {
    auto models = store.list_models("default");
    REQUIRE(models.has_value());
    REQUIRE(models->size() == 2);
    CHECK((*models)[0].name == "digits");
    CHECK((*models)[0].latest_version == 2);
    CHECK((*models)[0].version_count == 2);
    CHECK((*models)[0].framework == "sklearn");
    CHECK((*models)[1].name == "iris");
  }
  SECTION("then the versions list oldest first, without files") {
    auto versions = store.list_model_versions("default", "digits");
    REQUIRE(versions.has_value());
    REQUIRE(versions->size() == 2);
    CHECK((*versions)[0].run_id == "run-one");
    CHECK((*versions)[0].files.empty());
  }
}

TEST_CASE("Given a deleted model version, when another is registered, then its number is not reused",
          "[store][models]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  register_version(store, draft_model("digits"));
  register_version(store, draft_model("digits"));
  REQUIRE(store.delete_model("default", "digits", 2).has_value());

  CHECK(register_version(store, draft_model("digits")) == 3);
  CHECK(live_versions(store, "digits") == std::vector<int64_t>{1, 3});

  auto deleted = store.get_model_version("default", "digits", 2);
  REQUIRE_FALSE(deleted.has_value());
  CHECK(deleted.error().code == ErrorCode::not_found);

  SECTION("when every version is deleted, then the model is gone and numbering still goes on") {
    REQUIRE(store.delete_model("default", "digits", 0).has_value());
    CHECK(store.list_model_versions("default", "digits").error().code == ErrorCode::not_found);
    CHECK(store.list_models("default")->empty());
    CHECK(register_version(store, draft_model("digits")) == 4);
  }
}

TEST_CASE("Given missing models and workspaces, when they are read or deleted, then it is not_found",
          "[store][models]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  CHECK(store.get_model_version("default", "nope", 0).error().code == ErrorCode::not_found);
  CHECK(store.delete_model("default", "nope", 0).error().code == ErrorCode::not_found);
  CHECK(store.list_models("no-such-ws").error().code == ErrorCode::not_found);
  CHECK(store.create_model_version(draft_model("digits", "run-abc", "no-such-ws")).error().code ==
        ErrorCode::not_found);
}

TEST_CASE("Given a deployment that uses a model version, when it is deleted, then the delete is refused",
          "[store][models]") {
  StoreFixture fixture;
  auto& store = *fixture.store;
  register_version(store, draft_model("digits"));
  register_version(store, draft_model("digits"));
  deploy(fixture.db_path, "digits-svc", "digits", 1);

  SECTION("deleting that version is a conflict naming the deployment, and nothing is deleted") {
    auto refused = store.delete_model("default", "digits", 1);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == ErrorCode::conflict);
    CHECK_THAT(refused.error().message, Catch::Contains("digits:1") &&
                                            Catch::Contains("digits-svc"));
    CHECK(live_versions(store, "digits") == std::vector<int64_t>{1, 2});
  }
  SECTION("deleting every version is refused too, and nothing is deleted") {
    CHECK(store.delete_model("default", "digits", 0).error().code == ErrorCode::conflict);
    CHECK(live_versions(store, "digits") == std::vector<int64_t>{1, 2});
  }
  SECTION("a version no deployment uses can be deleted") {
    REQUIRE(store.delete_model("default", "digits", 2).has_value());
    CHECK(live_versions(store, "digits") == std::vector<int64_t>{1});
  }
  SECTION("once the deployment is gone, the version can be deleted") {
    undeploy(fixture.db_path, "digits-svc");
    REQUIRE(store.delete_model("default", "digits", 1).has_value());
  }
}
