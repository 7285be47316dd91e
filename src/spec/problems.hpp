#pragma once
// How the spec library reports problems (internal).
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "trainctl/spec/yaml_document.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::spec {

// An ErrorDetail at a node's mark.
ErrorDetail detail_at(const SourceMark& mark, std::string path, std::string message);

// ErrorCode::invalid_spec carrying the details sorted by position (stable), at most the first 100;
// the message is the only detail's text, or the count of all of them.
std::unexpected<Error> invalid_spec(std::vector<ErrorDetail> details);

// Collects problems with their field paths.
class Problems {
 public:
  void add(std::string path, std::string message) {
    ErrorDetail detail;
    detail.path = std::move(path);
    detail.message = std::move(message);
    m_details.push_back(std::move(detail));
  }
  // Adds the message of a failed check, if it failed.
  void add_if_failed(std::string path, const Result<void>& check) {
    if (!check) add(std::move(path), check.error().message);
  }
  void at_least(std::string path, int64_t value, int64_t minimum) {
    if (value < minimum) {
      add(std::move(path), fmt::format("must be at least {}, not {}", minimum, value));
    }
  }
  std::vector<ErrorDetail> take() { return std::move(m_details); }

 private:
  std::vector<ErrorDetail> m_details;
};

}  // namespace trainctl::spec
