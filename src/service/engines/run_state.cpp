#include "trainctl/service/engines/run_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

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

nlohmann::json task_to_json(const TaskObservation& task) {
  return {{"name", task.name},
          {"role", task.role},
          {"index", task.index},
          {"node_rank", task.node_rank},
          {"host", task.host},
          {"state", task.state},
          {"exit_code", optional_to_json(task.exit_code)},
          {"signal", optional_to_json(task.signal)},
          {"pid", task.pid},
          {"started_at_ms", task.started_at_ms},
          {"ended_at_ms", task.ended_at_ms},
          {"message", task.message}};
}

// Throws nlohmann::json::exception on a malformed document; the callers below catch it. Keys
// added after the first version default (role "", index 0, node 0).
TaskObservation task_from_json(const nlohmann::json& json) {
  TaskObservation task;
  task.name = json.at("name").get<std::string>();
  task.role = json.value("role", std::string());
  task.index = json.value("index", 0);
  task.node_rank = json.value("node_rank", 0);
  task.host = json.value("host", std::string());
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
  observation.first_failed_task = json.value("first_failed_task", std::string());
  observation.started_at_ms = json.at("started_at_ms").get<int64_t>();
  observation.ended_at_ms = json.at("ended_at_ms").get<int64_t>();
  for (const auto& task : json.at("tasks")) observation.tasks.push_back(task_from_json(task));
  return observation;
}

}  // namespace

nlohmann::json to_json(const RunObservation& observation) {
  const bool finished = observation.phase == Phase::finished;
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& task : observation.tasks) tasks.push_back(task_to_json(task));
  return {{"phase", phase_name(observation.phase)},
          {"outcome", finished ? nlohmann::json(api::to_string(observation.outcome)) : nullptr},
          {"exit_code", optional_to_json(observation.exit_code)},
          {"reason", observation.reason},
          {"first_failed_task", observation.first_failed_task},
          {"started_at_ms", observation.started_at_ms},
          {"ended_at_ms", observation.ended_at_ms},
          {"tasks", std::move(tasks)}};
}

namespace engines {

namespace {
constexpr int k_state_version = 1;
constexpr size_t k_state_max_size = 16u << 20;
constexpr size_t k_report_max_size = 64u << 10;

nlohmann::json process_to_json(const ProcessIdentity& process) {
  return {{"pgid", process.pid}, {"start_time", process.start_time}};
}

ProcessIdentity process_from_json(const nlohmann::json& json) {
  return {json.value("pgid", pid_t{0}), json.value("start_time", uint64_t{0})};
}

std::filesystem::path report_path(const std::filesystem::path& status_dir, std::string_view name) {
  return status_dir / fmt::format("{}.json", name);
}

// Replaces `path` by `content` through a rename, so readers never see a partial file. No fsync:
// it is on the start path of every rank, and a report only matters while its run goes on.
Result<void> replace_file(const std::filesystem::path& path, std::string_view content) {
  const auto temp =
      path.parent_path() / fmt::format(".{}.tmp-{}", path.filename().string(), ::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail(ErrorCode::io, "cannot create {}: {}", temp.string(), std::strerror(errno));
  const bool written =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  const int write_error = errno;
  const bool replaced = ::close(fd) == 0 && written && ::rename(temp.c_str(), path.c_str()) == 0;
  if (replaced) return {};
  const int error = written ? errno : write_error;
  ::unlink(temp.c_str());
  return fail(ErrorCode::io, "cannot write {}: {}", path.string(), std::strerror(error));
}

}  // namespace

std::vector<TaskObservation> pending_tasks(const spec::LaunchPlan& plan) {
  std::vector<TaskObservation> tasks;
  for (const auto& launch : plan.tasks) {
    TaskObservation task;
    task.name = launch.name;
    task.role = launch.role;
    task.index = launch.index;
    task.node_rank = launch.node_rank;
    task.state = std::string(task_state::k_pending);
    tasks.push_back(std::move(task));
  }
  return tasks;
}

nlohmann::json to_json(const RunState& state) {
  auto json = service::to_json(state.observation);
  json["version"] = k_state_version;
  json["boot_id"] = state.boot_id;
  json["supervisor"] = {{"pid", state.supervisor.pid}, {"start_time", state.supervisor.start_time}};
  for (size_t i = 0; i < state.task_processes.size() && i < state.observation.tasks.size(); ++i) {
    json["tasks"][i].update(process_to_json(state.task_processes[i]));
  }
  json["launcher"] = nullptr;
  if (state.launcher) {
    json["launcher"] = task_to_json(*state.launcher);
    json["launcher"].update(process_to_json(state.launcher_process));
  }
  if (!state.stopped_outside.empty()) json["stopped_outside"] = state.stopped_outside;
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
    for (const auto& task : json.at("tasks"))
      state.task_processes.push_back(process_from_json(task));
    if (const auto launcher = json.find("launcher");
        launcher != json.end() && !launcher->is_null()) {
      state.launcher = task_from_json(*launcher);
      state.launcher_process = process_from_json(*launcher);
    }
    state.stopped_outside = json.value("stopped_outside", "");
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

Result<void> write_run_state(const std::filesystem::path& run_dir, const RunState& state,
                             util::Sync sync) {
  return util::write_file_atomic(run_dir / k_state_file, to_json(state).dump() + "\n", 0644, sync);
}

Result<void> write_final_run_state(const std::filesystem::path& run_dir, const RunState& state) {
  auto delay = std::chrono::milliseconds(250);
  bool logged = false;
  while (true) {
    auto written = write_run_state(run_dir, state);
    std::error_code ec;
    if (written || written.error().code != ErrorCode::insufficient_storage ||
        !std::filesystem::exists(run_dir, ec)) {
      return written;
    }
    if (!logged) {
      spdlog::error("{}; trying again until there is space", written.error().message);
      logged = true;
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

Result<void> write_task_report(const std::filesystem::path& status_dir,
                               const TaskObservation& task) {
  return replace_file(report_path(status_dir, task.name), task_to_json(task).dump() + "\n");
}

Result<TaskObservation> read_task_report(const std::filesystem::path& status_dir,
                                         std::string_view name) {
  const auto path = report_path(status_dir, name);
  const auto text = util::read_file(path, k_report_max_size);
  if (!text) return fail(text.error());
  const auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return fail(ErrorCode::internal, "{} is not valid JSON", path.string());
  try {
    return task_from_json(json);
  } catch (const nlohmann::json::exception& error) {
    return fail(ErrorCode::internal, "malformed task report {}: {}", path.string(), error.what());
  }
}

}  // namespace engines

}  // namespace trainctl::service
