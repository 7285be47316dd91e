#include "sqlite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service::store {

Error database_busy() {
  return Error{ErrorCode::unavailable, "the database is busy; retry"};
}

Error sqlite_error(sqlite3* db, int result_code, std::string_view doing) {
  switch (result_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return database_busy();
    case SQLITE_FULL:
      return Error{ErrorCode::insufficient_storage,
                   fmt::format("the disk is full while {}", doing)};
    case SQLITE_CONSTRAINT:
      return Error{ErrorCode::conflict,
                   fmt::format("{} conflicts with stored data: {}", doing, sqlite3_errmsg(db))};
    default:
      return Error{ErrorCode::internal,
                   fmt::format("database error while {}: {}", doing,
                               db ? sqlite3_errmsg(db) : sqlite3_errstr(result_code))};
  }
}

// ---- Statement ----------------------------------------------------------------------------

Statement::~Statement() {
  if (m_stmt == nullptr) return;
  sqlite3_reset(m_stmt);
  sqlite3_clear_bindings(m_stmt);
}

Statement::Statement(Statement&& other) noexcept
    : m_db(other.m_db),
      m_stmt(std::exchange(other.m_stmt, nullptr)),
      m_bound(other.m_bound),
      m_bind_error(other.m_bind_error) {}

void Statement::record_bind_result(int result_code) {
  if (result_code != SQLITE_OK && m_bind_error == SQLITE_OK) m_bind_error = result_code;
}

void Statement::bind_one(int index, std::string_view text) {
  record_bind_result(
      sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
}

void Statement::bind_int64(int index, int64_t value) {
  record_bind_result(sqlite3_bind_int64(m_stmt, index, value));
}

void Statement::bind_one(int index, double value) {
  record_bind_result(sqlite3_bind_double(m_stmt, index, value));
}

void Statement::bind_one(int index, std::nullopt_t) {
  record_bind_result(sqlite3_bind_null(m_stmt, index));
}

Result<bool> Statement::step() {
  if (m_bind_error != SQLITE_OK) {
    return std::unexpected(sqlite_error(m_db, m_bind_error, "binding query parameters"));
  }
  const int rc = sqlite3_step(m_stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(sqlite_error(m_db, rc, "running a query"));
}

Result<void> Statement::execute() {
  while (true) {
    auto row = step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
  }
}

int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(m_stmt, column);
}

double Statement::column_double(int column) const {
  return sqlite3_column_double(m_stmt, column);
}

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(m_stmt, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(m_stmt, column)));
}

bool Statement::column_is_null(int column) const {
  return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
}

std::optional<int64_t> Statement::column_optional_int64(int column) const {
  if (column_is_null(column)) return std::nullopt;
  return column_int64(column);
}

// ---- Connection ---------------------------------------------------------------------------

namespace {

constexpr mode_t k_database_mode = 0600;

// Makes the database file (creating it, empty, when missing) and the files SQLite keeps beside
// it readable and writable by their owner only. SQLite gives a WAL, shared-memory or journal file
// it creates the database file's mode, so they are never readable by others either.
Result<void> restrict_to_owner(const std::filesystem::path& path) {
  util::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, k_database_mode));
  if (!fd || ::fchmod(fd.get(), k_database_mode) != 0) {
    return fail(ErrorCode::io, "cannot create the database {} with mode 0600: {}", path.string(),
                std::strerror(errno));
  }
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const std::string beside = path.string() + suffix;
    if (::chmod(beside.c_str(), k_database_mode) != 0 && errno != ENOENT) {
      return fail(ErrorCode::io, "cannot make {} mode 0600: {}", beside, std::strerror(errno));
    }
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::open(const std::filesystem::path& path,
                                                     AccessMode mode, int busy_timeout_ms) {
  if (mode == AccessMode::read_write) {
    if (auto restricted = restrict_to_owner(path); !restricted) return fail(restricted.error());
  }
  sqlite3* db = nullptr;
  // NOMUTEX: a connection is only ever used by one thread at a time.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                    (mode == AccessMode::read_write ? SQLITE_OPEN_CREATE : 0);
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string reason = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return fail(ErrorCode::io, "cannot open the database {}: {}", path.string(), reason);
  }
  std::unique_ptr<Connection> connection(new Connection(db));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  auto configured = connection->exec(mode == AccessMode::read_write
                                         ? "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                                         : "PRAGMA query_only=ON;");
  if (!configured) return std::unexpected(configured.error());
  return connection;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : m_statements) sqlite3_finalize(stmt);
  sqlite3_close_v2(m_db);
}

Result<void> Connection::exec(std::string_view sql) {
  const std::string text(sql);
  const int rc = sqlite3_exec(m_db, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(sqlite_error(m_db, rc, "updating the database"));
  return {};
}

Result<Statement> Connection::prepare(std::string_view sql) {
  if (auto found = m_statements.find(sql); found != m_statements.end()) {
    return Statement(m_db, found->second);
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(m_db, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(sqlite_error(m_db, rc, "preparing a query"));
  m_statements.emplace(std::string(sql), stmt);
  return Statement(m_db, stmt);
}

Result<void> Connection::execute(std::string_view sql) {
  auto statement = prepare(sql);
  if (!statement) return std::unexpected(statement.error());
  return statement->execute();
}

Result<int64_t> Connection::query_int64(std::string_view sql) {
  auto statement = prepare(sql);
  if (!statement) return std::unexpected(statement.error());
  auto row = statement->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return fail(ErrorCode::internal, "the query '{}' returned no row", sql);
  return statement->column_int64(0);
}

Result<void> Connection::begin_immediate() {
  return execute("BEGIN IMMEDIATE");
}

Result<void> Connection::commit() {
  auto committed = execute("COMMIT");
  if (!committed) rollback();
  return committed;
}

void Connection::rollback() {
  // Fails harmlessly when SQLite already rolled the transaction back by itself.
  sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
}

int64_t Connection::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(m_db);
}

int64_t Connection::changes() const {
  return sqlite3_changes64(m_db);
}

}  // namespace trainctl::service::store
