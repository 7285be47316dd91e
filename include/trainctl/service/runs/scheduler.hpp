#pragma once
// The gang scheduler of the compute targets (docs/scheduler.md), as one pure function: given the
// targets, the runs waiting and the nodes runs hold, which runs start now on which nodes, and
// where every other waiting run stands and why.
//
// Per target, waiting runs are ordered by priority (higher first), then by submission (seq).
// A run starts only when all its node_count nodes are free at once (gang). The first run in
// that order that cannot start blocks every run behind it (strict order, like Slurm's builtin
// scheduler without backfill), so a stream of small runs never starves a large one. A run that
// can never fit (node_count above max_nodes, after the target was shrunk) does not block: it
// waits with a reason saying what to change. A target that is not Succeeded starts nothing.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "trainctl/service/runs/run_manager.hpp"

namespace trainctl::service::scheduling {

struct Target {
  std::string workspace;
  std::string name;
  int max_nodes = 0;
  std::string state;    // ComputeRecord::state; only "Succeeded" starts runs
  std::string message;  // why it Failed
  // The target queues runs itself (Slurm): every run that fits max_nodes starts at once, in
  // order, and waits in the target's own queue; its slots say nothing about real nodes.
  bool queues_itself = false;
};

struct WaitingRun {
  std::string id;
  std::string workspace;
  std::string compute;
  int priority = 0;
  int64_t seq = 0;
  int node_count = 1;
};

struct HeldNodes {
  std::string workspace;
  std::string compute;
  std::vector<int> nodes;
};

struct Start {
  std::string run_id;
  std::vector<int> nodes;  // node_count free slots, lowest first
};

struct Decision {
  std::vector<Start> starts;             // in queue order
  std::map<std::string, QueueInfo> waiting;  // every waiting run that does not start, by id
};

// How much a pass works out: only which runs start (Decision::waiting left empty), or also
// where every other waiting run stands.
enum class Detail { starts, places };

// `holding` lists what runs that have left the queue hold (Preparing .. Finalizing). With
// Detail::starts, a target that can start nothing now (not Succeeded, or every slot held and no
// queue of its own) costs nothing: its runs are neither sorted nor given a reason.
Decision schedule(const std::vector<Target>& targets, const std::vector<WaitingRun>& waiting,
                  const std::vector<HeldNodes>& holding, Detail detail = Detail::places);

// Whether a pass can start any run on `target` now, given the slots `holding` holds there:
// runs waiting on the targets where it cannot need not be read.
bool can_start_any(const Target& target, const std::vector<HeldNodes>& holding);

}  // namespace trainctl::service::scheduling
