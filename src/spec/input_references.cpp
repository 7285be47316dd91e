#include "input_references.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "trainctl/util/strings.hpp"

namespace trainctl::spec {

namespace {

constexpr std::string_view k_open = "${{";
constexpr std::string_view k_close = "}}";
constexpr std::string_view k_inputs_prefix = "inputs.";

// One `${{ body }}` of a value: where it starts and ends (past "}}"), and its body without the
// spaces around it. `closed` is false for a "${{" with no "}}" after it; it then runs to the end.
struct Expression {
  size_t begin = 0;
  size_t end = 0;
  std::string_view body;
  bool closed = true;
};

std::string_view trim_spaces(std::string_view text) {
  const size_t first = text.find_first_not_of(' ');
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(' ') - first + 1);
}

std::vector<Expression> expressions_in(std::string_view value) {
  std::vector<Expression> expressions;
  for (size_t begin = value.find(k_open); begin != std::string_view::npos;
       begin = value.find(k_open, begin)) {
    const size_t body_begin = begin + k_open.size();
    const size_t close = value.find(k_close, body_begin);
    if (close == std::string_view::npos) {
      expressions.push_back({begin, value.size(), value.substr(body_begin), false});
      break;
    }
    expressions.push_back(
        {begin, close + k_close.size(), trim_spaces(value.substr(body_begin, close - body_begin))});
    begin = close + k_close.size();
  }
  return expressions;
}

// The NAME of an `inputs.NAME` body.
std::optional<std::string_view> referenced_input(std::string_view body) {
  if (!body.starts_with(k_inputs_prefix) || body.size() == k_inputs_prefix.size()) {
    return std::nullopt;
  }
  return body.substr(k_inputs_prefix.size());
}

std::string unknown_input(std::string_view name, const std::vector<Input>& inputs) {
  if (inputs.empty()) {
    return fmt::format("'${{{{inputs.{}}}}}' names an input, but the spec has no inputs", name);
  }
  std::vector<std::string_view> names;
  for (const Input& input : inputs) names.push_back(input.name);
  std::string message = fmt::format("'${{{{inputs.{}}}}}' names no input of this spec ({})", name,
                                    fmt::join(names, ", "));
  if (const auto suggestion = util::closest_match(name, names)) {
    message += fmt::format("; did you mean '{}'?", *suggestion);
  }
  return message;
}

}  // namespace

std::vector<std::string> input_reference_problems(std::string_view value,
                                                  const std::vector<Input>& inputs) {
  std::vector<std::string> problems;
  for (const Expression& expression : expressions_in(value)) {
    const std::string_view written =
        value.substr(expression.begin, expression.end - expression.begin);
    if (!expression.closed) {
      problems.push_back(fmt::format("'{}' is not closed by '}}}}'", written));
      continue;
    }
    const auto name = referenced_input(expression.body);
    if (!name) {
      problems.push_back(fmt::format(
          "'{}' is not an expression trainctl knows; write ${{{{inputs.NAME}}}} for the path of "
          "input NAME",
          written));
      continue;
    }
    const bool known = std::any_of(inputs.begin(), inputs.end(),
                                   [&](const Input& input) { return input.name == *name; });
    if (!known) problems.push_back(unknown_input(*name, inputs));
  }
  return problems;
}

std::string substitute_input_paths(std::string_view value, std::string_view inputs_dir) {
  std::string result;
  size_t copied = 0;
  for (const Expression& expression : expressions_in(value)) {
    const auto name = referenced_input(expression.body);
    if (!expression.closed || !name) continue;
    result.append(value.substr(copied, expression.begin - copied));
    result += fmt::format("{}/{}", inputs_dir, *name);
    copied = expression.end;
  }
  result.append(value.substr(copied));
  return result;
}

std::string input_variable_name(std::string_view name) {
  std::string variable = "TRAINCTL_INPUT_";
  for (const char c : name) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    variable += !alnum ? '_' : (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return variable;
}

}  // namespace trainctl::spec
