#include "trainctl/cli/jsonpath.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <optional>

#include <fmt/format.h>

#include "trainctl/util/strings.hpp"

namespace trainctl::cli {

using nlohmann::json;

namespace {

enum class Compare { exists, eq, ne, lt, le, gt, ge };

}  // namespace

// One step of a path, applied to every value the steps before it found.
struct JsonPathExpression::Step {
  enum class Kind { keys, wildcard, descend, indices, slice, filter };
  Kind kind = Kind::keys;
  std::vector<std::string> keys;    // keys; descend: the key looked for at any depth ("" any)
  std::vector<int64_t> indices;     // indices (negative: from the end)
  std::optional<int64_t> start, end;  // slice
  int64_t step = 1;                 // slice
  std::vector<Step> filter_path;    // filter: the path after @
  Compare compare = Compare::exists;
  json literal;                     // filter: what the value is compared with
};

namespace {

using Step = JsonPathExpression::Step;

Step step_of(Step::Kind kind, std::vector<std::string> keys = {}) {
  Step step;
  step.kind = kind;
  step.keys = std::move(keys);
  return step;
}

// Walks `text` from `pos`; every parse error names the character it stops at (1-based).
class Cursor {
 public:
  Cursor(std::string_view text, size_t offset) : m_text(text), m_offset(offset) {}

  bool done() const { return m_pos >= m_text.size(); }
  char peek(size_t ahead = 0) const {
    return m_pos + ahead < m_text.size() ? m_text[m_pos + ahead] : '\0';
  }
  char next() { return m_text[m_pos++]; }
  bool take(char c) {
    if (peek() != c) return false;
    ++m_pos;
    return true;
  }
  void skip_spaces() {
    while (!done() && std::isspace(static_cast<unsigned char>(peek()))) ++m_pos;
  }
  size_t position() const { return m_pos; }
  std::string_view rest() const { return m_text.substr(m_pos); }

  std::unexpected<Error> error(std::string_view what) const {
    const auto at = m_offset + m_pos + 1;
    return fail(ErrorCode::usage, "jsonpath: {} at character {}{}", what, at,
                done() ? " (the end)" : fmt::format(" ('{}')", m_text[m_pos]));
  }

 private:
  std::string_view m_text;
  size_t m_offset;
  size_t m_pos = 0;
};

bool is_name_char(char c) {
  if (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80) {
    return true;
  }
  return c == '_' || c == '-' || c == '/' || c == ':' || c == '+' || c == '%' || c == '#';
}

Result<std::string> parse_quoted(Cursor& cursor) {
  const char quote = cursor.next();
  std::string text;
  while (!cursor.done() && cursor.peek() != quote) {
    char c = cursor.next();
    if (c == '\\' && !cursor.done()) {
      switch (const char escaped = cursor.next()) {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        default: c = escaped; break;
      }
    }
    text += c;
  }
  if (!cursor.take(quote)) return cursor.error("unterminated string");
  return text;
}

Result<int64_t> parse_integer(Cursor& cursor) {
  const auto rest = cursor.rest();
  int64_t value = 0;
  const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (error != std::errc()) return cursor.error("expected a number");
  for (auto n = end - rest.data(); n > 0; --n) cursor.next();
  return value;
}

Result<std::vector<Step>> parse_steps(Cursor& cursor, bool in_filter);

Result<json> parse_literal(Cursor& cursor) {
  cursor.skip_spaces();
  if (cursor.peek() == '"' || cursor.peek() == '\'') {
    auto text = parse_quoted(cursor);
    if (!text) return fail(text.error());
    return json(*text);
  }
  for (const auto* word : {"true", "false", "null"}) {
    if (cursor.rest().starts_with(word)) {
      for (size_t i = 0; word[i] != '\0'; ++i) cursor.next();
      return json::parse(word);
    }
  }
  const auto rest = cursor.rest();
  size_t length = 0;
  while (length < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[length])) ||
                                  std::string_view("+-.eE").find(rest[length]) != std::string_view::npos)) {
    ++length;
  }
  const auto number = json::parse(rest.substr(0, length), nullptr, false);
  if (length == 0 || !number.is_number()) return cursor.error("expected a string, number, true, false or null");
  for (size_t i = 0; i < length; ++i) cursor.next();
  return number;
}

Result<Step> parse_filter(Cursor& cursor) {
  // After "[?(": @ and a path, then an optional comparison, then ")]".
  cursor.skip_spaces();
  if (!cursor.take('@')) return cursor.error("a filter starts with @");
  auto path = parse_steps(cursor, true);
  if (!path) return fail(path.error());
  Step step = step_of(Step::Kind::filter);
  step.filter_path = std::move(*path);
  cursor.skip_spaces();
  static constexpr std::array<std::pair<std::string_view, Compare>, 6> k_operators{
      {{"==", Compare::eq}, {"!=", Compare::ne}, {"<=", Compare::le}, {">=", Compare::ge},
       {"<", Compare::lt}, {">", Compare::gt}}};
  for (const auto& [text, compare] : k_operators) {
    if (!cursor.rest().starts_with(text)) continue;
    for (size_t i = 0; i < text.size(); ++i) cursor.next();
    auto literal = parse_literal(cursor);
    if (!literal) return fail(literal.error());
    step.compare = compare;
    step.literal = std::move(*literal);
    break;
  }
  cursor.skip_spaces();
  if (!cursor.take(')')) return cursor.error("expected ')' to end the filter");
  return step;
}

// What follows '[': *, indices, a slice, quoted keys or a filter; consumes the ']'.
Result<Step> parse_bracket(Cursor& cursor) {
  cursor.skip_spaces();
  Step step;
  if (cursor.take('*')) {
    step.kind = Step::Kind::wildcard;
  } else if (cursor.peek() == '?') {
    cursor.next();
    if (!cursor.take('(')) return cursor.error("expected '(' after '?'");
    auto filter = parse_filter(cursor);
    if (!filter) return fail(filter.error());
    step = std::move(*filter);
  } else if (cursor.peek() == '\'' || cursor.peek() == '"') {
    step.kind = Step::Kind::keys;
    do {
      cursor.skip_spaces();
      if (cursor.peek() != '\'' && cursor.peek() != '"') return cursor.error("expected a quoted key");
      auto key = parse_quoted(cursor);
      if (!key) return fail(key.error());
      step.keys.push_back(std::move(*key));
      cursor.skip_spaces();
    } while (cursor.take(','));
  } else {
    std::optional<int64_t> first;
    if (cursor.peek() != ':') {
      auto number = parse_integer(cursor);
      if (!number) return fail(number.error());
      first = *number;
    }
    cursor.skip_spaces();
    if (cursor.take(':')) {
      step.kind = Step::Kind::slice;
      step.start = first;
      cursor.skip_spaces();
      if (cursor.peek() != ']' && cursor.peek() != ':') {
        auto end = parse_integer(cursor);
        if (!end) return fail(end.error());
        step.end = *end;
      }
      if (cursor.take(':')) {
        auto by = parse_integer(cursor);
        if (!by) return fail(by.error());
        if (*by <= 0) return cursor.error("a slice's step must be positive");
        step.step = *by;
      }
    } else {
      step.kind = Step::Kind::indices;
      step.indices.push_back(*first);
      while (cursor.take(',')) {
        cursor.skip_spaces();
        auto number = parse_integer(cursor);
        if (!number) return fail(number.error());
        step.indices.push_back(*number);
        cursor.skip_spaces();
      }
    }
  }
  cursor.skip_spaces();
  if (!cursor.take(']')) return cursor.error("expected ']'");
  return step;
}

Result<std::string> parse_name(Cursor& cursor) {
  std::string name;
  while (!cursor.done() && is_name_char(cursor.peek())) name += cursor.next();
  if (name.empty()) return cursor.error("expected a key");
  return name;
}

// Steps until the text ends (or, in a filter, until an operator or ')').
Result<std::vector<Step>> parse_steps(Cursor& cursor, bool in_filter) {
  std::vector<Step> steps;
  while (!cursor.done()) {
    if (in_filter && std::string_view("=!<>) ").find(cursor.peek()) != std::string_view::npos) break;
    if (cursor.take('[')) {
      auto step = parse_bracket(cursor);
      if (!step) return fail(step.error());
      steps.push_back(std::move(*step));
      continue;
    }
    if (!cursor.take('.')) return cursor.error("expected '.' or '['");
    if (cursor.take('.')) {
      Step step = step_of(Step::Kind::descend);
      if (cursor.take('*')) {
        step.keys.emplace_back();
      } else if (cursor.peek() == '[') {
        step.keys.emplace_back();  // ..[...]: any value at any depth, then the bracket
        steps.push_back(std::move(step));
        continue;
      } else {
        auto name = parse_name(cursor);
        if (!name) return fail(name.error());
        step.keys.push_back(std::move(*name));
      }
      steps.push_back(std::move(step));
      continue;
    }
    if (cursor.take('*')) {
      steps.push_back(step_of(Step::Kind::wildcard));
      continue;
    }
    if (cursor.done() || cursor.peek() == '[') continue;  // "." alone: the value itself
    auto name = parse_name(cursor);
    if (!name) return fail(name.error());
    steps.push_back(step_of(Step::Kind::keys, {std::move(*name)}));
  }
  return steps;
}

Result<std::vector<Step>> parse_expression(std::string_view text, size_t offset) {
  Cursor cursor(text, offset);
  cursor.skip_spaces();
  cursor.take('$');
  if (!cursor.done() && cursor.peek() != '.' && cursor.peek() != '[') {
    // kubectl accepts "items[0]" for ".items[0]".
    const std::string with_dot = "." + std::string(text);
    Cursor again(with_dot, offset == 0 ? 0 : offset - 1);
    auto steps = parse_steps(again, false);
    if (steps) return steps;
    return cursor.error("expected '.', '[' or '$'");
  }
  return parse_steps(cursor, false);
}

void collect_descendants(const json& value, const std::string& key, std::vector<const json*>& out) {
  if (value.is_object()) {
    for (const auto& [name, child] : value.items()) {
      if (key.empty() || name == key) out.push_back(&child);
    }
  } else if (value.is_array() && key.empty()) {
    for (const auto& child : value) out.push_back(&child);
  }
  if (value.is_object() || value.is_array()) {
    for (const auto& child : value) collect_descendants(child, key, out);
  }
}

std::vector<const json*> apply_steps(const std::vector<Step>& steps, std::vector<const json*> values);

bool passes(const Step& filter, const json& item) {
  const auto found = apply_steps(filter.filter_path, {&item});
  if (filter.compare == Compare::exists) return !found.empty();
  if (found.empty()) return filter.compare == Compare::ne;
  const json& value = *found.front();
  const json& literal = filter.literal;
  switch (filter.compare) {
    case Compare::eq: return value == literal;
    case Compare::ne: return value != literal;
    default: break;
  }
  const bool comparable = (value.is_number() && literal.is_number()) ||
                          (value.is_string() && literal.is_string());
  if (!comparable) return false;
  switch (filter.compare) {
    case Compare::lt: return value < literal;
    case Compare::le: return value <= literal;
    case Compare::gt: return value > literal;
    default: return value >= literal;
  }
}

void apply_step(const Step& step, const json& value, std::vector<const json*>& out) {
  switch (step.kind) {
    case Step::Kind::keys:
      for (const auto& key : step.keys) {
        if (value.is_object()) {
          if (const auto found = value.find(key); found != value.end()) out.push_back(&*found);
        }
      }
      break;
    case Step::Kind::wildcard:
      if (value.is_object() || value.is_array()) {
        for (const auto& child : value) out.push_back(&child);
      }
      break;
    case Step::Kind::descend:
      collect_descendants(value, step.keys.front(), out);
      break;
    case Step::Kind::indices:
      if (!value.is_array()) break;
      for (auto index : step.indices) {
        const auto size = static_cast<int64_t>(value.size());
        if (index < 0) index += size;
        if (index >= 0 && index < size) out.push_back(&value[static_cast<size_t>(index)]);
      }
      break;
    case Step::Kind::slice: {
      if (!value.is_array()) break;
      const auto size = static_cast<int64_t>(value.size());
      const auto clamp = [size](int64_t at) { return std::clamp(at < 0 ? at + size : at, int64_t{0}, size); };
      const int64_t from = clamp(step.start.value_or(0));
      const int64_t to = clamp(step.end.value_or(size));
      for (int64_t i = from; i < to; i += step.step) out.push_back(&value[static_cast<size_t>(i)]);
      break;
    }
    case Step::Kind::filter:
      if (value.is_array() || value.is_object()) {
        for (const auto& child : value) {
          if (passes(step, child)) out.push_back(&child);
        }
      }
      break;
  }
}

std::vector<const json*> apply_steps(const std::vector<Step>& steps, std::vector<const json*> values) {
  for (const auto& step : steps) {
    std::vector<const json*> next;
    for (const auto* value : values) apply_step(step, *value, next);
    values = std::move(next);
  }
  return values;
}

std::string text_of(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

Result<JsonPathExpression> JsonPathExpression::parse(std::string_view text) {
  std::string_view inner = text;
  size_t offset = 0;
  if (inner.starts_with('{') && inner.ends_with('}')) {
    inner = inner.substr(1, inner.size() - 2);
    offset = 1;
  }
  auto steps = parse_expression(inner, offset);
  if (!steps) return fail(steps.error());
  return JsonPathExpression(std::make_shared<const std::vector<Step>>(std::move(*steps)));
}

std::vector<json> JsonPathExpression::evaluate(const json& document) const {
  std::vector<json> values;
  if (!m_steps) return values;
  for (const auto* value : apply_steps(*m_steps, {&document})) values.push_back(*value);
  return values;
}

struct JsonPathTemplate::Node {
  enum class Kind { text, expression, range };
  Kind kind = Kind::text;
  std::string text;
  JsonPathExpression expression;
  std::vector<Node> body;  // range
};

namespace {

using Node = JsonPathTemplate::Node;

Node text_node(std::string text) {
  Node node;
  node.text = std::move(text);
  return node;
}

Node expression_node(Node::Kind kind, std::vector<Step> steps) {
  Node node;
  node.kind = kind;
  node.expression = JsonPathExpression(std::make_shared<const std::vector<Step>>(std::move(steps)));
  return node;
}

// The end of the {...} that starts at `open`, skipping quoted strings; npos when unterminated.
size_t closing_brace(std::string_view text, size_t open) {
  char quote = '\0';
  for (size_t i = open + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != '\0') {
      if (c == '\\') ++i;
      else if (c == quote) quote = '\0';
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '{') {
      return std::string_view::npos;
    } else if (c == '}') {
      return i;
    }
  }
  return std::string_view::npos;
}

using util::trimmed;

void render_nodes(const std::vector<Node>& nodes, const json& current, std::string& out) {
  for (const auto& node : nodes) {
    switch (node.kind) {
      case Node::Kind::text:
        out += node.text;
        break;
      case Node::Kind::expression: {
        bool first = true;
        for (const auto& value : node.expression.evaluate(current)) {
          if (!first) out += ' ';
          out += text_of(value);
          first = false;
        }
        break;
      }
      case Node::Kind::range:
        for (const auto& value : node.expression.evaluate(current)) render_nodes(node.body, value, out);
        break;
    }
  }
}

}  // namespace

Result<JsonPathTemplate> JsonPathTemplate::parse(std::string_view text) {
  // The nodes of the template, with a stack of the ranges still open.
  std::vector<std::vector<Node>> open{{}};
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t brace = text.find('{', pos);
    if (brace != pos) {
      const auto literal = text.substr(pos, brace == std::string_view::npos ? brace : brace - pos);
      if (literal.find('}') != std::string_view::npos) {
        return fail(ErrorCode::usage, "jsonpath: '}}' without '{{' at character {}",
                    pos + literal.find('}') + 1);
      }
      open.back().push_back(text_node(std::string(literal)));
      if (brace == std::string_view::npos) break;
    }
    const size_t close = closing_brace(text, brace);
    if (close == std::string_view::npos) {
      return fail(ErrorCode::usage, "jsonpath: the '{{' at character {} has no '}}' (nested braces are not supported)",
                  brace + 1);
    }
    const auto inside = trimmed(text.substr(brace + 1, close - brace - 1));
    const size_t offset = static_cast<size_t>(inside.data() - text.data());
    if (inside == "end") {
      if (open.size() == 1) return fail(ErrorCode::usage, "jsonpath: {{end}} without {{range}} at character {}", brace + 1);
      auto body = std::move(open.back());
      open.pop_back();
      open.back().back().body = std::move(body);
    } else if (inside.starts_with("range ") || inside.starts_with("range\t")) {
      auto steps = parse_expression(inside.substr(6), offset + 6);
      if (!steps) return fail(steps.error());
      open.back().push_back(expression_node(Node::Kind::range, std::move(*steps)));
      open.emplace_back();
    } else if (inside.starts_with('"') || inside.starts_with('\'')) {
      Cursor cursor(inside, offset);
      auto literal = parse_quoted(cursor);
      if (!literal) return fail(literal.error());
      if (!cursor.done()) return cursor.error("expected '}' after the string");
      open.back().push_back(text_node(std::move(*literal)));
    } else if (inside.empty()) {
      return fail(ErrorCode::usage, "jsonpath: empty {{}} at character {}", brace + 1);
    } else {
      auto steps = parse_expression(inside, offset);
      if (!steps) return fail(steps.error());
      open.back().push_back(expression_node(Node::Kind::expression, std::move(*steps)));
    }
    pos = close + 1;
  }
  if (open.size() > 1) return fail(ErrorCode::usage, "jsonpath: a {{range}} has no {{end}}");
  JsonPathTemplate parsed;
  parsed.m_nodes = std::make_shared<const std::vector<Node>>(std::move(open.front()));
  return parsed;
}

std::string JsonPathTemplate::render(const json& document) const {
  std::string out;
  if (m_nodes) render_nodes(*m_nodes, document, out);
  return out;
}

Result<std::vector<CustomColumn>> parse_custom_columns(std::string_view spec) {
  std::vector<CustomColumn> columns;
  size_t start = 0;
  while (start <= spec.size()) {
    // Columns are separated by commas outside brackets (".a['x','y']" keeps its comma).
    size_t end = start;
    int depth = 0;
    for (; end < spec.size() && (spec[end] != ',' || depth > 0); ++end) {
      if (spec[end] == '[' || spec[end] == '{') ++depth;
      if ((spec[end] == ']' || spec[end] == '}') && depth > 0) --depth;
    }
    const auto column = spec.substr(start, end - start);
    const auto colon = column.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == column.size()) {
      return fail(ErrorCode::usage,
                  "custom-columns: '{}' is not HEADER:PATH (e.g. custom-columns=ID:.id,STATUS:.status)",
                  column);
    }
    auto path = JsonPathExpression::parse(column.substr(colon + 1));
    if (!path) {
      return fail(ErrorCode::usage, "custom-columns: column {}: {}", column.substr(0, colon),
                  path.error().message);
    }
    columns.push_back(CustomColumn{std::string(column.substr(0, colon)), std::move(*path)});
    start = end + 1;
  }
  return columns;
}

std::string custom_column_cell(const CustomColumn& column, const json& item) {
  std::string cell;
  for (const auto& value : column.path.evaluate(item)) {
    if (value.is_null()) continue;
    if (!cell.empty()) cell += ',';
    cell += text_of(value);
  }
  return cell.empty() ? "<none>" : cell;
}

}  // namespace trainctl::cli
