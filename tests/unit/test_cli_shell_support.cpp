// Completion over the real command tree, and the table of formats each command prints.
#include <catch2/catch.hpp>

#include <algorithm>

#include "../../src/cli/commands/command_table.hpp"
#include "../../src/cli/commands/format_rules.hpp"
#include "trainctl/cli/completion.hpp"
#include "trainctl/cli/man_page.hpp"

namespace {

using namespace trainctl::cli;

// The CLI's command tree, as run_app builds it (without the global options' help footer).
struct Tree {
  CLI::App app{"trainctl", "trainctl"};
  Action selected;
  std::string output;
  bool quiet = false;
  Tree() {
    app.add_option("-o,--output", output, "Output format")->group("Global options");
    app.add_option("-w,--workspace", output, "Workspace")->group("Global options");
    app.add_flag("-q,--quiet", quiet, "Quiet")->group("Global options");
    for (const auto& group : command_groups()) group.add(app, selected);
  }
  const CLI::App* find(const std::string& path) const {
    const CLI::App* command = &app;
    size_t start = 0;
    while (command != nullptr && start < path.size()) {
      const auto end = std::min(path.find(' ', start), path.size());
      const auto word = path.substr(start, end - start);
      const CLI::App* next = nullptr;
      for (const auto* sub : command->get_subcommands({})) {
        if (sub->get_name() == word) next = sub;
      }
      command = next;
      start = end + 1;
    }
    return command;
  }
};

Completion complete(const Tree& tree, std::vector<std::string> words) {
  return complete_words(tree.app, std::move(words));
}

}  // namespace

TEST_CASE("format rules: every command the table names exists", "[cli][output]") {
  const Tree tree;
  for (const auto& path : format_rule_paths()) {
    INFO(path);
    const auto* command = tree.find(path);
    REQUIRE(command != nullptr);
    CHECK(command_path(*command) == path);
  }
  CHECK(check_output_format("run show", OutputFormat::jsonpath));
  CHECK_FALSE(check_output_format("logs", OutputFormat::yaml));
}

TEST_CASE("command groups: each names exactly the top-level commands it adds", "[cli]") {
  // The program builds only the group of the command it is given, found by these names: a name
  // missing here would make that command unknown.
  std::vector<std::string> all;
  for (const auto& group : command_groups()) {
    CLI::App app{"trainctl", "trainctl"};
    Action selected;
    group.add(app, selected);
    std::vector<std::string> added;
    for (const CLI::App* command : app.get_subcommands({})) {
      added.push_back(command->get_name());
      for (const auto& alias : command->get_aliases()) added.push_back(alias);
    }
    std::vector<std::string> named(group.names.begin(), group.names.end());
    std::ranges::sort(added);
    std::ranges::sort(named);
    CHECK(added == named);
    all.insert(all.end(), named.begin(), named.end());
  }
  std::ranges::sort(all);
  CHECK(std::ranges::adjacent_find(all) == all.end());  // no name in two groups
}

TEST_CASE("completion: from the command tree", "[cli][completion]") {
  const Tree tree;
  SECTION("given a command's first letters, the commands that start so; hidden ones never") {
    CHECK(complete(tree, {"s"}).candidates ==
          std::vector<std::string>{"server", "submit", "sweep"});
    CHECK(complete(tree, {"_"}).candidates.empty());
  }
  SECTION("given '-', the command's options and the global ones") {
    const auto options = complete(tree, {"run", "list", "--"}).candidates;
    CHECK(std::count(options.begin(), options.end(), "--status") == 1);
    CHECK(std::count(options.begin(), options.end(), "--output") == 1);
  }
  SECTION("given an option's value, its values; a global option's value is no command") {
    CHECK(complete(tree, {"-o", "y"}).candidates == std::vector<std::string>{"yaml"});
    CHECK(complete(tree, {"-o", "yaml", "ru"}).candidates == std::vector<std::string>{"run"});
    CHECK(complete(tree, {"--output=t"}).candidates == std::vector<std::string>{"--output=table", "--output=tsv"});
    CHECK(complete(tree, {"--output", "=", "t"}).candidates == std::vector<std::string>{"table", "tsv"});
  }
  SECTION("given a resource argument, the kind the service is asked for, and -w's workspace") {
    const auto run = complete(tree, {"-w", "nlp", "run", "show", "run-"});
    CHECK(run.resource == "runs");
    CHECK(run.prefix == "run-");
    CHECK(run.workspace == "nlp");
    CHECK(complete(tree, {"deploy", "logs", ""}).resource == "deployments");
    CHECK(complete(tree, {"deploy", "create", ""}).resource.empty());  // a new name
    CHECK(complete(tree, {"run", "compare", "a", "b", ""}).resource == "runs");
    CHECK(complete(tree, {"run", "show", "a", ""}).resource.empty());  // one run only
    CHECK(complete(tree, {"submit", ""}).files);
    CHECK(complete(tree, {"submit", "a.yaml", ""}).files);  // several specs
    CHECK(complete(tree, {"submit", "a.yaml", "--from-file", ""}).files);
  }
}

TEST_CASE("man pages: one per command, in roff", "[cli][man]") {
  const Tree tree;
  const auto page = man_page(*tree.find("run list"), "trainctl 1.0");
  CHECK_THAT(page, Catch::StartsWith(".TH \"TRAINCTL-RUN-LIST\" \"1\""));
  CHECK_THAT(page, Catch::Contains(".SH NAME\ntrainctl\\-run\\-list \\- "));
  CHECK_THAT(page, Catch::Contains("\\fB\\-\\-status\\fR") && Catch::Contains(".SH SEE ALSO\n\\fBtrainctl\\-run\\fR(1)"));
  CHECK(roff_escape(".starts\n'quoted \\ back") == "\\&.starts\n\\&'quoted \\e back");
}
