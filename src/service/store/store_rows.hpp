#pragma once
// Helpers shared by the SqliteStore files (sqlite_store.cpp and one file per resource):
// JSON columns, workspace checks, and the write/read wrappers' friends.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sqlite.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::store {

// Compact JSON; invalid UTF-8 in strings is replaced (U+FFFD) rather than thrown about.
std::string dump_json(const nlohmann::json& value);
// A JSON column's value; internal error naming `what` when it does not parse.
Result<nlohmann::json> parse_stored_json(const std::string& text, std::string_view what);

Result<bool> workspace_exists(Connection& connection, const std::string& name);
std::unexpected<Error> workspace_not_found(const std::string& name);
// Nothing when the workspace exists; workspace_not_found when it does not.
Result<void> require_workspace(Connection& connection, const std::string& name);

// A run that has not finished. Mirrors the partial index runs_active (migration 1): a query must
// say exactly this for SQLite to use it.
inline constexpr std::string_view k_active_condition =
    "status NOT IN ('Completed', 'Failed', 'Canceled', 'TimedOut')";

// Gives `workspace` its "local" compute target (state Succeeded) unless it has one
// (sqlite_store_computes.cpp); every workspace has one from its creation.
Result<void> insert_local_compute(Connection& connection, const std::string& workspace,
                                  int max_nodes, int64_t now_ms);

}  // namespace trainctl::service::store
