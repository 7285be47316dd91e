#include "trainctl/client/ignore_rules.hpp"

#include <fnmatch.h>

#include <span>

namespace trainctl::client {

namespace {

std::vector<std::string> split_components(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    out.emplace_back(path.substr(start, slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

// One path component against one glob component: fnmatch(3) does `*`, `?`, `[...]` and `\`
// escapes; a leading dot is matched by wildcards, as in git.
bool component_matches(const std::string& glob, const std::string& component) {
  return ::fnmatch(glob.c_str(), component.c_str(), 0) == 0;
}

// The `**` handling fnmatch(3) lacks: a `**` component matches any number of path components
// (`**/x`, `a/**/b`), and at least one when it ends the pattern (`a/**` matches inside `a`).
bool components_match(std::span<const std::string> glob, std::span<const std::string> path) {
  if (glob.empty()) return path.empty();
  if (glob.front() == "**") {
    if (glob.size() == 1) return !path.empty();
    for (size_t skip = 0; skip <= path.size(); ++skip) {
      if (components_match(glob.subspan(1), path.subspan(skip))) return true;
    }
    return false;
  }
  return !path.empty() && component_matches(glob.front(), path.front()) &&
         components_match(glob.subspan(1), path.subspan(1));
}

// Drops trailing spaces unless escaped with a backslash, and a trailing '\r'.
std::string_view trim_line_end(std::string_view line) {
  if (line.ends_with('\r')) line.remove_suffix(1);
  while (line.ends_with(' ') && !line.ends_with("\\ ")) line.remove_suffix(1);
  return line;
}

}  // namespace

IgnoreRules IgnoreRules::parse(std::string_view text) {
  IgnoreRules rules;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    auto line = trim_line_end(text.substr(0, newline));
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (line.empty() || line.starts_with('#')) continue;

    Pattern pattern;
    if (line.starts_with('!')) {
      pattern.negated = true;
      line.remove_prefix(1);
    }
    if (line.ends_with('/')) {
      pattern.directory_only = true;
      line.remove_suffix(1);
    }
    pattern.anchored = line.find('/') != std::string_view::npos;
    if (line.starts_with('/')) line.remove_prefix(1);
    if (line.empty()) continue;
    pattern.glob = std::string(line);
    if (pattern.anchored) pattern.components = split_components(line);
    rules.m_patterns.push_back(std::move(pattern));
  }
  return rules;
}

bool IgnoreRules::matches(const Pattern& pattern, const std::vector<std::string>& components) {
  if (pattern.anchored) return components_match(pattern.components, components);
  return component_matches(pattern.glob, components.back());
}

bool IgnoreRules::is_ignored(std::string_view relative_path, bool is_directory) const {
  if (m_patterns.empty()) return false;
  const auto components = split_components(relative_path);
  for (auto it = m_patterns.rbegin(); it != m_patterns.rend(); ++it) {
    if (it->directory_only && !is_directory) continue;
    if (matches(*it, components)) return !it->negated;
  }
  return false;
}

}  // namespace trainctl::client
