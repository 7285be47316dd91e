#include "format_rules.hpp"

#include <array>
#include <vector>
#include <string_view>

namespace trainctl::cli {

namespace {

using Formats = std::vector<OutputFormat>;
using F = OutputFormat;

// A command that only says what it did (deleted, downloaded): the line goes to stdout for table
// and wide, to stderr for json, yaml and name (stdout stays empty for scripts). tsv, jsonpath and
// custom-columns select fields of a resource such a command does not print.
const Formats k_message{F::table, F::wide, F::json, F::yaml, F::name};
// A document (metrics, a launch plan) has fields but no name.
const Formats k_document{F::table, F::wide, F::json, F::yaml, F::tsv, F::jsonpath, F::custom_columns};
// Text as written (logs).
const Formats k_text{F::table};

struct Rule {
  std::string_view path;
  Formats accepted;
  std::string_view prints;  // what the command prints, for the message
};

// Every command not named here prints resources (lists, a resource, its description) and takes
// every format.
const std::array k_rules{
    Rule{"server stop", k_message, "prints only what it did"},
    Rule{"workspace delete", k_message, "prints only what it did"},
    Rule{"validate", {F::table, F::wide, F::json, F::yaml}, "prints a spec's launch plan, which has no name"},
    Rule{"logs", k_text, "prints a run's log as written"},
    Rule{"run download", k_message, "prints only what it did"},
    Rule{"run metrics", k_document, "prints metrics, which have no name"},
    Rule{"run compare", k_document, "prints a comparison, which has no name"},
    Rule{"dataset download", k_message, "prints only what it did"},
    Rule{"dataset delete", k_message, "prints only what it did"},
    Rule{"model download", k_message, "prints only what it did"},
    Rule{"model delete", k_message, "prints only what it did"},
    Rule{"compute delete", k_message, "prints only what it did"},
    Rule{"deploy delete", k_message, "prints only what it did"},
    Rule{"deploy logs", k_text, "prints a deployment's log as written"},
    Rule{"deploy invoke", k_document, "prints the scoring reply, which has no name"},
    Rule{"completion", k_text, "prints a shell script"},
};

}  // namespace

std::string command_path(const CLI::App& command) {
  std::string path;
  for (const CLI::App* at = &command; at != nullptr && at->get_parent() != nullptr; at = at->get_parent()) {
    path = path.empty() ? at->get_name() : at->get_name() + " " + path;
  }
  return path;
}

Result<void> check_output_format(const std::string& path, OutputFormat format) {
  for (const auto& rule : k_rules) {
    if (rule.path == path) return accept_formats(format, rule.accepted, rule.path, rule.prints);
  }
  return {};
}

std::vector<std::string> format_rule_paths() {
  std::vector<std::string> paths;
  for (const auto& rule : k_rules) paths.emplace_back(rule.path);
  return paths;
}

}  // namespace trainctl::cli
