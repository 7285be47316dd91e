#pragma once
// Shell completion: `trainctl completion bash|zsh|fish` prints a small script whose function
// calls `trainctl __complete -- WORD...` at each TAB. That hidden command walks the CLI11 app tree
// with the words typed so far and prints the candidates for the last one, so commands,
// subcommands, flags and flag values come from the same tree as --help, and resource names (runs,
// datasets, models, ...) come from the service when one is reachable (never started for it).
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// What the word being completed is; `resource` names a kind the service lists ("runs",
// "datasets", "models", "computes", "deployments", "sweeps", "workspaces").
struct Completion {
  std::vector<std::string> candidates;  // already filtered by the word's prefix
  bool files = false;                   // the shell completes file names
  std::string resource;                 // names of this kind complete the word (with `prefix`)
  std::string prefix;                   // what the candidates start with
  std::string workspace;                // -w/--workspace among the words; "" none
};

// The completion of the last of `words` (the words after `trainctl`; the last may be empty).
// Bash splits "--output=js" into "--output" "=" "js"; they are taken as one word, and the
// candidates then complete the part after '='.
Completion complete_words(const CLI::App& app, std::vector<std::string> words);

// The script for `shell` ("bash", "zsh" or "fish"); ErrorCode::usage for another shell.
Result<std::string> completion_script(std::string_view shell);

}  // namespace trainctl::cli
