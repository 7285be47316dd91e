#pragma once
// Man pages in roff from a CLI11 command: its description, synopsis, commands, arguments,
// options and help footer, i.e. what --help prints, laid out for man(1). Header-only, so that
// trainctld (which does not link the CLI library) renders its own page the same way.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace trainctl::cli {

// Text for roff: backslashes and hyphens escaped, and no line starting with a control character.
inline std::string roff_escape(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (const char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
    line_start = c == '\n';
  }
  return out;
}

// "trainctl run show": the words of `command` from the root.
inline std::string man_command_words(const CLI::App& command) {
  std::string words = command.get_name();
  for (const CLI::App* parent = command.get_parent(); parent != nullptr; parent = parent->get_parent()) {
    words = parent->get_name() + " " + words;
  }
  return words;
}

// "trainctl-run-show": the page's name.
inline std::string man_page_name(const CLI::App& command) {
  std::string name = man_command_words(command);
  std::replace(name.begin(), name.end(), ' ', '-');
  return name;
}

// Paragraphs of plain text: blank lines start a new paragraph; other lines flow.
inline std::string roff_paragraphs(std::string_view text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const auto line = text.substr(start, end - start);
    out += line.find_first_not_of(" \t") == std::string_view::npos ? std::string(".PP")
                                                                   : roff_escape(line);
    out += '\n';
    start = end + 1;
  }
  return out;
}

inline std::string man_page(const CLI::App& command, std::string_view version,
                            std::string_view section = "1") {
  const std::string name = man_page_name(command);
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  const std::string description = command.get_description();
  const std::string summary = description.substr(0, description.find('\n'));
  std::string page = fmt::format(".TH \"{}\" \"{}\" \"\" \"{}\" \"User Commands\"\n", upper,
                                 section, roff_escape(version));
  page += fmt::format(".SH NAME\n{} \\- {}\n", roff_escape(name), roff_escape(summary));

  std::vector<const CLI::App*> subcommands;
  for (const CLI::App* sub : command.get_subcommands({})) {
    if (!sub->get_group().empty()) subcommands.push_back(sub);
  }
  std::vector<const CLI::Option*> arguments;
  std::vector<const CLI::Option*> options;
  for (const CLI::Option* option : command.get_options()) {
    if (option->get_group().empty()) continue;
    (option->nonpositional() ? options : arguments).push_back(option);
  }

  page += fmt::format(".SH SYNOPSIS\n.B {}\n", roff_escape(man_command_words(command)));
  std::string synopsis = options.empty() ? "" : "[\\fIOPTIONS\\fR]";
  for (const auto* argument : arguments) {
    const auto text = fmt::format("\\fI{}\\fR{}", roff_escape(argument->get_name()),
                                  argument->get_expected_max() > 1 ? "..." : "");
    synopsis += " " + (argument->get_required() ? text : "[" + text + "]");
  }
  if (!subcommands.empty()) synopsis += " \\fICOMMAND\\fR";
  page += synopsis + "\n";

  page += ".SH DESCRIPTION\n" + roff_paragraphs(description);
  if (!subcommands.empty()) {
    page += ".SH COMMANDS\n";
    for (const auto* sub : subcommands) {
      page += fmt::format(".TP\n\\fB{}\\fR\n{}\nSee \\fB{}\\fR(1).\n", roff_escape(sub->get_name()),
                          roff_escape(sub->get_description()), roff_escape(man_page_name(*sub)));
    }
  }
  if (!arguments.empty()) {
    page += ".SH ARGUMENTS\n";
    for (const auto* argument : arguments) {
      page += fmt::format(".TP\n\\fI{}\\fR\n{}\n", roff_escape(argument->get_name()),
                          roff_escape(argument->get_description()));
    }
  }
  if (!options.empty()) {
    page += ".SH OPTIONS\n";
    for (const auto* option : options) {
      std::vector<std::string> names;
      for (const auto& each : option->get_snames()) names.push_back("\\fB\\-" + roff_escape(each) + "\\fR");
      for (const auto& each : option->get_lnames()) names.push_back("\\fB\\-\\-" + roff_escape(each) + "\\fR");
      std::string line = fmt::format("{}", fmt::join(names, ", "));
      if (option->get_expected_min() != 0) line += " \\fI" + roff_escape(option->get_type_name()) + "\\fR";
      page += fmt::format(".TP\n{}\n{}\n", line, roff_escape(option->get_description()));
    }
  }
  if (const auto footer = command.get_footer(); !footer.empty()) {
    page += ".SH NOTES\n.nf\n" + roff_escape(footer) + "\n.fi\n";
  }
  std::vector<std::string> see_also;
  if (const CLI::App* parent = command.get_parent(); parent != nullptr) {
    see_also.push_back(fmt::format("\\fB{}\\fR(1)", roff_escape(man_page_name(*parent))));
  }
  for (const auto* sub : subcommands) {
    see_also.push_back(fmt::format("\\fB{}\\fR(1)", roff_escape(man_page_name(*sub))));
  }
  if (!see_also.empty()) page += fmt::format(".SH SEE ALSO\n{}\n", fmt::join(see_also, ",\n"));
  return page;
}

}  // namespace trainctl::cli
