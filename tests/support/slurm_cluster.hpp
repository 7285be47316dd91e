#pragma once
// A real Slurm cluster for tests: scripts/slurm-cluster.sh brings up slurmctld and N slurmd, each
// in a network namespace of its own (node I at 192.0.2.I, the controller at 192.0.2.254), under
// a temp folder, and takes it all down again in the destructor. slurmctld is reachable from the
// controller's namespace only: ControllerNetwork moves the calling thread there, so that a
// trainctld the test then starts (a forked child inherits it) reaches the controller, and the
// test's own HTTP calls to 127.0.0.1 reach that trainctld.
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/service_fixture.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::testing {

class SlurmCluster {
 public:
  // Why no cluster can be brought up here (not root; Slurm, nsenter or ip missing), or "" when
  // one can.
  static std::string unavailable_reason();

  // Brings up a cluster of `nodes` nodes (partition "debug", the default, with every node), in
  // whose nodes' view of the file system every folder of `hidden` is empty; throws
  // std::runtime_error with the script's output when it does not come up.
  explicit SlurmCluster(int nodes = 3, const std::vector<std::filesystem::path>& hidden = {});
  // Takes the cluster down (daemons, their jobs, the namespaces), also when the calling thread
  // was left in the controller's namespace.
  ~SlurmCluster();
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  std::filesystem::path slurm_conf() const { return m_base.path() / "slurm.conf"; }
  const std::string& controller_netns() const { return m_controller_netns; }

  // Runs argv (e.g. {"scontrol", "update", ...}) in the controller's namespace with SLURM_CONF
  // set.
  CommandResult exec(const std::vector<std::string>& argv) const;
  // Stops node `index`'s slurmd (1-based), as if the node were lost; returns once it is gone.
  void stop_node_daemon(int index) const;
  // Stops slurmctld: the controller no longer answers.
  void stop_controller() const;

 private:
  // SIGTERM to the daemon of `pid_file`, SIGKILL if it is still there after 10 s.
  void stop_daemon(const std::filesystem::path& pid_file) const;

  TempDir m_base;
  std::string m_controller_netns;
  util::UniqueFd m_original_netns;  // the constructing thread's, to return to before `down`
};

// Moves the calling thread into the cluster's controller network namespace, and back on
// destruction. Network namespaces are per thread: other threads of the test stay where they are.
class ControllerNetwork {
 public:
  explicit ControllerNetwork(const SlurmCluster& cluster);  // throws std::runtime_error
  ~ControllerNetwork();
  ControllerNetwork(const ControllerNetwork&) = delete;
  ControllerNetwork& operator=(const ControllerNetwork&) = delete;

 private:
  util::UniqueFd m_previous;
};

// A cluster, the calling thread in its controller's network, and a trainctld started there;
// taken down in that order's reverse.
struct SlurmClusterService {
  explicit SlurmClusterService(int nodes = 3) : cluster(nodes), network(cluster) {}

  SlurmCluster cluster;
  ControllerNetwork network;
  ServiceFixture service;
};

// Whether a cluster can be brought up here. When not, the test says why (WARN) and passes: a
// machine without root or Slurm cannot run it.
inline bool slurm_cluster_available() {
  const auto why = SlurmCluster::unavailable_reason();
  if (why.empty()) return true;
  WARN("skipped, no Slurm cluster on this machine: " << why);
  SUCCEED();
  return false;
}

}  // namespace trainctl::testing
