#include "problems.hpp"

#include <algorithm>
#include <tuple>

namespace trainctl::spec {

namespace {
constexpr size_t k_max_details = 100;  // enough to fix a spec; bounds the size of a 422 reply
}  // namespace

ErrorDetail detail_at(const SourceMark& mark, std::string path, std::string message) {
  ErrorDetail detail;
  detail.path = std::move(path);
  detail.message = std::move(message);
  detail.file = mark.file;
  detail.line = mark.line;
  detail.column = mark.column;
  return detail;
}

std::unexpected<Error> invalid_spec(std::vector<ErrorDetail> details) {
  std::stable_sort(details.begin(), details.end(), [](const auto& a, const auto& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  // The problems themselves are the details; the message only counts them, so a printer that
  // shows both never says the same thing twice.
  std::string message = details.size() == 1
                            ? std::string("the job spec has a problem")
                            : fmt::format("the job spec has {} problems", details.size());
  if (details.size() > k_max_details) {
    message += fmt::format("; the first {} are listed", k_max_details);
    details.resize(k_max_details);
  }
  return fail(Error{ErrorCode::invalid_spec, std::move(message), std::move(details)});
}

}  // namespace trainctl::spec
