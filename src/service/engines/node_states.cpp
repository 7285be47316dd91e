#include "trainctl/service/engines/node_states.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <utility>

#include "trainctl/service/engines/outcome_policy.hpp"
#include "trainctl/util/fs.hpp"

namespace trainctl::service::engines {

namespace {

namespace fs = std::filesystem;

constexpr size_t k_max_node_file = 8u << 20;

fs::path place_file(const fs::path& run_dir, int node) {
  return run_dir / k_nodes_dir / fmt::format("{}.place.json", node);
}

fs::path state_file(const fs::path& run_dir, int node) {
  return run_dir / k_nodes_dir / fmt::format("{}.state.json", node);
}

Result<void> write_json(const fs::path& file, const nlohmann::json& json) {
  if (auto made = util::make_directories(file.parent_path()); !made) return made;
  return util::write_file_atomic(file, json.dump() + "\n");
}

std::optional<nlohmann::json> read_json(const fs::path& file) {
  auto text = util::read_file(file, k_max_node_file);
  if (!text) return std::nullopt;
  auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return std::nullopt;
  return json;
}

nlohmann::json verdict_to_json(const RunVerdict& verdict) {
  return {{"outcome", api::to_string(verdict.outcome)},
          {"exit_code", verdict.exit_code ? nlohmann::json(*verdict.exit_code) : nlohmann::json(nullptr)},
          {"reason", verdict.reason},
          {"first_failed_task", verdict.first_failed_task}};
}

std::optional<RunVerdict> read_verdict(const fs::path& run_dir) {
  const auto json = read_json(run_dir / k_stop_file);
  if (!json || !json->is_object()) return std::nullopt;
  const auto outcome = api::parse_run_status(json->value("outcome", ""));
  if (!outcome) return std::nullopt;
  RunVerdict verdict{*outcome, std::nullopt, json->value("reason", ""), json->value("first_failed_task", "")};
  if (const auto code = json->find("exit_code"); code != json->end() && code->is_number_integer()) {
    verdict.exit_code = code->get<int>();
  }
  return verdict;
}

// A node whose part ended by itself without success decides the run when its tasks did not:
// its supervisor could not start them, or a time limit.
std::optional<RunVerdict> node_ended_badly(const std::vector<std::optional<RunState>>& nodes) {
  for (const auto& node : nodes) {
    if (!node) continue;
    const auto& part = node->observation;
    if (part.phase != RunObservation::Phase::finished || part.outcome == api::RunStatus::Completed) continue;
    return RunVerdict{part.outcome, part.exit_code, part.reason, part.first_failed_task};
  }
  return std::nullopt;
}

// Every node's part as its agent last reported it, with when the service received that report.
struct NodeReport {
  RunState state;
  fs::file_time_type received_at;
};

std::vector<std::optional<NodeReport>> read_node_reports(const fs::path& run_dir, int nodes) {
  std::vector<std::optional<NodeReport>> reports(static_cast<size_t>(nodes));
  for (int node = 0; node < nodes; ++node) {
    const auto file = state_file(run_dir, node);
    std::error_code error;
    const auto received_at = fs::last_write_time(file, error);
    if (error) continue;
    if (const auto json = read_json(file)) {
      if (auto state = run_state_from_json(*json)) {
        reports[static_cast<size_t>(node)] = NodeReport{std::move(*state), received_at};
      }
    }
  }
  return reports;
}

// The parts reported before `before` (every part when nullopt); the others as if not reported.
std::vector<std::optional<RunState>> parts_reported(
    const std::vector<std::optional<NodeReport>>& reports,
    std::optional<fs::file_time_type> before) {
  std::vector<std::optional<RunState>> parts(reports.size());
  for (size_t node = 0; node < reports.size(); ++node) {
    if (reports[node] && (!before || reports[node]->received_at < *before))
      parts[node] = reports[node]->state;
  }
  return parts;
}

// The plan's tasks, each as its node last reported it (pending where no part says).
std::vector<TaskObservation> merged_tasks(const spec::LaunchPlan& plan,
                                          const std::vector<std::optional<RunState>>& parts) {
  auto tasks = pending_tasks(plan);
  for (const auto& part : parts) {
    if (!part) continue;
    for (const auto& task : part->observation.tasks) {
      const auto found = std::ranges::find(tasks, task.name, &TaskObservation::name);
      if (found != tasks.end()) *found = task;
    }
  }
  return tasks;
}

// The first report received that says its node's processes were stopped from outside trainctl
// (Slurm signalled the job): when, and why.
std::optional<std::pair<fs::file_time_type, std::string>> first_stopped_outside(
    const std::vector<std::optional<NodeReport>>& reports) {
  std::optional<std::pair<fs::file_time_type, std::string>> first;
  for (const auto& report : reports) {
    if (!report || report->state.stopped_outside.empty()) continue;
    if (!first || report->received_at < first->first) {
      first = std::pair{report->received_at, report->state.stopped_outside};
    }
  }
  return first;
}

// The run's verdict from its parts, or nullopt while undecided: its success rule over every
// task, else a node that ended badly by itself. Once the run is being stopped, by a cancel
// (`cancel_asked_at`) or from outside (a node reports Slurm's signal to the job), only the
// reports received before that can decide anything else: whatever a node reports after it (a
// task killed by the stop, Slurm's signal reaching a task before its supervisor, a non-zero exit,
// a time limit) is the run being stopped, and the verdict is Canceled, saying by whom.
std::optional<RunVerdict> decide(const spec::LaunchPlan& plan,
                                 const std::vector<std::optional<NodeReport>>& reports,
                                 std::optional<fs::file_time_type> cancel_asked_at) {
  std::optional<fs::file_time_type> stopping_since = cancel_asked_at;
  std::string reason = "canceled";
  if (const auto outside = first_stopped_outside(reports);
      outside && (!stopping_since || outside->first < *stopping_since)) {
    stopping_since = outside->first;
    reason = outside->second;
  }
  const auto parts = parts_reported(reports, stopping_since);
  auto verdict = policy_for(plan.success)(merged_tasks(plan, parts));
  if (!verdict) verdict = node_ended_badly(parts);
  if (!verdict && stopping_since) {
    verdict = RunVerdict{api::RunStatus::Canceled, std::nullopt, reason, ""};
  }
  return verdict;
}

}  // namespace

int node_count(const spec::LaunchPlan& plan) {
  int nodes = 1;
  for (const auto& task : plan.tasks) nodes = std::max(nodes, task.node_rank + 1);
  return nodes;
}

Result<void> write_node_place(const fs::path& run_dir, int node, const spec::NodePlace& place) {
  return write_json(place_file(run_dir, node),
                    {{"host", place.host}, {"address", place.address}, {"ports", place.ports}});
}

Result<void> write_node_state(const fs::path& run_dir, int node, const RunState& state) {
  return write_json(state_file(run_dir, node), to_json(state));
}

std::optional<std::vector<spec::NodePlace>> node_places(const fs::path& run_dir, int nodes) {
  std::vector<spec::NodePlace> places;
  for (int node = 0; node < nodes; ++node) {
    const auto json = read_json(place_file(run_dir, node));
    if (!json) return std::nullopt;
    try {
      places.push_back({json->at("host").get<std::string>(), json->at("address").get<std::string>(),
                        json->at("ports").get<std::vector<int>>()});
    } catch (const nlohmann::json::exception&) {
      return std::nullopt;
    }
  }
  return places;
}

std::optional<RunVerdict> recorded_verdict(const fs::path& run_dir) {
  return read_verdict(run_dir);
}

bool nodes_must_stop(const fs::path& run_dir) {
  std::error_code error;
  return fs::exists(run_dir / k_cancel_file, error) || fs::exists(run_dir / k_stop_file, error);
}

RunState merge_node_states(const spec::LaunchPlan& plan, const fs::path& run_dir) {
  const auto reports = read_node_reports(run_dir, node_count(plan));
  const auto parts = parts_reported(reports, std::nullopt);
  RunState merged;
  auto& run = merged.observation;
  run.tasks = merged_tasks(plan, parts);
  std::error_code error;
  std::optional<fs::file_time_type> cancel_asked_at;
  if (const auto asked_at = fs::last_write_time(run_dir / k_cancel_file, error); !error) {
    cancel_asked_at = asked_at;
  }
  if (const auto outside = first_stopped_outside(reports)) merged.stopped_outside = outside->second;
  auto verdict = read_verdict(run_dir);
  if (!verdict) {
    verdict = decide(plan, reports, cancel_asked_at);
    if (verdict) {
      if (auto written = write_json(run_dir / k_stop_file, verdict_to_json(*verdict)); !written) {
        spdlog::warn("run {}: cannot ask its nodes to stop: {}", plan.run_id, written.error().message);
      }
    }
  }
  const auto reached = [&](RunObservation::Phase phase) {
    return std::ranges::all_of(parts, [&](const auto& part) {
      return part && static_cast<int>(part->observation.phase) >= static_cast<int>(phase);
    });
  };
  for (const auto& part : parts) {
    if (!part) continue;
    run.started_at_ms = std::max(run.started_at_ms, part->observation.started_at_ms);
    run.ended_at_ms = std::max(run.ended_at_ms, part->observation.ended_at_ms);
  }
  if (!reached(RunObservation::Phase::running)) {
    run.phase = RunObservation::Phase::starting;
    run.started_at_ms = 0;
  } else if (!reached(RunObservation::Phase::finished)) {
    run.phase = RunObservation::Phase::running;
  } else {
    run.phase = RunObservation::Phase::finished;
    if (verdict) {
      run.outcome = verdict->outcome;
      run.exit_code = verdict->exit_code;
      run.reason = verdict->reason;
      run.first_failed_task = verdict->first_failed_task;
    } else {
      run.outcome = api::RunStatus::Completed;
      run.exit_code = 0;
    }
  }
  if (run.phase != RunObservation::Phase::finished) run.ended_at_ms = 0;
  return merged;
}

}  // namespace trainctl::service::engines
