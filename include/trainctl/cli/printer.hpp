#pragma once
// The one output layer of the CLI (kubectl's printers): every byte the CLI writes goes through a
// Printer. Resources print as -o table|wide|json|yaml|name|tsv|jsonpath=|custom-columns= (one
// table of formats, printer.cpp); messages and errors have fixed homes:
//   - resources, documents, raw bytes (logs, help): stdout;
//   - message(): stdout for table/wide, stderr for the formats scripts read (stdout stays parseable);
//   - notice(), warning(), error(), progress: stderr.
// Colour only when the options say so (a TTY without NO_COLOR; see detect_terminal()).
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>
#include <initializer_list>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/cli/jsonpath.hpp"
#include "trainctl/cli/progress.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

enum class OutputFormat { table, wide, json, yaml, name, tsv, jsonpath, custom_columns };

// An -o value: the format, and the template or columns of jsonpath= and custom-columns=.
struct OutputChoice {
  OutputFormat format = OutputFormat::table;
  std::optional<JsonPathTemplate> jsonpath;
  std::vector<CustomColumn> custom_columns;
};

// "table", "wide", "json", "yaml", "name", "tsv", "jsonpath=TEMPLATE" or "custom-columns=SPEC";
// anything else (or a template or spec that does not parse) is ErrorCode::usage, listing them.
Result<OutputChoice> parse_output_format(std::string_view text);

// "table|wide|json|yaml|name|tsv|jsonpath=TEMPLATE|custom-columns=SPEC", for help texts.
std::string output_format_names();


// A command whose output has fewer forms than -o names refuses the others (ErrorCode::usage),
// rather than print what was not asked for: "logs prints a run's log as written: -o json is not
// one of its formats (table)". `why` says what the command prints.
Result<void> accept_formats(OutputFormat format, const std::vector<OutputFormat>& accepted,
                            std::string_view command, std::string_view why);

enum class CellStyle { plain, status };  // status: coloured by run status when colour is on

// One column of a resource table: the value at a JSON pointer, rendered by `format`.
struct Column {
  std::string header;
  std::string pointer;  // e.g. "/status"; a missing value renders as "-"
  bool wide_only = false;
  std::string (*format)(const nlohmann::json& value) = nullptr;  // default: format_cell
  CellStyle style = CellStyle::plain;
};

// How one kind of resource prints: its table columns and, for -o name, the pointer to its name.
struct ResourceKind {
  std::string name;  // "run", "workspace", ...
  std::vector<Column> columns;
  std::string name_pointer = "/name";
};

// A view for people (kubectl describe): aligned "Label: value" fields, then titled sections, each
// a table (with headers) or a list of rows (without).
struct Description {
  struct Section {
    std::string title;
    std::vector<std::string> headers;  // empty: rows print as indented lines, cells space-joined
    std::vector<std::vector<std::string>> rows;
  };
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<Section> sections;
};

// Cell renderers for Column::format.
std::string format_cell(const nlohmann::json& value);  // strings verbatim, null/"" "-", else JSON
std::string format_time(const nlohmann::json& value);  // RFC 3339 to "2026-11-21 10:00:00"
std::string format_duration(const nlohmann::json& value);  // milliseconds to "1m02s"
std::string format_bytes(const nlohmann::json& value);     // 1536 to "1.5 KiB"
// format_cell of object[key]: "-" when the object lacks the key.
std::string format_field(const nlohmann::json& object, const char* key);

// A JSON document as block YAML.
std::string to_yaml(const nlohmann::json& document);

struct PrinterOptions {
  OutputFormat format = OutputFormat::table;
  bool color = false;        // ANSI colours in what goes to stdout (tables)
  bool error_color = false;  // ANSI colours in what goes to stderr (error: and warning: prefixes)
  bool quiet = false;        // no message() or notice() output
  bool progress = false;     // progress bars on stderr (a TTY)
  bool charts = false;       // stdout is a terminal: metrics are also drawn as charts
  int columns = 80;          // the terminal's width, for charts
  bool no_headers = false;   // tables (table, wide, custom-columns) without their header line
  std::optional<JsonPathTemplate> jsonpath = {};  // with OutputFormat::jsonpath
  std::vector<CustomColumn> custom_columns = {};  // with OutputFormat::custom_columns
};

// Whether stdout and stderr, each on its own, take colour, and stderr progress bars. Colour:
// never with NO_COLOR set and not empty (no-color.org); always with CLICOLOR_FORCE set and not
// "0"; else on a terminal (isatty) whose TERM is not "dumb". Progress bars: stderr is a terminal.
struct TerminalInfo {
  bool color = false;        // stdout
  bool error_color = false;  // stderr
  bool progress = false;
  bool terminal = false;  // stdout is a terminal
  int columns = 80;       // stdout's width when it is a terminal
};
TerminalInfo detect_terminal();

class Printer {
 public:
  Printer(std::ostream& out, std::ostream& err, PrinterOptions options = {});

  void set_options(const PrinterOptions& options);
  const PrinterOptions& options() const { return m_options; }
  // table or wide: the output is for people, not parsed by scripts.
  bool for_people() const;

  void print_list(const ResourceKind& kind, const nlohmann::json& items);
  void print_resource(const ResourceKind& kind, const nlohmann::json& resource);
  // table/wide: the description; json/yaml: the resource; name: its name; tsv/jsonpath/
  // custom-columns: the resource.
  void print_description(const ResourceKind& kind, const nlohmann::json& resource,
                         const Description& description);
  // json/yaml/tsv/jsonpath/custom-columns: the document; table/wide/name: the description.
  void print_document(const nlohmann::json& document, const Description& description);

  void message(std::string_view text);  // a line; see the file comment for where it goes
  void notice(std::string_view text);   // a line on stderr, unless quiet
  void warning(std::string_view text);  // "warning: text" on stderr
  void error(const Error& error);       // "error: message" and one line per detail, on stderr
  void write(std::string_view bytes);   // raw bytes to stdout, flushed
  void prompt(std::string_view question);  // a question on stderr, no newline, even when quiet
  // A transfer's progress line (ProgressReporter), only with options().progress and not quiet;
  // any other output erases it first.
  void progress(std::string_view label, uint64_t done, uint64_t total);
  void end_progress();  // erases the progress line; the next progress() is a new transfer

 private:
  void print_table(const ResourceKind& kind, const nlohmann::json& items);
  void print_names(const ResourceKind& kind, const nlohmann::json& items);
  void print_human(const Description& description);
  // Aligned rows under bold headers, each line starting with `indent`.
  std::string render_table(const std::vector<std::string>& headers,
                           const std::vector<std::vector<std::string>>& rows,
                           const std::vector<CellStyle>& styles, std::string_view indent) const;
  void print_serialized(const nlohmann::json& document);
  // tsv, jsonpath and custom-columns: `rows` one row each (tsv, custom-columns); `document` the
  // whole (jsonpath). Returns false for the other formats.
  bool print_template(const nlohmann::json& document, const nlohmann::json& rows);
  // Prints one resource as json, yaml or its name and returns true; false for the formats
  // meant for people (table, wide), which the caller prints its own way.
  bool print_for_scripts(const ResourceKind& kind, const nlohmann::json& resource);
  std::string paint(std::string_view text, std::string_view ansi) const;        // for stdout
  std::string paint_error(std::string_view text, std::string_view ansi) const;  // for stderr

  std::ostream& m_out;
  std::ostream& m_err;
  PrinterOptions m_options;
  ProgressReporter m_progress;
};

}  // namespace trainctl::cli
