#pragma once
// Compute targets over their life (docs/computes.md): created or updated targets are
// provisioned in the background (Creating until their interpreter answers and their resources
// check out, or for type slurm until Slurm says its partition can take them (docs/slurm.md);
// then Succeeded or Failed with what to fix), and a forced delete drains a target
// (Deleting: its runs are canceled, the row goes once they have all ended). What was under way
// when the service stopped is taken up again by start().
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "trainctl/service/slurm/slurm_client.hpp"
#include "trainctl/service/slurm/slurm_target.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service {

class RunManager;

// The host facts provisioning checks (a side effect behind an interface; tests fake it).
class HostProbe {
 public:
  virtual ~HostProbe() = default;
  // The interpreter's answer to `python -c 'import sys; print(sys.version)'`, its first line;
  // an error saying why when it cannot be run, fails or does not answer in time.
  virtual Result<std::string> python_version(const std::string& python) = 0;
  // The absolute path of `program` found on the service's PATH; empty when there is none.
  virtual std::string find_on_path(const std::string& program) = 0;
  virtual int cpu_count() = 0;
  virtual int gpu_count() = 0;
};

struct HostProbeOptions {
  std::chrono::seconds python_timeout{10};
  // The GPUs this host offers (trainctld --host-gpus); nullopt: the NVIDIA devices in /dev.
  std::optional<int> gpus;
  // The environment the interpreter runs with: the one runs get (allowlisted_environment()).
  std::vector<std::pair<std::string, std::string>> env;
};

// The real host: the interpreter is started with an argv (never a shell).
std::unique_ptr<HostProbe> make_host_probe(HostProbeOptions options);

// The bounds of a compute target's configuration (PUT computes/{name}).
inline constexpr int k_max_compute_nodes = 1024;
inline constexpr int k_max_gpus_per_node = 64;
inline constexpr int k_max_cpus_per_node = 4096;

// The name of the target every workspace has and every spec uses by default; it cannot be
// deleted.
inline constexpr std::string_view k_local_compute = "local";

// The type of the compute targets whose nodes are a Slurm partition's (docs/slurm.md).
inline constexpr std::string_view k_slurm_compute_type = "slurm";

class ComputeManager {
 public:
  // `default_python`: the interpreter of targets whose `python` is empty (trainctld --python).
  // `probe` provisions targets of type local, `slurm` those of type slurm.
  ComputeManager(Store& store, RunManager& runs, HostProbe& probe, slurm::SlurmClient& slurm,
                 std::string default_python);
  ~ComputeManager();  // stop()
  ComputeManager(const ComputeManager&) = delete;
  ComputeManager& operator=(const ComputeManager&) = delete;

  // Takes up the provisioning of Creating targets and the drains of Deleting ones, and starts
  // the background worker.
  void start();
  void stop();

  // Creates the target, or (unless `create_only`) replaces the configuration of an existing one;
  // either way it is Creating until provisioned again. The record as stored and whether it was
  // created; the store's errors (conflict when it exists and `create_only`, or it is Deleting;
  // invalid_argument for a type change).
  Result<std::pair<ComputeRecord, bool>> put(const ComputeRecord& config, bool create_only);

  // Deletes the target: nullopt when it is gone now. Without `force`, conflict naming the runs
  // that use it. With `force`, its runs are canceled and the target, now Deleting, is returned:
  // it is removed once they have ended. conflict for the "local" target.
  Result<std::optional<ComputeRecord>> remove(const std::string& workspace,
                                              const std::string& name, bool force);

  // What Slurm says now of a target of type slurm: its partition and that partition's nodes,
  // asked with a short time limit (slurm::k_show_timeout). An error whose message says why
  // Slurm could not be asked or has no such partition; invalid_argument for another type.
  Result<slurm::TargetPartition> slurm_partition(const ComputeRecord& target);

 private:
  using Key = std::pair<std::string, std::string>;  // workspace, name

  void work();
  void provision(const Key& key);
  // One step of a drain: cancels the target's runs and deletes it once none is left; true when
  // it is gone.
  Result<bool> drain_step(const Key& key);
  // The provisioning result for `record`: Succeeded with conda found, or Failed with a message.
  ComputeRecord provisioned(ComputeRecord record);
  // The same for a target of type local: its interpreter and resources on this host.
  ComputeRecord provisioned_on_host(ComputeRecord record);
  void enqueue_provision(const Key& key);
  void enqueue_drain(const Key& key);

  Store& m_store;
  RunManager& m_runs;
  HostProbe& m_probe;
  slurm::SlurmClient& m_slurm;
  const std::string m_default_python;

  // Serializes changes of a target's row between requests and the worker, so a provisioning
  // result never overwrites a newer configuration.
  std::mutex m_change_mutex;

  std::mutex m_mutex;  // guards what follows
  std::condition_variable m_wake;
  std::deque<Key> m_provisions;
  std::set<Key> m_drains;
  bool m_stopping = false;
  std::thread m_worker;
};

}  // namespace trainctl::service
