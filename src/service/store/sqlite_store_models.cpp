// SqliteStore: the model registry (store.hpp; docs/models.md). Versions live in model_versions
// (migration 4); a deleted version keeps its row, so numbers are never reused. The deployments
// that use a version are the rows of service_models (migration 5).
#include <fmt/format.h>

#include <vector>

#include "sqlite_store.hpp"
#include "store_rows.hpp"
#include "version_table.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::store {

namespace {

Result<ModelVersionRecord> read_model_version(const Statement& row, bool with_files) {
  ModelVersionRecord record;
  record.workspace = row.column_text(0);
  record.name = row.column_text(1);
  record.version = row.column_int64(2);
  record.description = row.column_text(3);
  auto tags = parse_stored_json(row.column_text(4), "model tags");
  if (!tags) return std::unexpected(tags.error());
  record.tags = std::move(*tags);
  record.framework = row.column_text(5);
  record.framework_version = row.column_text(6);
  record.cpu = row.column_double(7);
  record.memory_gb = row.column_double(8);
  record.run_id = row.column_text(9);
  record.experiment = row.column_text(10);
  record.snapshot_id = row.column_text(11);
  record.source_path = row.column_text(12);
  auto inputs = parse_stored_json(row.column_text(13), "model inputs");
  if (!inputs) return std::unexpected(inputs.error());
  record.inputs = std::move(*inputs);
  record.file_count = row.column_int64(14);
  record.total_size = row.column_int64(15);
  record.created_at_ms = row.column_int64(16);
  if (with_files) {
    auto files = parse_stored_json(row.column_text(17), "model manifest");
    if (!files) return std::unexpected(files.error());
    record.files = std::move(*files);
  }
  return record;
}

const VersionTable<ModelVersionRecord>& model_versions() {
  static const VersionTable<ModelVersionRecord> table(
      "model", "model_versions",
      "workspace, name, version, description, tags, framework, framework_version, cpu, memory_gb,"
      " run_id, experiment, snapshot_id, source_path, inputs, file_count, total_size,"
      " created_at_ms",
      read_model_version);
  return table;
}

ModelSummary read_model_summary(const Statement& row) {
  return ModelSummary{.name = row.column_text(0),
                      .description = row.column_text(1),
                      .framework = row.column_text(2),
                      .latest_version = row.column_int64(3),
                      .version_count = row.column_int64(5),
                      .updated_at_ms = row.column_int64(4)};
}

Result<void> insert_model_version(Connection& connection, const ModelVersionRecord& record) {
  auto statement = connection.prepare(
      "INSERT INTO model_versions (workspace, name, version, description, tags, framework,"
      " framework_version, cpu, memory_gb, run_id, experiment, snapshot_id, source_path, inputs,"
      " files, file_count, total_size, created_at_ms)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(record.workspace, record.name, record.version, record.description,
                  dump_json(record.tags), record.framework, record.framework_version, record.cpu,
                  record.memory_gb, record.run_id, record.experiment, record.snapshot_id,
                  record.source_path, dump_json(record.inputs), dump_json(record.files),
                  record.file_count, record.total_size, record.created_at_ms);
  return statement->execute();
}

// Which versions a delete would remove are used by deployments, by version: "model digits:2 is
// used by deployment digits-svc; delete the deployment or update it to another version".
Result<std::optional<std::string>> model_in_use(Connection& connection,
                                                const std::string& workspace,
                                                const std::string& name, int64_t version) {
  auto statement = connection.prepare(
      "SELECT DISTINCT version, service FROM service_models"
      " WHERE workspace = ?1 AND model = ?2 AND (?3 = 0 OR version = ?3)"
      " ORDER BY version, service LIMIT ?4");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(workspace, name, version, k_max_users_named + 1);
  auto users = version_users(*statement, "model", name, "deployment",
                             [](const Statement& row) { return row.column_text(1); });
  if (!users) return std::unexpected(users.error());
  if (!*users) return std::nullopt;
  const bool several = (*users)->several;
  return fmt::format("{}; delete {} or update {} to another version", (*users)->text,
                     several ? "those deployments" : "the deployment", several ? "them" : "it");
}

}  // namespace

Result<ModelVersionRecord> SqliteStore::create_model_version(const ModelVersionRecord& draft) {
  ModelVersionRecord record = draft;
  record.created_at_ms = util::now_unix_ms();
  return write([&](Connection& connection) -> Result<ModelVersionRecord> {
    if (auto exists = require_workspace(connection, record.workspace); !exists) {
      return std::unexpected(exists.error());
    }
    auto version = model_versions().next_version(connection, record.workspace, record.name);
    if (!version) return std::unexpected(version.error());
    record.version = *version;
    if (auto inserted = insert_model_version(connection, record); !inserted) {
      return std::unexpected(inserted.error());
    }
    return std::move(record);
  });
}

Result<std::vector<ModelSummary>> SqliteStore::list_models(const std::string& workspace) {
  return read([&](Connection& connection) {
    static const std::string k_sql = model_versions().select_latest(
        "v.name, v.description, v.framework, v.version, v.created_at_ms");
    return model_versions().list_latest(connection, workspace, k_sql, read_model_summary);
  });
}

Result<std::vector<ModelVersionRecord>> SqliteStore::list_model_versions(
    const std::string& workspace, const std::string& name) {
  return read([&](Connection& connection) {
    return model_versions().list(connection, workspace, name);
  });
}

Result<ModelVersionRecord> SqliteStore::get_model_version(const std::string& workspace,
                                                          const std::string& name,
                                                          int64_t version) {
  return read([&](Connection& connection) {
    return model_versions().get(connection, workspace, name, version);
  });
}

Result<void> SqliteStore::delete_model(const std::string& workspace, const std::string& name,
                                       int64_t version) {
  return write([&](Connection& connection) -> Result<void> {
    auto in_use = model_in_use(connection, workspace, name, version);
    if (!in_use) return std::unexpected(in_use.error());
    if (*in_use) return fail(ErrorCode::conflict, "{}", **in_use);
    return model_versions().mark_deleted(connection, workspace, name, version);
  });
}

}  // namespace trainctl::service::store
