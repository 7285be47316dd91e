// SqliteStore: deployments (store.hpp). A deployment is one row of `services` (its configuration
// as JSON) plus one row of `service_models` per model version it uses, which delete_model checks.
#include <fmt/core.h>

#include "sqlite_store.hpp"
#include "store_rows.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::store {

namespace {

constexpr std::string_view k_select_services =
    "SELECT workspace, name, config, revision, created_at_ms, updated_at_ms FROM services ";

nlohmann::json config_json(const DeploymentRecord& deployment) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& model : deployment.models) {
    models.push_back({{"name", model.name}, {"version", model.version}});
  }
  nlohmann::json no_code = nullptr;
  if (deployment.no_code) {
    no_code = {{"framework", deployment.no_code->framework},
               {"model_file", deployment.no_code->model_file}};
  }
  return {{"models", models},
          {"entry_script", deployment.entry_script},
          {"snapshot_id", deployment.snapshot_id},
          {"no_code", no_code},
          {"replicas", deployment.replicas},
          {"cpu", deployment.cpu},
          {"memory_gb", deployment.memory_gb},
          {"environment_variables", deployment.environment_variables},
          {"description", deployment.description},
          {"tags", deployment.tags}};
}

Result<DeploymentRecord> read_deployment(const Statement& row) {
  auto config = parse_stored_json(row.column_text(2), "deployment configuration");
  if (!config) return std::unexpected(config.error());
  try {
    DeploymentRecord deployment{.workspace = row.column_text(0),
                                .name = row.column_text(1),
                                .models = {},
                                .entry_script = config->at("entry_script").get<std::string>(),
                                .snapshot_id = config->at("snapshot_id").get<std::string>(),
                                .no_code = std::nullopt,
                                .replicas = config->at("replicas").get<int>(),
                                .cpu = config->at("cpu").get<double>(),
                                .memory_gb = config->at("memory_gb").get<double>(),
                                .environment_variables = config->at("environment_variables"),
                                .description = config->at("description").get<std::string>(),
                                .tags = config->at("tags"),
                                .revision = row.column_int64(3),
                                .created_at_ms = row.column_int64(4),
                                .updated_at_ms = row.column_int64(5)};
    // Absent in configurations stored before no-code deployments existed.
    if (const auto no_code = config->value("no_code", nlohmann::json()); !no_code.is_null()) {
      deployment.no_code = NoCodeScoring{no_code.at("framework").get<std::string>(),
                                         no_code.at("model_file").get<std::string>()};
    }
    for (const auto& model : config->at("models")) {
      deployment.models.push_back(
          {model.at("name").get<std::string>(), model.at("version").get<int64_t>()});
    }
    return deployment;
  } catch (const nlohmann::json::exception& error) {
    return fail(ErrorCode::internal, "stored deployment {} is malformed: {}", row.column_text(1),
                error.what());
  }
}

Result<std::vector<DeploymentRecord>> read_deployments(Statement& statement) {
  std::vector<DeploymentRecord> deployments;
  while (true) {
    auto row = statement.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return deployments;
    auto deployment = read_deployment(statement);
    if (!deployment) return std::unexpected(deployment.error());
    deployments.push_back(std::move(*deployment));
  }
}

Result<std::optional<DeploymentRecord>> find_deployment(Connection& connection,
                                                        const std::string& workspace,
                                                        const std::string& name) {
  static const std::string k_sql =
      fmt::format("{}WHERE workspace = ?1 AND name = ?2", k_select_services);
  auto statement = connection.prepare(k_sql);
  if (!statement) return std::unexpected(statement.error());
  statement->bind(workspace, name);
  auto deployments = read_deployments(*statement);
  if (!deployments) return std::unexpected(deployments.error());
  if (deployments->empty()) return std::nullopt;
  return std::move(deployments->front());
}

std::unexpected<Error> deployment_not_found(const std::string& workspace, const std::string& name) {
  return fail(ErrorCode::not_found, "deployment '{}' not found in workspace '{}'", name, workspace);
}

// not_found unless every model version exists and is not deleted.
Result<void> check_models_live(Connection& connection, const DeploymentRecord& deployment) {
  for (const auto& model : deployment.models) {
    auto statement = connection.prepare(
        "SELECT 1 FROM model_versions"
        " WHERE workspace = ?1 AND name = ?2 AND version = ?3 AND deleted = 0");
    if (!statement) return std::unexpected(statement.error());
    statement->bind(deployment.workspace, model.name, model.version);
    auto row = statement->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) {
      return fail(ErrorCode::not_found, "model {}:{} not found in workspace '{}'", model.name,
                  model.version, deployment.workspace);
    }
  }
  return {};
}

Result<void> replace_service_models(Connection& connection, const DeploymentRecord& deployment) {
  auto removed =
      connection.prepare("DELETE FROM service_models WHERE workspace = ?1 AND service = ?2");
  if (!removed) return std::unexpected(removed.error());
  if (auto done = removed->bind(deployment.workspace, deployment.name).execute(); !done) return done;
  for (const auto& model : deployment.models) {
    auto inserted = connection.prepare(
        "INSERT OR IGNORE INTO service_models (workspace, service, model, version)"
        " VALUES (?1, ?2, ?3, ?4)");
    if (!inserted) return std::unexpected(inserted.error());
    inserted->bind(deployment.workspace, deployment.name, model.name, model.version);
    if (auto done = inserted->execute(); !done) return done;
  }
  return {};
}

Result<void> upsert_service(Connection& connection, const DeploymentRecord& deployment) {
  auto statement = connection.prepare(
      "INSERT INTO services (workspace, name, config, revision, created_at_ms, updated_at_ms)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
      " ON CONFLICT (workspace, name) DO UPDATE SET config = excluded.config,"
      "   revision = excluded.revision, updated_at_ms = excluded.updated_at_ms");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(deployment.workspace, deployment.name, dump_json(config_json(deployment)),
                  deployment.revision, deployment.created_at_ms, deployment.updated_at_ms);
  return statement->execute();
}

}  // namespace

Result<std::pair<DeploymentRecord, bool>> SqliteStore::put_deployment(
    const DeploymentRecord& draft) {
  return write([&](Connection& connection) -> Result<std::pair<DeploymentRecord, bool>> {
    if (auto exists = require_workspace(connection, draft.workspace); !exists) {
      return std::unexpected(exists.error());
    }
    if (auto live = check_models_live(connection, draft); !live) return std::unexpected(live.error());
    auto existing = find_deployment(connection, draft.workspace, draft.name);
    if (!existing) return std::unexpected(existing.error());
    DeploymentRecord record = draft;
    record.updated_at_ms = util::now_unix_ms();
    record.created_at_ms = *existing ? (*existing)->created_at_ms : record.updated_at_ms;
    record.revision = *existing ? (*existing)->revision + 1 : 1;
    if (auto stored = upsert_service(connection, record); !stored) {
      return std::unexpected(stored.error());
    }
    if (auto linked = replace_service_models(connection, record); !linked) {
      return std::unexpected(linked.error());
    }
    return std::pair{std::move(record), !existing->has_value()};
  });
}

Result<DeploymentRecord> SqliteStore::get_deployment(const std::string& workspace,
                                                     const std::string& name) {
  return read([&](Connection& connection) -> Result<DeploymentRecord> {
    auto found = find_deployment(connection, workspace, name);
    if (!found) return std::unexpected(found.error());
    if (!*found) return deployment_not_found(workspace, name);
    return std::move(**found);
  });
}

Result<std::vector<DeploymentRecord>> SqliteStore::list_deployments(const std::string& workspace) {
  return read([&](Connection& connection) -> Result<std::vector<DeploymentRecord>> {
    static const std::string k_sql =
        fmt::format("{}WHERE workspace = ?1 ORDER BY name", k_select_services);
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    statement->bind(workspace);
    auto deployments = read_deployments(*statement);
    if (!deployments || !deployments->empty()) return deployments;
    // none in a missing workspace: 404
    if (auto exists = require_workspace(connection, workspace); !exists) {
      return std::unexpected(exists.error());
    }
    return deployments;
  });
}

Result<std::vector<DeploymentRecord>> SqliteStore::list_all_deployments() {
  return read([&](Connection& connection) -> Result<std::vector<DeploymentRecord>> {
    static const std::string k_sql = fmt::format("{}ORDER BY workspace, name", k_select_services);
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    return read_deployments(*statement);
  });
}

Result<void> SqliteStore::delete_deployment(const std::string& workspace,
                                            const std::string& name) {
  return write([&](Connection& connection) -> Result<void> {
    for (const char* sql : {"DELETE FROM service_models WHERE workspace = ?1 AND service = ?2",
                            "DELETE FROM services WHERE workspace = ?1 AND name = ?2"}) {
      auto statement = connection.prepare(sql);
      if (!statement) return std::unexpected(statement.error());
      if (auto done = statement->bind(workspace, name).execute(); !done) return done;
    }
    if (connection.changes() == 0) return deployment_not_found(workspace, name);
    return {};
  });
}

}  // namespace trainctl::service::store
