#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/resources.hpp"

namespace {

using namespace trainctl::cli;
using nlohmann::json;

struct Output {
  std::ostringstream out;
  std::ostringstream err;
  Printer printer;
  explicit Output(PrinterOptions options = {}) : printer(out, err, options) {}
};

const json k_runs = json::array({
    {{"id", "run-a"},
     {"experiment", "mnist"},
     {"name", "first"},
     {"status", "Completed"},
     {"created_at", "2026-11-21T10:00:00.123Z"},
     {"duration_ms", 62000},
     {"exit_code", 0},
     {"compute", "local"},
     {"failure_reason", ""}},
    {{"id", "run-bb"},
     {"experiment", "cifar"},
     {"name", ""},
     {"status", "Running"},
     {"created_at", "2026-11-21T11:00:00.000Z"},
     {"duration_ms", nullptr},
     {"exit_code", nullptr},
     {"compute", "local"},
     {"failure_reason", ""}},
});

}  // namespace

TEST_CASE("printer: resources in every output format", "[cli][printer]") {
  SECTION("given table, the columns are aligned under headers and empty values read '-'") {
    Output output({.format = OutputFormat::table});
    output.printer.print_list(run_kind(), k_runs);
    const auto text = output.out.str();
    CHECK_THAT(text,
               Catch::StartsWith(
                   "ID       EXPERIMENT   STATUS      CREATED               DURATION   EXIT\n"));
    CHECK_THAT(text, Catch::Contains(
                         "run-a    mnist        Completed   2026-11-21 10:00:00   1m02s      0\n"));
    CHECK_THAT(text, Catch::Contains(
                         "run-bb   cifar        Running     2026-11-21 11:00:00   -          -\n"));
    CHECK_THAT(text, !Catch::Contains("COMPUTE"));
    CHECK(output.err.str().empty());
  }
  SECTION("given wide, the wide-only columns appear") {
    Output output({.format = OutputFormat::wide});
    output.printer.print_list(run_kind(), k_runs);
    CHECK_THAT(output.out.str(),
               Catch::Contains("NAME") && Catch::Contains("COMPUTE") && Catch::Contains("first"));
  }
  SECTION("given json, the output parses back to the items") {
    Output output({.format = OutputFormat::json});
    output.printer.print_list(run_kind(), k_runs);
    CHECK(json::parse(output.out.str()) == json{{"items", k_runs}});
  }
  SECTION(
      "given yaml, the output parses and keeps types (strings that look like numbers stay "
      "strings)") {
    Output output({.format = OutputFormat::yaml});
    output.printer.print_resource(
        workspace_kind(),
        {{"name", "123"}, {"run_count", 4}, {"description", ""}, {"flag", "true"},
         {"created_at", "2026-11-21T10:00:00.123Z"}});
    const auto yaml = YAML::Load(output.out.str());
    // A timestamp is quoted, so YAML 1.1 readers (PyYAML) keep it a string, not a datetime.
    CHECK(yaml["created_at"].Tag() == "!");
    CHECK(yaml["name"].Tag() == "!");  // quoted: a string
    CHECK(yaml["name"].as<std::string>() == "123");
    CHECK(yaml["run_count"].as<int>() == 4);
    CHECK(yaml["description"].as<std::string>().empty());
    CHECK(yaml["flag"].Tag() == "!");
  }
  SECTION("given name, only each resource's name prints, one a line") {
    Output output({.format = OutputFormat::name});
    output.printer.print_list(run_kind(), k_runs);
    CHECK(output.out.str() == "run-a\nrun-bb\n");
  }
  SECTION("given colour off, no escape codes are written") {
    Output output({.format = OutputFormat::table, .color = false});
    output.printer.print_list(run_kind(), k_runs);
    output.printer.error({trainctl::ErrorCode::internal, "boom"});
    CHECK(output.out.str().find('\033') == std::string::npos);
    CHECK(output.err.str().find('\033') == std::string::npos);
  }
  SECTION("given colour on, statuses and headers are coloured") {
    Output output({.format = OutputFormat::table, .color = true});
    output.printer.print_list(run_kind(), k_runs);
    CHECK_THAT(output.out.str(), Catch::Contains("\033[32mCompleted\033[0m"));
  }
}

TEST_CASE("printer: descriptions, messages and errors", "[cli][printer]") {
  const Description description{
      .fields = {{"ID", "run-a"}, {"Exit code", "0"}},
      .sections = {{.title = "Tasks", .headers = {"NAME", "STATE"}, .rows = {{"main", "exited"}}},
                   {.title = "Notes", .headers = {}, .rows = {{"a", "b"}}}}};
  SECTION("given table, fields are aligned and sections indented") {
    Output output;
    output.printer.print_description(run_kind(), {{"id", "run-a"}}, description);
    CHECK(output.out.str() ==
          "ID:        run-a\n"
          "Exit code: 0\n"
          "\n"
          "Tasks:\n"
          "  NAME   STATE\n"
          "  main   exited\n"
          "\n"
          "Notes:\n"
          "  a b\n");
  }
  SECTION("given json, the resource prints instead of the description") {
    Output output({.format = OutputFormat::json});
    output.printer.print_description(run_kind(), {{"id", "run-a"}}, description);
    CHECK(json::parse(output.out.str()) == json{{"id", "run-a"}});
  }
  SECTION("given table, messages go to stdout; given json, to stderr so stdout stays parseable") {
    Output table;
    table.printer.message("done");
    CHECK(table.out.str() == "done\n");
    Output machine({.format = OutputFormat::json});
    machine.printer.message("done");
    CHECK(machine.out.str().empty());
    CHECK(machine.err.str() == "done\n");
  }
  SECTION("given quiet, messages and notices are dropped but errors are not") {
    Output output({.quiet = true});
    output.printer.message("done");
    output.printer.notice("started");
    output.printer.error({trainctl::ErrorCode::not_found, "no run x"});
    CHECK(output.out.str().empty());
    CHECK(output.err.str() == "error: no run x\n");
  }
  SECTION("given an error with details, each detail is a line on stderr") {
    Output output;
    output.printer.error({trainctl::ErrorCode::invalid_spec,
                          "job.yaml is not valid",
                          {{.path = "estimator.node_count",
                            .message = "must be at least 1",
                            .file = "job.yaml",
                            .line = 3,
                            .column = 15}}});
    CHECK(output.err.str() ==
          "error: job.yaml is not valid\n  job.yaml:3:15: estimator.node_count: must be at least "
          "1\n");
    CHECK(output.out.str().empty());
  }
  SECTION("given no TTY, progress draws nothing") {
    Output output({.progress = false});
    output.printer.progress("uploading", 5, 10);
    output.printer.end_progress();
    CHECK(output.err.str().empty());
  }
  SECTION("given a TTY, progress redraws one line and erases it at the end") {
    Output output({.progress = true});
    output.printer.progress("uploading", 5, 10);
    output.printer.end_progress();
    CHECK_THAT(output.err.str(),
               Catch::StartsWith("\r\033[Kuploading [") && Catch::EndsWith("\r\033[K"));
  }
}

TEST_CASE("printer: output format names", "[cli][printer]") {
  CHECK(parse_output_format("yaml").value().format == OutputFormat::yaml);
  CHECK(parse_output_format("XML").error().code == trainctl::ErrorCode::usage);
  CHECK(format_bytes(1536) == "1.5 KiB");
  CHECK(format_bytes(12) == "12 B");
}

namespace {

// Sets (or, with nullptr, unsets) an environment variable for one scope.
struct ScopedVariable {
  ScopedVariable(const char* name, const char* value) : m_name(name) {
    if (const char* old = std::getenv(name)) m_old = old;
    value == nullptr ? ::unsetenv(name) : ::setenv(name, value, 1);
  }
  ~ScopedVariable() { m_old ? ::setenv(m_name, m_old->c_str(), 1) : ::unsetenv(m_name); }
  ScopedVariable(const ScopedVariable&) = delete;
  ScopedVariable& operator=(const ScopedVariable&) = delete;

 private:
  const char* m_name;
  std::optional<std::string> m_old;
};

}  // namespace

TEST_CASE("Colour is decided per stream: NO_COLOR, CLICOLOR_FORCE, TERM=dumb, a terminal",
          "[cli][printer][color]") {
  // The suite's streams are not terminals.
  SECTION("not a terminal: no colour") {
    ScopedVariable no_color("NO_COLOR", nullptr);
    ScopedVariable force("CLICOLOR_FORCE", nullptr);
    const auto terminal = detect_terminal();
    CHECK_FALSE(terminal.color);
    CHECK_FALSE(terminal.error_color);
  }
  SECTION("CLICOLOR_FORCE: colour on both, even for TERM=dumb; 0 forces nothing") {
    ScopedVariable no_color("NO_COLOR", nullptr);
    ScopedVariable dumb("TERM", "dumb");
    {
      ScopedVariable force("CLICOLOR_FORCE", "1");
      CHECK(detect_terminal().color);
      CHECK(detect_terminal().error_color);
    }
    ScopedVariable force("CLICOLOR_FORCE", "0");
    CHECK_FALSE(detect_terminal().error_color);
  }
  SECTION("NO_COLOR wins over CLICOLOR_FORCE") {
    ScopedVariable no_color("NO_COLOR", "1");
    ScopedVariable force("CLICOLOR_FORCE", "1");
    CHECK_FALSE(detect_terminal().color);
    CHECK_FALSE(detect_terminal().error_color);
  }
  SECTION("an error's prefix takes stderr's colour, a table stdout's") {
    Output output({.format = OutputFormat::table, .color = false, .error_color = true});
    output.printer.error(trainctl::Error{trainctl::ErrorCode::not_found, "no run"});
    CHECK_THAT(output.err.str(), Catch::StartsWith("\033[31merror:\033[0m no run"));
  }
}
