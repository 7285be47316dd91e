#include "version_table.hpp"

#include <map>

#include <fmt/ranges.h>

namespace trainctl::service::store {

Result<std::optional<VersionUsers>> version_users(Statement& statement, std::string_view noun,
                                                  const std::string& name,
                                                  std::string_view user_noun,
                                                  std::string (*user_of)(const Statement& row)) {
  std::map<int64_t, std::vector<std::string>> users;  // by version
  int64_t count = 0;
  while (true) {
    auto row = statement.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    if (++count > k_max_users_named) break;
    users[statement.column_int64(0)].push_back(user_of(statement));
  }
  if (users.empty()) return std::nullopt;
  std::vector<std::string> parts;
  for (const auto& [used_version, names] : users) {
    parts.push_back(fmt::format("{} {}:{} is used by {}{} {}", noun, name, used_version, user_noun,
                                names.size() == 1 ? "" : "s", fmt::join(names, ", ")));
  }
  return VersionUsers{.text = fmt::format("{}{}", fmt::join(parts, "; "),
                                          count > k_max_users_named ? " and more" : ""),
                      .several = count > 1};
}

}  // namespace trainctl::service::store
