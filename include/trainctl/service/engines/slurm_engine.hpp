#pragma once
// The Slurm engine (docs/slurm.md): one run is one Slurm job that holds all its nodes; Slurm
// queues it and allocates them. The job's batch step runs `trainctld node-agent` on the first
// node, which fetches the run's plan and files from the service over HTTP with the run's own
// credential (no shared file system is assumed), runs the run's supervisor there, and sends back
// the run's state, every task's log as it grows and, at the end, its outputs. What it sends lands
// in the run's directory on the service's side in the local engine's layout. The engine drives
// Slurm with its command-line tools (sbatch, squeue, scancel) and records how Slurm ended a job
// whose agent could not say (a time limit, an administrator's scancel, a lost node).
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "trainctl/service/engine.hpp"

namespace trainctl::service {

struct SlurmEngineOptions {
  // The service's address as the nodes reach it (trainctld --advertise-url).
  std::string advertise_url;
  // The program the nodes run as `<agent_program> node-agent`: trainctld, at the same path on
  // every node.
  std::filesystem::path agent_program;
  // The PATH the Slurm commands are looked up on.
  std::string search_path = "/usr/local/bin:/usr/bin:/bin";
  // How often squeue is asked about the jobs of active runs.
  std::chrono::milliseconds poll_interval{500};
  // How long a job Slurm reports ended may go without its agent's final state before the engine
  // records Slurm's account of it.
  std::chrono::milliseconds final_state_grace{5000};
};

std::unique_ptr<Engine> make_slurm_engine(SlurmEngineOptions options);

// The body of `trainctld node-agent`, run by a run's Slurm job (environment: TRAINCTL_SERVICE_URL,
// TRAINCTL_RUN_ID, TRAINCTL_RUN_CREDENTIAL). Returns the process exit code.
int run_node_agent();

}  // namespace trainctl::service
