#pragma once
// Versioned schema migrations. The schema version is SQLite's `PRAGMA user_version`; each
// migration runs in its own transaction together with its version bump, so a crash (kill -9,
// power loss) leaves the old schema or the new one, never a mix (RELIABILITY 32).
#include <span>
#include <string_view>

#include "sqlite.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::store {

struct Migration {
  int version;               // 1, 2, 3, ...: each migration moves the schema to this version
  std::string_view summary;  // what it changes, for people reading the code and the logs
  std::string_view sql;      // statements run inside the migration's transaction
};

// The store's schema, oldest first. Migrations are append-only: a released one never changes.
std::span<const Migration> schema_migrations();
int latest_schema_version();

// Applies, in order, each migration newer than the database's version, each in one
// BEGIN IMMEDIATE transaction (so two processes opening the same database do not both apply
// it). Returns the resulting version. Fails with internal, leaving the database at its last
// complete version, when a migration fails, or when the database is newer than `migrations`
// (written by a newer trainctld).
Result<int> migrate(Connection& connection, std::span<const Migration> migrations);

}  // namespace trainctl::service::store
