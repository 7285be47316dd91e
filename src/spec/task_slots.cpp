#include "task_slots.hpp"

#include <map>

#include <fmt/format.h>

#include "trainctl/spec/launch_plan.hpp"

namespace trainctl::spec {

namespace {

// chief-0, ps-*, worker-*, evaluator-0, dealt to the nodes in turn.
std::vector<TaskSlot> parameter_server_slots(const Estimator& estimator) {
  const DistributedTraining& distributed = estimator.distributed;
  std::vector<TaskSlot> slots;
  const auto add = [&](std::string_view role, int count) {
    for (int index = 0; index < count; ++index) {
      const int position = static_cast<int>(slots.size());
      slots.push_back({role, index, position % estimator.node_count});
    }
  };
  add(task_role::k_chief, distributed.chief ? 1 : 0);
  add(task_role::k_ps, distributed.parameter_server_count);
  add(task_role::k_worker, distributed.worker_count);
  add(task_role::k_evaluator, distributed.evaluator ? 1 : 0);
  return slots;
}

// rank-0..N-1, process_count_per_node consecutive ranks per node.
std::vector<TaskSlot> rank_slots(const Estimator& estimator) {
  const int per_node = estimator.process_count_per_node;
  std::vector<TaskSlot> slots;
  for (int rank = 0; rank < estimator.node_count * per_node; ++rank) {
    slots.push_back({task_role::k_rank, rank, rank / per_node});
  }
  return slots;
}

// Numbers the slots of each node in order (local_rank) and tells each how many share its node.
std::vector<TaskSlot> with_local_ranks(std::vector<TaskSlot> slots) {
  std::map<int, int> per_node;
  for (TaskSlot& slot : slots) slot.local_rank = per_node[slot.node_rank]++;
  for (TaskSlot& slot : slots) slot.local_size = per_node[slot.node_rank];
  return slots;
}

}  // namespace

std::string TaskSlot::name() const {
  if (role == task_role::k_main) return std::string(role);
  return fmt::format("{}-{}", role, index);
}

int64_t task_count(const JobSpec& spec) {
  const Estimator& estimator = spec.estimator;
  const DistributedTraining& distributed = estimator.distributed;
  switch (distributed.backend) {
    case Backend::none: return 1;
    case Backend::parameter_server:
      return int64_t{distributed.chief} + distributed.parameter_server_count +
             distributed.worker_count + int64_t{distributed.evaluator};
    case Backend::mpi:
    case Backend::pytorch: return int64_t{estimator.node_count} * estimator.process_count_per_node;
  }
  return 0;
}

std::vector<TaskSlot> task_slots(const JobSpec& spec) {
  const Estimator& estimator = spec.estimator;
  if (estimator.node_count < 1 || estimator.process_count_per_node < 1 ||
      task_count(spec) > k_max_tasks_per_run) {
    return {};
  }
  switch (estimator.distributed.backend) {
    case Backend::none: return {TaskSlot{task_role::k_main, 0, 0}};
    case Backend::parameter_server: return with_local_ranks(parameter_server_slots(estimator));
    case Backend::mpi:
    case Backend::pytorch: return with_local_ranks(rank_slots(estimator));
  }
  return {};
}

}  // namespace trainctl::spec
