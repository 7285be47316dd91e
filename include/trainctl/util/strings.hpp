#pragma once
// Small string helpers shared by the layers: splitting, and "did you mean" suggestions.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trainctl::util {

// The pieces of `text` between occurrences of `separator`, empty pieces included:
// split("a..b", '.') is {"a", "", "b"}; split("", '.') is {""}.
std::vector<std::string_view> split(std::string_view text, char separator);

// Whether `a` and `b` are equal ignoring ASCII case (HTTP header names and tokens).
bool equals_ignore_case(std::string_view a, std::string_view b);
// Whether `text` starts with `prefix`, ignoring ASCII case (a URL's scheme).
bool starts_with_ignore_case(std::string_view text, std::string_view prefix);

// `text` without the white space (std::isspace) at either end.
std::string_view trimmed(std::string_view text);

// The Levenshtein distance: the fewest single-byte insertions, deletions and substitutions
// that turn `a` into `b`.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `word` by edit distance, when it is near enough to be a plausible typo
// (at most a third of the longer word, and at least 1); the first such candidate on a tie.
// Empty when no candidate qualifies.
std::optional<std::string_view> closest_match(std::string_view word,
                                              std::span<const std::string_view> candidates);

// A size for messages: "1 MiB", "64 KiB", "300 bytes" (whole units only, else the next smaller).
std::string format_size(size_t bytes);

}  // namespace trainctl::util
