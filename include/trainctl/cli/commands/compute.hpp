#pragma once
// `trainctl compute create|list|show|update|delete` (docs/computes.md, docs/slurm.md): the
// options, their usage checks, the PUT body create and update send, and what show prints.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "trainctl/cli/printer.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// What create and update may set; unset fields keep the default (create) or the target's
// current value (update).
struct ComputeConfigOptions {
  std::string name;
  std::string type;  // create: "local" unless given; update: unchanged unless given
  std::optional<int> max_nodes;
  std::optional<int> cpus_per_node;
  std::optional<int> gpus_per_node;
  std::optional<std::string> python;
  // Type slurm only; "" asks for Slurm's default.
  std::optional<std::string> partition;
  std::optional<std::string> account;
  std::optional<std::string> qos;
  std::optional<std::string> slurm_conf;
  bool wait = false;
};

// Usage checks, before anything is sent: --python and --slurm-conf absolute paths (or ""),
// --partition, --account and --qos Slurm names (api::validate_slurm_name); with --type other
// than slurm, no Slurm flag; with --type slurm, no --cpus-per-node (Slurm knows its nodes).
Result<void> validate(const ComputeConfigOptions& options);

// The PUT body: `current` (the target as GET shows it, or {} for a new one) with the options
// given laid over it. A slurm target's settings are carried over from its "slurm" object.
nlohmann::json compute_body(const ComputeConfigOptions& options, const nlohmann::json& current);

// What `compute show` prints for people: the target's fields (its Slurm settings for type
// slurm) and, for type slurm, its partition's nodes as a NAME, STATE, CPUS, GRES table, or why
// Slurm could not be asked.
Description describe_compute(const nlohmann::json& compute);

}  // namespace trainctl::cli
