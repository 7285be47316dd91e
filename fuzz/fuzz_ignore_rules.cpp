// Fuzz target: the .trainctlignore matcher (client::IgnoreRules).
// Input: the file's text, then a line "%%paths" and one path a line (a trailing '/' marks a
// directory). Properties: nothing crashes or hangs (a pattern of many `*` and `**` against a long
// path must stay fast); a file with no patterns ignores nothing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "trainctl/client/ignore_rules.hpp"

namespace {

constexpr std::string_view k_paths_marker = "\n%%paths\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto marker = input.find(k_paths_marker);
  const std::string_view text = input.substr(0, marker);
  std::string_view paths = marker == std::string_view::npos
                               ? std::string_view("a\nb/c\nd/\n.x/y/z")
                               : input.substr(marker + k_paths_marker.size());
  const auto rules = trainctl::client::IgnoreRules::parse(text);
  const auto empty = trainctl::client::IgnoreRules::parse("");
  while (!paths.empty()) {
    const auto end = paths.find('\n');
    std::string_view path = paths.substr(0, end);
    bool is_directory = false;
    if (path.size() > 1 && path.back() == '/') {
      path.remove_suffix(1);
      is_directory = true;
    }
    (void)rules.verdict(path, is_directory);
    if (empty.is_ignored(path, is_directory)) std::abort();
    if (end == std::string_view::npos) break;
    paths.remove_prefix(end + 1);
  }
  return 0;
}
