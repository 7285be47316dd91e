// -o jsonpath=, custom-columns=, tsv and --no-headers: the parsers and what the printer writes.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "trainctl/cli/jsonpath.hpp"
#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/resources.hpp"

namespace {

using namespace trainctl::cli;
using nlohmann::json;

const json k_list = json::parse(R"({"items": [
  {"id": "run-a", "status": "Completed", "exit_code": 0, "tags": {"team": "nlp"},
   "tasks": [{"name": "main", "host": "n1"}, {"name": "w1", "host": "n2"}]},
  {"id": "run-b", "status": "Failed", "exit_code": 3, "tags": {},
   "tasks": [{"name": "main", "host": null}]},
  {"id": "run-c", "status": "Running", "exit_code": null, "tasks": []}
]})");

std::string render(std::string_view text, const json& document = k_list) {
  auto parsed = JsonPathTemplate::parse(text);
  REQUIRE(parsed);
  return parsed->render(document);
}

std::string parse_error(std::string_view text) {
  auto parsed = JsonPathTemplate::parse(text);
  REQUIRE_FALSE(parsed);
  CHECK(parsed.error().code == trainctl::ErrorCode::usage);
  return parsed.error().message;
}

struct Output {
  std::ostringstream out;
  std::ostringstream err;
  Printer printer;
  explicit Output(PrinterOptions options) : printer(out, err, std::move(options)) {}
};

PrinterOptions options_of(std::string_view format) {
  auto choice = parse_output_format(format);
  REQUIRE(choice);
  PrinterOptions options;
  options.format = choice->format;
  options.jsonpath = choice->jsonpath;
  options.custom_columns = choice->custom_columns;
  return options;
}

}  // namespace

TEST_CASE("jsonpath: the subset kubectl users write", "[cli][jsonpath]") {
  SECTION("given a field path, its value prints; strings without quotes") {
    CHECK(render("{.items[0].id}") == "run-a");
    CHECK(render("{$.items[1].status}") == "Failed");
    CHECK(render("{.items[0].tags}") == R"({"team":"nlp"})");
  }
  SECTION("given [*], every value prints, separated by a space") {
    CHECK(render("{.items[*].id}") == "run-a run-b run-c");
    CHECK(render("{.items[*].tasks[*].name}") == "main w1 main");
  }
  SECTION("given negative indices, slices and unions, they select as kubectl's do") {
    CHECK(render("{.items[-1].id}") == "run-c");
    CHECK(render("{.items[0:2].id}") == "run-a run-b");
    CHECK(render("{.items[::2].id}") == "run-a run-c");
    CHECK(render("{.items[0,2].id}") == "run-a run-c");
    CHECK(render("{.items[0]['id','status']}") == "run-a Completed");
  }
  SECTION("given a filter, only the matching items print") {
    CHECK(render(R"({.items[?(@.status=="Failed")].id})") == "run-b");
    CHECK(render("{.items[?(@.exit_code > 0)].id}") == "run-b");
    CHECK(render("{.items[?(@.tags.team)].id}") == "run-a");
    CHECK(render("{.items[?(@.exit_code == null)].id}") == "run-c");
  }
  SECTION("given .., the key is found at any depth") {
    CHECK(render("{..host}") == "n1 n2 null");
  }
  SECTION("given range and string literals, one line per item") {
    CHECK(render(R"({range .items[*]}{.id}{"\t"}{.status}{"\n"}{end})") ==
          "run-a\tCompleted\nrun-b\tFailed\nrun-c\tRunning\n");
    CHECK(render("ids: {range .items[*]}[{.id}]{end}") == "ids: [run-a][run-b][run-c]");
  }
  SECTION("given a path that finds nothing, nothing prints") {
    CHECK(render("{.items[7].id}|{.nothing.here}") == "|");
  }
  SECTION("given what the subset does not have, the error says where") {
    CHECK_THAT(parse_error("{.items[*].id"), Catch::Contains("character 1") && Catch::Contains("no '}'"));
    CHECK_THAT(parse_error("{range .items[*]}{.id}"), Catch::Contains("no {end}"));
    CHECK_THAT(parse_error("{end}"), Catch::Contains("without {range}"));
    CHECK_THAT(parse_error("{.items[?(@.a ~ 1)]}"), Catch::Contains("character"));
    CHECK_THAT(parse_error("{.items.length()}"), Catch::Contains("character"));
    CHECK_THAT(parse_error("{}"), Catch::Contains("empty"));
  }
}

TEST_CASE("custom-columns: HEADER:PATH pairs", "[cli][jsonpath]") {
  SECTION("given a spec, each column has its header and path") {
    auto columns = parse_custom_columns("ID:.id,HOSTS:.tasks[*].host,TAGS:.tags['team','x']");
    REQUIRE(columns);
    REQUIRE(columns->size() == 3);
    CHECK((*columns)[1].header == "HOSTS");
    CHECK(custom_column_cell((*columns)[1], k_list["items"][0]) == "n1,n2");
    CHECK(custom_column_cell((*columns)[1], k_list["items"][1]) == "<none>");
    CHECK(custom_column_cell((*columns)[2], k_list["items"][0]) == "nlp");
  }
  SECTION("given a column without a header or a path, it is refused") {
    CHECK_FALSE(parse_custom_columns("ID"));
    CHECK_FALSE(parse_custom_columns(":.id"));
    CHECK_FALSE(parse_custom_columns("ID:.id,"));
    CHECK_THAT(parse_custom_columns("ID:.id[").error().message, Catch::Contains("ID"));
  }
}

TEST_CASE("printer: the formats for scripts", "[cli][printer][jsonpath]") {
  const json& items = k_list["items"];
  SECTION("given -o jsonpath, a list is {\"items\": [...]} as in -o json") {
    Output output(options_of("jsonpath={.items[*].id}"));
    output.printer.print_list(run_kind(), items);
    CHECK(output.out.str() == "run-a run-b run-c");
  }
  SECTION("given -o jsonpath, one resource is the resource itself") {
    Output output(options_of("jsonpath={.status}"));
    output.printer.print_description(run_kind(), items[1], Description{});
    CHECK(output.out.str() == "Failed");
  }
  SECTION("given -o custom-columns, a table of those columns, '<none>' for what is missing") {
    Output output(options_of("custom-columns=RUN:.id,EXIT:.exit_code"));
    output.printer.print_list(run_kind(), items);
    CHECK(output.out.str() == "RUN     EXIT\nrun-a   0\nrun-b   3\nrun-c   <none>\n");
  }
  SECTION("given --no-headers, tables and custom-columns lose their header line") {
    auto options = options_of("custom-columns=RUN:.id");
    options.no_headers = true;
    Output columns(options);
    columns.printer.print_list(run_kind(), items);
    CHECK(columns.out.str() == "run-a\nrun-b\nrun-c\n");
    Output table(PrinterOptions{.format = OutputFormat::table, .no_headers = true});
    table.printer.print_list(run_kind(), items);
    CHECK_THAT(table.out.str(), Catch::StartsWith("run-a "));
  }
  SECTION("given -o tsv, one line per item of its scalar values, no headers, no nested values") {
    Output output(options_of("tsv"));
    output.printer.print_list(run_kind(), items);
    CHECK(output.out.str() == "0\trun-a\tCompleted\n3\trun-b\tFailed\n\trun-c\tRunning\n");
  }
  SECTION("given -o tsv, tabs and line breaks in a value are escaped, so a row stays one line") {
    Output output(options_of("tsv"));
    output.printer.print_resource(run_kind(), {{"id", "a\tb"}, {"message", "one\ntwo"}});
    CHECK(output.out.str() == "a\\tb\tone\\ntwo\n");
  }
}

TEST_CASE("printer: -o values", "[cli][printer]") {
  SECTION("given a format that takes a value without one, or one that takes none with one, refused") {
    CHECK_THAT(parse_output_format("jsonpath").error().message, Catch::Contains("needs a TEMPLATE"));
    CHECK_THAT(parse_output_format("custom-columns=").error().message, Catch::Contains("needs a SPEC"));
    CHECK_THAT(parse_output_format("json=x").error().message, Catch::Contains("takes no value"));
  }
  SECTION("given an unknown format, the message lists every format") {
    CHECK_THAT(parse_output_format("xml").error().message,
               Catch::Contains("table|wide|json|yaml|name|tsv|jsonpath=TEMPLATE|custom-columns=SPEC"));
  }
  SECTION("given a bad template, the -o value is refused before anything runs") {
    CHECK(parse_output_format("jsonpath={.a").error().code == trainctl::ErrorCode::usage);
  }
}

TEST_CASE("printer: -o wide adds columns to the lists", "[cli][printer]") {
  const json sweeps = json::parse(R"([{"id": "sweep-a", "status": "Running", "primary_metric": "acc",
                                       "goal": "maximize", "max_concurrent_trials": 4}])");
  Output table(PrinterOptions{.format = OutputFormat::table});
  table.printer.print_list(sweep_kind(), sweeps);
  Output wide(PrinterOptions{.format = OutputFormat::wide});
  wide.printer.print_list(sweep_kind(), sweeps);
  CHECK_THAT(table.out.str(), !Catch::Contains("METRIC"));
  CHECK_THAT(wide.out.str(), Catch::Contains("METRIC") && Catch::Contains("maximize") &&
                                 Catch::Contains("AT ONCE"));
}
