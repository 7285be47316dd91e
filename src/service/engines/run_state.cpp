#include "trainctl/service/engines/run_state.hpp"

#include <array>
#include <utility>

#include "trainctl/util/fs.hpp"

namespace trainctl::service {

namespace {

using Phase = RunObservation::Phase;

constexpr std::array<std::pair<Phase, std::string_view>, 3> k_phase_names{{
    {Phase::starting, "starting"},
    {Phase::running, "running"},
    {Phase::finished, "finished"},
}};

std::string_view phase_name(Phase phase) {
  for (const auto& [value, name] : k_phase_names) {
    if (value == phase) return name;
  }
  return "starting";
}

Result<Phase> parse_phase(std::string_view text) {
  for (const auto& [value, name] : k_phase_names) {
    if (name == text) return value;
  }
  return fail(ErrorCode::internal, "unknown run phase '{}'", text);
}

template <typename T>
nlohmann::json optional_to_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

std::optional<int> optional_int(const nlohmann::json& json, const char* key) {
  const auto it = json.find(key);
  if (it == json.end() || it->is_null()) return std::nullopt;
  return it->get<int>();
}

nlohmann::json to_json(const TaskObservation& task) {
  return {{"name", task.name},
          {"state", task.state},
          {"exit_code", optional_to_json(task.exit_code)},
          {"signal", optional_to_json(task.signal)},
          {"pid", task.pid},
          {"started_at_ms", task.started_at_ms},
          {"ended_at_ms", task.ended_at_ms},
          {"message", task.message}};
}

// Throws nlohmann::json::exception on a malformed document; the callers below catch it.
TaskObservation task_from_json(const nlohmann::json& json) {
  TaskObservation task;
  task.name = json.at("name").get<std::string>();
  task.state = json.at("state").get<std::string>();
  task.exit_code = optional_int(json, "exit_code");
  task.signal = optional_int(json, "signal");
  task.pid = json.at("pid").get<int64_t>();
  task.started_at_ms = json.at("started_at_ms").get<int64_t>();
  task.ended_at_ms = json.at("ended_at_ms").get<int64_t>();
  task.message = json.at("message").get<std::string>();
  return task;
}

Result<RunObservation> observation_from_json(const nlohmann::json& json) {
  RunObservation observation;
  const auto phase = parse_phase(json.at("phase").get<std::string>());
  if (!phase) return fail(phase.error());
  observation.phase = *phase;
  if (const auto& outcome = json.at("outcome"); !outcome.is_null()) {
    const auto status = api::parse_run_status(outcome.get<std::string>());
    if (!status) return fail(ErrorCode::internal, "unknown run outcome {}", outcome.dump());
    observation.outcome = *status;
  }
  observation.exit_code = optional_int(json, "exit_code");
  observation.reason = json.at("reason").get<std::string>();
  observation.started_at_ms = json.at("started_at_ms").get<int64_t>();
  observation.ended_at_ms = json.at("ended_at_ms").get<int64_t>();
  for (const auto& task : json.at("tasks")) observation.tasks.push_back(task_from_json(task));
  return observation;
}

}  // namespace

nlohmann::json to_json(const RunObservation& observation) {
  const bool finished = observation.phase == Phase::finished;
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& task : observation.tasks) tasks.push_back(to_json(task));
  return {{"phase", phase_name(observation.phase)},
          {"outcome", finished ? nlohmann::json(api::to_string(observation.outcome)) : nullptr},
          {"exit_code", optional_to_json(observation.exit_code)},
          {"reason", observation.reason},
          {"started_at_ms", observation.started_at_ms},
          {"ended_at_ms", observation.ended_at_ms},
          {"tasks", std::move(tasks)}};
}

namespace engines {

namespace {
constexpr int k_state_version = 1;
constexpr size_t k_state_max_size = 16u << 20;
}  // namespace

nlohmann::json to_json(const RunState& state) {
  auto json = service::to_json(state.observation);
  json["version"] = k_state_version;
  json["boot_id"] = state.boot_id;
  json["supervisor"] = {{"pid", state.supervisor.pid}, {"start_time", state.supervisor.start_time}};
  for (size_t i = 0; i < state.task_processes.size() && i < state.observation.tasks.size(); ++i) {
    json["tasks"][i]["pgid"] = state.task_processes[i].pid;
    json["tasks"][i]["start_time"] = state.task_processes[i].start_time;
  }
  return json;
}

Result<RunState> run_state_from_json(const nlohmann::json& json) {
  try {
    if (json.at("version").get<int>() != k_state_version) {
      return fail(ErrorCode::internal, "unsupported run state version {}",
                  json.at("version").dump());
    }
    auto observation = observation_from_json(json);
    if (!observation) return fail(observation.error());
    RunState state;
    state.boot_id = json.at("boot_id").get<std::string>();
    state.supervisor.pid = json.at("supervisor").at("pid").get<pid_t>();
    state.supervisor.start_time = json.at("supervisor").at("start_time").get<uint64_t>();
    for (const auto& task : json.at("tasks")) {
      state.task_processes.push_back(
          {task.value("pgid", pid_t{0}), task.value("start_time", uint64_t{0})});
    }
    state.observation = std::move(*observation);
    return state;
  } catch (const nlohmann::json::exception& error) {
    return fail(ErrorCode::internal, "malformed run state: {}", error.what());
  }
}

Result<RunState> read_run_state(const std::filesystem::path& run_dir) {
  const auto path = run_dir / k_state_file;
  const auto text = util::read_file(path, k_state_max_size);
  if (!text) return fail(text.error());
  const auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return fail(ErrorCode::internal, "{} is not valid JSON", path.string());
  return run_state_from_json(json);
}

Result<void> write_run_state(const std::filesystem::path& run_dir, const RunState& state) {
  return util::write_file_atomic(run_dir / k_state_file, to_json(state).dump() + "\n");
}

}  // namespace engines

}  // namespace trainctl::service
