#pragma once
// The patterns of a .trainctlignore file, in gitignore syntax (docs/snapshots.md): `#` comments,
// blank lines, `!` negation, a trailing `/` for directories only, a leading or middle `/`
// anchoring to the source directory, `*`, `?`, `[...]` and `**`.
#include <string>
#include <string_view>
#include <vector>

namespace trainctl::client {

class IgnoreRules {
 public:
  // Parses the text of a .trainctlignore file. Never fails: a line is a pattern, a comment or
  // blank.
  static IgnoreRules parse(std::string_view text);

  // Whether `relative_path` ('/'-separated, relative to the source directory) is ignored: the last
  // pattern that matches it decides, a `!` pattern re-including. Only the path itself is matched;
  // callers do not descend into ignored directories, so nothing below one can be re-included
  // (as in git).
  bool is_ignored(std::string_view relative_path, bool is_directory) const;

 private:
  struct Pattern {
    std::string glob;                     // the pattern without `!`, anchoring `/` or trailing `/`
    std::vector<std::string> components;  // glob split at '/', for anchored patterns
    bool negated = false;
    bool directory_only = false;
    bool anchored = false;  // matched against the whole path, else against the last component
  };
  static bool matches(const Pattern& pattern, const std::vector<std::string>& components);

  std::vector<Pattern> m_patterns;
};

}  // namespace trainctl::client
