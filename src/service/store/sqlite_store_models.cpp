// SqliteStore: the model registry (store.hpp; docs/models.md). Versions live in model_versions
// (migration 4); a deleted version keeps its row, so numbers are never reused. The deployments
// that use a version are the rows of service_models (migration 5).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <vector>

#include "sqlite_store.hpp"
#include "store_rows.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::store {

namespace {

constexpr std::string_view k_model_columns =
    "workspace, name, version, description, tags, framework, framework_version, cpu, memory_gb,"
    " run_id, experiment, snapshot_id, source_path, inputs, file_count, total_size,"
    " created_at_ms";

// "SELECT <columns>[, files] FROM model_versions <rest>": read_model_version reads its rows.
std::string select_model_versions(bool with_files, std::string_view rest) {
  return fmt::format("SELECT {}{} FROM model_versions {}", k_model_columns,
                     with_files ? ", files" : "", rest);
}

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

// The version (0: the latest) with its files, unless it is deleted or never was.
Result<std::optional<ModelVersionRecord>> find_model_version(Connection& connection,
                                                             const std::string& workspace,
                                                             const std::string& name,
                                                             int64_t version) {
  static const std::string k_latest = select_model_versions(
      true, "WHERE workspace = ?1 AND name = ?2 AND deleted = 0 ORDER BY version DESC LIMIT 1");
  static const std::string k_numbered = select_model_versions(
      true, "WHERE workspace = ?1 AND name = ?2 AND deleted = 0 AND version = ?3");
  auto statement = connection.prepare(version == 0 ? k_latest : k_numbered);
  if (!statement) return std::unexpected(statement.error());
  statement->bind(workspace, name);
  if (version != 0) statement->bind(version);
  auto row = statement->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  return read_model_version(*statement, true);
}

// max + 1 over every version ever made, deleted ones included: numbers are never reused.
Result<int64_t> next_model_version(Connection& connection, const std::string& workspace,
                                   const std::string& name) {
  auto statement = connection.prepare(
      "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions"
      " WHERE workspace = ?1 AND name = ?2");
  if (!statement) return std::unexpected(statement.error());
  auto row = statement->bind(workspace, name).step();
  if (!row) return std::unexpected(row.error());
  return statement->column_int64(0);
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

// "digits:2" (one version) or "digits" (every version), as messages name what a delete targets.
std::string model_label(const std::string& name, int64_t version) {
  return version == 0 ? name : fmt::format("{}:{}", name, version);
}

std::unexpected<Error> model_not_found(const std::string& workspace, const std::string& name,
                                       int64_t version) {
  return fail(ErrorCode::not_found, "model {} not found in workspace '{}'",
              model_label(name, version), workspace);
}

// Which versions a delete would remove are used by deployments, by version: "model digits:2 is
// used by deployment digits-svc; delete the deployment or update it to another version".
constexpr int64_t k_max_users_named = 10;

Result<std::optional<std::string>> model_in_use(Connection& connection,
                                                const std::string& workspace,
                                                const std::string& name, int64_t version) {
  auto statement = connection.prepare(
      "SELECT DISTINCT version, service FROM service_models"
      " WHERE workspace = ?1 AND model = ?2 AND (?3 = 0 OR version = ?3)"
      " ORDER BY version, service LIMIT ?4");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(workspace, name, version, k_max_users_named + 1);
  std::map<int64_t, std::vector<std::string>> users;  // by version
  int64_t count = 0;
  while (true) {
    auto row = statement->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    if (++count > k_max_users_named) break;
    users[statement->column_int64(0)].push_back(statement->column_text(1));
  }
  if (users.empty()) return std::nullopt;
  std::vector<std::string> parts;
  for (const auto& [used_version, services] : users) {
    parts.push_back(fmt::format("model {}:{} is used by deployment{} {}", name, used_version,
                                services.size() == 1 ? "" : "s", fmt::join(services, ", ")));
  }
  const bool several = count > 1;
  return fmt::format("{}{}; delete {} or update {} to another version", fmt::join(parts, "; "),
                     count > k_max_users_named ? " and more" : "",
                     several ? "those deployments" : "the deployment", several ? "them" : "it");
}

}  // namespace

Result<ModelVersionRecord> SqliteStore::create_model_version(const ModelVersionRecord& draft) {
  ModelVersionRecord record = draft;
  record.created_at_ms = util::now_unix_ms();
  return write([&](Connection& connection) -> Result<ModelVersionRecord> {
    auto exists = workspace_exists(connection, record.workspace);
    if (!exists) return std::unexpected(exists.error());
    if (!*exists) return workspace_not_found(record.workspace);
    auto version = next_model_version(connection, record.workspace, record.name);
    if (!version) return std::unexpected(version.error());
    record.version = *version;
    if (auto inserted = insert_model_version(connection, record); !inserted) {
      return std::unexpected(inserted.error());
    }
    return std::move(record);
  });
}

Result<std::vector<ModelSummary>> SqliteStore::list_models(const std::string& workspace) {
  return read([&](Connection& connection) -> Result<std::vector<ModelSummary>> {
    auto statement = connection.prepare(
        "SELECT m.name, m.description, m.framework, m.version, live.count, m.created_at_ms"
        " FROM (SELECT name, MAX(version) AS latest, COUNT(*) AS count FROM model_versions"
        "       WHERE workspace = ?1 AND deleted = 0 GROUP BY name) AS live"
        " JOIN model_versions AS m"
        "   ON m.workspace = ?1 AND m.name = live.name AND m.version = live.latest"
        " ORDER BY m.name");
    if (!statement) return std::unexpected(statement.error());
    statement->bind(workspace);
    std::vector<ModelSummary> models;
    while (true) {
      auto row = statement->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      models.push_back(ModelSummary{.name = statement->column_text(0),
                                    .description = statement->column_text(1),
                                    .framework = statement->column_text(2),
                                    .latest_version = statement->column_int64(3),
                                    .version_count = statement->column_int64(4),
                                    .updated_at_ms = statement->column_int64(5)});
    }
    if (models.empty()) {  // none in a workspace that does not exist is a 404
      auto exists = workspace_exists(connection, workspace);
      if (!exists) return std::unexpected(exists.error());
      if (!*exists) return workspace_not_found(workspace);
    }
    return models;
  });
}

Result<std::vector<ModelVersionRecord>> SqliteStore::list_model_versions(
    const std::string& workspace, const std::string& name) {
  return read([&](Connection& connection) -> Result<std::vector<ModelVersionRecord>> {
    static const std::string k_sql = select_model_versions(
        false, "WHERE workspace = ?1 AND name = ?2 AND deleted = 0 ORDER BY version");
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    statement->bind(workspace, name);
    std::vector<ModelVersionRecord> versions;
    while (true) {
      auto row = statement->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto version = read_model_version(*statement, false);
      if (!version) return std::unexpected(version.error());
      versions.push_back(std::move(*version));
    }
    if (versions.empty()) return model_not_found(workspace, name, 0);
    return versions;
  });
}

Result<ModelVersionRecord> SqliteStore::get_model_version(const std::string& workspace,
                                                          const std::string& name,
                                                          int64_t version) {
  return read([&](Connection& connection) -> Result<ModelVersionRecord> {
    auto found = find_model_version(connection, workspace, name, version);
    if (!found) return std::unexpected(found.error());
    if (!*found) return model_not_found(workspace, name, version);
    return std::move(**found);
  });
}

Result<void> SqliteStore::delete_model(const std::string& workspace, const std::string& name,
                                       int64_t version) {
  return write([&](Connection& connection) -> Result<void> {
    auto in_use = model_in_use(connection, workspace, name, version);
    if (!in_use) return std::unexpected(in_use.error());
    if (*in_use) return fail(ErrorCode::conflict, "{}", **in_use);
    auto statement = connection.prepare(
        "UPDATE model_versions SET deleted = 1"
        " WHERE workspace = ?1 AND name = ?2 AND deleted = 0 AND (?3 = 0 OR version = ?3)");
    if (!statement) return std::unexpected(statement.error());
    if (auto done = statement->bind(workspace, name, version).execute(); !done) return done;
    if (connection.changes() == 0) return model_not_found(workspace, name, version);
    return {};
  });
}

}  // namespace trainctl::service::store
