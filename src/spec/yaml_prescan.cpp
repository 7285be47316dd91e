#include "yaml_prescan.hpp"

#include <fmt/core.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace trainctl::spec {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

bool is_flow_indicator(char c) {
  return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

// "---" or "..." at the start of a line, alone or followed by a blank.
bool is_document_marker(std::string_view line) {
  return (line.starts_with("---") || line.starts_with("...")) &&
         (line.size() == 3 || is_blank(line[3]));
}

// A block scalar (`|` or `>`) in progress: its lines are text, not structure.
struct BlockScalar {
  int owner_column = 0;     // the column of the key or "-" that owns it
  int content_indent = -1;  // -1 until its first non-blank line sets it
};

// A small YAML tokenizer that tracks only what bounds the parser's recursion: block levels
// (indentation, and compact "- - x" entries), flow brackets, quotes, comments and block scalars.
// Its depth over-approximates the parser's on well-formed input.
class Prescanner {
 public:
  Prescanner(std::string_view text, int max_depth) : m_text(text), m_max_depth(max_depth) {}

  std::optional<PrescanProblem> run() {
    size_t start = 0;
    while (start < m_text.size() && !m_problem) {
      size_t end = m_text.find('\n', start);
      if (end == std::string_view::npos) end = m_text.size();
      ++m_line;
      scan_line(m_text.substr(start, end - start));
      start = end + 1;
    }
    if (!m_problem && m_quote != '\0') {
      report(m_quote_line, m_quote_column,
             "this quoted string is never closed; add the closing quote");
    }
    return m_problem;
  }

 private:
  void scan_line(std::string_view line) {
    if (m_quote != '\0') return scan_tokens(line, 0);  // a quoted string spanning lines
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return;  // blank lines never matter
    const size_t indent = line.find_first_not_of(' ');
    if (m_block_scalar && continues_block_scalar(line, indent)) return;
    if (m_flow_depth > 0) return scan_tokens(line, first);
    if (line[first] == '#') return;
    if (line[indent] == '\t') {
      return report(m_line, static_cast<int>(indent) + 1,
                    "a tab is used for indentation; YAML indents with spaces only");
    }
    m_node_start = true;
    if (indent == 0 && is_document_marker(line)) {
      m_levels.clear();
      return scan_tokens(line, 3);
    }
    if (indent == 0 && line[0] == '%') return;  // a directive
    open_block_level(static_cast<int>(indent), indent);
    m_owner_column = static_cast<int>(indent);
    scan_tokens(line, indent);
  }

  // True when the line is text of the block scalar in progress; ends the scalar otherwise.
  bool continues_block_scalar(std::string_view line, size_t indent) {
    const int column = static_cast<int>(indent);
    if (!(indent == 0 && is_document_marker(line))) {
      if (m_block_scalar->content_indent < 0 && column > m_block_scalar->owner_column) {
        m_block_scalar->content_indent = column;
        return true;
      }
      if (m_block_scalar->content_indent >= 0 && column >= m_block_scalar->content_indent) {
        return true;
      }
    }
    m_block_scalar.reset();
    return false;
  }

  void scan_tokens(std::string_view line, size_t pos) {
    while (pos < line.size() && !m_problem) {
      const char c = line[pos];
      if (m_quote != '\0') {
        pos = scan_quoted(line, pos);
      } else if (is_blank(c)) {
        ++pos;
      } else if (c == '#' && (pos == 0 || is_blank(line[pos - 1]))) {
        return;  // a comment
      } else if (m_flow_depth > 0 && (c == ']' || c == '}')) {
        --m_flow_depth;
        m_node_start = false;
        ++pos;
      } else if (m_flow_depth > 0 && c == ',') {
        m_node_start = true;
        ++pos;
      } else {
        pos = m_node_start ? scan_node_start(line, pos) : scan_inside_node(line, pos);
      }
    }
  }

  size_t scan_quoted(std::string_view line, size_t pos) {
    const char c = line[pos];
    if (m_quote == '"' && c == '\\') return pos + 2;  // an escape
    if (c != m_quote) return pos + 1;
    if (m_quote == '\'' && pos + 1 < line.size() && line[pos + 1] == '\'') return pos + 2;  // ''
    m_quote = '\0';
    m_node_start = false;
    return pos + 1;
  }

  // Where a node may begin: after indentation, "- ", "? ", ": ", "[", "{" and ",".
  size_t scan_node_start(std::string_view line, size_t pos) {
    const char c = line[pos];
    const bool blank_after = pos + 1 >= line.size() || is_blank(line[pos + 1]);
    const bool block = m_flow_depth == 0;
    switch (c) {
      case '"':
      case '\'':
        if (block) m_owner_column = static_cast<int>(pos);
        m_quote = c;
        m_quote_line = m_line;
        m_quote_column = static_cast<int>(pos) + 1;
        return pos + 1;
      case '[':
      case '{': enter_flow(pos); return pos + 1;
      case '&':
      case '!': return end_of_token(line, pos);  // an anchor or a tag: the node follows
      case '*': m_node_start = false; return end_of_token(line, pos);
      case '|':
      case '>':
        if (block) {
          start_block_scalar(line, pos);
          return line.size();
        }
        break;
      case '-':
      case '?':
      case ':':
        if (block && blank_after) {
          if (c != ':') m_owner_column = static_cast<int>(pos);
          open_compact_level(line, pos + 1);
          return pos + 1;
        }
        break;
      default: break;
    }
    if (block) m_owner_column = static_cast<int>(pos);  // a plain scalar, perhaps a key
    m_node_start = false;
    return pos + 1;
  }

  // Inside a plain scalar or after a closed node: only ": " (or ":" in flow) and, in flow,
  // brackets matter. Brackets inside a plain scalar in flow are counted too, conservatively.
  size_t scan_inside_node(std::string_view line, size_t pos) {
    const char c = line[pos];
    if (c == ':' && (m_flow_depth > 0 || pos + 1 >= line.size() || is_blank(line[pos + 1]))) {
      m_node_start = true;
    } else if (m_flow_depth > 0 && (c == '[' || c == '{')) {
      enter_flow(pos);
    }
    return pos + 1;
  }

  size_t end_of_token(std::string_view line, size_t pos) const {
    while (pos < line.size() && !is_blank(line[pos]) &&
           !(m_flow_depth > 0 && is_flow_indicator(line[pos]))) {
      ++pos;
    }
    return pos;
  }

  void start_block_scalar(std::string_view line, size_t pos) {
    BlockScalar scalar{m_owner_column, -1};
    for (size_t i = pos + 1; i < line.size() && !is_blank(line[i]); ++i) {
      if (line[i] >= '1' && line[i] <= '9')
        scalar.content_indent = m_owner_column + (line[i] - '0');
    }
    m_block_scalar = scalar;
  }

  // A compact nested node on the same line ("- - x", "- key: v"): a level at its column.
  void open_compact_level(std::string_view line, size_t pos) {
    const size_t next = line.find_first_not_of(" \t\r", pos);
    if (next == std::string_view::npos || line[next] == '#') return;
    open_block_level(static_cast<int>(next), next);
  }

  void open_block_level(int column, size_t pos) {
    while (!m_levels.empty() && m_levels.back() > column) m_levels.pop_back();
    if (!m_levels.empty() && m_levels.back() == column) return;
    m_levels.push_back(column);
    check_depth(pos);
  }

  void enter_flow(size_t pos) {
    ++m_flow_depth;
    check_depth(pos);
  }

  void check_depth(size_t pos) {
    if (m_levels.size() + m_flow_depth > static_cast<size_t>(m_max_depth)) {
      report(m_line, static_cast<int>(pos) + 1,
             fmt::format("the document nests deeper than {} levels (the limit)", m_max_depth));
    }
  }

  void report(int line, int column, std::string message) {
    if (!m_problem) m_problem = PrescanProblem{line, column, std::move(message)};
  }

  std::string_view m_text;
  int m_max_depth;
  int m_line = 0;
  std::vector<int> m_levels;  // columns of the open block levels, increasing
  size_t m_flow_depth = 0;
  bool m_node_start = true;
  int m_owner_column = 0;
  std::optional<BlockScalar> m_block_scalar;
  char m_quote = '\0';  // '"' or '\'' inside a quoted string
  int m_quote_line = 0;
  int m_quote_column = 0;
  std::optional<PrescanProblem> m_problem;
};

}  // namespace

std::optional<PrescanProblem> prescan_yaml(std::string_view text, int max_depth) {
  return Prescanner(text, max_depth).run();
}

}  // namespace trainctl::spec
