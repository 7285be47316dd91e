#pragma once
// How the spec library reports problems (internal).
#include <string>
#include <vector>

#include "trainctl/spec/yaml_document.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::spec {

// An ErrorDetail at a node's mark.
ErrorDetail detail_at(const SourceMark& mark, std::string path, std::string message);

// ErrorCode::invalid_spec carrying the details sorted by position (stable), at most the first 100;
// the message is the only detail's text, or the count of all of them.
std::unexpected<Error> invalid_spec(std::vector<ErrorDetail> details);

}  // namespace trainctl::spec
