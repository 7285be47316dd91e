#pragma once
// A compute target of type slurm as Slurm sees it (docs/slurm.md): the partition its runs go to
// and that partition's nodes, and the provisioning decision: Succeeded when the partition can
// take a run of max_nodes nodes (with gpus_per_node GPUs each), else Failed with what to fix.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "trainctl/service/slurm/slurm_client.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::slurm {

// How long provisioning waits for each answer of Slurm (long enough for Slurm's own retries to
// end with its reason: about MessageTimeout, 10 s by default), and how long showing a target
// waits for its nodes.
inline constexpr std::chrono::milliseconds k_provisioning_timeout{30'000};
inline constexpr std::chrono::milliseconds k_show_timeout{3'000};

struct TargetPartition {
  Partition partition;
  std::vector<Node> nodes;
};

// The target's partition (Slurm's default when it names none) and its nodes. On failure, an
// error whose message says what is wrong and what to do: Slurm could not be asked (with the
// client's reason), it has no default partition, or no such partition (naming those it has).
Result<TargetPartition> target_partition(const ComputeRecord& target, SlurmClient& client,
                                         std::chrono::milliseconds timeout);

// Whether a node whose Slurm short state is `state` counts among a target's nodes: it runs jobs
// now or once its jobs end. Counted: idle, mix, alloc, comp and plnd, with any flag but '*' (not
// responding) and '$' (under maintenance). Not counted: down, drain, drng, fail, failg, maint,
// resv, boot, unk, futr, inval, npc and any state this version does not know.
bool node_counts(std::string_view state);

struct Provisioning {
  std::string state;    // "Succeeded" | "Failed"
  std::string message;  // what Slurm offers, or what is wrong and what to do
};

// Provisions a slurm target: Succeeded when Slurm answers, the target's partition exists and is
// up, and at least max_nodes of its nodes count (node_counts), each with gpus_per_node GPUs in
// its GRES when gpus_per_node > 0; Failed otherwise, saying exactly what is wrong and what to do.
Provisioning provision_slurm_target(const ComputeRecord& target, SlurmClient& client,
                                    std::chrono::milliseconds timeout = k_provisioning_timeout);

}  // namespace trainctl::service::slurm
