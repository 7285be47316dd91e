// Fuzz target: a YAML job spec and its --set overrides, through the loader the CLI uses, then the
// payload it would POST through the service's reader of that payload.
// Input: the YAML text, optionally followed by a line "%%set" and one override (key=value) a line.
// Properties: the loader never crashes, and a spec it accepts is accepted by the service too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "trainctl/spec/job_spec.hpp"

namespace {

constexpr std::string_view k_set_marker = "\n%%set\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  trainctl::spec::ParseOptions options;
  options.file_name = "fuzz.yaml";
  std::string_view yaml = input;
  if (const auto marker = input.find(k_set_marker); marker != std::string_view::npos) {
    yaml = input.substr(0, marker);
    std::string_view rest = input.substr(marker + k_set_marker.size());
    while (!rest.empty()) {
      const auto end = rest.find('\n');
      options.overrides.emplace_back(rest.substr(0, end));
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }
  auto spec = trainctl::spec::parse_job_spec(yaml, options);
  if (!spec) {
    if (spec.error().message.empty()) std::abort();  // every refusal says why
    return 0;
  }
  const auto payload = trainctl::spec::build_payload(*spec, std::string(64, 'a'));
  const auto again = trainctl::spec::job_spec_from_payload(payload);
  if (!again) std::abort();  // the CLI accepted a spec the service would refuse
  (void)trainctl::spec::task_names(*spec);
  return 0;
}
