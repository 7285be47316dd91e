#pragma once
// The JSONPath templates of `-o jsonpath=` and the column specs of `-o custom-columns=`, kubectl's
// subset. A template is text with {expressions} in it:
//   {.a.b} {.items[0].id} {.items[-1]} {.items[1:3]} {.items[*].id} {.items[*]['id','status']}
//   {..id} (any depth) {.items[?(@.status=="Failed")].id} (filters: == != < <= > >= on a number,
//   string, true, false or null, or ?(@.key) for "has key") {"\t"} (a string literal)
//   {range .items[*]}{.id}{"\n"}{end}
// Text outside braces prints as written. An expression's values print separated by a space:
// strings as they are, anything else as compact JSON; an expression that finds nothing prints
// nothing. Anything else (functions, scripts, nested braces) fails to parse, naming where.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/util/error.hpp"

namespace trainctl::cli {

class JsonPathTemplate {
 public:
  struct Node;  // one parsed piece (text, expression, range)

  // ErrorCode::usage naming the character where the template stops making sense.
  static Result<JsonPathTemplate> parse(std::string_view text);
  std::string render(const nlohmann::json& document) const;

 private:
  std::shared_ptr<const std::vector<Node>> m_nodes;
};

// One path without braces, as custom-columns takes it: ".status", "{.status}", ".tasks[*].host".
class JsonPathExpression {
 public:
  struct Step;
  JsonPathExpression() = default;
  explicit JsonPathExpression(std::shared_ptr<const std::vector<Step>> steps) : m_steps(std::move(steps)) {}
  static Result<JsonPathExpression> parse(std::string_view text);
  std::vector<nlohmann::json> evaluate(const nlohmann::json& document) const;

 private:
  std::shared_ptr<const std::vector<Step>> m_steps;
};

// One column of -o custom-columns=HEADER:PATH,...
struct CustomColumn {
  std::string header;
  JsonPathExpression path;
};

// "ID:.id,STATUS:.status" into columns; ErrorCode::usage for a column without a header or a path.
Result<std::vector<CustomColumn>> parse_custom_columns(std::string_view spec);

// The cell of `column` for `item`: the values joined by ","; "<none>" when there are none.
std::string custom_column_cell(const CustomColumn& column, const nlohmann::json& item);

}  // namespace trainctl::cli
