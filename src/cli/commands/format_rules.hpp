#pragma once
// Which -o formats each command prints (private to src/cli): one table, checked before the
// command runs, so a format a command has no form for is refused (exit 2) before anything is done.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "trainctl/cli/printer.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// "run show": the command's words below `trainctl`.
std::string command_path(const CLI::App& command);

// usage when `format` is not one the command at `path` prints; ok for every format of a command
// the table does not name (it prints resources: every format works).
Result<void> check_output_format(const std::string& path, OutputFormat format);

// The paths the table names (a test checks each is a command).
std::vector<std::string> format_rule_paths();

}  // namespace trainctl::cli
