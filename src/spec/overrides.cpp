#include "overrides.hpp"

#include <algorithm>

#include "problems.hpp"
#include "trainctl/util/strings.hpp"

namespace trainctl::spec {

namespace {

const SourceMark k_override_mark{std::string(k_overrides_file), 0, 0};

// Positions inside a --set value mean nothing to the user: the whole value is "--set".
void mark_as_override(DocumentNode& node) {
  node.mark = k_override_mark;
  for (DocumentNode& item : node.items) mark_as_override(item);
  for (auto& [key, value] : node.entries) {
    mark_as_override(key);
    mark_as_override(value);
  }
}

// The value under `key` in `mapping`, added (null) when absent.
DocumentNode& entry(DocumentNode& mapping, std::string_view key) {
  const auto found = std::find_if(mapping.entries.begin(), mapping.entries.end(),
                                  [&](const auto& pair) { return pair.first.text == key; });
  if (found != mapping.entries.end()) return found->second;
  mapping.entries.emplace_back(DocumentNode::scalar(std::string(key), false, k_override_mark),
                               DocumentNode::null(k_override_mark));
  return mapping.entries.back().second;
}

// Sets one override; returns the problem, if any.
std::optional<ErrorDetail> apply_one(DocumentNode& root, std::string_view text,
                                     const YamlLimits& limits) {
  const size_t equals = text.find('=');
  const std::string_view path = text.substr(0, equals);
  const auto keys = util::split(path, '.');
  if (equals == std::string_view::npos || std::ranges::any_of(keys, &std::string_view::empty)) {
    return detail_at(k_override_mark, std::string(path),
                     fmt::format("'{}' is not key=value with a dotted key, e.g. "
                                 "estimator.node_count=2",
                                 text));
  }
  const std::string_view written = text.substr(equals + 1);
  auto value = parse_yaml_document(written, k_overrides_file, limits);
  if (!value) {
    return detail_at(k_override_mark, std::string(path),
                     fmt::format("the value does not parse: {}; for a string, quote it: "
                                 "{}='\"{}\"'",
                                 value.error().details.front().message, path, written));
  }
  mark_as_override(*value);

  DocumentNode* node = &root;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (node->is_null())
      *node = DocumentNode::collection(DocumentNode::Kind::mapping, k_override_mark);
    if (!node->is_mapping()) {
      const std::string_view parent = path.substr(0, i == 0 ? 0 : keys[i].data() - path.data() - 1);
      return detail_at(k_override_mark, std::string(path),
                       fmt::format("cannot set '{}': {} is not a mapping", path,
                                   parent.empty() ? "the spec" : fmt::format("'{}'", parent)));
    }
    node = &entry(*node, keys[i]);
  }
  *node = std::move(*value);
  return std::nullopt;
}

}  // namespace

std::vector<ErrorDetail> apply_overrides(DocumentNode& root, std::span<const std::string> overrides,
                                         const YamlLimits& limits) {
  std::vector<ErrorDetail> problems;
  for (const std::string& text : overrides) {
    if (auto problem = apply_one(root, text, limits)) problems.push_back(std::move(*problem));
  }
  return problems;
}

}  // namespace trainctl::spec
