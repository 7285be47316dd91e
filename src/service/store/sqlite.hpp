#pragma once
// A thin adapter over SQLite's C API: every SQLite failure becomes an Error here, and nowhere
// else. A Connection is used by one thread at a time (the store hands them out); its prepared
// statements are cached for the connection's lifetime.
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>

#include "trainctl/util/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace trainctl::service::store {

// The error of a write or read that could not get the database within the busy timeout.
Error database_busy();

// Maps a SQLite result code to an Error: SQLITE_BUSY/LOCKED -> unavailable ("the database is
// busy; retry"), SQLITE_FULL -> insufficient_storage, SQLITE_CONSTRAINT -> conflict, anything
// else -> internal with SQLite's message and `doing` ("reading run", ...).
Error sqlite_error(sqlite3* db, int result_code, std::string_view doing);

// One use of a cached prepared statement. Bind, step, read columns; the destructor resets the
// statement and clears its bindings so the next use starts clean.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : m_db(db), m_stmt(stmt) {}
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;

  // Binds `values` to the next parameters: the first call binds ?1, ?2, ..., the next one
  // continues where it stopped. Text is copied; std::nullopt binds NULL.
  template <typename... Values>
  Statement& bind(const Values&... values) {
    (bind_one(++m_bound, values), ...);
    return *this;
  }

  // True when a row is available, false when the statement is done.
  Result<bool> step();
  // Runs a statement that returns no rows (or whose rows are not wanted) to completion.
  Result<void> execute();

  int64_t column_int64(int column) const;
  std::string column_text(int column) const;
  bool column_is_null(int column) const;
  std::optional<int64_t> column_optional_int64(int column) const;
  double column_double(int column) const;

 private:
  void bind_one(int index, std::string_view text);
  void bind_one(int index, const std::string& text) { bind_one(index, std::string_view(text)); }
  void bind_one(int index, const char* text) { bind_one(index, std::string_view(text)); }
  void bind_int64(int index, int64_t value);
  void bind_one(int index, double value);
  template <std::integral T>
  void bind_one(int index, T value) {
    bind_int64(index, static_cast<int64_t>(value));
  }
  void bind_one(int index, std::nullopt_t);
  template <typename T>
  void bind_one(int index, const std::optional<T>& value) {
    if (value) {
      bind_one(index, *value);
    } else {
      bind_one(index, std::nullopt);
    }
  }
  void record_bind_result(int result_code);

  sqlite3* m_db;
  sqlite3_stmt* m_stmt;
  int m_bound = 0;       // parameters bound so far
  int m_bind_error = 0;  // the first failed bind, reported by step()
};

enum class AccessMode { read_write, query_only };

class Connection {
 public:
  // Opens the database with extended result codes and the busy timeout. read_write creates it
  // when missing, makes it and its WAL and shared-memory files mode 0600 (owner only), and turns
  // on synchronous=FULL and foreign keys; query_only refuses writes.
  static Result<std::unique_ptr<Connection>> open(const std::filesystem::path& path,
                                                  AccessMode mode, int busy_timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs SQL text (one or more statements, no parameters, rows ignored).
  Result<void> exec(std::string_view sql);
  // Runs one statement without parameters (BEGIN, COMMIT, SAVEPOINT ...), prepared once and
  // cached like prepare()'s: exec() compiles its text every time, which a transaction's
  // statements would pay on every write.
  Result<void> execute(std::string_view sql);
  // A statement for `sql`, prepared once per connection and cached. The same SQL text must not
  // be in use twice at the same time on one connection.
  Result<Statement> prepare(std::string_view sql);
  // The single integer a query such as "PRAGMA user_version" returns.
  Result<int64_t> query_int64(std::string_view sql);

  // Runs `body` between BEGIN IMMEDIATE and COMMIT. When `body` fails (or throws), or COMMIT
  // fails, the transaction is rolled back and the error returned: nothing of it is kept.
  template <typename Body>
  std::invoke_result_t<Body&> immediate_transaction(Body&& body);

  // Rolls back the open transaction; harmless when there is none.
  void rollback();

  int64_t last_insert_rowid() const;
  int64_t changes() const;
  sqlite3* handle() const { return m_db; }

 private:
  explicit Connection(sqlite3* db) : m_db(db) {}
  Result<void> begin_immediate();
  Result<void> commit();

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  sqlite3* m_db;
  std::unordered_map<std::string, sqlite3_stmt*, StringHash, std::equal_to<>> m_statements;
};

template <typename Body>
std::invoke_result_t<Body&> Connection::immediate_transaction(Body&& body) {
  if (auto begun = begin_immediate(); !begun) return std::unexpected(begun.error());
  std::invoke_result_t<Body&> result = fail(ErrorCode::internal, "the transaction did not run");
  try {
    result = body();
  } catch (const std::exception& error) {
    result =
        fail(ErrorCode::internal, "unexpected failure in a database transaction: {}", error.what());
  }
  if (!result) {
    rollback();
    return result;
  }
  if (auto committed = commit(); !committed) return std::unexpected(committed.error());
  return result;
}

}  // namespace trainctl::service::store
