// The schema is versioned and each migration is all-or-nothing (RELIABILITY 32).
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>

#include "../../src/service/store/migrations.hpp"
#include "test_service_store_support.hpp"

namespace {

using trainctl::ErrorCode;
using trainctl::service::Store;
using trainctl::service::store::AccessMode;
using trainctl::service::store::Connection;
using trainctl::service::store::latest_schema_version;
using trainctl::service::store::migrate;
using trainctl::service::store::Migration;
using trainctl::service::testing::StoreFixture;
using trainctl::testing::TempDir;

constexpr Migration k_accounts{1, "accounts",
                               "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT);"
                               "INSERT INTO accounts (name) VALUES ('first');"};
constexpr Migration k_emails{2, "emails",
                             "ALTER TABLE accounts ADD COLUMN email TEXT;"
                             "CREATE TABLE audit (id INTEGER PRIMARY KEY);"};
// Like k_emails, but fails after its first statements have run.
constexpr Migration k_emails_failing{2, "emails, failing midway",
                                     "ALTER TABLE accounts ADD COLUMN email TEXT;"
                                     "CREATE TABLE audit (id INTEGER PRIMARY KEY);"
                                     "INSERT INTO no_such_table VALUES (1);"};
// Like k_emails, but the process is killed (SIGKILL) after a large part of it was written.
constexpr Migration k_emails_crashing{
    2, "emails, killed midway",
    "ALTER TABLE accounts ADD COLUMN email TEXT;"
    "CREATE TABLE audit (id INTEGER PRIMARY KEY, filler TEXT);"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
    "  INSERT INTO audit (filler) SELECT printf('%0500d', i) FROM n;"
    "SELECT crash();"};

std::unique_ptr<Connection> open_connection(const std::filesystem::path& path) {
  auto connection = Connection::open(path, AccessMode::read_write, 2000);
  REQUIRE(connection.has_value());
  REQUIRE((*connection)->exec("PRAGMA journal_mode=WAL").has_value());
  return std::move(*connection);
}

int64_t query(Connection& connection, std::string_view sql) {
  auto value = connection.query_int64(sql);
  REQUIRE(value.has_value());
  return *value;
}

bool has_table(Connection& connection, const std::string& table) {
  return query(connection, "SELECT count(*) FROM sqlite_schema WHERE name = '" + table + "'") == 1;
}

bool accounts_have_email(Connection& connection) {
  return query(connection,
               "SELECT count(*) FROM pragma_table_info('accounts') WHERE name = 'email'") == 1;
}

void crash_now(sqlite3_context*, int, sqlite3_value**) {
  ::kill(::getpid(), SIGKILL);
}

// Runs `migrations` on `path` in a child process that has an SQL function crash() which
// kills it with SIGKILL; returns the child's wait status.
int migrate_in_child_that_crashes(const std::filesystem::path& path,
                                  std::span<const Migration> migrations) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto connection = Connection::open(path, AccessMode::read_write, 2000);
    if (!connection) ::_exit(2);
    sqlite3_create_function_v2((*connection)->handle(), "crash", 0, SQLITE_UTF8, nullptr, crash_now,
                               nullptr, nullptr, nullptr);
    (void)migrate(**connection, migrations);
    ::_exit(3);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("a new database is migrated to the latest schema with the default workspace",
          "[store][migrations]") {
  GIVEN("an empty directory") {
    StoreFixture fixture;
    THEN("the store is at the latest version and the default workspace exists") {
      CHECK(fixture.store->schema_version() == latest_schema_version());
      auto workspace = fixture.store->get_workspace("default");
      REQUIRE(workspace.has_value());
      CHECK(workspace->run_count == 0);
    }
    THEN("the database file uses write-ahead logging") {
      auto connection = open_connection(fixture.db_path);
      auto mode = connection->prepare("PRAGMA journal_mode");
      REQUIRE(mode.has_value());
      REQUIRE(mode->step().value());
      CHECK(mode->column_text(0) == "wal");
    }
  }
}

TEST_CASE("reopening a database keeps its version and its data", "[store][migrations]") {
  TempDir home;
  const auto db_path = home.path() / "trainctl.db";
  std::string run_id;
  {
    auto store = Store::open(db_path);
    REQUIRE(store.has_value());
    REQUIRE((*store)->create_workspace("ws1", "first").has_value());
    auto created = (*store)->create_run(trainctl::service::testing::draft_run("ws1"));
    REQUIRE(created.has_value());
    run_id = created->run.id;
  }
  WHEN("the store is opened again") {
    auto store = Store::open(db_path);
    REQUIRE(store.has_value());
    THEN("nothing was migrated twice and every row is still there") {
      CHECK((*store)->schema_version() == latest_schema_version());
      auto workspace = (*store)->get_workspace("ws1");
      REQUIRE(workspace.has_value());
      CHECK(workspace->description == "first");
      CHECK(workspace->run_count == 1);
      CHECK((*store)->get_run("ws1", run_id).has_value());
    }
  }
}

TEST_CASE("a migration that fails midway leaves the previous schema", "[store][migrations]") {
  TempDir home;
  const auto db_path = home.path() / "test.db";
  auto connection = open_connection(db_path);
  REQUIRE(migrate(*connection, std::array{k_accounts}) == 1);

  WHEN("migration 2 fails after some of its statements ran") {
    auto result = migrate(*connection, std::array{k_accounts, k_emails_failing});
    THEN("it reports the failure and nothing of migration 2 is kept") {
      REQUIRE_FALSE(result.has_value());
      CHECK(result.error().message.find("schema migration 2") != std::string::npos);
      CHECK(query(*connection, "PRAGMA user_version") == 1);
      CHECK_FALSE(accounts_have_email(*connection));
      CHECK_FALSE(has_table(*connection, "audit"));
      CHECK(query(*connection, "SELECT count(*) FROM accounts") == 1);
    }
    AND_WHEN("the fixed migration runs") {
      THEN("the database reaches version 2") {
        CHECK(migrate(*connection, std::array{k_accounts, k_emails}) == 2);
        CHECK(accounts_have_email(*connection));
      }
    }
  }
}

TEST_CASE("a process killed during a migration leaves the previous schema", "[store][migrations]") {
  TempDir home;
  const auto db_path = home.path() / "test.db";
  REQUIRE(migrate(*open_connection(db_path), std::array{k_accounts}) == 1);

  WHEN("a process is killed with SIGKILL in the middle of migration 2") {
    const int status =
        migrate_in_child_that_crashes(db_path, std::array{k_accounts, k_emails_crashing});
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);

    THEN("the next open sees version 1 and no part of migration 2") {
      auto connection = open_connection(db_path);
      CHECK(query(*connection, "PRAGMA user_version") == 1);
      {
        auto integrity = connection->prepare("PRAGMA integrity_check");
        REQUIRE(integrity.has_value());
        REQUIRE(integrity->step().value());
        CHECK(integrity->column_text(0) == "ok");
      }
      CHECK_FALSE(accounts_have_email(*connection));
      CHECK_FALSE(has_table(*connection, "audit"));
      AND_THEN("migrating again completes it") {
        CHECK(migrate(*connection, std::array{k_accounts, k_emails}) == 2);
        CHECK(accounts_have_email(*connection));
      }
    }
  }
}

TEST_CASE("a database from a newer trainctld is refused", "[store][migrations]") {
  TempDir home;
  const auto db_path = home.path() / "trainctl.db";
  REQUIRE(Store::open(db_path).has_value());
  {
    auto connection = open_connection(db_path);
    REQUIRE(connection->exec(fmt::format("PRAGMA user_version = {}", latest_schema_version() + 1))
                .has_value());
  }
  WHEN("this version opens it") {
    auto store = Store::open(db_path);
    THEN("it fails and says why") {
      REQUIRE_FALSE(store.has_value());
      CHECK(store.error().code == ErrorCode::internal);
      CHECK(store.error().message.find("newer") != std::string::npos);
    }
  }
}
