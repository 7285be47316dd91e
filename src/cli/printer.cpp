#include "trainctl/cli/printer.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <ostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "trainctl/util/time.hpp"

namespace trainctl::cli {

namespace {

using nlohmann::json;

constexpr std::string_view k_column_gap = "   ";
constexpr std::string_view k_red = "31";
constexpr std::string_view k_green = "32";
constexpr std::string_view k_yellow = "33";
constexpr std::string_view k_bold = "1";

// The one table of -o formats. `argument`: what follows "name=" (empty: the format takes none).
struct FormatRow {
  std::string_view name;
  OutputFormat format;
  std::string_view argument;
};
constexpr std::array<FormatRow, 8> k_formats{{
    {"table", OutputFormat::table, ""},
    {"wide", OutputFormat::wide, ""},
    {"json", OutputFormat::json, ""},
    {"yaml", OutputFormat::yaml, ""},
    {"name", OutputFormat::name, ""},
    {"tsv", OutputFormat::tsv, ""},
    {"jsonpath", OutputFormat::jsonpath, "TEMPLATE"},
    {"custom-columns", OutputFormat::custom_columns, "SPEC"},
}};

std::string_view format_name(OutputFormat format) {
  for (const auto& row : k_formats) {
    if (row.format == format) return row.name;
  }
  return "?";
}

// A tsv cell: a scalar as text (null empty); tabs and line breaks escaped so a row stays a line.
std::string tsv_cell(const json& value) {
  if (value.is_null()) return {};
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  std::string escaped;
  for (const char c : text) {
    if (c == '\t') escaped += "\\t";
    else if (c == '\n') escaped += "\\n";
    else if (c == '\r') escaped += "\\r";
    else escaped += c;
  }
  return escaped;
}

// One tsv line of `value` (az's tsv): an object's scalar values in key order, nested objects and
// arrays left out; an array's scalars; a scalar alone.
std::string tsv_row(const json& value) {
  std::vector<std::string> cells;
  if (value.is_object() || value.is_array()) {
    for (const auto& item : value) {
      if (!item.is_object() && !item.is_array()) cells.push_back(tsv_cell(item));
    }
  } else {
    cells.push_back(tsv_cell(value));
  }
  return fmt::format("{}\n", fmt::join(cells, "\t"));
}

// Display width of UTF-8 text: one column per code point.
size_t display_width(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string_view status_colour(std::string_view status) {
  if (status == "Completed") return k_green;
  if (status == "Failed" || status == "TimedOut") return k_red;
  if (status == "Canceled" || status == "CancelRequested") return k_yellow;
  return {};
}

std::string cell_of(const Column& column, const json& resource) {
  const json::json_pointer pointer(column.pointer);
  const json value = resource.contains(pointer) ? resource.at(pointer) : json();
  return column.format != nullptr ? column.format(value) : format_cell(value);
}

std::vector<const Column*> visible_columns(const ResourceKind& kind, OutputFormat format) {
  std::vector<const Column*> columns;
  for (const auto& column : kind.columns) {
    if (!column.wide_only || format == OutputFormat::wide) columns.push_back(&column);
  }
  return columns;
}

// Whether `text` starts like a YAML 1.1 timestamp (2026-12-04, 2026-12-04T10:00:00Z), which
// PyYAML and other YAML 1.1 readers turn into a date.
bool reads_as_timestamp(std::string_view text) {
  const auto digit = [&](size_t i) { return i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); };
  return text.size() >= 8 && digit(0) && digit(1) && digit(2) && digit(3) && text[4] == '-' && digit(5);
}

// Whether a plain YAML scalar `text` would read back as a null, boolean, number or timestamp.
bool reads_as_other_type(const std::string& text) {
  if (reads_as_timestamp(text)) return true;
  static constexpr std::array<std::string_view, 11> k_special{
      "", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n"};
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (std::find(k_special.begin(), k_special.end(), lower) != k_special.end()) return true;
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

void emit_yaml(YAML::Emitter& out, const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        out << YAML::Key << key << YAML::Value;
        emit_yaml(out, item);
      }
      out << YAML::EndMap;
      break;
    case json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& item : value) emit_yaml(out, item);
      out << YAML::EndSeq;
      break;
    case json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      if (reads_as_other_type(text)) out << YAML::DoubleQuoted;
      out << text;
      break;
    }
    case json::value_t::null:
      out << YAML::Null;
      break;
    case json::value_t::boolean:
      out << value.get<bool>();
      break;
    default:
      out << value.dump();
      break;
  }
}

}  // namespace

std::string output_format_names() {
  std::vector<std::string> names;
  for (const auto& row : k_formats) {
    names.push_back(row.argument.empty() ? std::string(row.name)
                                         : fmt::format("{}={}", row.name, row.argument));
  }
  return fmt::format("{}", fmt::join(names, "|"));
}

Result<OutputChoice> parse_output_format(std::string_view text) {
  const auto equals = text.find('=');
  const auto name = text.substr(0, equals);
  const auto argument = equals == std::string_view::npos ? std::string_view() : text.substr(equals + 1);
  for (const auto& row : k_formats) {
    if (row.name != name) continue;
    if (row.argument.empty() != (equals == std::string_view::npos) || (!row.argument.empty() && argument.empty())) {
      return row.argument.empty()
                 ? fail(ErrorCode::usage, "-o {} takes no value", row.name)
                 : fail(ErrorCode::usage, "-o {} needs a {}: -o {}={}", row.name, row.argument,
                        row.name, row.format == OutputFormat::jsonpath ? "'{.items[*].id}'" : "ID:.id,STATUS:.status");
    }
    OutputChoice choice{.format = row.format, .jsonpath = {}, .custom_columns = {}};
    if (row.format == OutputFormat::jsonpath) {
      auto parsed = JsonPathTemplate::parse(argument);
      if (!parsed) return fail(parsed.error());
      choice.jsonpath = std::move(*parsed);
    } else if (row.format == OutputFormat::custom_columns) {
      auto parsed = parse_custom_columns(argument);
      if (!parsed) return fail(parsed.error());
      choice.custom_columns = std::move(*parsed);
    }
    return choice;
  }
  return fail(ErrorCode::usage, "invalid output format \"{}\" (expected {})", text,
              output_format_names());
}

Result<void> accept_formats(OutputFormat format, const std::vector<OutputFormat>& accepted,
                            std::string_view command, std::string_view why) {
  if (std::ranges::find(accepted, format) != accepted.end()) return {};
  std::vector<std::string_view> names;
  for (const auto each : accepted) names.push_back(format_name(each));
  return fail(ErrorCode::usage, "{} {}: -o {} is not one of its formats ({})", command, why,
              format_name(format), fmt::join(names, ", "));
}

std::string format_cell(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    return text.empty() ? "-" : text;
  }
  return value.dump();
}

std::string format_time(const json& value) {
  if (!value.is_string()) return format_cell(value);
  auto text = value.get<std::string>();
  if (text.size() >= 19 && text[10] == 'T') return text.substr(0, 10) + " " + text.substr(11, 8);
  return format_cell(value);
}

std::string format_duration(const json& value) {
  if (!value.is_number()) return format_cell(value);
  return util::format_duration_ms(value.get<int64_t>());
}

std::string format_bytes(const json& value) {
  if (!value.is_number()) return format_cell(value);
  constexpr std::array<std::string_view, 5> k_units{"B", "KiB", "MiB", "GiB", "TiB"};
  auto size = value.get<double>();
  size_t unit = 0;
  while (size >= 1024 && unit + 1 < k_units.size()) {
    size /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", value.get<uint64_t>())
                   : fmt::format("{:.1f} {}", size, k_units[unit]);
}

std::string format_field(const json& object, const char* key) {
  return format_cell(object.contains(key) ? object.at(key) : json());
}

std::string to_yaml(const json& document) {
  YAML::Emitter out;
  emit_yaml(out, document);
  return std::string(out.c_str()) + "\n";
}

TerminalInfo detect_terminal() {
  const auto variable = [](const char* name) {
    const char* value = std::getenv(name);
    return std::string_view(value == nullptr ? "" : value);
  };
  const bool no_color = !variable("NO_COLOR").empty();
  const bool forced = !variable("CLICOLOR_FORCE").empty() && variable("CLICOLOR_FORCE") != "0";
  const bool dumb = variable("TERM") == "dumb";
  const auto colors = [&](int fd) { return !no_color && (forced || (!dumb && ::isatty(fd) == 1)); };
  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  struct winsize size {};
  const bool sized = terminal && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0;
  return TerminalInfo{.color = colors(STDOUT_FILENO),
                      .error_color = colors(STDERR_FILENO),
                      .progress = ::isatty(STDERR_FILENO) == 1,
                      .terminal = terminal,
                      .columns = sized ? size.ws_col : 80};
}

Printer::Printer(std::ostream& out, std::ostream& err, PrinterOptions options)
    : m_out(out), m_err(err), m_options(options), m_progress(err, false) {
  set_options(options);
}

void Printer::set_options(const PrinterOptions& options) {
  m_options = options;
  m_progress.set_enabled(options.progress && !options.quiet);
}

bool Printer::for_people() const {
  return m_options.format == OutputFormat::table || m_options.format == OutputFormat::wide;
}

void Printer::print_list(const ResourceKind& kind, const json& items) {
  if (print_template(json{{"items", items}}, items)) return;
  switch (m_options.format) {
    case OutputFormat::json:
    case OutputFormat::yaml:
      print_serialized(json{{"items", items}});
      break;
    case OutputFormat::name:
      print_names(kind, items);
      break;
    default:
      print_table(kind, items);
      break;
  }
}

bool Printer::print_for_scripts(const ResourceKind& kind, const json& resource) {
  if (print_template(resource, json::array({resource}))) return true;
  switch (m_options.format) {
    case OutputFormat::json:
    case OutputFormat::yaml:
      print_serialized(resource);
      return true;
    case OutputFormat::name:
      print_names(kind, json::array({resource}));
      return true;
    default:
      return false;
  }
}

void Printer::print_resource(const ResourceKind& kind, const json& resource) {
  if (!print_for_scripts(kind, resource)) print_table(kind, json::array({resource}));
}

void Printer::print_description(const ResourceKind& kind, const json& resource,
                                const Description& description) {
  if (!print_for_scripts(kind, resource)) print_human(description);
}

void Printer::print_document(const json& document, const Description& description) {
  if (print_template(document, json::array({document}))) return;
  if (m_options.format == OutputFormat::json || m_options.format == OutputFormat::yaml) {
    print_serialized(document);
  } else {
    print_human(description);
  }
}

void Printer::message(std::string_view text) {
  if (m_options.quiet) return;
  m_progress.erase();
  (for_people() ? m_out : m_err) << text << '\n' << std::flush;
}

void Printer::notice(std::string_view text) {
  if (m_options.quiet) return;
  m_progress.erase();
  m_err << text << '\n' << std::flush;
}

void Printer::warning(std::string_view text) {
  m_progress.erase();
  m_err << paint_error("warning:", k_yellow) << ' ' << text << '\n' << std::flush;
}

void Printer::error(const Error& error) {
  m_progress.erase();
  m_err << paint_error("error:", k_red) << ' ' << error.message << '\n';
  for (const auto& detail : error.details) m_err << "  " << detail.to_string() << '\n';
  m_err << std::flush;
}

void Printer::write(std::string_view bytes) {
  m_progress.erase();
  m_out << bytes << std::flush;
}

void Printer::prompt(std::string_view question) {
  m_progress.erase();
  m_err << question << std::flush;
}

void Printer::progress(std::string_view label, uint64_t done, uint64_t total) {
  m_progress.update(label, done, total);
}

void Printer::end_progress() { m_progress.finish(); }

void Printer::print_table(const ResourceKind& kind, const json& items) {
  const auto columns = visible_columns(kind, m_options.format);
  std::vector<std::string> headers;
  std::vector<CellStyle> styles;
  for (const auto* column : columns) {
    headers.push_back(column->header);
    styles.push_back(column->style);
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : items) {
    auto& row = rows.emplace_back();
    for (const auto* column : columns) row.push_back(cell_of(*column, item));
  }
  m_out << render_table(headers, rows, styles, "") << std::flush;
}

std::string Printer::render_table(const std::vector<std::string>& headers,
                                  const std::vector<std::vector<std::string>>& rows,
                                  const std::vector<CellStyle>& styles,
                                  std::string_view indent) const {
  std::vector<size_t> widths;
  for (const auto& header : headers) widths.push_back(display_width(header));
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  }
  auto render_row = [&](const std::vector<std::string>& cells, bool header) {
    std::string line(indent);
    for (size_t i = 0; i < cells.size() && i < widths.size(); ++i) {
      const bool last = i + 1 == cells.size() || i + 1 == widths.size();
      std::string_view colour = header ? k_bold : std::string_view{};
      if (!header && i < styles.size() && styles[i] == CellStyle::status) {
        colour = status_colour(cells[i]);
      }
      line += paint(cells[i], colour);
      if (!last) {
        line += std::string(widths[i] - display_width(cells[i]), ' ');
        line += k_column_gap;
      }
    }
    return line + '\n';
  };
  std::string text = m_options.no_headers ? std::string() : render_row(headers, true);
  for (const auto& row : rows) text += render_row(row, false);
  return text;
}

void Printer::print_names(const ResourceKind& kind, const json& items) {
  const json::json_pointer pointer(kind.name_pointer);
  for (const auto& item : items) {
    if (item.contains(pointer)) m_out << format_cell(item.at(pointer)) << '\n';
  }
  m_out << std::flush;
}

void Printer::print_human(const Description& description) {
  size_t label_width = 0;
  for (const auto& [label, value] : description.fields) {
    label_width = std::max(label_width, display_width(label) + 1);
  }
  for (const auto& [label, value] : description.fields) {
    m_out << fmt::format("{:<{}} {}\n", label + ":", label_width, value);
  }
  for (const auto& section : description.sections) {
    if (!description.fields.empty() || &section != &description.sections.front()) m_out << '\n';
    m_out << paint(section.title + ":", k_bold) << '\n';
    if (section.headers.empty()) {
      for (const auto& row : section.rows) m_out << fmt::format("  {}\n", fmt::join(row, " "));
      continue;
    }
    m_out << render_table(section.headers, section.rows, {}, "  ");
  }
  m_out << std::flush;
}

bool Printer::print_template(const json& document, const json& rows) {
  switch (m_options.format) {
    case OutputFormat::jsonpath:
      if (m_options.jsonpath) m_out << m_options.jsonpath->render(document);
      break;
    case OutputFormat::tsv:
      for (const auto& row : rows) m_out << tsv_row(row);
      break;
    case OutputFormat::custom_columns: {
      std::vector<std::string> headers;
      for (const auto& column : m_options.custom_columns) headers.push_back(column.header);
      std::vector<std::vector<std::string>> cells;
      for (const auto& row : rows) {
        auto& line = cells.emplace_back();
        for (const auto& column : m_options.custom_columns) line.push_back(custom_column_cell(column, row));
      }
      m_out << render_table(headers, cells, {}, "");
      break;
    }
    default:
      return false;
  }
  m_out << std::flush;
  return true;
}

void Printer::print_serialized(const json& document) {
  if (m_options.format == OutputFormat::yaml) {
    m_out << to_yaml(document) << std::flush;
  } else {
    m_out << document.dump(2) << '\n' << std::flush;
  }
}

std::string Printer::paint(std::string_view text, std::string_view ansi) const {
  if (!m_options.color || ansi.empty()) return std::string(text);
  return fmt::format("\033[{}m{}\033[0m", ansi, text);
}

std::string Printer::paint_error(std::string_view text, std::string_view ansi) const {
  if (!m_options.error_color || ansi.empty()) return std::string(text);
  return fmt::format("\033[{}m{}\033[0m", ansi, text);
}

}  // namespace trainctl::cli
