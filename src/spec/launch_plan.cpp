#include "trainctl/spec/launch_plan.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <map>

#include "input_references.hpp"
#include "problems.hpp"
#include "spec_rules.hpp"
#include "task_slots.hpp"
#include "trainctl/api/metrics.hpp"
#include "trainctl/util/ports.hpp"

namespace trainctl::spec {

bool is_inherited_variable(std::string_view name) {
  static constexpr std::string_view k_names[] = {"PATH", "HOME", "USER",   "LOGNAME",
                                                 "LANG", "TZ",   "TMPDIR", "TERM"};
  for (const auto allowed : k_names) {
    if (name == allowed) return true;
  }
  return name.starts_with("LC_");
}

namespace {

using Variables = std::vector<std::pair<std::string, std::string>>;
using Environment = std::map<std::string, std::string, std::less<>>;

constexpr std::string_view k_token_variable = "TRAINCTL_TOKEN";
constexpr std::string_view k_loopback_address = "127.0.0.1";
// Passed to the ranks by mpirun even when the service's environment set them, so that the
// ranks find the same programs and modules as the run's other processes.
constexpr std::array<std::string_view, 2> k_search_path_variables{"PATH", "PYTHONPATH"};

// Where the run's inputs are: the layout's inputs_dir, or <run>/inputs when it has none.
std::string inputs_dir_of(const RunLayout& layout) {
  return layout.inputs_dir.empty() ? fmt::format("{}/inputs", layout.run_dir) : layout.inputs_dir;
}

// Where the run's tasks start: the layout's working_dir, or <run>/work when it has none.
std::string working_dir_of(const RunLayout& layout) {
  return layout.working_dir.empty() ? fmt::format("{}/work", layout.run_dir) : layout.working_dir;
}

// `spec` with every `${{inputs.NAME}}` of its script_params and environment_variables values
// replaced by the input's path in the run.
JobSpec with_input_paths(JobSpec spec, std::string_view inputs_dir) {
  for (std::string& param : spec.estimator.script_params) {
    param = substitute_input_paths(param, inputs_dir);
  }
  for (auto& [name, value] : spec.environment_variables) {
    value = substitute_input_paths(value, inputs_dir);
  }
  return spec;
}

// What every process of the run is told about itself (docs/engines.md), and where each
// of its inputs is.
Variables run_variables(const JobSpec& spec, const RunLayout& layout, std::string_view task,
                        const TaskSlot& slot) {
  const int node_rank = slot.node_rank;
  Variables variables{
      {"TRAINCTL_RUN_ID", layout.run_id},
      {"TRAINCTL_OUTPUTS_DIR", layout.outputs_dir},
      {"TRAINCTL_TASK", std::string(task)},
      {"TRAINCTL_NODE_RANK", std::to_string(node_rank)},
      {"TRAINCTL_LOCAL_RANK", std::to_string(slot.local_rank)},
      {"TRAINCTL_LOCAL_SIZE", std::to_string(slot.local_size)},
      {"PYTHONUNBUFFERED", "1"},
      {"TRAINCTL_METRICS_FILE", fmt::format("{}/{}", layout.logs_dir, api::metrics_file_name(task))},
      {"PYTHONPATH", fmt::format("{}/{}", layout.run_dir, k_python_library_dir)},
  };
  if (node_rank >= 0 && static_cast<size_t>(node_rank) < layout.node_gpus.size()) {
    variables.emplace_back("CUDA_VISIBLE_DEVICES", layout.node_gpus[static_cast<size_t>(node_rank)]);
  }
  const std::string inputs_dir = inputs_dir_of(layout);
  for (const Input& input : spec.inputs) {
    variables.emplace_back(input_variable_name(input.name),
                           fmt::format("{}/{}", inputs_dir, input.name));
  }
  return variables;
}

// base_env, then the run's variables, then the backend's, then the spec's (which win); sorted,
// and never the token.
Variables layered_environment(const RunLayout& layout, const Variables& run,
                              const Variables& backend, const Variables& spec_variables) {
  Environment env(layout.base_env.begin(), layout.base_env.end());
  for (const Variables* layer : {&run, &backend, &spec_variables}) {
    for (const auto& [name, value] : *layer) env.insert_or_assign(name, value);
  }
  // A PYTHONPATH of the spec's (or the service's) comes first; the folder of the trainctl module
  // stays on it.
  const auto value_in = [](const Variables& layer, std::string_view name) -> const std::string* {
    const auto found = std::find_if(layer.begin(), layer.end(),
                                    [&](const auto& variable) { return variable.first == name; });
    return found == layer.end() ? nullptr : &found->second;
  };
  const std::string* library = value_in(run, "PYTHONPATH");
  const std::string* theirs = value_in(spec_variables, "PYTHONPATH");
  if (theirs == nullptr) theirs = value_in(layout.base_env, "PYTHONPATH");
  if (library != nullptr && theirs != nullptr) env["PYTHONPATH"] = *theirs + ":" + *library;
  env.erase(std::string(k_token_variable));
  return {env.begin(), env.end()};
}

// The user's command: the interpreter and the entry script for a .py script, else the script
// itself, then script_params. An MPI rank's Python runs under `-m mpi4py`, so that an exception
// or a non-zero sys.exit in one rank calls MPI_Abort and ends the whole job at once; otherwise
// that rank would wait in MPI_Finalize (called at exit) for ranks that wait for it.
std::vector<std::string> user_argv(const Estimator& estimator, const RunLayout& layout) {
  std::vector<std::string> argv;
  if (estimator.entry_script.ends_with(".py")) {
    argv = {layout.interpreter};
    if (estimator.distributed.backend == Backend::mpi) argv.insert(argv.end(), {"-m", "mpi4py"});
    argv.push_back(estimator.entry_script);
  } else {
    argv = {fmt::format("{}/{}", layout.snapshot_dir, estimator.entry_script)};
  }
  argv.insert(argv.end(), estimator.script_params.begin(), estimator.script_params.end());
  return argv;
}

// Whether `slot` listens on a port of its own: every training task of a parameter-server
// cluster (the evaluator is outside it), and rank 0 of PyTorch (MASTER_PORT).
bool listens(Backend backend, const TaskSlot& slot) {
  switch (backend) {
    case Backend::parameter_server: return slot.role != task_role::k_evaluator;
    case Backend::pytorch: return slot.index == 0;
    case Backend::none:
    case Backend::mpi: return false;
  }
  return false;
}

// Where a listening task listens.
struct Endpoint {
  std::string address;
  int port = 0;

  std::string text() const { return fmt::format("{}:{}", address, port); }
};

// The endpoint of every slot that listens, in slot order: on this host, free loopback ports
// (one call to the layout's allocator); on nodes of their own, the node's address and the next
// of its ports.
Result<std::vector<Endpoint>> take_endpoints(const RunLayout& layout, Backend backend,
                                             const std::vector<TaskSlot>& slots) {
  std::vector<Endpoint> endpoints;
  if (!layout.nodes.empty()) {
    std::vector<size_t> taken(layout.nodes.size(), 0);
    for (const TaskSlot& slot : slots) {
      if (!listens(backend, slot)) continue;
      const auto node = static_cast<size_t>(slot.node_rank);
      if (node >= layout.nodes.size()) {
        return fail(ErrorCode::internal, "task {} is on node {}, but the run has {} nodes",
                    slot.name(), slot.node_rank, layout.nodes.size());
      }
      const NodePlace& place = layout.nodes[node];
      if (taken[node] >= place.ports.size()) {
        return fail(ErrorCode::internal, "node {} ({}) gave {} free ports; its tasks need more",
                    slot.node_rank, place.host, place.ports.size());
      }
      endpoints.push_back({place.address, place.ports[taken[node]++]});
    }
    return endpoints;
  }
  const auto count = static_cast<size_t>(
      std::ranges::count_if(slots, [&](const TaskSlot& slot) { return listens(backend, slot); }));
  if (count == 0) return endpoints;
  auto ports =
      layout.allocate_ports ? layout.allocate_ports(count) : util::free_loopback_ports(count);
  if (!ports) return fail(std::move(ports.error()));
  if (ports->size() != count) {
    return fail(ErrorCode::internal, "asked for {} free ports, got {}", count, ports->size());
  }
  for (const int port : *ports) endpoints.push_back({std::string(k_loopback_address), port});
  return endpoints;
}

// TF_CONFIG's "cluster": each training task's address by type, in the order chief, ps, worker
// (the order of the slots), the evaluator left out.
nlohmann::ordered_json tf_cluster(const std::vector<TaskSlot>& slots,
                                  const std::vector<Endpoint>& endpoints) {
  nlohmann::ordered_json cluster = nlohmann::ordered_json::object();
  auto endpoint = endpoints.begin();
  for (const TaskSlot& slot : slots) {
    if (slot.role == task_role::k_evaluator) continue;
    cluster[std::string(slot.role)].push_back((endpoint++)->text());
  }
  return cluster;
}

// {"cluster":{...},"task":{"type":"worker","index":1},"environment":"cloud"}, compact.
std::string tf_config(const nlohmann::ordered_json& cluster, const TaskSlot& slot) {
  nlohmann::ordered_json config;
  config["cluster"] = cluster;
  config["task"]["type"] = slot.role;
  config["task"]["index"] = slot.index;
  config["environment"] = "cloud";
  return config.dump();
}

// The tasks of one plan: every task shares the spec, the layout, the user's command and the
// cluster's ports.
class PlanBuilder {
 public:
  PlanBuilder(const JobSpec& spec, const RunLayout& layout, std::vector<TaskSlot> slots,
              std::vector<Endpoint> endpoints)
      : m_spec(spec),
        m_layout(layout),
        m_slots(std::move(slots)),
        m_endpoints(std::move(endpoints)),
        m_user_argv(user_argv(spec.estimator, layout)),
        m_ranks(static_cast<int>(task_count(spec))),
        m_ranks_per_node(spec.estimator.process_count_per_node) {
    if (m_spec.estimator.distributed.backend == Backend::parameter_server) {
      m_cluster = tf_cluster(m_slots, m_endpoints);
    }
  }

  std::vector<TaskLaunch> tasks() const {
    std::vector<TaskLaunch> tasks;
    for (const TaskSlot& slot : m_slots) tasks.push_back(task(slot));
    return tasks;
  }

  // mpirun, starting every rank through `<rank_wrapper> rank`.
  TaskLaunch launcher() const {
    const std::string name(k_launcher_task);
    const Variables run =
        run_variables(m_spec, m_layout, name, TaskSlot{task_role::k_launcher, 0, 0});
    Variables env = layered_environment(m_layout, run, {}, m_spec.environment_variables);
    std::vector<std::string> argv = mpirun_options();
    for (const std::string& variable : exported_variables(env, run)) {
      argv.insert(argv.end(), {"-x", variable});
    }
    argv.insert(argv.end(),
                {m_layout.rank_wrapper, "rank", "--status-dir", status_dir(), "--logs-dir",
                 m_layout.logs_dir, "--ranks-per-node", std::to_string(m_ranks_per_node)});
    if (!m_layout.nodes.empty()) {
      // On another host the rank's working directory is made by that node's supervisor, which
      // may not have finished when mpirun starts the rank: the wrapper waits for it.
      argv.insert(argv.end(), {"--wdir", working_dir_of(m_layout)});
    }
    if (!m_layout.node_gpus.empty()) {
      argv.insert(argv.end(), {"--node-gpus", fmt::format("{}", fmt::join(m_layout.node_gpus, ";"))});
    }
    argv.push_back("--");
    argv.insert(argv.end(), m_user_argv.begin(), m_user_argv.end());
    return {.name = name,
            .role = std::string(task_role::k_launcher),
            .index = 0,
            .node_rank = 0,
            .argv = std::move(argv),
            .env = std::move(env),
            .cwd = working_dir_of(m_layout),
            .log_file = log_file(name)};
  }

  std::string status_dir() const { return fmt::format("{}/tasks", m_layout.run_dir); }

 private:
  TaskLaunch task(const TaskSlot& slot) const {
    const std::string name = slot.name();
    return {.name = name,
            .role = std::string(slot.role),
            .index = slot.index,
            .node_rank = slot.node_rank,
            .argv = m_user_argv,
            .env = layered_environment(m_layout, run_variables(m_spec, m_layout, name, slot),
                                       backend_variables(slot), m_spec.environment_variables),
            .cwd = working_dir_of(m_layout),
            .log_file = log_file(name),
            .started_by_launcher = m_spec.estimator.distributed.backend == Backend::mpi};
  }

  // How the backend wires a task to its peers: TF_CONFIG, MASTER_ADDR/PORT and ranks.
  Variables backend_variables(const TaskSlot& slot) const {
    switch (m_spec.estimator.distributed.backend) {
      case Backend::none: return {};
      case Backend::parameter_server: return {{"TF_CONFIG", tf_config(m_cluster, slot)}};
      case Backend::pytorch:
        return {{"MASTER_ADDR", m_endpoints.front().address},
                {"MASTER_PORT", std::to_string(m_endpoints.front().port)},
                {"WORLD_SIZE", std::to_string(m_ranks)},
                {"RANK", std::to_string(slot.index)},
                {"LOCAL_RANK", std::to_string(slot.local_rank)},
                {"NODE_RANK", std::to_string(slot.node_rank)},
                {"LOCAL_WORLD_SIZE", std::to_string(slot.local_size)}};
      case Backend::mpi:  // what Open MPI sets when each node is a host of its own
        return {{"OMPI_COMM_WORLD_RANK", std::to_string(slot.index)},
                {"OMPI_COMM_WORLD_SIZE", std::to_string(m_ranks)},
                {"OMPI_COMM_WORLD_LOCAL_RANK", std::to_string(slot.local_rank)},
                {"OMPI_COMM_WORLD_LOCAL_SIZE", std::to_string(slot.local_size)},
                {"OMPI_COMM_WORLD_NODE_RANK", std::to_string(slot.local_rank)}};
    }
    return {};
  }

  // mpirun's -H: every rank on this host, or each node's ranks on its own host.
  std::string mpirun_hosts() const {
    if (m_layout.nodes.empty()) return fmt::format("localhost:{}", m_ranks);
    std::vector<std::string> hosts;
    for (const NodePlace& node : m_layout.nodes) {
      hosts.push_back(fmt::format("{}:{}", node.host, m_ranks_per_node));
    }
    return fmt::format("{}", fmt::join(hosts, ","));
  }

  // mpirun and its options up to the variables it passes on: as root, in a sandbox, one host
  // (or the run's hosts).
  std::vector<std::string> mpirun_options() const {
    const std::string ranks = std::to_string(m_ranks);
    return {m_layout.mpirun,
            "--allow-run-as-root",
            "--oversubscribe",
            "-np",
            ranks,
            "-H",
            mpirun_hosts(),
            "--bind-to",
            "none",
            "--map-by",
            "slot",
            "--mca",
            "btl",
            "self,tcp",
            "--mca",
            "btl_vader_single_copy_mechanism",
            "none",
            // The virtual nodes share this machine's cores: ranks waiting in a collective yield
            // the CPU instead of spinning on it (Open MPI yields by itself only when it knows a
            // node is oversubscribed, and -H localhost:N tells it there is a slot per rank).
            "--mca",
            "mpi_yield_when_idle",
            "1",
            "-wdir",
            working_dir_of(m_layout)};
  }

  // The names of `env` mpirun passes on with -x, sorted: every variable the run or the spec sets,
  // and the search paths.
  std::vector<std::string> exported_variables(const Variables& env, const Variables& run) const {
    const auto set_in = [](const Variables& layer, std::string_view name) {
      return std::any_of(layer.begin(), layer.end(),
                         [&](const auto& variable) { return variable.first == name; });
    };
    std::vector<std::string> names;
    for (const auto& [name, value] : env) {
      if (set_in(run, name) || set_in(m_spec.environment_variables, name) ||
          std::find(k_search_path_variables.begin(), k_search_path_variables.end(), name) !=
              k_search_path_variables.end()) {
        names.push_back(name);
      }
    }
    return names;
  }

  std::string log_file(std::string_view name) const {
    return fmt::format("{}/{}.log", m_layout.logs_dir, name);
  }

  const JobSpec& m_spec;
  const RunLayout& m_layout;
  std::vector<TaskSlot> m_slots;
  std::vector<Endpoint> m_endpoints;  // of the slots that listen, in slot order
  std::vector<std::string> m_user_argv;
  int m_ranks;  // the number of tasks, for the backends whose tasks are ranks
  int m_ranks_per_node;
  nlohmann::ordered_json m_cluster;  // parameter_server: the TF_CONFIG cluster
};

// The success_rule a run of `spec` follows.
std::string_view success_rule_of(const DistributedTraining& distributed) {
  if (distributed.backend != Backend::parameter_server) return success_rule::k_all_tasks;
  switch (distributed.success_policy) {
    case SuccessPolicy::chief: return success_rule::k_chief;
    case SuccessPolicy::all_workers: return success_rule::k_all_workers;
  }
  return success_rule::k_chief;
}

nlohmann::json task_to_json(const TaskLaunch& task) {
  nlohmann::json env = nlohmann::json::array();
  for (const auto& [name, value] : task.env) env.push_back({name, value});
  return {{"name", task.name},
          {"role", task.role},
          {"index", task.index},
          {"node_rank", task.node_rank},
          {"argv", task.argv},
          {"env", std::move(env)},
          {"cwd", task.cwd},
          {"log_file", task.log_file},
          {"started_by_launcher", task.started_by_launcher}};
}

// Whether `json` holds a floating-point number anywhere: a launch plan's numbers are all whole
// (indexes, ranks, seconds, ports), and a float converted to int past its range is undefined.
bool holds_float(const nlohmann::json& json) {
  if (json.is_number_float()) return true;
  if (!json.is_structured()) return false;
  return std::ranges::any_of(json, [](const nlohmann::json& item) { return holds_float(item); });
}

// Throws nlohmann::json::exception on a missing field or a wrong type.
TaskLaunch task_from_json(const nlohmann::json& json) {
  TaskLaunch task;
  json.at("name").get_to(task.name);
  // role, index and started_by_launcher came with distributed runs; a launch.json written
  // before them describes a single "main" task.
  task.role = json.value("role", std::string(task_role::k_main));
  task.index = json.value("index", 0);
  json.at("node_rank").get_to(task.node_rank);
  json.at("argv").get_to(task.argv);
  json.at("env").get_to(task.env);
  json.at("cwd").get_to(task.cwd);
  json.at("log_file").get_to(task.log_file);
  task.started_by_launcher = json.value("started_by_launcher", false);
  return task;
}

}  // namespace

nlohmann::json LaunchPlan::to_json() const {
  nlohmann::json json_tasks = nlohmann::json::array();
  for (const TaskLaunch& task : tasks) json_tasks.push_back(task_to_json(task));
  nlohmann::json json = {{"run_id", run_id},
                         {"backend", backend},
                         {"success", success},
                         {"tasks", std::move(json_tasks)},
                         {"status_dir", status_dir},
                         {"max_duration_seconds", max_duration_seconds},
                         {"grace_seconds", grace_seconds},
                         {"start_timeout_seconds", start_timeout_seconds}};
  if (launcher) json["launcher"] = task_to_json(*launcher);
  json["read_only_dirs"] = read_only_dirs;
  if (!working_dir.path.empty()) {
    json["working_dir"] = {{"path", working_dir.path},
                           {"source_dir", working_dir.source_dir},
                           {"outputs_dir", working_dir.outputs_dir},
                           {"logs_dir", working_dir.logs_dir}};
  }
  if (!nodes.empty()) {
    auto places = nlohmann::json::array();
    for (const NodePlace& place : nodes) {
      places.push_back({{"host", place.host}, {"address", place.address}, {"ports", place.ports}});
    }
    json["nodes"] = std::move(places);
  }
  if (node >= 0) json["node"] = node;
  if (node_environment) {
    json["node_environment"] = {{"interpreter", node_environment->interpreter},
                                {"pip_packages", node_environment->pip_packages},
                                {"index_url", node_environment->index_url},
                                {"find_links", node_environment->find_links},
                                {"no_index", node_environment->no_index}};
  }
  return json;
}

Result<LaunchPlan> LaunchPlan::from_json(const nlohmann::json& json) {
  if (holds_float(json)) {
    return fail(ErrorCode::invalid_argument, "invalid launch plan: a number that is not whole");
  }
  try {
    LaunchPlan plan;
    json.at("run_id").get_to(plan.run_id);
    // Fields from before distributed runs keep their defaults when absent.
    plan.backend = json.value("backend", plan.backend);
    plan.success = json.value("success", plan.success);
    for (const auto& task : json.at("tasks")) plan.tasks.push_back(task_from_json(task));
    if (const auto found = json.find("launcher"); found != json.end() && !found->is_null()) {
      plan.launcher = task_from_json(*found);
    }
    plan.status_dir = json.value("status_dir", plan.status_dir);
    json.at("max_duration_seconds").get_to(plan.max_duration_seconds);
    json.at("grace_seconds").get_to(plan.grace_seconds);
    plan.start_timeout_seconds = json.value("start_timeout_seconds", plan.start_timeout_seconds);
    plan.read_only_dirs = json.value("read_only_dirs", plan.read_only_dirs);
    if (const auto found = json.find("working_dir"); found != json.end()) {
      found->at("path").get_to(plan.working_dir.path);
      found->at("source_dir").get_to(plan.working_dir.source_dir);
      found->at("outputs_dir").get_to(plan.working_dir.outputs_dir);
      found->at("logs_dir").get_to(plan.working_dir.logs_dir);
    }
    if (const auto found = json.find("nodes"); found != json.end()) {
      for (const auto& place : *found) {
        plan.nodes.push_back({place.at("host").get<std::string>(),
                              place.at("address").get<std::string>(),
                              place.at("ports").get<std::vector<int>>()});
      }
    }
    plan.node = json.value("node", plan.node);
    if (const auto found = json.find("node_environment"); found != json.end()) {
      auto& environment = plan.node_environment.emplace();
      found->at("interpreter").get_to(environment.interpreter);
      found->at("pip_packages").get_to(environment.pip_packages);
      environment.index_url = found->value("index_url", "");
      environment.find_links = found->value("find_links", std::vector<std::string>{});
      environment.no_index = found->value("no_index", false);
    }
    return plan;
  } catch (const nlohmann::json::exception& error) {
    return fail(ErrorCode::invalid_argument, "invalid launch plan: {}", error.what());
  }
}

namespace {

// The snapshot and the inputs mounted from the blob store (LaunchPlan::read_only_dirs).
std::vector<std::string> read_only_dirs(const JobSpec& spec, const RunLayout& layout) {
  std::vector<std::string> dirs{layout.snapshot_dir};
  for (const Input& input : spec.inputs) {
    if (input.mode == "mount") dirs.push_back(fmt::format("{}/{}", inputs_dir_of(layout), input.name));
  }
  return dirs;
}

}  // namespace

std::vector<std::string> node_gpu_lists(const std::vector<int>& nodes, int gpus_per_node,
                                        bool use_gpu) {
  std::vector<std::string> lists;
  if (gpus_per_node <= 0) return lists;
  for (const int slot : nodes) {
    std::vector<int> gpus;
    for (int i = 0; use_gpu && i < gpus_per_node; ++i) gpus.push_back(slot * gpus_per_node + i);
    lists.push_back(fmt::format("{}", fmt::join(gpus, ",")));
  }
  return lists;
}

Result<LaunchPlan> build_launch_plan(const JobSpec& spec, const RunLayout& layout) {
  std::vector<ErrorDetail> problems = check_spec_rules(spec);
  if (!problems.empty()) return invalid_spec(std::move(problems));

  const Backend backend = spec.estimator.distributed.backend;
  std::vector<TaskSlot> slots = task_slots(spec);
  auto endpoints = take_endpoints(layout, backend, slots);
  if (!endpoints) return fail(std::move(endpoints.error()));
  const JobSpec resolved = with_input_paths(spec, inputs_dir_of(layout));
  const PlanBuilder builder(resolved, layout, std::move(slots), std::move(*endpoints));

  return LaunchPlan{
      .run_id = layout.run_id,
      .backend = std::string(to_string(backend)),
      .success = std::string(success_rule_of(spec.estimator.distributed)),
      .tasks = builder.tasks(),
      .launcher = backend == Backend::mpi ? std::optional(builder.launcher()) : std::nullopt,
      .status_dir = builder.status_dir(),
      .max_duration_seconds = spec.limits.max_run_duration_seconds,
      .grace_seconds = layout.grace_seconds,
      .read_only_dirs = read_only_dirs(spec, layout),
      .working_dir = {.path = working_dir_of(layout),
                      .source_dir = layout.snapshot_dir,
                      .outputs_dir = layout.outputs_dir,
                      .logs_dir = layout.logs_dir},
      .nodes = layout.nodes,
      .node = -1,
      .node_environment = std::nullopt};
}

size_t ports_needed_on_node(const JobSpec& spec, int node_rank) {
  const Backend backend = spec.estimator.distributed.backend;
  return static_cast<size_t>(std::ranges::count_if(task_slots(spec), [&](const TaskSlot& slot) {
    return slot.node_rank == node_rank && listens(backend, slot);
  }));
}

LaunchPlan node_part_of(const LaunchPlan& plan, int node) {
  LaunchPlan part = plan;
  part.node = node;
  part.success = std::string(success_rule::k_all_tasks);
  std::erase_if(part.tasks, [&](const TaskLaunch& task) { return task.node_rank != node; });
  if (node != 0) part.launcher.reset();
  // mpirun may start any node's ranks through a daemon of its own (Open MPI's orted, started by
  // srun), outside the mount namespace of that node's supervisor: no part of an MPI run mounts
  // anything there, so its working directory is made of links that every process sees.
  if (std::ranges::any_of(plan.tasks, &TaskLaunch::started_by_launcher)) part.read_only_dirs.clear();
  return part;
}

}  // namespace trainctl::spec
