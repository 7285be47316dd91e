#include "sqlite_store.hpp"

#include <algorithm>
#include <map>
#include <unordered_set>
#include <utility>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "migrations.hpp"
#include "store_rows.hpp"
#include "version_table.hpp"
#include "trainctl/util/random.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service {

Result<std::unique_ptr<Store>> Store::open(const std::filesystem::path& db_path,
                                           StoreOptions options) {
  auto store = store::SqliteStore::open(db_path, options);
  if (!store) return std::unexpected(store.error());
  return std::unique_ptr<Store>(std::move(*store));
}

nlohmann::json inputs_json(const std::vector<ResolvedInput>& inputs) {
  auto list = nlohmann::json::array();
  for (const auto& input : inputs) {
    list.push_back({{"name", input.name},
                    {"dataset", input.dataset},
                    {"version", input.version},
                    {"mode", input.mode}});
  }
  return list;
}

RunSummary summary_of(const RunRecord& run) {
  return RunSummary{.id = run.id,
                    .workspace = run.workspace,
                    .experiment = run.experiment,
                    .name = run.name,
                    .compute = run.compute,
                    .status = run.status,
                    .snapshot_id = run.snapshot_id,
                    .created_at_ms = run.created_at_ms,
                    .updated_at_ms = run.updated_at_ms,
                    .started_at_ms = run.started_at_ms,
                    .ended_at_ms = run.ended_at_ms,
                    .exit_code = run.exit_code,
                    .failure_reason = run.failure_reason,
                    .priority = run.priority,
                    .attempt = run.attempt,
                    .seq = run.seq};
}

}  // namespace trainctl::service

namespace trainctl::service::store {

namespace {

constexpr size_t k_max_readers = 8;
// Operations per group commit: enough for every request thread, few enough to keep each
// transaction short.
constexpr size_t k_max_batch = 64;
constexpr std::string_view k_default_workspace = "default";

// ---- workspaces ---------------------------------------------------------------------------

constexpr std::string_view k_select_workspaces =
    "SELECT name, description, created_at_ms, run_count FROM workspaces";

WorkspaceRecord read_workspace(const Statement& row) {
  return WorkspaceRecord{.name = row.column_text(0),
                         .description = row.column_text(1),
                         .created_at_ms = row.column_int64(2),
                         .run_count = row.column_int64(3)};
}

// ---- runs ---------------------------------------------------------------------------------

constexpr std::string_view k_run_columns =
    "seq, id, workspace, experiment, name, compute, status, snapshot_id, payload, tasks,"
    " idempotency_key, request_hash, created_at_ms, updated_at_ms, started_at_ms, ended_at_ms,"
    " exit_code, failure_reason, inputs, priority, nodes, attempt, attempts, params, logged_tags,"
    " metrics, sweep_id, trial";

std::string select_runs(std::string_view rest) {
  return fmt::format("SELECT {} FROM runs {}", k_run_columns, rest);
}

// ---- run inputs ---------------------------------------------------------------------------

Result<std::vector<ResolvedInput>> parse_stored_inputs(const std::string& text) {
  auto list = parse_stored_json(text, "run inputs");
  if (!list) return std::unexpected(list.error());
  std::vector<ResolvedInput> inputs;
  try {
    for (const auto& input : *list) {
      inputs.push_back(ResolvedInput{.name = input.at("name").get<std::string>(),
                                     .dataset = input.at("dataset").get<std::string>(),
                                     .version = input.at("version").get<int64_t>(),
                                     .mode = input.at("mode").get<std::string>()});
    }
  } catch (const nlohmann::json::exception&) {
    return fail(ErrorCode::internal, "the stored run inputs are malformed");
  }
  return inputs;
}

Result<bool> dataset_version_is_live(Connection& connection, const std::string& workspace,
                                     const std::string& name, int64_t version) {
  auto statement = connection.prepare(
      "SELECT 1 FROM dataset_versions"
      " WHERE workspace = ?1 AND name = ?2 AND version = ?3 AND deleted = 0");
  if (!statement) return std::unexpected(statement.error());
  return statement->bind(workspace, name, version).step();
}

// Every input of `run` names a version that exists: checked in the transaction that inserts the
// run, so a version deleted after POST /runs resolved it cannot end up used by a run.
Result<void> check_inputs_exist(Connection& connection, const RunRecord& run) {
  std::vector<ErrorDetail> problems;
  for (const auto& input : run.inputs) {
    auto live = dataset_version_is_live(connection, run.workspace, input.dataset, input.version);
    if (!live) return std::unexpected(live.error());
    if (*live) continue;
    ErrorDetail problem;
    problem.path = fmt::format("inputs.{}.version", input.name);
    problem.message = fmt::format("dataset {}:{} does not exist (it may just have been deleted)",
                                  input.dataset, input.version);
    problems.push_back(std::move(problem));
  }
  if (problems.empty()) return {};
  return fail(Error{ErrorCode::invalid_spec, "the payload does not validate", std::move(problems)});
}

// The rows of run_inputs that delete_dataset checks.
Result<void> insert_run_inputs(Connection& connection, const RunRecord& run) {
  for (const auto& input : run.inputs) {
    auto statement = connection.prepare(
        "INSERT INTO run_inputs (run_id, input, workspace, dataset, version)"
        " VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!statement) return std::unexpected(statement.error());
    statement->bind(run.id, input.name, run.workspace, input.dataset, input.version);
    if (auto done = statement->execute(); !done) return done;
  }
  return {};
}

Result<api::RunStatus> parse_stored_status(const std::string& text) {
  auto status = api::parse_run_status(text);
  if (!status) return fail(ErrorCode::internal, "the stored run status '{}' is unknown", text);
  return *status;
}

Result<RunRecord> read_run(const Statement& row) {
  RunRecord run;
  run.seq = row.column_int64(0);
  run.id = row.column_text(1);
  run.workspace = row.column_text(2);
  run.experiment = row.column_text(3);
  run.name = row.column_text(4);
  run.compute = row.column_text(5);
  auto status = parse_stored_status(row.column_text(6));
  if (!status) return std::unexpected(status.error());
  run.status = *status;
  run.snapshot_id = row.column_text(7);
  auto payload = parse_stored_json(row.column_text(8), "run payload");
  if (!payload) return std::unexpected(payload.error());
  run.payload = std::move(*payload);
  auto tasks = parse_stored_json(row.column_text(9), "run tasks");
  if (!tasks) return std::unexpected(tasks.error());
  run.tasks = std::move(*tasks);
  run.idempotency_key = row.column_text(10);
  run.request_hash = row.column_text(11);
  run.created_at_ms = row.column_int64(12);
  run.updated_at_ms = row.column_int64(13);
  run.started_at_ms = row.column_int64(14);
  run.ended_at_ms = row.column_int64(15);
  run.exit_code =
      row.column_optional_int64(16).transform([](int64_t code) { return static_cast<int>(code); });
  run.failure_reason = row.column_text(17);
  auto inputs = parse_stored_inputs(row.column_text(18));
  if (!inputs) return std::unexpected(inputs.error());
  run.inputs = std::move(*inputs);
  run.priority = static_cast<int>(row.column_int64(19));
  auto nodes = parse_stored_json(row.column_text(20), "run nodes");
  if (!nodes || !nodes->is_array()) return fail(ErrorCode::internal, "the stored run nodes are malformed");
  for (const auto& node : *nodes) {
    if (!node.is_number_integer()) return fail(ErrorCode::internal, "the stored run nodes are malformed");
    run.nodes.push_back(node.get<int>());
  }
  run.attempt = static_cast<int>(row.column_int64(21));
  auto attempts = parse_stored_json(row.column_text(22), "run attempts");
  if (!attempts) return std::unexpected(attempts.error());
  run.attempts = std::move(*attempts);
  auto params = parse_stored_json(row.column_text(23), "run params");
  if (!params) return std::unexpected(params.error());
  run.params = std::move(*params);
  auto tags = parse_stored_json(row.column_text(24), "run logged tags");
  if (!tags) return std::unexpected(tags.error());
  run.logged_tags = std::move(*tags);
  auto metrics = parse_stored_json(row.column_text(25), "run metrics");
  if (!metrics) return std::unexpected(metrics.error());
  run.metrics = std::move(*metrics);
  run.sweep_id = row.column_text(26);
  run.trial = static_cast<int>(row.column_int64(27));
  return run;
}

// The columns read_run_summary reads, in its order: none holds JSON.
constexpr std::string_view k_run_summary_columns =
    "seq, id, workspace, experiment, name, compute, status, snapshot_id, created_at_ms,"
    " updated_at_ms, started_at_ms, ended_at_ms, exit_code, failure_reason, priority, attempt";

Result<RunSummary> read_run_summary(const Statement& row) {
  auto status = parse_stored_status(row.column_text(6));
  if (!status) return std::unexpected(status.error());
  return RunSummary{
      .id = row.column_text(1),
      .workspace = row.column_text(2),
      .experiment = row.column_text(3),
      .name = row.column_text(4),
      .compute = row.column_text(5),
      .status = *status,
      .snapshot_id = row.column_text(7),
      .created_at_ms = row.column_int64(8),
      .updated_at_ms = row.column_int64(9),
      .started_at_ms = row.column_int64(10),
      .ended_at_ms = row.column_int64(11),
      .exit_code = row.column_optional_int64(12).transform(
          [](int64_t code) { return static_cast<int>(code); }),
      .failure_reason = row.column_text(13),
      .priority = static_cast<int>(row.column_int64(14)),
      .attempt = static_cast<int>(row.column_int64(15)),
      .seq = row.column_int64(0)};
}

// Every row `statement` returns, read by `read_row` (read_run or read_run_summary); a row that
// cannot be read is logged and left out. Column 1 of every row is the run's id.
template <typename ReadRow>
auto read_rows(Statement& statement, ReadRow read_row)
    -> Result<std::vector<typename std::invoke_result_t<ReadRow, const Statement&>::value_type>> {
  std::vector<typename std::invoke_result_t<ReadRow, const Statement&>::value_type> runs;
  while (true) {
    auto row = statement.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return runs;
    auto run = read_row(statement);
    if (!run) {  // one unreadable row must not hide every other run
      spdlog::error("run {} is left out of a list: its row in the database is unreadable ({})",
                    statement.column_text(1), run.error().message);
      continue;
    }
    runs.push_back(std::move(*run));
  }
}

// Every row `statement` returns, as runs; a row that cannot be read as a run is logged and left
// out.
Result<std::vector<RunRecord>> read_runs(Statement& statement) {
  return read_rows(statement, read_run);
}

// The first run `statement` returns, if any.
Result<std::optional<RunRecord>> read_optional_run(Statement& statement) {
  auto row = statement.step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  return read_run(statement);
}

Result<std::optional<RunRecord>> find_run_by_id(Connection& connection, const std::string& id) {
  static const std::string k_sql = select_runs("WHERE id = ?1");
  auto statement = connection.prepare(k_sql);
  if (!statement) return std::unexpected(statement.error());
  return read_optional_run(statement->bind(id));
}

Result<std::optional<RunRecord>> find_run_by_idempotency_key(Connection& connection,
                                                             const std::string& workspace,
                                                             const std::string& key) {
  // "idempotency_key <> ''" lets SQLite use the partial unique index.
  static const std::string k_sql =
      select_runs("WHERE workspace = ?1 AND idempotency_key = ?2 AND idempotency_key <> ''");
  auto statement = connection.prepare(k_sql);
  if (!statement) return std::unexpected(statement.error());
  return read_optional_run(statement->bind(workspace, key));
}

// The outcome of a submission whose idempotency key was used before by `earlier`.
Result<CreateRunOutcome> replay_or_conflict(RunRecord earlier, const RunRecord& draft) {
  if (earlier.request_hash != draft.request_hash) {
    return fail(ErrorCode::conflict,
                "idempotency key '{}' was already used for a different request (run {})",
                draft.idempotency_key, earlier.id);
  }
  return CreateRunOutcome{.run = std::move(earlier), .replayed = true};
}

Result<bool> run_id_taken(Connection& connection, const std::string& id) {
  auto statement = connection.prepare("SELECT 1 FROM runs WHERE id = ?1");
  if (!statement) return std::unexpected(statement.error());
  return statement->bind(id).step();
}

// A fresh "run-" + 10 base-36 characters id that no run has.
Result<std::string> new_run_id(Connection& connection) {
  while (true) {
    auto id = "run-" + util::random_base36(10);
    auto taken = run_id_taken(connection, id);
    if (!taken) return std::unexpected(taken.error());
    if (!*taken) return id;
  }
}

Result<void> append_event(Connection& connection, const std::string& run_id, api::RunStatus status,
                          int64_t at_ms, const std::string& message) {
  auto statement = connection.prepare(
      "INSERT INTO run_events (run_id, status, at_ms, message) VALUES (?1, ?2, ?3, ?4)");
  if (!statement) return std::unexpected(statement.error());
  return statement->bind(run_id, api::to_string(status), at_ms, message).execute();
}

Result<void> insert_run(Connection& connection, RunRecord& run) {
  auto statement = connection.prepare(
      "INSERT INTO runs (id, workspace, experiment, name, compute, status, snapshot_id, payload,"
      " tasks, idempotency_key, request_hash, created_at_ms, updated_at_ms, started_at_ms,"
      " ended_at_ms, exit_code, failure_reason, inputs, priority, nodes, attempt, attempts, params,"
      " sweep_id, trial)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
      " ?19, ?20, ?21, ?22, ?23, ?24, ?25)");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(run.id, run.workspace, run.experiment, run.name, run.compute,
                  api::to_string(run.status), run.snapshot_id, dump_json(run.payload),
                  dump_json(run.tasks), run.idempotency_key, run.request_hash);
  statement->bind(run.created_at_ms, run.updated_at_ms, run.started_at_ms, run.ended_at_ms,
                  run.exit_code, run.failure_reason, dump_json(inputs_json(run.inputs)));
  statement->bind(run.priority, dump_json(nlohmann::json(run.nodes)), run.attempt,
                  dump_json(run.attempts), dump_json(run.params), run.sweep_id, run.trial);
  if (auto done = statement->execute(); !done) return done;
  run.seq = connection.last_insert_rowid();
  return insert_run_inputs(connection, run);
}

// Applies `update` to `run` in memory; returns whether the status changed.
bool apply_update(RunRecord& run, const RunUpdate& update, int64_t now_ms) {
  const bool status_changed = update.status && *update.status != run.status;
  if (update.status) run.status = *update.status;
  if (update.tasks) run.tasks = *update.tasks;
  if (update.exit_code) run.exit_code = update.exit_code;
  if (update.failure_reason) run.failure_reason = *update.failure_reason;
  if (update.started_at_ms) run.started_at_ms = *update.started_at_ms;
  if (update.ended_at_ms) run.ended_at_ms = *update.ended_at_ms;
  if (update.nodes) run.nodes = *update.nodes;
  if (api::is_terminal(run.status)) run.nodes.clear();  // a finished run holds no node
  if (update.attempt) run.attempt = *update.attempt;
  if (update.attempts) run.attempts = *update.attempts;
  run.updated_at_ms = now_ms;
  return status_changed;
}

Result<void> save_run_state(Connection& connection, const RunRecord& run) {
  auto statement = connection.prepare(
      "UPDATE runs SET status = ?1, tasks = ?2, exit_code = ?3, failure_reason = ?4,"
      " started_at_ms = ?5, ended_at_ms = ?6, updated_at_ms = ?7, nodes = ?8, attempt = ?9,"
      " attempts = ?10 WHERE seq = ?11");
  if (!statement) return std::unexpected(statement.error());
  return statement
      ->bind(api::to_string(run.status), dump_json(run.tasks), run.exit_code, run.failure_reason,
             run.started_at_ms, run.ended_at_ms, run.updated_at_ms,
             dump_json(nlohmann::json(run.nodes)), run.attempt, dump_json(run.attempts), run.seq)
      .execute();
}

// "SELECT columns FROM runs WHERE workspace = ? [AND experiment = ?] [AND compute = ?]
// [AND status IN (...)] [AND seq < ?] ORDER BY seq DESC LIMIT ?", one placeholder per value,
// bound in that order.
std::string list_runs_sql(const RunQuery& query, size_t status_count, std::string_view columns) {
  std::string where = "WHERE workspace = ?";
  if (query.experiment) where += " AND experiment = ?";
  if (query.compute) where += " AND compute = ?";
  if (status_count > 0) {
    where += " AND status IN (?";
    for (size_t i = 1; i < status_count; ++i) where += ", ?";
    where += ")";
  }
  if (query.before_seq) where += " AND seq < ?";
  return fmt::format("SELECT {} FROM runs {} ORDER BY seq DESC LIMIT ?", columns, where);
}

std::vector<api::RunStatus> distinct(const std::vector<api::RunStatus>& statuses) {
  std::vector<api::RunStatus> out;
  for (auto status : statuses) {
    if (std::find(out.begin(), out.end(), status) == out.end()) out.push_back(status);
  }
  return out;
}

// ---- snapshots ----------------------------------------------------------------------------

Result<std::optional<SnapshotRecord>> find_snapshot(Connection& connection, const std::string& id) {
  auto statement = connection.prepare(
      "SELECT id, manifest, file_count, total_size, created_at_ms FROM snapshots WHERE id = ?1");
  if (!statement) return std::unexpected(statement.error());
  auto row = statement->bind(id).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  auto files = parse_stored_json(statement->column_text(1), "snapshot manifest");
  if (!files) return std::unexpected(files.error());
  return SnapshotRecord{.id = statement->column_text(0),
                        .files = std::move(*files),
                        .file_count = statement->column_int64(2),
                        .total_size = statement->column_int64(3),
                        .created_at_ms = statement->column_int64(4)};
}

// Stores `snapshot` unless one with its id is stored already (content-addressed: same id, same
// files); returns the stored record and whether it was new.
Result<std::pair<SnapshotRecord, bool>> insert_snapshot(Connection& connection,
                                                        const SnapshotRecord& snapshot) {
  SnapshotRecord record = snapshot;
  record.created_at_ms = util::now_unix_ms();
  auto statement = connection.prepare(
      "INSERT OR IGNORE INTO snapshots (id, manifest, file_count, total_size, created_at_ms)"
      " VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(record.id, dump_json(record.files), record.file_count, record.total_size,
                  record.created_at_ms);
  if (auto done = statement->execute(); !done) return std::unexpected(done.error());
  if (connection.changes() > 0) return std::pair{std::move(record), true};
  auto existing = find_snapshot(connection, record.id);
  if (!existing) return std::unexpected(existing.error());
  if (!*existing) return fail(ErrorCode::internal, "snapshot {} vanished", record.id);
  return std::pair{std::move(**existing), false};
}

// ---- datasets -----------------------------------------------------------------------------

Result<DatasetVersionRecord> read_dataset_version(const Statement& row, bool with_files) {
  DatasetVersionRecord record;
  record.workspace = row.column_text(0);
  record.name = row.column_text(1);
  record.version = row.column_int64(2);
  record.description = row.column_text(3);
  auto tags = parse_stored_json(row.column_text(4), "dataset tags");
  if (!tags) return std::unexpected(tags.error());
  record.tags = std::move(*tags);
  record.content_hash = row.column_text(5);
  record.source = row.column_text(6);
  record.file_count = row.column_int64(7);
  record.total_size = row.column_int64(8);
  record.created_at_ms = row.column_int64(9);
  if (with_files) {
    auto files = parse_stored_json(row.column_text(10), "dataset manifest");
    if (!files) return std::unexpected(files.error());
    record.files = std::move(*files);
  }
  return record;
}

const VersionTable<DatasetVersionRecord>& dataset_versions() {
  static const VersionTable<DatasetVersionRecord> table(
      "dataset", "dataset_versions",
      "workspace, name, version, description, tags, content_hash, source, file_count, total_size,"
      " created_at_ms",
      read_dataset_version);
  return table;
}

DatasetSummary read_dataset_summary(const Statement& row) {
  return DatasetSummary{.name = row.column_text(0),
                        .description = row.column_text(1),
                        .latest_version = row.column_int64(2),
                        .version_count = row.column_int64(4),
                        .updated_at_ms = row.column_int64(3)};
}

// The content hash of the latest version, if the dataset has one.
Result<std::optional<std::string>> latest_content_hash(Connection& connection,
                                                       const std::string& workspace,
                                                       const std::string& name) {
  auto statement = connection.prepare(
      "SELECT content_hash FROM dataset_versions"
      " WHERE workspace = ?1 AND name = ?2 AND deleted = 0 ORDER BY version DESC LIMIT 1");
  if (!statement) return std::unexpected(statement.error());
  auto row = statement->bind(workspace, name).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  return statement->column_text(0);
}

Result<void> insert_dataset_version(Connection& connection, const DatasetVersionRecord& record) {
  auto statement = connection.prepare(
      "INSERT INTO dataset_versions (workspace, name, version, description, tags, files,"
      " content_hash, source, file_count, total_size, created_at_ms)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(record.workspace, record.name, record.version, record.description,
                  dump_json(record.tags), dump_json(record.files), record.content_hash,
                  record.source, record.file_count, record.total_size, record.created_at_ms);
  return statement->execute();
}

// Which versions a delete would remove are in use by runs that have not finished, by version:
// "dataset mnist:2 is used by run run-abc (Running); cancel it or wait for it to finish".
Result<std::optional<std::string>> dataset_in_use(Connection& connection,
                                                  const std::string& workspace,
                                                  const std::string& name, int64_t version) {
  static const std::string k_sql = fmt::format(
      "SELECT run_inputs.version, runs.id, runs.status FROM run_inputs"
      " JOIN runs ON runs.id = run_inputs.run_id"
      " WHERE run_inputs.workspace = ?1 AND run_inputs.dataset = ?2"
      " AND (?3 = 0 OR run_inputs.version = ?3) AND runs.{}"
      " ORDER BY run_inputs.version, runs.seq LIMIT ?4",
      k_active_condition);
  auto statement = connection.prepare(k_sql);
  if (!statement) return std::unexpected(statement.error());
  statement->bind(workspace, name, version, k_max_users_named + 1);
  auto users = version_users(*statement, "dataset", name, "run", [](const Statement& row) {
    return fmt::format("{} ({})", row.column_text(1), row.column_text(2));
  });
  if (!users) return std::unexpected(users.error());
  if (!*users) return std::nullopt;
  const auto* pronoun = (*users)->several ? "them" : "it";
  return fmt::format("{}; cancel {} or wait for {} to finish", (*users)->text, pronoun, pronoun);
}

// WAL is a property of the database file: set once here, every later connection uses it.
Result<void> enable_wal(Connection& connection) {
  auto statement = connection.prepare("PRAGMA journal_mode=WAL");
  if (!statement) return std::unexpected(statement.error());
  auto row = statement->step();
  if (!row) return std::unexpected(row.error());
  if (const auto mode = *row ? statement->column_text(0) : ""; mode != "wal") {
    return fail(ErrorCode::internal,
                "the database cannot use write-ahead logging (journal mode '{}')", mode);
  }
  return {};
}

}  // namespace

// ---- shared row helpers (store_rows.hpp) ---------------------------------------------------

// Compact JSON; invalid UTF-8 in strings is replaced (U+FFFD) rather than thrown about.
std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<nlohmann::json> parse_stored_json(const std::string& text, std::string_view what) {
  auto value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded())
    return fail(ErrorCode::internal, "the stored {} is not valid JSON", what);
  return value;
}

Result<bool> workspace_exists(Connection& connection, const std::string& name) {
  auto statement = connection.prepare("SELECT 1 FROM workspaces WHERE name = ?1");
  if (!statement) return std::unexpected(statement.error());
  return statement->bind(name).step();
}

std::unexpected<Error> workspace_not_found(const std::string& name) {
  return fail(ErrorCode::not_found, "workspace '{}' not found", name);
}

Result<void> require_workspace(Connection& connection, const std::string& name) {
  auto exists = workspace_exists(connection, name);
  if (!exists) return std::unexpected(exists.error());
  if (!*exists) return workspace_not_found(name);
  return {};
}

// ---- opening ------------------------------------------------------------------------------

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::filesystem::path& db_path,
                                                       StoreOptions options) {
  auto writer = Connection::open(db_path, AccessMode::read_write, options.busy_timeout_ms);
  if (!writer) return std::unexpected(writer.error());
  if (auto wal = enable_wal(**writer); !wal) return std::unexpected(wal.error());
  auto version = migrate(**writer, schema_migrations());
  if (!version) return std::unexpected(version.error());
  return std::unique_ptr<SqliteStore>(
      new SqliteStore(db_path, options, std::move(*writer), *version));
}

SqliteStore::SqliteStore(const std::filesystem::path& db_path, StoreOptions options,
                         std::unique_ptr<Connection> writer, int schema_version)
    : m_writer(std::move(writer), k_max_batch),
      m_readers(db_path, options.busy_timeout_ms, k_max_readers),
      m_schema_version(schema_version),
      m_local_max_nodes(options.local_max_nodes) {}

// ---- workspaces ---------------------------------------------------------------------------

Result<WorkspaceRecord> SqliteStore::create_workspace(const std::string& name,
                                                      const std::string& description) {
  const auto now = util::now_unix_ms();
  return write([&](Connection& connection) -> Result<WorkspaceRecord> {
    auto statement = connection.prepare(
        "INSERT OR IGNORE INTO workspaces (name, description, created_at_ms) VALUES (?1, ?2, ?3)");
    if (!statement) return std::unexpected(statement.error());
    if (auto done = statement->bind(name, description, now).execute(); !done) {
      return std::unexpected(done.error());
    }
    if (connection.changes() == 0) {
      return fail(ErrorCode::conflict, "workspace '{}' already exists", name);
    }
    if (auto local = insert_local_compute(connection, name, m_local_max_nodes, now); !local) {
      return std::unexpected(local.error());
    }
    return WorkspaceRecord{
        .name = name, .description = description, .created_at_ms = now, .run_count = 0};
  });
}

Result<void> SqliteStore::ensure_workspace(const std::string& name) {
  const auto now = util::now_unix_ms();
  return write([&](Connection& connection) -> Result<void> {
    auto statement = connection.prepare(
        "INSERT OR IGNORE INTO workspaces (name, description, created_at_ms) VALUES (?1, '', ?2)");
    if (!statement) return std::unexpected(statement.error());
    if (auto done = statement->bind(name, now).execute(); !done) return done;
    return insert_local_compute(connection, name, m_local_max_nodes, now);
  });
}

Result<std::vector<WorkspaceRecord>> SqliteStore::list_workspaces() {
  return read([&](Connection& connection) -> Result<std::vector<WorkspaceRecord>> {
    static const std::string k_sql = fmt::format("{} ORDER BY name", k_select_workspaces);
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    std::vector<WorkspaceRecord> workspaces;
    while (true) {
      auto row = statement->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) return workspaces;
      workspaces.push_back(read_workspace(*statement));
    }
  });
}

Result<WorkspaceRecord> SqliteStore::get_workspace(const std::string& name) {
  return read([&](Connection& connection) -> Result<WorkspaceRecord> {
    static const std::string k_sql = fmt::format("{} WHERE name = ?1", k_select_workspaces);
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    auto row = statement->bind(name).step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return workspace_not_found(name);
    return read_workspace(*statement);
  });
}

Result<void> SqliteStore::delete_workspace(const std::string& name) {
  if (name == k_default_workspace) {
    return fail(ErrorCode::conflict, "the workspace '{}' always exists; it cannot be deleted",
                name);
  }
  return write([&](Connection& connection) -> Result<void> {
    if (auto exists = require_workspace(connection, name); !exists) return exists;
    static const std::string k_count_active =
        fmt::format("SELECT count(*) FROM runs WHERE workspace = ?1 AND {}", k_active_condition);
    auto active = connection.prepare(k_count_active);
    if (!active) return std::unexpected(active.error());
    if (auto row = active->bind(name).step(); !row) return std::unexpected(row.error());
    if (const auto count = active->column_int64(0); count > 0) {
      return fail(ErrorCode::conflict,
                  "workspace '{}' has {} run(s) that have not finished; cancel them first", name,
                  count);
    }
    // Runs and their events go with it (ON DELETE CASCADE).
    auto statement = connection.prepare("DELETE FROM workspaces WHERE name = ?1");
    if (!statement) return std::unexpected(statement.error());
    return statement->bind(name).execute();
  });
}

// ---- blobs --------------------------------------------------------------------------------

Result<std::vector<std::string>> SqliteStore::missing_blobs(
    const std::vector<std::string>& hashes) {
  const auto hashes_json = dump_json(hashes);
  return read([&](Connection& connection) -> Result<std::vector<std::string>> {
    auto statement = connection.prepare(
        "SELECT list.value FROM json_each(?1) AS list"
        " WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.sha256 = list.value)"
        " ORDER BY list.key");
    if (!statement) return std::unexpected(statement.error());
    statement->bind(hashes_json);
    std::vector<std::string> missing;
    std::unordered_set<std::string> seen;
    while (true) {
      auto row = statement->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) return missing;
      auto hash = statement->column_text(0);
      if (seen.insert(hash).second) missing.push_back(std::move(hash));
    }
  });
}

Result<bool> SqliteStore::has_blob(const std::string& sha256) {
  return read([&](Connection& connection) -> Result<bool> {
    auto statement = connection.prepare("SELECT 1 FROM blobs WHERE sha256 = ?1");
    if (!statement) return std::unexpected(statement.error());
    return statement->bind(sha256).step();
  });
}

Result<void> SqliteStore::insert_blob(const std::string& sha256, int64_t size) {
  const auto now = util::now_unix_ms();
  return write([&](Connection& connection) -> Result<void> {
    auto statement = connection.prepare(
        "INSERT OR IGNORE INTO blobs (sha256, size, created_at_ms) VALUES (?1, ?2, ?3)");
    if (!statement) return std::unexpected(statement.error());
    return statement->bind(sha256, size, now).execute();
  });
}

Result<std::vector<std::string>> SqliteStore::list_blob_hashes() {
  return read([&](Connection& connection) -> Result<std::vector<std::string>> {
    auto statement = connection.prepare("SELECT sha256 FROM blobs ORDER BY sha256");
    if (!statement) return std::unexpected(statement.error());
    std::vector<std::string> hashes;
    while (true) {
      auto row = statement->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) return hashes;
      hashes.push_back(statement->column_text(0));
    }
  });
}

// ---- snapshots ----------------------------------------------------------------------------

Result<std::pair<SnapshotRecord, bool>> SqliteStore::put_snapshot(const SnapshotRecord& snapshot) {
  return write([&](Connection& connection) { return insert_snapshot(connection, snapshot); });
}

Result<SnapshotRecord> SqliteStore::get_snapshot(const std::string& id) {
  return read([&](Connection& connection) -> Result<SnapshotRecord> {
    auto snapshot = find_snapshot(connection, id);
    if (!snapshot) return std::unexpected(snapshot.error());
    if (!*snapshot) return fail(ErrorCode::not_found, "snapshot '{}' not found", id);
    return std::move(**snapshot);
  });
}

Result<std::vector<std::string>> SqliteStore::snapshot_blob_hashes(const std::string& id) {
  return read([&](Connection& connection) -> Result<std::vector<std::string>> {
    auto statement = connection.prepare("SELECT manifest FROM snapshots WHERE id = ?1");
    if (!statement) return std::unexpected(statement.error());
    auto row = statement->bind(id).step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::not_found, "snapshot '{}' not found", id);
    // The manifest is stored as compact JSON of checked entries, so `"sha256":"` occurs only as
    // that key (a quote inside a path is escaped) and is followed by 64 hex digits.
    constexpr std::string_view k_key = "\"sha256\":\"";
    constexpr size_t k_hex = 64;
    const std::string manifest = statement->column_text(0);
    std::vector<std::string> hashes;
    for (size_t at = manifest.find(k_key); at != std::string::npos;
         at = manifest.find(k_key, at + k_key.size() + k_hex)) {
      const size_t start = at + k_key.size();
      if (start + k_hex > manifest.size() || manifest[start + k_hex] != '"') {
        return fail(ErrorCode::internal, "the manifest of snapshot {} is damaged", id);
      }
      hashes.emplace_back(manifest, start, k_hex);
    }
    std::ranges::sort(hashes);
    hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
    return hashes;
  });
}

Result<bool> SqliteStore::workspace_has_snapshot(const std::string& workspace,
                                                 const std::string& id) {
  return read([&](Connection& connection) -> Result<bool> {
    // Newest runs first: a resubmitted project's snapshot is usually that of a recent run.
    auto statement = connection.prepare(
        "SELECT 1 FROM runs WHERE workspace = ?1 AND snapshot_id = ?2 ORDER BY seq DESC LIMIT 1");
    if (!statement) return std::unexpected(statement.error());
    return statement->bind(workspace, id).step();
  });
}

// ---- runs ---------------------------------------------------------------------------------

namespace {

// Inserts `draft` (Queued, with its first timeline event) on a connection inside a write
// transaction, or replays the run its idempotency key made. The workspace is known to exist.
Result<CreateRunOutcome> insert_or_replay_run(Connection& connection, const RunRecord& draft) {
  if (!draft.idempotency_key.empty()) {  // checked inside the transaction: check and insert are atomic
    auto earlier = find_run_by_idempotency_key(connection, draft.workspace, draft.idempotency_key);
    if (!earlier) return std::unexpected(earlier.error());
    if (*earlier) return replay_or_conflict(std::move(**earlier), draft);
  }
  if (auto inputs = check_inputs_exist(connection, draft); !inputs) {
    return std::unexpected(inputs.error());
  }
  RunRecord run = draft;
  if (run.id.empty()) {
    auto id = new_run_id(connection);
    if (!id) return std::unexpected(id.error());
    run.id = std::move(*id);
  }
  run.status = api::RunStatus::Queued;
  if (run.created_at_ms == 0) run.created_at_ms = util::now_unix_ms();
  run.updated_at_ms = run.created_at_ms;
  if (auto inserted = insert_run(connection, run); !inserted) {
    return std::unexpected(inserted.error());
  }
  if (auto event = append_event(connection, run.id, run.status, run.created_at_ms, ""); !event) {
    return std::unexpected(event.error());
  }
  return CreateRunOutcome{.run = std::move(run), .replayed = false};
}

// `error` of item `index` of a batch, saying which item it is about.
Error batch_item_error(Error error, size_t index) {
  const std::string item = fmt::format("runs[{}]", index);
  if (error.details.empty()) {
    error.message = fmt::format("{}: {}", item, error.message);
  }
  for (auto& detail : error.details) {
    detail.path = detail.path.empty() ? item : fmt::format("{}.{}", item, detail.path);
  }
  return error;
}

}  // namespace

Result<std::vector<CreateRunOutcome>> SqliteStore::create_runs(
    const std::vector<RunRecord>& drafts) {
  if (drafts.empty()) return std::vector<CreateRunOutcome>{};
  return write([&](Connection& connection) -> Result<std::vector<CreateRunOutcome>> {
    std::vector<std::string> workspaces;
    for (const auto& draft : drafts) {
      if (std::find(workspaces.begin(), workspaces.end(), draft.workspace) != workspaces.end()) {
        continue;
      }
      if (auto exists = require_workspace(connection, draft.workspace); !exists) {
        return std::unexpected(exists.error());
      }
      workspaces.push_back(draft.workspace);
    }
    std::vector<CreateRunOutcome> outcomes;
    outcomes.reserve(drafts.size());
    for (size_t i = 0; i < drafts.size(); ++i) {
      auto outcome = insert_or_replay_run(connection, drafts[i]);
      if (!outcome) return fail(batch_item_error(std::move(outcome.error()), i));
      outcomes.push_back(std::move(*outcome));
    }
    return outcomes;
  });
}

Result<CreateRunOutcome> SqliteStore::create_run(const RunRecord& draft) {
  return create_run_and_snapshot(draft, nullptr);
}

Result<CreateRunOutcome> SqliteStore::create_run_with_snapshot(const RunRecord& draft,
                                                               const SnapshotRecord& snapshot) {
  return create_run_and_snapshot(draft, &snapshot);
}

Result<CreateRunOutcome> SqliteStore::create_run_and_snapshot(const RunRecord& draft,
                                                              const SnapshotRecord* snapshot) {
  if (!draft.idempotency_key.empty()) {
    // A retried submission is answered from a reader, without waiting for the writer.
    auto earlier = read([&](Connection& connection) {
      return find_run_by_idempotency_key(connection, draft.workspace, draft.idempotency_key);
    });
    if (!earlier) return std::unexpected(earlier.error());
    if (*earlier) return replay_or_conflict(std::move(**earlier), draft);
  }
  return write([&](Connection& connection) -> Result<CreateRunOutcome> {
    if (auto exists = require_workspace(connection, draft.workspace); !exists) {
      return std::unexpected(exists.error());
    }
    if (snapshot != nullptr) {
      if (auto stored = insert_snapshot(connection, *snapshot); !stored) {
        return std::unexpected(stored.error());
      }
    }
    return insert_or_replay_run(connection, draft);
  });
}

Result<RunRecord> SqliteStore::get_run(const std::string& workspace, const std::string& id) {
  return read([&](Connection& connection) -> Result<RunRecord> {
    auto run = find_run_by_id(connection, id);
    if (!run) return std::unexpected(run.error());
    if (!*run || (*run)->workspace != workspace) {
      return fail(ErrorCode::not_found, "run '{}' not found in workspace '{}'", id, workspace);
    }
    return std::move(**run);
  });
}

Result<std::optional<RunRecord>> SqliteStore::find_idempotent_run(const std::string& workspace,
                                                                  const std::string& key) {
  return read([&](Connection& connection) {
    return find_run_by_idempotency_key(connection, workspace, key);
  });
}

namespace {

// A page of the runs `query` selects, newest first, each row read by `read_row` from
// `columns`; not_found when the page is empty because the workspace does not exist.
template <typename Page, typename ReadRow>
Result<Page> read_run_page(Connection& connection, const RunQuery& query,
                           std::string_view columns, ReadRow read_row) {
  const auto statuses = distinct(query.statuses);
  auto statement = connection.prepare(list_runs_sql(query, statuses.size(), columns));
  if (!statement) return std::unexpected(statement.error());
  statement->bind(query.workspace);
  if (query.experiment) statement->bind(*query.experiment);
  if (query.compute) statement->bind(*query.compute);
  for (auto status : statuses) statement->bind(api::to_string(status));
  if (query.before_seq) statement->bind(*query.before_seq);
  statement->bind(int64_t{query.limit} + 1);  // one more tells whether a next page exists
  auto runs = read_rows(*statement, read_row);
  if (!runs) return std::unexpected(runs.error());

  Page page{.items = std::move(*runs), .next_before_seq = std::nullopt};
  if (page.items.size() > static_cast<size_t>(query.limit)) {
    page.items.pop_back();
    page.next_before_seq = page.items.back().seq;
  }
  if (page.items.empty()) {  // an empty page of a workspace that does not exist is a 404
    if (auto exists = require_workspace(connection, query.workspace); !exists) {
      return std::unexpected(exists.error());
    }
  }
  return page;
}

Result<void> check_limit(const RunQuery& query) {
  if (query.limit < 1) {
    return fail(ErrorCode::invalid_argument, "limit must be at least 1, not {}", query.limit);
  }
  return {};
}

}  // namespace

Result<RunPage> SqliteStore::list_runs(const RunQuery& query) {
  if (auto valid = check_limit(query); !valid) return std::unexpected(valid.error());
  return read([&](Connection& connection) {
    return read_run_page<RunPage>(connection, query, k_run_columns, read_run);
  });
}

Result<RunSummaryPage> SqliteStore::list_run_summaries(const RunQuery& query) {
  if (auto valid = check_limit(query); !valid) return std::unexpected(valid.error());
  return read([&](Connection& connection) {
    return read_run_page<RunSummaryPage>(connection, query, k_run_summary_columns,
                                         read_run_summary);
  });
}

Result<std::vector<RunRecord>> SqliteStore::list_active_runs() {
  return read([&](Connection& connection) -> Result<std::vector<RunRecord>> {
    static const std::string k_sql =
        select_runs(fmt::format("WHERE {} ORDER BY seq", k_active_condition));
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    return read_runs(*statement);
  });
}

Result<std::vector<RunSummary>> SqliteStore::list_active_run_summaries() {
  return read([&](Connection& connection) -> Result<std::vector<RunSummary>> {
    static const std::string k_sql = fmt::format("SELECT {} FROM runs WHERE {} ORDER BY seq",
                                                 k_run_summary_columns, k_active_condition);
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    return read_rows(*statement, read_run_summary);
  });
}

Result<std::vector<RunRecord>> SqliteStore::sweep_trials(const std::string& sweep_id) {
  return read([&](Connection& connection) -> Result<std::vector<RunRecord>> {
    // "sweep_id <> ''" lets SQLite use the partial index runs_by_sweep.
    static const std::string k_sql =
        select_runs("WHERE sweep_id = ?1 AND sweep_id <> '' ORDER BY trial");
    auto statement = connection.prepare(k_sql);
    if (!statement) return std::unexpected(statement.error());
    return read_runs(statement->bind(sweep_id));
  });
}

Result<RunRecord> SqliteStore::update_run(const std::string& id, const RunUpdate& update) {
  const auto now = util::now_unix_ms();
  return write([&](Connection& connection) -> Result<RunRecord> {
    auto found = find_run_by_id(connection, id);
    if (!found) return std::unexpected(found.error());
    if (!*found) return fail(ErrorCode::not_found, "run '{}' not found", id);
    RunRecord run = std::move(**found);
    if (update.status && api::is_terminal(run.status)) {
      return fail(ErrorCode::conflict, "run {} already ended as {}; its status is final", id,
                  api::to_string(run.status));
    }
    const bool changed = apply_update(run, update, now);
    if (changed || (update.status && update.always_record)) {
      if (auto event = append_event(connection, id, run.status, now, update.message); !event) {
        return std::unexpected(event.error());
      }
    }
    if (auto saved = save_run_state(connection, run); !saved) return std::unexpected(saved.error());
    return run;
  });
}

Result<std::vector<RunEvent>> SqliteStore::run_events(const std::string& id) {
  return read([&](Connection& connection) -> Result<std::vector<RunEvent>> {
    auto statement = connection.prepare(
        "SELECT status, at_ms, message FROM run_events WHERE run_id = ?1 ORDER BY id");
    if (!statement) return std::unexpected(statement.error());
    statement->bind(id);
    std::vector<RunEvent> events;
    while (true) {
      auto row = statement->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto status = parse_stored_status(statement->column_text(0));
      if (!status) return std::unexpected(status.error());
      events.push_back(RunEvent{.status = *status,
                                .at_ms = statement->column_int64(1),
                                .message = statement->column_text(2)});
    }
    // Every run has at least its first event: none means no such run.
    if (events.empty()) return fail(ErrorCode::not_found, "run '{}' not found", id);
    return events;
  });
}

// ---- datasets -----------------------------------------------------------------------------

Result<std::pair<DatasetVersionRecord, bool>> SqliteStore::create_dataset_version(
    const DatasetVersionRecord& draft, bool create_new_version) {
  DatasetVersionRecord record = draft;
  record.created_at_ms = util::now_unix_ms();
  return write([&](Connection& connection) -> Result<std::pair<DatasetVersionRecord, bool>> {
    if (auto exists = require_workspace(connection, record.workspace); !exists) {
      return std::unexpected(exists.error());
    }
    if (!create_new_version) {
      auto latest_hash = latest_content_hash(connection, record.workspace, record.name);
      if (!latest_hash) return std::unexpected(latest_hash.error());
      if (*latest_hash == record.content_hash) {
        auto latest = dataset_versions().find(connection, record.workspace, record.name, 0);
        if (!latest) return std::unexpected(latest.error());
        if (!*latest) return fail(ErrorCode::internal, "dataset {} vanished", record.name);
        return std::pair{std::move(**latest), false};
      }
    }
    auto version = dataset_versions().next_version(connection, record.workspace, record.name);
    if (!version) return std::unexpected(version.error());
    record.version = *version;
    if (auto inserted = insert_dataset_version(connection, record); !inserted) {
      return std::unexpected(inserted.error());
    }
    return std::pair{std::move(record), true};
  });
}

Result<std::vector<DatasetSummary>> SqliteStore::list_datasets(const std::string& workspace) {
  return read([&](Connection& connection) {
    static const std::string k_sql =
        dataset_versions().select_latest("v.name, v.description, v.version, v.created_at_ms");
    return dataset_versions().list_latest(connection, workspace, k_sql, read_dataset_summary);
  });
}

Result<std::vector<DatasetVersionRecord>> SqliteStore::list_dataset_versions(
    const std::string& workspace, const std::string& name) {
  return read([&](Connection& connection) {
    return dataset_versions().list(connection, workspace, name);
  });
}

Result<DatasetVersionRecord> SqliteStore::get_dataset_version(const std::string& workspace,
                                                              const std::string& name,
                                                              int64_t version) {
  return read([&](Connection& connection) {
    return dataset_versions().get(connection, workspace, name, version);
  });
}

Result<void> SqliteStore::delete_dataset(const std::string& workspace, const std::string& name,
                                         int64_t version) {
  return write([&](Connection& connection) -> Result<void> {
    auto in_use = dataset_in_use(connection, workspace, name, version);
    if (!in_use) return std::unexpected(in_use.error());
    if (*in_use) return fail(ErrorCode::conflict, "{}", **in_use);
    return dataset_versions().mark_deleted(connection, workspace, name, version);
  });
}

}  // namespace trainctl::service::store
