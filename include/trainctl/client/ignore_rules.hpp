#pragma once
// The patterns of .trainctlignore files, in gitignore syntax (docs/snapshots.md): `#` comments,
// blank lines, `!` negation, a trailing `/` for directories only, a leading or middle `/`
// anchoring to the file's directory, `*`, `?`, `[...]` and `**`. A file in a subdirectory applies
// below that directory, its patterns relative to it and overriding those of the files above.
#include <string>
#include <string_view>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::client {

inline constexpr std::string_view k_ignore_file_name = ".trainctlignore";

// What the patterns of one file say about a path.
enum class IgnoreVerdict {
  unmatched,  // no pattern matches: the files above decide
  ignored,    // the last matching pattern ignores it
  included,   // the last matching pattern is a `!` pattern
};

// The patterns of one .trainctlignore file.
class IgnoreRules {
 public:
  // Parses the text of a .trainctlignore file. Never fails: a line is a pattern, a comment or
  // blank.
  static IgnoreRules parse(std::string_view text);

  // What the last pattern matching `relative_path` ('/'-separated, relative to the file's
  // directory) says. Only the path itself is matched; callers do not descend into ignored
  // directories, so nothing below one can be re-included (as in git).
  IgnoreVerdict verdict(std::string_view relative_path, bool is_directory) const;

  // Whether this file alone ignores `relative_path`.
  bool is_ignored(std::string_view relative_path, bool is_directory) const {
    return verdict(relative_path, is_directory) == IgnoreVerdict::ignored;
  }

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

// The .trainctlignore files of the directories a depth-first walk is inside: enter() each
// directory before walking its entries and leave() it after. A path is decided by the deepest
// file with a matching pattern; no match anywhere means it is kept.
class IgnoreTree {
 public:
  // Applies the .trainctlignore of the directory open as `dir_fd`, whose path relative to the
  // root is `directory` ("" for the root), to everything below it until the matching leave().
  // The file is opened relative to `dir_fd` without following a symlink. Absent: nothing
  // applies. Not a regular file: a warning says it is not applied. Unreadable or over 1 MiB: the
  // error, since walking on would keep what the user meant to leave out (the directory is then
  // not entered: do not call leave()).
  Result<void> enter(int dir_fd, std::string directory, std::vector<std::string>& warnings);

  // Stops applying the file of the directory entered last.
  void leave();

  // Whether `relative_path` (relative to the root, inside the directory entered last) is ignored.
  bool is_ignored(std::string_view relative_path, bool is_directory) const;

 private:
  struct Level {
    std::string directory;  // relative to the root; "" for the root
    IgnoreRules rules;
  };
  std::vector<Level> m_levels;
};

}  // namespace trainctl::client
