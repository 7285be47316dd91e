#pragma once
// A multi-node run seen from the service (docs/slurm.md, Runs across nodes): every node of the
// run has an agent that runs that node's part of the plan (spec::node_part_of) under a
// supervisor of its own and reports the part's state. The run's state is theirs merged: every
// task where its node says, the run's verdict by its own success rule over all the tasks (a
// chief on node 0 decides for a parameter server on node 1), and once decided, a stop for every
// node still running. Kept in the run directory, so a restarted service takes up where it was.
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "trainctl/service/engines/outcome_policy.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/spec/launch_plan.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::engines {

inline constexpr std::string_view k_nodes_dir = "nodes";  // <node>.place.json, <node>.state.json
inline constexpr std::string_view k_stop_file = "stop";   // the run's verdict: every node stops

// How many nodes the plan's tasks are placed on (1 at least).
int node_count(const spec::LaunchPlan& plan);

// What node `node`'s agent reported: where it is, and its part's state.
Result<void> write_node_place(const std::filesystem::path& run_dir, int node, const spec::NodePlace& place);
Result<void> write_node_state(const std::filesystem::path& run_dir, int node, const RunState& state);
// Every node's place, by node rank; nullopt until all `nodes` have reported.
std::optional<std::vector<spec::NodePlace>> node_places(const std::filesystem::path& run_dir, int nodes);

// The run's verdict as merge_node_states recorded it (the stop file); nullopt before there is one.
std::optional<RunVerdict> recorded_verdict(const std::filesystem::path& run_dir);

// Whether the nodes are asked to stop: a cancel, or the run's verdict.
bool nodes_must_stop(const std::filesystem::path& run_dir);

// The run's state from its nodes' (plan: the whole run's): tasks in plan order, pending where no
// node has said anything yet; starting until every node's tasks started, running until every
// node finished. The first verdict (the run's success rule over all tasks, or a node that ended
// by itself without success) is kept in the stop file, which every node's agent obeys; the
// finished run's outcome is that verdict, else Completed. A cancel is a verdict too: once the
// cancel marker is there, only the nodes' reports the service received before it can decide the
// run otherwise (it had ended already); anything reported after it (a task killed by the stop or
// by Slurm's signal, a non-zero exit, a node's time limit) makes it Canceled. The first report
// that says its node was stopped from outside (RunState::stopped_outside) cuts the same way, and
// the run is Canceled with that report's reason.
RunState merge_node_states(const spec::LaunchPlan& plan, const std::filesystem::path& run_dir);

}  // namespace trainctl::service::engines
