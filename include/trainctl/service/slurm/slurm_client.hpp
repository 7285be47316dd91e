#pragma once
// What trainctld asks Slurm about a compute target of type slurm (docs/slurm.md): the
// partitions of its cluster and the nodes of one, behind an interface (unit tests fake it). The
// real client runs Slurm's own commands with an argv (never a shell) and a time limit.
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "trainctl/service/store.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::slurm {

// A partition as Slurm lists it.
struct Partition {
  std::string name;
  bool is_default = false;   // Slurm's default partition: jobs that name none go there
  std::string availability;  // up | down | drain | inact
  bool operator==(const Partition&) const = default;
};

// A node of a partition as Slurm lists it.
struct Node {
  std::string name;
  std::string state;  // Slurm's short state: idle, alloc, mix, down*, drain, ...
  int cpus = 0;
  std::string gres;  // its generic resources, e.g. "gpu:2" or "gpu:a100:4(S:0-1)"; "": none
  bool operator==(const Node&) const = default;
};

// Called from several threads at once (provisioning, and the requests that show targets).
class SlurmClient {
 public:
  virtual ~SlurmClient() = default;
  // Every partition (hidden ones too) of the cluster whose slurm.conf `settings.conf` names
  // (Slurm's own lookup when empty). On failure, an error whose message says why Slurm could not
  // be asked: what the Slurm command printed (e.g. "Unable to contact slurm controller"), with
  // code unavailable; that it gave no answer within `timeout` (timeout); that the command or
  // the slurm.conf is missing (not_found).
  virtual Result<std::vector<Partition>> partitions(const SlurmSettings& settings,
                                                    std::chrono::milliseconds timeout) = 0;
  // The nodes of `partition`, each once; empty when there is no such partition. Errors as
  // partitions().
  virtual Result<std::vector<Node>> nodes(const SlurmSettings& settings,
                                          const std::string& partition,
                                          std::chrono::milliseconds timeout) = 0;
};

struct SlurmCliOptions {
  // The environment the Slurm commands get (and whose PATH finds them): trainctld's
  // allowlisted variables. trainctld's own SLURM_CONF is added to it; a target's slurm_conf
  // replaces that.
  std::vector<std::pair<std::string, std::string>> env;
};

// The real client: Slurm's `sinfo`, found on the PATH of `options.env`.
std::unique_ptr<SlurmClient> make_slurm_cli(SlurmCliOptions options);

}  // namespace trainctl::service::slurm
