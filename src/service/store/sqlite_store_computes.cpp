// SqliteStore: compute targets (store.hpp; docs/computes.md). One row per (workspace, name) in
// `computes` (migration 3). The runs that use a target are the unfinished rows of `runs` whose
// `compute` column names it.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vector>

#include "sqlite_store.hpp"
#include "store_rows.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::store {

namespace {

constexpr std::string_view k_compute_columns =
    "workspace, name, type, max_nodes, cpus_per_node, gpus_per_node, python, conda, state,"
    " message, created_at_ms, updated_at_ms, slurm_partition, slurm_account, slurm_qos, slurm_conf";

// How many of the runs that hold a target up a delete's conflict message names.
constexpr int64_t k_max_users_named = 10;

std::string select_computes(std::string_view rest) {
  return fmt::format("SELECT {} FROM computes {}", k_compute_columns, rest);
}

ComputeRecord read_compute(const Statement& row) {
  return ComputeRecord{.workspace = row.column_text(0),
                       .name = row.column_text(1),
                       .type = row.column_text(2),
                       .max_nodes = static_cast<int>(row.column_int64(3)),
                       .cpus_per_node = static_cast<int>(row.column_int64(4)),
                       .gpus_per_node = static_cast<int>(row.column_int64(5)),
                       .python = row.column_text(6),
                       .conda = row.column_text(7),
                       .slurm = {.partition = row.column_text(12),
                                 .account = row.column_text(13),
                                 .qos = row.column_text(14),
                                 .conf = row.column_text(15)},
                       .state = row.column_text(8),
                       .message = row.column_text(9),
                       .created_at_ms = row.column_int64(10),
                       .updated_at_ms = row.column_int64(11)};
}

Result<std::vector<ComputeRecord>> read_computes(Statement& statement) {
  std::vector<ComputeRecord> computes;
  while (true) {
    auto row = statement.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return computes;
    computes.push_back(read_compute(statement));
  }
}

Result<std::optional<ComputeRecord>> find_compute(Connection& connection,
                                                  const std::string& workspace,
                                                  const std::string& name) {
  static const std::string k_sql = select_computes("WHERE workspace = ?1 AND name = ?2");
  auto statement = connection.prepare(k_sql);
  if (!statement) return std::unexpected(statement.error());
  auto row = statement->bind(workspace, name).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  return read_compute(*statement);
}

std::unexpected<Error> compute_not_found(const std::string& workspace, const std::string& name) {
  return fail(ErrorCode::not_found, "compute target '{}' not found in workspace '{}'", name,
              workspace);
}

// The target as it is now; not_found when it is not there.
Result<ComputeRecord> existing_compute(Connection& connection, const std::string& workspace,
                                       const std::string& name) {
  auto found = find_compute(connection, workspace, name);
  if (!found) return std::unexpected(found.error());
  if (!*found) return compute_not_found(workspace, name);
  return std::move(**found);
}

Result<void> insert_compute(Connection& connection, const ComputeRecord& record) {
  auto statement = connection.prepare(fmt::format(
      "INSERT INTO computes ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
      " ?14, ?15, ?16)",
      k_compute_columns));
  if (!statement) return std::unexpected(statement.error());
  statement->bind(record.workspace, record.name, record.type, record.max_nodes,
                  record.cpus_per_node, record.gpus_per_node, record.python, record.conda,
                  record.state, record.message, record.created_at_ms, record.updated_at_ms,
                  record.slurm.partition, record.slurm.account, record.slurm.qos,
                  record.slurm.conf);
  return statement->execute();
}

Result<void> update_compute(Connection& connection, const ComputeRecord& record) {
  auto statement = connection.prepare(
      "UPDATE computes SET max_nodes = ?3, cpus_per_node = ?4, gpus_per_node = ?5, python = ?6,"
      " conda = ?7, state = ?8, message = ?9, updated_at_ms = ?10, slurm_partition = ?11,"
      " slurm_account = ?12, slurm_qos = ?13, slurm_conf = ?14"
      " WHERE workspace = ?1 AND name = ?2");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(record.workspace, record.name, record.max_nodes, record.cpus_per_node,
                  record.gpus_per_node, record.python, record.conda, record.state,
                  record.message, record.updated_at_ms, record.slurm.partition,
                  record.slurm.account, record.slurm.qos, record.slurm.conf);
  return statement->execute();
}

// Why the target cannot be deleted now: the unfinished runs that use it, e.g. "compute target
// 'gpu' is used by runs run-a (Running), run-b (Queued); cancel them, wait for them to finish,
// or delete with --force"; nullopt when none does.
Result<std::optional<std::string>> compute_in_use(Connection& connection,
                                                  const std::string& workspace,
                                                  const std::string& name) {
  static const std::string k_sql = fmt::format(
      "SELECT id, status FROM runs WHERE workspace = ?1 AND compute = ?2 AND {}"
      " ORDER BY seq LIMIT ?3",
      k_active_condition);
  auto statement = connection.prepare(k_sql);
  if (!statement) return std::unexpected(statement.error());
  statement->bind(workspace, name, k_max_users_named + 1);
  std::vector<std::string> users;
  bool more = false;
  while (true) {
    auto row = statement->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    if (static_cast<int64_t>(users.size()) == k_max_users_named) {
      more = true;
      break;
    }
    users.push_back(fmt::format("{} ({})", statement->column_text(0), statement->column_text(1)));
  }
  if (users.empty()) return std::nullopt;
  const bool several = users.size() > 1;
  return fmt::format(
      "compute target '{}' is used by run{} {}{}; cancel {}, wait for {} to finish, or delete "
      "with --force (which cancels {})",
      name, several ? "s" : "", fmt::join(users, ", "), more ? " and more" : "",
      several ? "them" : "it", several ? "them" : "it", several ? "them" : "it");
}

}  // namespace

Result<void> insert_local_compute(Connection& connection, const std::string& workspace,
                                  int max_nodes, int64_t now_ms) {
  auto statement = connection.prepare(fmt::format(
      "INSERT OR IGNORE INTO computes ({})"
      " VALUES (?1, 'local', 'local', ?2, 0, 0, '', '', 'Succeeded', '', ?3, ?3, '', '', '', '')",
      k_compute_columns));
  if (!statement) return std::unexpected(statement.error());
  return statement->bind(workspace, max_nodes, now_ms).execute();
}

Result<std::pair<ComputeRecord, bool>> SqliteStore::put_compute(const ComputeRecord& compute,
                                                                bool replace) {
  const auto now = util::now_unix_ms();
  return write([&](Connection& connection) -> Result<std::pair<ComputeRecord, bool>> {
    if (auto exists = require_workspace(connection, compute.workspace); !exists) {
      return std::unexpected(exists.error());
    }
    auto found = find_compute(connection, compute.workspace, compute.name);
    if (!found) return std::unexpected(found.error());
    ComputeRecord record = compute;
    record.updated_at_ms = now;
    if (!*found) {
      record.created_at_ms = now;
      if (auto inserted = insert_compute(connection, record); !inserted) {
        return std::unexpected(inserted.error());
      }
      return std::pair{std::move(record), true};
    }
    const ComputeRecord& existing = **found;
    if (!replace) {
      return fail(ErrorCode::conflict, "compute target '{}' already exists in workspace '{}'",
                  compute.name, compute.workspace);
    }
    if (existing.state == "Deleting") {
      return fail(ErrorCode::conflict, "compute target '{}' is being deleted", compute.name);
    }
    if (existing.type != compute.type) {
      return fail(ErrorCode::invalid_argument,
                  "compute target '{}' is of type {}; a type cannot change (delete it and "
                  "create it again)",
                  compute.name, existing.type);
    }
    record.created_at_ms = existing.created_at_ms;
    if (auto updated = update_compute(connection, record); !updated) {
      return std::unexpected(updated.error());
    }
    return std::pair{std::move(record), false};
  });
}

Result<ComputeRecord> SqliteStore::get_compute(const std::string& workspace,
                                               const std::string& name) {
  return read([&](Connection& connection) { return existing_compute(connection, workspace, name); });
}

Result<std::vector<ComputeRecord>> SqliteStore::list_computes(const std::string& workspace) {
  return read([&](Connection& connection) -> Result<std::vector<ComputeRecord>> {
    static const std::string k_sql = select_computes("WHERE workspace = ?1 ORDER BY name");
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    auto computes = read_computes(statement->bind(workspace));
    if (!computes || !computes->empty()) return computes;
    // none: a 404 when no workspace
    if (auto exists = require_workspace(connection, workspace); !exists) {
      return std::unexpected(exists.error());
    }
    return computes;
  });
}

Result<std::vector<ComputeRecord>> SqliteStore::list_all_computes() {
  return read([&](Connection& connection) -> Result<std::vector<ComputeRecord>> {
    static const std::string k_sql = select_computes("ORDER BY workspace, name");
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    return read_computes(*statement);
  });
}

Result<ComputeRecord> SqliteStore::set_compute_state(const std::string& workspace,
                                                     const std::string& name,
                                                     const std::string& state,
                                                     const std::string& message) {
  const auto now = util::now_unix_ms();
  return write([&](Connection& connection) -> Result<ComputeRecord> {
    auto record = existing_compute(connection, workspace, name);
    if (!record) return record;
    record->state = state;
    record->message = message;
    record->updated_at_ms = now;
    if (auto updated = update_compute(connection, *record); !updated) {
      return std::unexpected(updated.error());
    }
    return record;
  });
}

Result<void> SqliteStore::delete_compute(const std::string& workspace, const std::string& name) {
  return write([&](Connection& connection) -> Result<void> {
    auto in_use = compute_in_use(connection, workspace, name);
    if (!in_use) return std::unexpected(in_use.error());
    if (*in_use) return fail(ErrorCode::conflict, "{}", **in_use);
    auto statement =
        connection.prepare("DELETE FROM computes WHERE workspace = ?1 AND name = ?2");
    if (!statement) return std::unexpected(statement.error());
    if (auto done = statement->bind(workspace, name).execute(); !done) return done;
    if (connection.changes() == 0) return compute_not_found(workspace, name);
    return {};
  });
}

Result<void> SqliteStore::ensure_local_compute(const std::string& workspace, int max_nodes) {
  const auto now = util::now_unix_ms();
  return write([&](Connection& connection) -> Result<void> {
    if (auto exists = require_workspace(connection, workspace); !exists) return exists;
    return insert_local_compute(connection, workspace, max_nodes, now);
  });
}

}  // namespace trainctl::service::store
