// Fuzz target: the JSON request bodies of the routes, through the one body reader
// (parse_json_body, with its depth limit) and then the parsers of the routes whose bodies carry
// structure: a run's payload, a snapshot's or dataset's manifest, a compute target's
// configuration, and the launch plan and run state the agent routes receive.
// Input: one byte choosing the parser, then the body. Property: nothing crashes or hangs; a
// refusal says why.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../src/service/handlers/compute_config.hpp"
#include "../src/service/handlers/handlers.hpp"
#include "../src/service/handlers/manifest.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/spec/job_spec.hpp"
#include "trainctl/spec/launch_plan.hpp"

namespace {

template <typename T>
void require_reason(const trainctl::Result<T>& result) {
  if (!result && result.error().message.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using namespace trainctl;
  const uint8_t selector = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto json = service::handlers::parse_json_body(body);
  require_reason(json);
  if (!json) return 0;
  (void)json->dump();  // every reply that echoes a body dumps it
  switch (selector % 5) {
    case 0:
      require_reason(spec::job_spec_from_payload(*json));
      break;
    case 1: {
      auto manifest = service::handlers::checked_manifest(*json, "snapshot");
      require_reason(manifest);
      if (manifest) {
        (void)service::handlers::manifest_hash(*manifest);
        (void)service::handlers::manifest_total_size(*manifest);
      }
      break;
    }
    case 2: {
      service::ComputeRecord record;
      record.workspace = "ws";
      record.name = "target";
      require_reason(service::handlers::compute_config(*json, record));
      break;
    }
    case 3:
      require_reason(spec::LaunchPlan::from_json(*json));
      break;
    default:
      require_reason(service::engines::run_state_from_json(*json));
      break;
  }
  return 0;
}
