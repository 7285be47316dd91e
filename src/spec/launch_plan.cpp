#include "trainctl/spec/launch_plan.hpp"

#include <map>

#include "problems.hpp"
#include "spec_rules.hpp"

namespace trainctl::spec {

bool is_inherited_variable(std::string_view name) {
  static constexpr std::string_view k_names[] = {"PATH", "HOME",   "USER", "LOGNAME", "LANG",
                                                 "TZ",   "TMPDIR", "TERM"};
  for (const auto allowed : k_names) {
    if (name == allowed) return true;
  }
  return name.starts_with("LC_");
}

namespace {

constexpr std::string_view k_token_variable = "TRAINCTL_TOKEN";
constexpr std::string_view k_main_task = "main";

using Environment = std::map<std::string, std::string, std::less<>>;

// base_env, then the run's own variables, then the spec's (which win); never the token.
std::vector<std::pair<std::string, std::string>> task_environment(const JobSpec& spec,
                                                                  const RunLayout& layout,
                                                                  std::string_view task,
                                                                  int node_rank) {
  const std::vector<std::pair<std::string, std::string>> run_variables{
      {"TRAINCTL_RUN_ID", layout.run_id},
      {"TRAINCTL_OUTPUTS_DIR", layout.outputs_dir},
      {"TRAINCTL_TASK", std::string(task)},
      {"TRAINCTL_NODE_RANK", std::to_string(node_rank)},
      {"PYTHONUNBUFFERED", "1"},
  };
  Environment env(layout.base_env.begin(), layout.base_env.end());
  for (const auto* layer : {&run_variables, &spec.environment_variables}) {
    for (const auto& [name, value] : *layer) env.insert_or_assign(name, value);
  }
  env.erase(std::string(k_token_variable));
  return {env.begin(), env.end()};
}

std::vector<std::string> task_argv(const Estimator& estimator, const RunLayout& layout) {
  std::vector<std::string> argv;
  if (estimator.entry_script.ends_with(".py")) {
    argv = {layout.interpreter, estimator.entry_script};
  } else {
    argv = {fmt::format("{}/{}", layout.snapshot_dir, estimator.entry_script)};
  }
  argv.insert(argv.end(), estimator.script_params.begin(), estimator.script_params.end());
  return argv;
}

}  // namespace

nlohmann::json LaunchPlan::to_json() const {
  nlohmann::json json_tasks = nlohmann::json::array();
  for (const TaskLaunch& task : tasks) {
    nlohmann::json env = nlohmann::json::array();
    for (const auto& [name, value] : task.env) env.push_back({name, value});
    json_tasks.push_back({{"name", task.name},
                          {"node_rank", task.node_rank},
                          {"argv", task.argv},
                          {"env", std::move(env)},
                          {"cwd", task.cwd},
                          {"log_file", task.log_file}});
  }
  return {{"run_id", run_id},
          {"tasks", std::move(json_tasks)},
          {"max_duration_seconds", max_duration_seconds},
          {"grace_seconds", grace_seconds}};
}

Result<LaunchPlan> LaunchPlan::from_json(const nlohmann::json& json) {
  try {
    LaunchPlan plan;
    json.at("run_id").get_to(plan.run_id);
    json.at("max_duration_seconds").get_to(plan.max_duration_seconds);
    json.at("grace_seconds").get_to(plan.grace_seconds);
    for (const auto& json_task : json.at("tasks")) {
      TaskLaunch task;
      json_task.at("name").get_to(task.name);
      json_task.at("node_rank").get_to(task.node_rank);
      json_task.at("argv").get_to(task.argv);
      json_task.at("env").get_to(task.env);
      json_task.at("cwd").get_to(task.cwd);
      json_task.at("log_file").get_to(task.log_file);
      plan.tasks.push_back(std::move(task));
    }
    return plan;
  } catch (const nlohmann::json::exception& error) {
    return fail(ErrorCode::invalid_argument, "invalid launch plan: {}", error.what());
  }
}

Result<LaunchPlan> build_launch_plan(const JobSpec& spec, const RunLayout& layout) {
  if (auto unsupported = unsupported_features(spec); !unsupported.empty()) {
    return invalid_spec(std::move(unsupported));
  }
  TaskLaunch task{
      .name = std::string(k_main_task),
      .node_rank = 0,
      .argv = task_argv(spec.estimator, layout),
      .env = task_environment(spec, layout, k_main_task, 0),
      .cwd = layout.snapshot_dir,
      .log_file = fmt::format("{}/{}.log", layout.logs_dir, k_main_task),
  };
  return LaunchPlan{.run_id = layout.run_id,
                    .tasks = {std::move(task)},
                    .max_duration_seconds = spec.limits.max_run_duration_seconds,
                    .grace_seconds = layout.grace_seconds};
}

}  // namespace trainctl::spec
