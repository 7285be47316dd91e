#pragma once
// The tasks of a run as a function of its spec alone (internal): what each task is and on which
// virtual node it runs, before any command, port or environment is chosen. build_launch_plan,
// task_names and the task-count rule all follow this one definition.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "trainctl/spec/job_spec.hpp"

namespace trainctl::spec {

// The task name of an MPI run's launcher (mpirun); its log is logs/mpirun.log.
inline constexpr std::string_view k_launcher_task = "mpirun";

struct TaskSlot {
  std::string_view role;  // a task_role value
  int index = 0;          // within its role
  int node_rank = 0;      // 0..node_count-1
  int local_rank = 0;     // among the tasks of its node, in plan order: 0..local_size-1
  int local_size = 1;     // how many tasks its node runs

  // "main" for the task of a run without a backend, else "<role>-<index>" ("worker-1").
  std::string name() const;
};

// How many tasks a run of `spec` has, the launcher excluded: 1 without a backend; chief, ps,
// workers and evaluator for parameter_server; node_count x process_count_per_node ranks for mpi
// and pytorch. Computed in 64 bits without building anything, so any count can be checked.
int64_t task_count(const JobSpec& spec);

// The tasks of `spec` in launch-plan order: "main" on node 0; or chief-0, ps-0.., worker-0..,
// evaluator-0 placed round-robin over node_count nodes in that order; or rank-0..N-1 with rank r
// on node r / process_count_per_node. Every slot knows its place among the tasks of its node
// (local_rank, local_size), as a rank of a multi-host job would. Empty for a spec that cannot validate (a count below 1, or
// more than k_max_tasks_per_run tasks), so that no count ever drives an allocation.
std::vector<TaskSlot> task_slots(const JobSpec& spec);

}  // namespace trainctl::spec
