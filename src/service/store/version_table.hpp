#pragma once
// What the registries of numbered versions share: dataset_versions (migration 1; datasets in
// sqlite_store.cpp) and model_versions (migration 4; sqlite_store_models.cpp). Their rows are
// keyed by (workspace, name, version); a deleted version keeps its row with deleted = 1, so
// numbers are never reused; the `files` column (a manifest) is read for one version only.
// Each registry describes its table once as a VersionTable and numbers, finds, lists and deletes
// versions through it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "sqlite.hpp"
#include "store_rows.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::store {

// How many users a "version in use" message names before it says "and more".
inline constexpr int64_t k_max_users_named = 10;

// Who uses the versions a delete would remove, from the rows of `statement`: the version in
// column 0, the user as `user_of` names it (at most k_max_users_named + 1 rows are asked for).
// "model digits:2 is used by deployments a, b; model digits:3 is used by deployment c" (plus
// " and more" past k_max_users_named); `several` when it names more than one user. nullopt when
// there is no row.
struct VersionUsers {
  std::string text;
  bool several = false;
};
Result<std::optional<VersionUsers>> version_users(Statement& statement, std::string_view noun,
                                                  const std::string& name,
                                                  std::string_view user_noun,
                                                  std::string (*user_of)(const Statement& row));

template <typename Record>
class VersionTable {
 public:
  // Reads one row of select(): the columns of `columns` in order, then the files when
  // `with_files`; internal error when a stored JSON column does not parse.
  using ReadRow = Result<Record> (*)(const Statement& row, bool with_files);

  // `noun` names the resource in messages ("dataset"); `columns` are the ones read_row reads.
  VersionTable(std::string_view noun, std::string_view table, std::string_view columns,
               ReadRow read_row)
      : m_noun(noun),
        m_table(table),
        m_columns(columns),
        m_read_row(read_row),
        m_find_latest(select(true,
                             "WHERE workspace = ?1 AND name = ?2 AND deleted = 0"
                             " ORDER BY version DESC LIMIT 1")),
        m_find_numbered(
            select(true, "WHERE workspace = ?1 AND name = ?2 AND deleted = 0 AND version = ?3")),
        m_list(
            select(false, "WHERE workspace = ?1 AND name = ?2 AND deleted = 0 ORDER BY version")),
        m_next(fmt::format("SELECT COALESCE(MAX(version), 0) + 1 FROM {}"
                           " WHERE workspace = ?1 AND name = ?2",
                           m_table)),
        m_delete(fmt::format("UPDATE {} SET deleted = 1 WHERE workspace = ?1 AND name = ?2"
                             " AND deleted = 0 AND (?3 = 0 OR version = ?3)",
                             m_table)) {}

  std::string_view table() const { return m_table; }

  // "SELECT <columns>[, files] FROM <table> <rest>": rows that read_row reads.
  std::string select(bool with_files, std::string_view rest) const {
    return fmt::format("SELECT {}{} FROM {} {}", m_columns, with_files ? ", files" : "", m_table,
                       rest);
  }

  // "SELECT <columns>, <count> FROM ...": one row per name that has a live version, by name:
  // `columns` of its latest live version (as v.<column>), then how many live versions it has.
  std::string select_latest(std::string_view columns) const {
    return fmt::format(
        "SELECT {0}, live.count"
        " FROM (SELECT name, MAX(version) AS latest, COUNT(*) AS count FROM {1}"
        "       WHERE workspace = ?1 AND deleted = 0 GROUP BY name) AS live"
        " JOIN {1} AS v ON v.workspace = ?1 AND v.name = live.name AND v.version = live.latest"
        " ORDER BY v.name",
        columns, m_table);
  }

  // The version (0: the latest) with its files, unless it is deleted or never was.
  Result<std::optional<Record>> find(Connection& connection, const std::string& workspace,
                                     const std::string& name, int64_t version) const {
    auto statement = connection.prepare(version == 0 ? m_find_latest : m_find_numbered);
    if (!statement) return std::unexpected(statement.error());
    statement->bind(workspace, name);
    if (version != 0) statement->bind(version);
    auto row = statement->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::nullopt;
    return m_read_row(*statement, true);
  }

  // The version (0: the latest) with its files; not_found when it is deleted or never was.
  Result<Record> get(Connection& connection, const std::string& workspace, const std::string& name,
                     int64_t version) const {
    auto found = find(connection, workspace, name, version);
    if (!found) return std::unexpected(found.error());
    if (!*found) return not_found(workspace, name, version);
    return std::move(**found);
  }

  // Every live version, without files, oldest first; not_found when there is none.
  Result<std::vector<Record>> list(Connection& connection, const std::string& workspace,
                                   const std::string& name) const {
    auto statement = connection.prepare(m_list);
    if (!statement) return std::unexpected(statement.error());
    statement->bind(workspace, name);
    std::vector<Record> versions;
    while (true) {
      auto row = statement->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto version = m_read_row(*statement, false);
      if (!version) return std::unexpected(version.error());
      versions.push_back(std::move(*version));
    }
    if (versions.empty()) return not_found(workspace, name, 0);
    return versions;
  }

  // Every row of `sql` (a select_latest query) as read by `read_summary`; none in a workspace
  // that does not exist is a 404.
  template <typename Summary>
  Result<std::vector<Summary>> list_latest(Connection& connection, const std::string& workspace,
                                           const std::string& sql,
                                           Summary (*read_summary)(const Statement& row)) const {
    auto statement = connection.prepare(sql);
    if (!statement) return std::unexpected(statement.error());
    statement->bind(workspace);
    std::vector<Summary> summaries;
    while (true) {
      auto row = statement->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      summaries.push_back(read_summary(*statement));
    }
    if (summaries.empty()) {
      if (auto exists = require_workspace(connection, workspace); !exists) {
        return std::unexpected(exists.error());
      }
    }
    return summaries;
  }

  // max + 1 over every version ever made, deleted ones included: numbers are never reused.
  Result<int64_t> next_version(Connection& connection, const std::string& workspace,
                               const std::string& name) const {
    auto statement = connection.prepare(m_next);
    if (!statement) return std::unexpected(statement.error());
    auto row = statement->bind(workspace, name).step();
    if (!row) return std::unexpected(row.error());
    return statement->column_int64(0);
  }

  // Marks the version (0: every version) deleted; not_found when none of them was live.
  Result<void> mark_deleted(Connection& connection, const std::string& workspace,
                            const std::string& name, int64_t version) const {
    auto statement = connection.prepare(m_delete);
    if (!statement) return std::unexpected(statement.error());
    if (auto done = statement->bind(workspace, name, version).execute(); !done) return done;
    if (connection.changes() == 0) return not_found(workspace, name, version);
    return {};
  }

  // ErrorCode::not_found: "dataset mnist:2 not found in workspace 'ws'" ("mnist": every version).
  std::unexpected<Error> not_found(const std::string& workspace, const std::string& name,
                                   int64_t version) const {
    return fail(ErrorCode::not_found, "{} {} not found in workspace '{}'", m_noun,
                version == 0 ? name : fmt::format("{}:{}", name, version), workspace);
  }

 private:
  std::string m_noun;
  std::string m_table;
  std::string m_columns;
  ReadRow m_read_row;
  std::string m_find_latest;
  std::string m_find_numbered;
  std::string m_list;
  std::string m_next;
  std::string m_delete;
};

}  // namespace trainctl::service::store
