#include "trainctl/spec/yaml_document.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <optional>
#include <sstream>
#include <unordered_set>

#include "problems.hpp"
#include "trainctl/util/strings.hpp"
#include "yaml_prescan.hpp"

namespace trainctl::spec {

namespace {

// yaml-cpp's tags for a plain scalar ("?") and for a quoted one or a block scalar ("!").
constexpr std::string_view k_plain_tag = "?";
constexpr std::string_view k_non_specific_tag = "!";

// Builds a DocumentNode tree from yaml-cpp's parse events, recording every problem instead of
// stopping at the first. Aliases are never expanded, so an alias bomb costs nothing.
class TreeBuilder final : public YAML::EventHandler {
 public:
  TreeBuilder(std::string_view file_name, const YamlLimits& limits)
      : m_file(file_name), m_limits(limits) {}

  std::optional<DocumentNode>& root() { return m_root; }
  std::vector<ErrorDetail>& problems() { return m_problems; }
  SourceMark document_mark() const { return m_document_mark; }

  void OnDocumentStart(const YAML::Mark& mark) override { m_document_mark = to_mark(mark); }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t /*anchor*/) override {
    add(DocumentNode::null(to_mark(mark)));
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t /*anchor*/) override {
    problem(to_mark(mark), child_path(),
            "aliases (*name) are not allowed in a job spec; write the value out");
    add(DocumentNode::null(to_mark(mark)));
  }

  void OnAnchor(const YAML::Mark& mark, const std::string& name) override {
    problem(to_mark(mark), child_path(),
            fmt::format("anchors (&{}) are not allowed in a job spec; write the value out", name));
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t /*anchor*/,
                const std::string& value) override {
    SourceMark source = to_mark(mark);
    check_tag(source, tag);
    const bool too_long = value.size() > m_limits.max_scalar_bytes;
    if (too_long) {
      problem(source, child_path(),
              fmt::format("this value is {} bytes long; a value is limited to {}", value.size(),
                          util::format_size(m_limits.max_scalar_bytes)));
    }
    add(DocumentNode::scalar(too_long ? std::string() : value, tag == k_non_specific_tag,
                             std::move(source)));
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t /*anchor*/,
                       YAML::EmitterStyle::value /*style*/) override {
    open(DocumentNode::Kind::sequence, to_mark(mark), tag);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t /*anchor*/,
                  YAML::EmitterStyle::value /*style*/) override {
    open(DocumentNode::Kind::mapping, to_mark(mark), tag);
  }
  void OnMapEnd() override { close(); }

 private:
  // A collection being built, with its path and, for a mapping, the key awaiting its value.
  struct Frame {
    DocumentNode node;
    std::string path;
    std::optional<DocumentNode> key;
    std::unordered_set<std::string> keys_seen;
  };

  SourceMark to_mark(const YAML::Mark& mark) const {
    return SourceMark{std::string(m_file), mark.line + 1, mark.column + 1};
  }

  void problem(const SourceMark& mark, std::string path, std::string message) {
    m_problems.push_back(detail_at(mark, std::move(path), std::move(message)));
  }

  void check_tag(const SourceMark& mark, std::string_view tag) {
    if (tag != k_plain_tag && tag != k_non_specific_tag) {
      problem(mark, child_path(),
              fmt::format("explicit YAML tags ('{}') are not allowed in a job spec", tag));
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

  void open(DocumentNode::Kind kind, SourceMark mark, std::string_view tag) {
    check_tag(mark, tag);
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
  SourceMark m_document_mark;
};

ErrorDetail detail_in_file(std::string_view file, int line, int column, std::string message) {
  return spec::detail_at(SourceMark{std::string(file), line, column}, "", std::move(message));
}

// Runs yaml-cpp over the text; a malformed document is one problem at yaml-cpp's position.
// With `many`, every document of the stream (empty ones left out); otherwise the one document,
// a second being a problem.
Result<YamlStream> parse_events(std::string_view text, std::string_view file_name,
                                const YamlLimits& limits, bool many) {
  std::istringstream stream{std::string(text)};
  std::vector<DocumentNode> documents;
  std::vector<ErrorDetail> problems;
  size_t count = 0;
  try {
    YAML::Parser parser(stream);
    TreeBuilder first(file_name, limits);
    if (parser.HandleNextDocument(first)) ++count;
    problems = std::move(first.problems());
    if (first.root()) documents.push_back(std::move(*first.root()));
    while (true) {
      TreeBuilder next(file_name, limits);
      if (!parser.HandleNextDocument(next)) break;
      ++count;
      if (!many) {
        const SourceMark mark = next.document_mark();
        problems.push_back(detail_in_file(file_name, mark.line, mark.column,
                                          "a job spec is one YAML document; remove the second"));
        break;
      }
      problems.insert(problems.end(), std::make_move_iterator(next.problems().begin()),
                      std::make_move_iterator(next.problems().end()));
      if (next.root() && !next.root()->is_null()) documents.push_back(std::move(*next.root()));
    }
  } catch (const YAML::Exception& error) {
    return invalid_spec({detail_in_file(file_name, error.mark.line + 1, error.mark.column + 1,
                                        fmt::format("malformed YAML: {}", error.msg))});
  }
  if (!problems.empty()) return invalid_spec(std::move(problems));
  if (many) {
    std::erase_if(documents, [](const DocumentNode& node) { return node.is_null(); });
  } else if (documents.empty()) {
    documents.push_back(DocumentNode::null(SourceMark{std::string(file_name), 1, 1}));
  }
  return YamlStream{std::move(documents), count};
}

// The first control character YAML does not allow in a file (any below U+0020 but tab, line
// feed and carriage return; NUL included), at its line and column. yaml-cpp takes a NUL for the
// end of its input or reports it elsewhere, so it is found here first.
std::optional<ErrorDetail> find_control_character(std::string_view text, std::string_view file_name) {
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      line_start = i + 1;
    } else if (c < 0x20 && c != '\t' && c != '\r') {
      const std::string what = c == 0 ? std::string("a NUL byte (\\0)")
                                       : fmt::format("the control character U+{:04X}", c);
      return detail_in_file(file_name, line, static_cast<int>(i - line_start) + 1,
                            fmt::format("{} is not allowed in a YAML file; remove it", what));
    }
  }
  return std::nullopt;
}

// The checks made before yaml-cpp sees the text: its size, control characters, nesting.
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
