#include "trainctl/service/runs/scheduler.hpp"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>

namespace trainctl::service::scheduling {

namespace {

using TargetKey = std::pair<std::string, std::string>;  // workspace, name

std::string plural_nodes(int count) { return fmt::format("{} node{}", count, count == 1 ? "" : "s"); }

// Why nothing starts on `target` at all, or empty when it can start runs.
std::string target_not_ready(const Target* target, const std::string& name) {
  if (target == nullptr) return fmt::format("compute target '{}' does not exist", name);
  if (target->state == "Succeeded") return {};
  if (target->state == "Creating") return fmt::format("compute target '{}' is being provisioned", name);
  if (target->state == "Deleting") return fmt::format("compute target '{}' is being deleted", name);
  return fmt::format("compute target '{}' is {}{}{}", name, target->state,
                     target->message.empty() ? "" : ": ", target->message);
}

// One target's queue, in start order, and its free slots.
struct Queue {
  const Target* target = nullptr;
  std::vector<const WaitingRun*> runs;
  std::set<int> busy;
};

// The slots of `target` (none when it does not exist) that no run holds, lowest first.
std::vector<int> free_slots(const Target* target, const std::set<int>& busy) {
  std::vector<int> free;
  for (int slot = 0; target && slot < target->max_nodes; ++slot) {
    if (!busy.contains(slot)) free.push_back(slot);
  }
  return free;
}

// Whether a pass can start nothing on `target`: it is not ready, or every slot is held and it
// has no queue of its own.
bool starts_nothing(const Target* target, const std::string& not_ready, const std::vector<int>& free) {
  return !not_ready.empty() || (free.empty() && !target->queues_itself);
}

void schedule_queue(const TargetKey& key, Queue& queue, Detail detail, Decision& decision) {
  const std::string not_ready = target_not_ready(queue.target, key.second);
  const int max_nodes = queue.target ? queue.target->max_nodes : 0;
  std::vector<int> free = free_slots(queue.target, queue.busy);
  if (detail == Detail::starts && starts_nothing(queue.target, not_ready, free)) return;
  std::sort(queue.runs.begin(), queue.runs.end(), [](const WaitingRun* a, const WaitingRun* b) {
    return std::tie(b->priority, a->seq) < std::tie(a->priority, b->seq);
  });

  const WaitingRun* blocking = nullptr;  // the first run that could fit but does not yet
  std::vector<std::pair<const WaitingRun*, std::string>> still_waiting;
  for (const WaitingRun* run : queue.runs) {
    if (!not_ready.empty()) {
      still_waiting.emplace_back(run, not_ready);
    } else if (run->node_count > max_nodes) {
      still_waiting.emplace_back(
          run, fmt::format("needs {} but compute target '{}' has max_nodes {}; raise it with "
                           "`trainctl compute update {} --max-nodes {}`",
                           plural_nodes(run->node_count), key.second, max_nodes, key.second,
                           run->node_count));
    } else if (queue.target->queues_itself) {
      Start start{run->id, {}};
      for (int slot = 0; slot < run->node_count; ++slot) start.nodes.push_back(slot);
      decision.starts.push_back(std::move(start));
    } else if (blocking != nullptr) {
      still_waiting.emplace_back(run, fmt::format("queued behind {}", blocking->id));
    } else if (run->node_count <= static_cast<int>(free.size())) {
      Start start{run->id, {free.begin(), free.begin() + run->node_count}};
      free.erase(free.begin(), free.begin() + run->node_count);
      decision.starts.push_back(std::move(start));
    } else {
      blocking = run;
      still_waiting.emplace_back(
          run, fmt::format("waiting for {}; {} of {} free", plural_nodes(run->node_count),
                           free.size(), max_nodes));
    }
  }
  if (detail == Detail::starts) return;
  const int length = static_cast<int>(still_waiting.size());
  for (int i = 0; i < length; ++i) {
    auto& [run, reason] = still_waiting[static_cast<size_t>(i)];
    decision.waiting[run->id] = QueueInfo{i + 1, length, std::move(reason)};
  }
}

}  // namespace

Decision schedule(const std::vector<Target>& targets, const std::vector<WaitingRun>& waiting,
                  const std::vector<HeldNodes>& holding, Detail detail) {
  std::map<TargetKey, Queue> queues;
  for (const auto& target : targets) queues[{target.workspace, target.name}].target = &target;
  for (const auto& held : holding) {
    auto& busy = queues[{held.workspace, held.compute}].busy;
    busy.insert(held.nodes.begin(), held.nodes.end());
  }
  for (const auto& run : waiting) queues[{run.workspace, run.compute}].runs.push_back(&run);

  Decision decision;
  for (auto& [key, queue] : queues) {
    if (!queue.runs.empty()) schedule_queue(key, queue, detail, decision);
  }
  return decision;
}

bool can_start_any(const Target& target, const std::vector<HeldNodes>& holding) {
  std::set<int> busy;
  for (const auto& held : holding) {
    if (held.workspace == target.workspace && held.compute == target.name) {
      busy.insert(held.nodes.begin(), held.nodes.end());
    }
  }
  return !starts_nothing(&target, target_not_ready(&target, target.name), free_slots(&target, busy));
}

}  // namespace trainctl::service::scheduling
