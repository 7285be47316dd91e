#pragma once
// A YAML document as a tree that remembers where each part was written, parsed defensively
// (bounded depth and scalar lengths; aliases, tags and duplicate keys refused; every problem
// with its line and column). The job spec reader works on this tree, never on yaml-cpp nodes.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::spec {

// Where a node was written: file name and 1-based line and column (0 when unknown).
struct SourceMark {
  std::string file;
  int line = 0;
  int column = 0;
};

struct DocumentNode {
  enum class Kind { null, scalar, sequence, mapping };

  Kind kind = Kind::null;
  SourceMark mark;
  std::string text;     // a scalar's text exactly as it resolved ("2.0" stays "2.0")
  bool quoted = false;  // a scalar written quoted or as a block scalar: a string, never a number
  std::vector<DocumentNode> items;                             // a sequence's items
  std::vector<std::pair<DocumentNode, DocumentNode>> entries;  // a mapping's entries in order;
                                                               // keys are unique scalars
  // Declared here, defaulted below: clang instantiates std::pair<DocumentNode, DocumentNode> for
  // members defined inside the class, where DocumentNode is still incomplete.
  DocumentNode();
  ~DocumentNode();
  DocumentNode(const DocumentNode&);
  DocumentNode(DocumentNode&&) noexcept;
  DocumentNode& operator=(const DocumentNode&);
  DocumentNode& operator=(DocumentNode&&) noexcept;

  static DocumentNode null(SourceMark mark = {});
  static DocumentNode scalar(std::string text, bool quoted, SourceMark mark = {});
  static DocumentNode collection(Kind kind, SourceMark mark = {});

  bool is_null() const { return kind == Kind::null; }
  bool is_scalar() const { return kind == Kind::scalar; }
  bool is_sequence() const { return kind == Kind::sequence; }
  bool is_mapping() const { return kind == Kind::mapping; }

 private:
  static DocumentNode make(Kind kind, SourceMark mark);
};

inline DocumentNode::DocumentNode() = default;
inline DocumentNode::~DocumentNode() = default;
inline DocumentNode::DocumentNode(const DocumentNode&) = default;
inline DocumentNode::DocumentNode(DocumentNode&&) noexcept = default;
inline DocumentNode& DocumentNode::operator=(const DocumentNode&) = default;
inline DocumentNode& DocumentNode::operator=(DocumentNode&&) noexcept = default;
inline DocumentNode DocumentNode::make(Kind kind, SourceMark mark) {
  DocumentNode node;
  node.kind = kind;
  node.mark = std::move(mark);
  return node;
}
inline DocumentNode DocumentNode::null(SourceMark mark) { return make(Kind::null, std::move(mark)); }
inline DocumentNode DocumentNode::scalar(std::string text, bool quoted, SourceMark mark) {
  DocumentNode node = make(Kind::scalar, std::move(mark));
  node.text = std::move(text);
  node.quoted = quoted;
  return node;
}
inline DocumentNode DocumentNode::collection(Kind kind, SourceMark mark) {
  return make(kind, std::move(mark));
}

struct YamlLimits {
  size_t max_bytes = 1u << 20;          // the whole text
  size_t max_scalar_bytes = 64u << 10;  // one scalar
  int max_depth = 64;                   // nested collections
};

// Parses one YAML document. Refuses, before yaml-cpp parses anything, a text over
// limits.max_bytes, nesting deeper than limits.max_depth, a quote left open and tab indentation;
// then reports malformed YAML at its position, and every duplicate key, explicit tag
// (`!!python/object`, `!foo`), anchor, alias, scalar over limits.max_scalar_bytes and second
// document. An empty text gives a null node at line 1. Fails with ErrorCode::invalid_spec, one
// detail per problem, each with `file_name`, line, column and (when known) the field path.
Result<DocumentNode> parse_yaml_document(std::string_view text, std::string_view file_name,
                                         const YamlLimits& limits = {});

// Parses every document of a YAML stream (documents separated by `---`), as
// parse_yaml_document parses one; documents that are empty (a `---` at the start or the end)
// are left out. The limits apply to the whole text. Positions are lines of the whole text.
Result<std::vector<DocumentNode>> parse_yaml_documents(std::string_view text,
                                                       std::string_view file_name,
                                                       const YamlLimits& limits = {});

// A YAML stream as parse_yaml_documents reads it, with the number of documents the text holds,
// empty ones counted: a text whose count is 1 is one that parse_yaml_document takes, and its
// document (when not empty) is documents[0]. Lets a caller that accepts one document or many
// parse the text once.
struct YamlStream {
  std::vector<DocumentNode> documents;  // empty ones left out
  size_t count = 0;                     // every document, empty ones too
};
Result<YamlStream> parse_yaml_stream(std::string_view text, std::string_view file_name,
                                     const YamlLimits& limits = {});

}  // namespace trainctl::spec
