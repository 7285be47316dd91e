#pragma once
// Launch plans that several unit tests of the engines share.
#include <string>

#include "trainctl/spec/launch_plan.hpp"

namespace trainctl::testing {

// A PyTorch plan of two nodes, one rank on each (rank-0 on node 0, rank-1 on node 1); the run
// succeeds when every task does.
inline spec::LaunchPlan two_rank_plan(std::string run_id) {
  spec::LaunchPlan plan;
  plan.run_id = std::move(run_id);
  plan.backend = "pytorch";
  plan.success = "all_tasks";
  for (int node : {0, 1}) {
    spec::TaskLaunch task;
    task.name = "rank-" + std::to_string(node);
    task.role = "rank";
    task.index = node;
    task.node_rank = node;
    plan.tasks.push_back(task);
  }
  return plan;
}

}  // namespace trainctl::testing
