#pragma once
namespace trainctl::cli {
// The whole CLI: parses argv, runs the command, prints, and returns the process exit code
// (docs/exit-codes.md). Never throws.
int run_cli(int argc, char** argv);
}  // namespace trainctl::cli
