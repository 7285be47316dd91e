// Fuzz target: the path and name rules every manifest entry and resource name passes
// (api::split_relative_path, api::validate_name, api::validate_process_string).
// Properties: nothing crashes; a path that is accepted is exactly its components joined by '/',
// none of them empty, "." or "..", none holding a separator, a NUL or a backslash; an accepted
// name is one component as well.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "trainctl/api/names.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace trainctl;
  if (auto components = api::split_relative_path(text)) {
    std::string joined;
    for (const auto& component : *components) {
      if (component.empty() || component == "." || component == "..") std::abort();
      if (component.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos) std::abort();
      if (!joined.empty()) joined += '/';
      joined += component;
    }
    if (joined != text) std::abort();
  } else if (components.error().message.empty()) {
    std::abort();
  }
  if (api::validate_name("run", text)) {
    auto as_path = api::split_relative_path(text);
    if (!as_path || as_path->size() != 1) std::abort();  // a name is always one safe component
  }
  if (api::validate_process_string(text) && text.find('\0') != std::string_view::npos) std::abort();
  (void)api::is_sha256_hex(text);
  return 0;
}
