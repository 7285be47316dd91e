#pragma once
// The configuration a `PUT computes/{name}` body describes (docs/rest-api.md, Compute targets),
// with every field checked and every problem reported at once.
#include <nlohmann/json.hpp>

#include "trainctl/service/store.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::handlers {

// `record` (its workspace and name set) with the configuration of `body`; fields left out take
// their defaults. invalid_spec (422) with one detail per problem, by field: an unknown field; a
// type other than local or slurm; a number out of its range; python or slurm_conf not an
// absolute path; a partition, account or qos that api::validate_slurm_name refuses; Slurm
// settings on a target of type local, or cpus_per_node on one of type slurm (Slurm knows its
// nodes' CPUs).
Result<ComputeRecord> compute_config(const nlohmann::json& body, ComputeRecord record);

}  // namespace trainctl::service::handlers
