#pragma once
// `--set key=value` overrides of a job spec (internal).
#include <span>
#include <string>
#include <vector>

#include "trainctl/spec/yaml_document.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::spec {

// The file name that details about overrides, and nodes they create, carry.
inline constexpr std::string_view k_overrides_file = "--set";

// Applies each "dotted.path=value" to the tree in order, creating mappings on the way; the value
// is parsed as YAML ("2" is a number, "'2'" a string, "" empty). Returns a problem for each
// malformed override (no '=', an empty path component, a value that does not parse) and for each
// path through a value that is not a mapping. Unknown keys are left to the spec reader, which
// reports them with "did you mean" at file "--set".
std::vector<ErrorDetail> apply_overrides(DocumentNode& root, std::span<const std::string> overrides,
                                         const YamlLimits& limits);

}  // namespace trainctl::spec
