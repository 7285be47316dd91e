// SqliteStore: sweeps (store.hpp; docs/sweeps.md). A sweep is a row of `sweeps` (migration 8);
// its trials are runs naming it (sweep_trials, in sqlite_store.cpp with the other run queries).
#include <fmt/format.h>

#include "sqlite_store.hpp"
#include "store_rows.hpp"
#include "trainctl/util/random.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::store {

namespace {

constexpr std::string_view k_sweep_columns =
    "seq, id, workspace, experiment, payload, seed, status, message, created_at_ms, ended_at_ms";

Result<SweepRecord> read_sweep(const Statement& row) {
  SweepRecord sweep;
  sweep.seq = row.column_int64(0);
  sweep.id = row.column_text(1);
  sweep.workspace = row.column_text(2);
  sweep.experiment = row.column_text(3);
  auto payload = parse_stored_json(row.column_text(4), "sweep payload");
  if (!payload) return std::unexpected(payload.error());
  sweep.payload = std::move(*payload);
  sweep.seed = static_cast<uint64_t>(row.column_int64(5));
  sweep.status = row.column_text(6);
  sweep.message = row.column_text(7);
  sweep.created_at_ms = row.column_int64(8);
  sweep.ended_at_ms = row.column_int64(9);
  return sweep;
}

Result<std::vector<SweepRecord>> read_sweeps(Statement& statement) {
  std::vector<SweepRecord> sweeps;
  while (true) {
    auto row = statement.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return sweeps;
    auto sweep = read_sweep(statement);
    if (!sweep) return std::unexpected(sweep.error());
    sweeps.push_back(std::move(*sweep));
  }
}

Result<std::optional<SweepRecord>> find_sweep(Connection& connection, const std::string& id) {
  static const std::string k_sql = fmt::format("SELECT {} FROM sweeps WHERE id = ?1", k_sweep_columns);
  auto statement = connection.prepare(k_sql);
  if (!statement) return std::unexpected(statement.error());
  auto row = statement->bind(id).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  return read_sweep(*statement);
}

}  // namespace

Result<SweepRecord> SqliteStore::create_sweep(const SweepRecord& draft) {
  return write([&](Connection& connection) -> Result<SweepRecord> {
    if (auto exists = require_workspace(connection, draft.workspace); !exists) {
      return std::unexpected(exists.error());
    }
    SweepRecord sweep = draft;
    while (sweep.id.empty()) {
      auto id = "sweep-" + util::random_base36(10);
      auto taken = find_sweep(connection, id);
      if (!taken) return std::unexpected(taken.error());
      if (!*taken) sweep.id = std::move(id);
    }
    sweep.status = "Running";
    auto statement = connection.prepare(
        "INSERT INTO sweeps (id, workspace, experiment, payload, seed, status, message,"
        " created_at_ms, ended_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)");
    if (!statement) return std::unexpected(statement.error());
    statement->bind(sweep.id, sweep.workspace, sweep.experiment, dump_json(sweep.payload),
                    static_cast<int64_t>(sweep.seed), sweep.status, sweep.message,
                    sweep.created_at_ms);
    if (auto done = statement->execute(); !done) return std::unexpected(done.error());
    sweep.seq = connection.last_insert_rowid();
    return sweep;
  });
}

Result<SweepRecord> SqliteStore::get_sweep(const std::string& workspace, const std::string& id) {
  return read([&](Connection& connection) -> Result<SweepRecord> {
    auto sweep = find_sweep(connection, id);
    if (!sweep) return std::unexpected(sweep.error());
    if (!*sweep || (*sweep)->workspace != workspace) {
      return fail(ErrorCode::not_found, "sweep {} not found in workspace {}", id, workspace);
    }
    return std::move(**sweep);
  });
}

Result<std::vector<SweepRecord>> SqliteStore::list_sweeps(const std::string& workspace) {
  return read([&](Connection& connection) -> Result<std::vector<SweepRecord>> {
    if (auto exists = require_workspace(connection, workspace); !exists) {
      return std::unexpected(exists.error());
    }
    static const std::string k_sql = fmt::format(
        "SELECT {} FROM sweeps WHERE workspace = ?1 ORDER BY seq DESC", k_sweep_columns);
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    return read_sweeps(statement->bind(workspace));
  });
}

Result<std::vector<SweepRecord>> SqliteStore::list_active_sweeps() {
  return read([&](Connection& connection) -> Result<std::vector<SweepRecord>> {
    static const std::string k_sql = fmt::format(
        "SELECT {} FROM sweeps WHERE status = 'Running' ORDER BY seq", k_sweep_columns);
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    return read_sweeps(*statement);
  });
}

Result<SweepRecord> SqliteStore::end_sweep(const std::string& id, const std::string& status,
                                           const std::string& message) {
  const int64_t now = util::now_unix_ms();
  return write([&](Connection& connection) -> Result<SweepRecord> {
    auto sweep = find_sweep(connection, id);
    if (!sweep) return std::unexpected(sweep.error());
    if (!*sweep) return fail(ErrorCode::not_found, "sweep {} not found", id);
    if ((*sweep)->status != "Running") {
      return fail(ErrorCode::conflict, "sweep {} has ended ({})", id, (*sweep)->status);
    }
    auto statement = connection.prepare(
        "UPDATE sweeps SET status = ?1, message = ?2, ended_at_ms = ?3 WHERE id = ?4");
    if (!statement) return std::unexpected(statement.error());
    if (auto done = statement->bind(status, message, now, id).execute(); !done) {
      return std::unexpected(done.error());
    }
    SweepRecord ended = std::move(**sweep);
    ended.status = status;
    ended.message = message;
    ended.ended_at_ms = now;
    return ended;
  });
}

}  // namespace trainctl::service::store
