#pragma once
// Reading a job spec from a document tree (internal): the YAML file and the service's payload
// share this reader, its rules and its messages.
#include <vector>

#include "trainctl/spec/job_spec.hpp"
#include "trainctl/spec/yaml_document.hpp"

namespace trainctl::spec {

// The two shapes a spec comes in. They differ only where docs/job-spec.md and docs/rest-api.md
// say so: the payload carries snapshot_id and limits.max_run_duration_seconds, and no
// source_directory.
enum class SpecSource { yaml, payload };

struct SpecReading {
  JobSpec spec;
  std::vector<ErrorDetail> problems;  // empty when the spec is valid
};

// Reads `root` field by field (known keys, types), then checks the rules and what this version
// does not support. Every problem is reported, at the position of the field it concerns.
SpecReading read_job_spec(const DocumentNode& root, SpecSource source);

}  // namespace trainctl::spec
