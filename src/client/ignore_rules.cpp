#include "trainctl/client/ignore_rules.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <span>

#include <fmt/format.h>

#include "trainctl/util/unique_fd.hpp"

namespace trainctl::client {

namespace {

constexpr size_t k_max_ignore_file_size = 1u << 20;

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
  // Filled from the ends: next[j] is whether glob[i + 1..] matches path[j..]. O(glob × path²)
  // steps at worst; trying every split of every `**` recursively was exponential (found by
  // fuzzing: a line of many `**/` hung the snapshot walk).
  const size_t path_size = path.size();
  std::vector<char> next(path_size + 1, 0);
  std::vector<char> current(path_size + 1, 0);
  next[path_size] = 1;  // the empty rest of a glob matches the empty rest of a path only
  for (size_t i = glob.size(); i-- > 0;) {
    for (size_t j = 0; j <= path_size; ++j) {
      if (glob[i] == "**") {
        if (i + 1 == glob.size()) {
          current[j] = j < path_size;  // ending the pattern: at least one component
        } else {
          char any = 0;
          for (size_t k = j; k <= path_size && !any; ++k) any = next[k];
          current[j] = any;
        }
      } else {
        current[j] = j < path_size && next[j + 1] && component_matches(glob[i], path[j]);
      }
    }
    std::swap(next, current);
  }
  return next[0] != 0;
}

// Drops trailing spaces unless escaped with a backslash, and a trailing '\r'.
std::string_view trim_line_end(std::string_view line) {
  if (line.ends_with('\r')) line.remove_suffix(1);
  while (line.ends_with(' ') && !line.ends_with("\\ ")) line.remove_suffix(1);
  return line;
}

// `path` relative to `directory` ("" for the root), or nothing when it is not below it.
std::optional<std::string_view> path_below(std::string_view path, std::string_view directory) {
  if (directory.empty()) return path;
  if (path.size() <= directory.size() || !path.starts_with(directory) ||
      path[directory.size()] != '/') {
    return std::nullopt;
  }
  return path.substr(directory.size() + 1);
}

// Reads a whole file already open, whose size fstat reported as `size`.
Result<std::string> read_open_file(int fd, const std::string& name, size_t size) {
  std::string text(size, '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t got = ::read(fd, text.data() + done, text.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail(ErrorCode::io, "cannot read {}: {}", name, std::strerror(errno));
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  text.resize(done);
  return text;
}

// The text of the ignore file in the directory open as `dir_fd`, `name` being its path relative
// to the root (for messages); nothing when there is none, or when it is not a regular file (with
// a warning).
Result<std::optional<std::string>> read_ignore_file(int dir_fd, const std::string& name,
                                                    std::vector<std::string>& warnings) {
  const std::string file_name(k_ignore_file_name);
  const util::UniqueFd fd(
      ::openat(dir_fd, file_name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd && errno == ENOENT) return std::nullopt;
  if (!fd && errno == ELOOP) {
    warnings.push_back(
        fmt::format("{} is not applied: it is a symbolic link (links are not followed)", name));
    return std::nullopt;
  }
  struct stat info {};
  if (!fd || ::fstat(fd.get(), &info) != 0) {
    return fail(ErrorCode::io, "cannot read {}: {}", name, std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) {
    warnings.push_back(fmt::format("{} is not applied: it is not a regular file", name));
    return std::nullopt;
  }
  if (static_cast<uint64_t>(info.st_size) > k_max_ignore_file_size) {
    return fail(ErrorCode::invalid_argument, "{} is over the limit of {} bytes", name,
                k_max_ignore_file_size);
  }
  return read_open_file(fd.get(), name, static_cast<size_t>(info.st_size));
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

IgnoreVerdict IgnoreRules::verdict(std::string_view relative_path, bool is_directory) const {
  if (m_patterns.empty()) return IgnoreVerdict::unmatched;
  const auto components = split_components(relative_path);
  for (auto it = m_patterns.rbegin(); it != m_patterns.rend(); ++it) {
    if (it->directory_only && !is_directory) continue;
    if (matches(*it, components)) {
      return it->negated ? IgnoreVerdict::included : IgnoreVerdict::ignored;
    }
  }
  return IgnoreVerdict::unmatched;
}

Result<void> IgnoreTree::enter(int dir_fd, std::string directory,
                               std::vector<std::string>& warnings) {
  const auto name = directory.empty() ? std::string(k_ignore_file_name)
                                      : fmt::format("{}/{}", directory, k_ignore_file_name);
  auto text = read_ignore_file(dir_fd, name, warnings);
  if (!text) return std::unexpected(std::move(text.error()));
  m_levels.push_back(
      Level{.directory = std::move(directory), .rules = IgnoreRules::parse(text->value_or(""))});
  return {};
}

void IgnoreTree::leave() { m_levels.pop_back(); }

bool IgnoreTree::is_ignored(std::string_view relative_path, bool is_directory) const {
  for (auto level = m_levels.rbegin(); level != m_levels.rend(); ++level) {
    const auto below = path_below(relative_path, level->directory);
    if (!below) continue;
    switch (level->rules.verdict(*below, is_directory)) {
      case IgnoreVerdict::ignored: return true;
      case IgnoreVerdict::included: return false;
      case IgnoreVerdict::unmatched: break;
    }
  }
  return false;
}

}  // namespace trainctl::client
