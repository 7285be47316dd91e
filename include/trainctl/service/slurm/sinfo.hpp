#pragma once
// How the real SlurmClient asks `sinfo` and reads its answers: the argv of each question, with a
// stable '|'-separated output format (one line per partition or node), the environment it runs
// with, and the parsers of those lines. Pure functions, so that each is tested on its own.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainctl/service/slurm/slurm_client.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::slurm {

using Environment = std::vector<std::pair<std::string, std::string>>;

// `sinfo` (an absolute path) listing every partition once: "NAME[*]|AVAILABILITY", '*' marking
// the default one.
std::vector<std::string> partitions_command(const std::string& sinfo);
// `sinfo` listing the nodes of `partition` (a name validate_slurm_name accepts):
// "NAME|STATE|CPUS|GRES", one line per node.
std::vector<std::string> nodes_command(const std::string& sinfo, const std::string& partition);

// The environment of a Slurm command for a target: `base` with SLURM_CONF set to the target's
// slurm_conf when it names one (else as in `base`, which may have none: Slurm's own lookup).
Environment command_environment(const Environment& base, const SlurmSettings& settings);

// The lines of partitions_command's output, each partition once, in Slurm's order.
// invalid_argument quoting the first line that is not "NAME[*]|AVAILABILITY".
Result<std::vector<Partition>> parse_partitions(std::string_view output);
// The lines of nodes_command's output, each node once, in Slurm's order ("(null)" GRES is "").
// invalid_argument quoting the first line that is not "NAME|STATE|CPUS|GRES".
Result<std::vector<Node>> parse_nodes(std::string_view output);

// The GPUs a node's GRES string offers: the sum of the counts of its "gpu" entries ("gpu:2",
// "gpu:a100:4(S:0-1)", "gpu:v100:1,gpu:a100:2,mps:100" -> 3); 0 when it has none.
int gpus_of(std::string_view gres);

}  // namespace trainctl::service::slurm
