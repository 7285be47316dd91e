#include "trainctl/spec/yaml_document.hpp"

#include <yaml.h>

#include <algorithm>
#include <iterator>
#include <new>
#include <optional>
#include <unordered_set>

#include "problems.hpp"
#include "trainctl/util/strings.hpp"
#include "yaml_prescan.hpp"

namespace trainctl::spec {

namespace {

// The non-specific tag "!", which a node may carry explicitly: the node is then a string, as
// a quoted scalar is. Any other explicit tag is refused.
constexpr std::string_view k_non_specific_tag = "!";

// The plain scalars YAML reads as null ("key:" with nothing after it among them).
bool is_null_text(std::string_view text) {
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

// libyaml's position (0-based) as a SourceMark of `file` (1-based).
SourceMark mark_in(std::string_view file, const yaml_mark_t& mark) {
  return SourceMark{std::string(file), static_cast<int>(mark.line) + 1,
                    static_cast<int>(mark.column) + 1};
}

std::string_view text_of(const yaml_char_t* text) {
  return text == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(text));
}

// Builds a DocumentNode tree from libyaml's parse events, recording every problem instead of
// stopping at the first. Aliases are never expanded, so an alias bomb costs nothing.
class TreeBuilder {
 public:
  TreeBuilder(std::string_view file_name, const YamlLimits& limits)
      : m_file(file_name), m_limits(limits) {}

  std::optional<DocumentNode>& root() { return m_root; }
  std::vector<ErrorDetail>& problems() { return m_problems; }

  // One event of the document's; the caller handles the stream's and documents' own.
  void on_event(const yaml_event_t& event) {
    const SourceMark mark = mark_in(m_file, event.start_mark);
    switch (event.type) {
      case YAML_ALIAS_EVENT:
        problem(mark, child_path(), "aliases (*name) are not allowed in a job spec; write the value out");
        add(DocumentNode::null(mark));
        break;
      case YAML_SCALAR_EVENT: {
        const auto& scalar = event.data.scalar;
        check_properties(mark, scalar.anchor, scalar.tag);
        const std::string_view tag = text_of(scalar.tag);
        const std::string_view value(reinterpret_cast<const char*>(scalar.value), scalar.length);
        const bool plain = scalar.style == YAML_PLAIN_SCALAR_STYLE && tag.empty();
        if (plain && is_null_text(value)) {
          add(DocumentNode::null(mark));
          break;
        }
        const bool too_long = value.size() > m_limits.max_scalar_bytes;
        if (too_long) {
          problem(mark, child_path(),
                  fmt::format("this value is {} bytes long; a value is limited to {}", value.size(),
                              util::format_size(m_limits.max_scalar_bytes)));
        }
        add(DocumentNode::scalar(too_long ? std::string() : std::string(value), !plain, mark));
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
        check_properties(mark, event.data.sequence_start.anchor, event.data.sequence_start.tag);
        open(DocumentNode::Kind::sequence, mark);
        break;
      case YAML_MAPPING_START_EVENT:
        check_properties(mark, event.data.mapping_start.anchor, event.data.mapping_start.tag);
        open(DocumentNode::Kind::mapping, mark);
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        close();
        break;
      default:
        break;
    }
  }

 private:
  // A collection being built, with its path and, for a mapping, the key awaiting its value.
  struct Frame {
    DocumentNode node;
    std::string path;
    std::optional<DocumentNode> key;
    std::unordered_set<std::string> keys_seen;
  };


  void problem(const SourceMark& mark, std::string path, std::string message) {
    m_problems.push_back(detail_at(mark, std::move(path), std::move(message)));
  }

  // A node's anchor (&name) and explicit tag, both refused.
  void check_properties(const SourceMark& mark, const yaml_char_t* anchor, const yaml_char_t* tag) {
    if (anchor != nullptr) {
      problem(mark, child_path(),
              fmt::format("anchors (&{}) are not allowed in a job spec; write the value out",
                          text_of(anchor)));
    }
    if (tag != nullptr && text_of(tag) != k_non_specific_tag) {
      problem(mark, child_path(),
              fmt::format("explicit YAML tags ('{}') are not allowed in a job spec", text_of(tag)));
    }
  }

  // The field path of the node about to be added: "estimator.node_count", "tags", "x[2]".
  std::string child_path() const {
    if (m_stack.empty()) return "";
    const Frame& parent = m_stack.back();
    if (parent.node.is_sequence()) {
      return fmt::format("{}[{}]", parent.path, parent.node.items.size());
    }
    if (!parent.key) return parent.path;
    return parent.path.empty() ? parent.key->text : parent.path + "." + parent.key->text;
  }

  void open(DocumentNode::Kind kind, SourceMark mark) {
    std::string path = child_path();
    Frame frame;
    frame.node = DocumentNode::collection(kind, std::move(mark));
    frame.path = std::move(path);
    m_stack.push_back(std::move(frame));
  }

  void close() {
    DocumentNode node = std::move(m_stack.back().node);
    m_stack.pop_back();
    add(std::move(node));
  }

  void add(DocumentNode node) {
    if (m_stack.empty()) {
      m_root = std::move(node);
      return;
    }
    Frame& parent = m_stack.back();
    if (parent.node.is_sequence()) {
      parent.node.items.push_back(std::move(node));
    } else if (!parent.key) {
      parent.key = std::move(node);
    } else {
      if (node.is_null()) node.mark = parent.key->mark;  // "key:" with nothing after it
      add_entry(parent, std::move(*parent.key), std::move(node));
      parent.key.reset();
    }
  }

  void add_entry(Frame& parent, DocumentNode key, DocumentNode value) {
    const std::string path = parent.path.empty() ? key.text : parent.path + "." + key.text;
    if (!key.is_scalar()) {
      problem(key.mark, parent.path, "mapping keys must be plain names, not collections");
    } else if (!parent.keys_seen.insert(key.text).second) {
      problem(key.mark, path, fmt::format("duplicate key '{}'", key.text));
    } else {
      parent.node.entries.emplace_back(std::move(key), std::move(value));
    }
  }

  std::string_view m_file;
  const YamlLimits& m_limits;
  std::vector<Frame> m_stack;
  std::optional<DocumentNode> m_root;
  std::vector<ErrorDetail> m_problems;
};

ErrorDetail detail_in_file(std::string_view file, int line, int column, std::string message) {
  return spec::detail_at(SourceMark{std::string(file), line, column}, "", std::move(message));
}

// The column of byte `at` of a line that starts at `line_start`: 1-based, in characters (a UTF-8
// continuation byte is part of the character before it).
int column_of(std::string_view text, size_t line_start, size_t at) {
  const std::string_view before = text.substr(line_start, at - line_start);
  return static_cast<int>(std::ranges::count_if(
             before, [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; })) +
         1;
}

// libyaml's parser over a text, freed however the parse ends.
class EventParser {
 public:
  explicit EventParser(std::string_view text) : m_text(text) {
    if (yaml_parser_initialize(&m_parser) == 0) throw std::bad_alloc();
    yaml_parser_set_input_string(&m_parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
  }
  ~EventParser() { yaml_parser_delete(&m_parser); }
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  // The next event into `event`, which the caller deletes; false when the text is malformed.
  bool next(yaml_event_t& event) { return yaml_parser_parse(&m_parser, &event) == 1; }

  // Why the text is malformed, at the place libyaml gave up.
  ErrorDetail problem(std::string_view file_name) const {
    if (m_parser.error == YAML_READER_ERROR) {  // bytes that are not UTF-8: an offset, no mark
      const size_t at = std::min(m_parser.problem_offset, m_text.size());
      const std::string_view before = m_text.substr(0, at);
      const size_t newline = before.rfind('\n');
      const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
      return detail_in_file(
          file_name, static_cast<int>(std::ranges::count(before, '\n')) + 1,
          column_of(m_text, line_start, at),
          fmt::format("the file is not UTF-8 ({}); save it as UTF-8",
                      m_parser.problem != nullptr ? m_parser.problem : "an invalid byte"));
    }
    std::string message = fmt::format("malformed YAML: {}", m_parser.problem != nullptr
                                                                ? m_parser.problem
                                                                : "the text cannot be read");
    if (m_parser.context != nullptr) {
      fmt::format_to(std::back_inserter(message), " ({} at line {}, column {})", m_parser.context,
                     m_parser.context_mark.line + 1, m_parser.context_mark.column + 1);
    }
    return detail_at(mark_in(file_name, m_parser.problem_mark), "", std::move(message));
  }

 private:
  std::string_view m_text;
  yaml_parser_t m_parser{};
};

// An event, deleted with its strings once handled.
struct EventGuard {
  yaml_event_t& event;
  ~EventGuard() { yaml_event_delete(&event); }
};

// Runs libyaml over the text; a malformed document is one problem at libyaml's position.
// With `many`, every document of the stream (empty ones left out); otherwise the one document,
// a second being a problem.
Result<YamlStream> parse_events(std::string_view text, std::string_view file_name,
                                const YamlLimits& limits, bool many) {
  EventParser parser(text);
  std::vector<DocumentNode> documents;
  std::vector<ErrorDetail> problems;
  std::optional<TreeBuilder> document;
  size_t count = 0;
  for (bool more = true; more;) {
    yaml_event_t event;
    if (!parser.next(event)) return invalid_spec({parser.problem(file_name)});
    const EventGuard guard{event};
    switch (event.type) {
      case YAML_STREAM_END_EVENT:
        more = false;
        break;
      case YAML_DOCUMENT_START_EVENT:
        if (++count > 1 && !many) {
          problems.push_back(detail_at(mark_in(file_name, event.start_mark), "",
                                       "a job spec is one YAML document; remove the second"));
          more = false;
          break;
        }
        document.emplace(file_name, limits);
        break;
      case YAML_DOCUMENT_END_EVENT:
        if (document) {
          problems.insert(problems.end(), std::make_move_iterator(document->problems().begin()),
                          std::make_move_iterator(document->problems().end()));
          auto& root = document->root();
          if (root && (count == 1 || !root->is_null())) documents.push_back(std::move(*root));
          document.reset();
        }
        break;
      default:
        if (document) document->on_event(event);
        break;
    }
  }
  if (!problems.empty()) return invalid_spec(std::move(problems));
  if (many) {
    std::erase_if(documents, [](const DocumentNode& node) { return node.is_null(); });
  } else if (documents.empty()) {
    documents.push_back(DocumentNode::null(SourceMark{std::string(file_name), 1, 1}));
  }
  return YamlStream{std::move(documents), count};
}

// The code point of a character YAML does not allow in a file, starting at byte `i`: any
// control character but tab, line feed and carriage return (C0, DEL and C1; NUL and NEL
// included), the line and paragraph separators U+2028 and U+2029, which YAML 1.1 parsers take for
// line breaks, and the non-characters U+FFFE and U+FFFF.
std::optional<char32_t> disallowed_at(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) -> unsigned {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u;
  };
  const unsigned c = byte(0);
  if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) {
    return char32_t(c);
  }
  if (c == 0xC2 && byte(1) >= 0x80 && byte(1) <= 0x9F) {
    return char32_t(byte(1));
  }
  if (c == 0xE2 && byte(1) == 0x80 && (byte(2) == 0xA8 || byte(2) == 0xA9)) {
    return char32_t(0x2000 + (byte(2) & 0x3F));
  }
  if (c == 0xEF && byte(1) == 0xBF && (byte(2) == 0xBE || byte(2) == 0xBF)) {
    return char32_t(0xFFC0 + (byte(2) & 0x3F));
  }
  return std::nullopt;
}

// The first character YAML does not allow in a file (disallowed_at), at its line and column. A
// parser takes a NUL for the end of its input, a separator for a line break, or reports the
// others as text that is not UTF-8, so they are found here first, by name.
std::optional<ErrorDetail> find_control_character(std::string_view text, std::string_view file_name) {
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
      continue;
    }
    const auto found = disallowed_at(text, i);
    if (!found) continue;
    const char32_t code = *found;
    std::string what;
    if (code == 0) {
      what = "a NUL byte (\\0)";
    } else if (code == 0x2028 || code == 0x2029) {
      what = fmt::format("the {} separator U+{:04X}", code == 0x2028 ? "line" : "paragraph",
                         static_cast<unsigned>(code));
    } else if (code >= 0xFFFE) {
      what = fmt::format("the non-character U+{:04X}", static_cast<unsigned>(code));
    } else {
      what = fmt::format("the control character U+{:04X}", static_cast<unsigned>(code));
    }
    const std::string fix = code < 0x20 || code == 0x7F
                                ? "remove it"
                                : fmt::format("remove it, or write it as \"\\u{:04X}\" in a "
                                              "double-quoted string",
                                              static_cast<unsigned>(code));
    return detail_in_file(file_name, line, column_of(text, line_start, i),
                          fmt::format("{} is not allowed in a YAML file; {}", what, fix));
  }
  return std::nullopt;
}

// The checks made before libyaml sees the text: its size, control characters, nesting.
Result<void> prescan(std::string_view text, std::string_view file_name, const YamlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return invalid_spec(
        {detail_in_file(file_name, 0, 0,
                        fmt::format("the file is {} bytes; a job spec is limited to {}",
                                    text.size(), util::format_size(limits.max_bytes)))});
  }
  if (auto control = find_control_character(text, file_name)) return invalid_spec({std::move(*control)});
  if (auto problem = prescan_yaml(text, limits.max_depth)) {
    return invalid_spec(
        {detail_in_file(file_name, problem->line, problem->column, std::move(problem->message))});
  }
  return {};
}

}  // namespace

Result<DocumentNode> parse_yaml_document(std::string_view text, std::string_view file_name,
                                         const YamlLimits& limits) {
  if (auto checked = prescan(text, file_name, limits); !checked) return fail(checked.error());
  auto parsed = parse_events(text, file_name, limits, /*many=*/false);
  if (!parsed) return fail(std::move(parsed.error()));
  return std::move(parsed->documents.front());
}

Result<std::vector<DocumentNode>> parse_yaml_documents(std::string_view text,
                                                       std::string_view file_name,
                                                       const YamlLimits& limits) {
  auto parsed = parse_yaml_stream(text, file_name, limits);
  if (!parsed) return fail(std::move(parsed.error()));
  return std::move(parsed->documents);
}

Result<YamlStream> parse_yaml_stream(std::string_view text, std::string_view file_name,
                                     const YamlLimits& limits) {
  if (auto checked = prescan(text, file_name, limits); !checked) return fail(checked.error());
  return parse_events(text, file_name, limits, /*many=*/true);
}

}  // namespace trainctl::spec
