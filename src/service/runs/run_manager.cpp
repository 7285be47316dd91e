#include "trainctl/service/runs/run_manager.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/service/runs/run_files.hpp"
#include "trainctl/service/runs/retry_policy.hpp"
#include "trainctl/service/runs/run_inputs.hpp"
#include "trainctl/service/runs/scheduler.hpp"
#include "trainctl/spec/job_spec.hpp"
#include "trainctl/spec/launch_plan.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service {

namespace fs = std::filesystem;
using api::RunStatus;

namespace {

// The least time between two wake-ups of a run's log followers for writes to its logs: a line
// written alone is sent at once, a stream of them in batches at most this far apart.
constexpr auto k_log_wake_gap = std::chrono::milliseconds(5);

nlohmann::json optional_time(int64_t unix_ms) {
  return unix_ms > 0 ? nlohmann::json(util::format_rfc3339(unix_ms)) : nlohmann::json(nullptr);
}

template <typename T>
nlohmann::json optional_value(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// The tasks of an observation in the shape of the REST contract's run.tasks.
nlohmann::json tasks_json(const RunObservation& observation) {
  auto tasks = nlohmann::json::array();
  for (const auto& task : observation.tasks) {
    tasks.push_back({{"name", task.name},
                     {"role", task.role},
                     {"index", task.index},
                     {"node", task.node_rank},
                     {"host", task.host.empty() ? nlohmann::json(nullptr) : nlohmann::json(task.host)},
                     {"state", task.state},
                     {"failed_first", task.name == observation.first_failed_task},
                     {"exit_code", optional_value(task.exit_code)},
                     {"signal", optional_value(task.signal)},
                     {"started_at", optional_time(task.started_at_ms)},
                     {"ended_at", optional_time(task.ended_at_ms)},
                     {"message", task.message}});
  }
  return tasks;
}

// The nodes a run asks for: estimator.node_count of its (validated) payload.
int requested_nodes(const RunRecord& run) {
  const auto estimator = run.payload.find("estimator");
  if (estimator == run.payload.end() || !estimator->is_object()) return 1;
  const auto count = estimator->find("node_count");
  return count != estimator->end() && count->is_number_integer() ? count->get<int>() : 1;
}

// Asks the engine to stop the run in `run_dir`; a failure is logged (the run's status already
// says CancelRequested, and observe() reports the outcome).
// Whether the engine of targets of `type` queues runs itself.
bool queues_runs(const Engines& engines, const std::string& type) {
  const Engine* engine = engines.find(type);
  return engine != nullptr && engine->queues_runs();
}

void ask_engine_to_cancel(Engine& engine, const fs::path& run_dir, const std::string& run_id) {
  if (auto asked = engine.cancel(run_dir); !asked) {
    spdlog::error("run {}: cancel failed: {}", run_id, asked.error().message);
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> allowlisted_environment() {
  std::vector<std::pair<std::string, std::string>> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text = *entry;
    const auto eq = text.find('=');
    if (eq == std::string_view::npos || !spec::is_inherited_variable(text.substr(0, eq))) continue;
    env.emplace_back(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  std::sort(env.begin(), env.end());
  return env;
}

RunManager::RunManager(Store& store, BlobStore& blobs, const Engines& engines,
                       RunManagerOptions options)
    : m_store(store), m_blobs(blobs), m_engines(engines), m_options(std::move(options)) {}

Engine& RunManager::engine_for(const std::string& workspace, const std::string& compute) {
  std::string type(k_local_type);
  if (auto target = m_store.get_compute(workspace, compute); target) type = target->type;
  if (Engine* engine = m_engines.find(type)) return *engine;
  return *m_engines.find(k_local_type);
}

RunManager::~RunManager() { stop(); }

void RunManager::start() {
  auto active = m_store.list_active_runs();
  if (!active) {
    spdlog::error("cannot list the runs to recover: {}", active.error().message);
  } else {
    for (const auto& run : *active) recover(run);
  }
  request_schedule();
  m_scheduler = std::thread([this] { schedule_loop(); });
  for (int i = 0; i < std::max(1, m_options.preparation_threads); ++i) {
    m_preparers.emplace_back([this] { preparation_loop(); });
  }
  m_watcher = std::thread([this] { watch_loop(); });
}

void RunManager::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
    // Preparers waiting for an environment build return at once; their runs stay Preparing
    // and are prepared again at the next start.
    for (auto& [id, preparing] : m_preparing) preparing.request_stop();
  }
  m_schedule_wakeup.notify_all();
  m_prepare_wakeup.notify_all();
  m_state_watch.wake();
  m_changed.notify_all();
  if (m_scheduler.joinable()) m_scheduler.join();
  for (auto& preparer : m_preparers) {
    if (preparer.joinable()) preparer.join();
  }
  m_preparers.clear();
  if (m_watcher.joinable()) m_watcher.join();
}

void RunManager::submit(const RunRecord& run) {
  bool pass_needed;
  {
    std::lock_guard lock(m_mutex);
    add_waiting(run.id, WaitingRun{run.workspace, run.compute, run.priority, run.seq,
                                   requested_nodes(run)});
    // A run queued behind a full target waits for what frees a node or changes the target,
    // each of which asks for a pass itself: one now would start nothing.
    pass_needed = !starts_nothing_locked({run.workspace, run.compute});
    if (pass_needed) m_schedule_requested = true;
  }
  if (pass_needed) {
    m_schedule_wakeup.notify_one();
  } else {
    notify_change();  // every submission moves the generation, as a pass would
  }
}

bool RunManager::starts_nothing_locked(const TargetKey& key) const {
  // The last pass's view of the targets is current only while no pass runs or is asked for.
  if (!m_targets_read || m_passing || m_schedule_requested) return false;
  const auto target = std::ranges::find_if(m_targets, [&](const scheduling::Target& each) {
    return each.workspace == key.first && each.name == key.second;
  });
  if (target == m_targets.end()) return false;
  return !scheduling::can_start_any(*target, held_on_locked(key));
}

std::vector<scheduling::HeldNodes> RunManager::held_on_locked(const TargetKey& key) const {
  std::vector<scheduling::HeldNodes> holding;
  for (const auto& [id, run] : m_holding) {
    if (run.workspace == key.first && run.compute == key.second) {
      holding.push_back({run.workspace, run.compute, run.nodes});
    }
  }
  return holding;
}

fs::path RunManager::run_dir(const std::string& run_id) const { return m_options.runs_dir / run_id; }

void RunManager::compute_changed() { request_schedule(); }

std::optional<QueueInfo> RunManager::queue_info(const std::string& run_id) const {
  std::lock_guard lock(m_mutex);
  if (const auto engine = m_engine_waiting.find(run_id); engine != m_engine_waiting.end()) {
    return engine->second;
  }
  const auto waiting = m_waiting.find(run_id);
  if (waiting == m_waiting.end() || !m_targets_read) return std::nullopt;
  const TargetKey key{waiting->second.workspace, waiting->second.compute};
  Places& places = m_places[key];
  if (places.version != m_queue_version) places = Places{m_queue_version, places_on(key)};
  const auto place = places.of_run.find(run_id);
  if (place == places.of_run.end()) return std::nullopt;  // the next pass starts it
  return place->second;
}

std::map<std::string, QueueInfo> RunManager::places_on(const TargetKey& key) const {
  std::vector<scheduling::Target> target;
  for (const auto& each : m_targets) {
    if (each.workspace == key.first && each.name == key.second) target.push_back(each);
  }
  std::vector<scheduling::WaitingRun> waiting;
  append_waiting_on(key, waiting);
  return scheduling::schedule(target, waiting, held_on_locked(key), scheduling::Detail::places)
      .waiting;
}

void RunManager::append_waiting_on(const TargetKey& key,
                                   std::vector<scheduling::WaitingRun>& waiting) const {
  const auto ids = m_waiting_on.find(key);
  if (ids == m_waiting_on.end()) return;
  for (const auto& id : ids->second) {
    const WaitingRun& run = m_waiting.at(id);
    waiting.push_back({id, run.workspace, run.compute, run.priority, run.seq, run.node_count});
  }
}

void RunManager::add_waiting(const std::string& id, WaitingRun run) {
  m_waiting_on[{run.workspace, run.compute}].insert(id);
  m_waiting[id] = std::move(run);
  ++m_queue_version;
}

std::optional<RunManager::WaitingRun> RunManager::take_waiting(const std::string& id) {
  const auto it = m_waiting.find(id);
  if (it == m_waiting.end()) return std::nullopt;
  WaitingRun run = std::move(it->second);
  m_waiting.erase(it);
  const TargetKey key{run.workspace, run.compute};
  if (auto ids = m_waiting_on.find(key); ids != m_waiting_on.end()) {
    ids->second.erase(id);
    if (ids->second.empty()) m_waiting_on.erase(ids);
  }
  ++m_queue_version;
  return run;
}

ComputeUsage RunManager::compute_usage(const std::string& workspace,
                                       const std::string& compute) const {
  std::lock_guard lock(m_mutex);
  ComputeUsage usage;
  for (const auto& [id, run] : m_holding) {
    if (run.workspace != workspace || run.compute != compute) continue;
    ++usage.active_runs;
    usage.busy_nodes += static_cast<int>(run.nodes.size());
  }
  if (const auto ids = m_waiting_on.find({workspace, compute}); ids != m_waiting_on.end()) {
    usage.queued_runs = static_cast<int>(ids->second.size());
  }
  return usage;
}

void RunManager::request_schedule() {
  {
    std::lock_guard lock(m_mutex);
    m_schedule_requested = true;
  }
  m_schedule_wakeup.notify_one();
}

void RunManager::release_nodes(const std::string& run_id) {
  {
    std::lock_guard lock(m_mutex);
    if (m_holding.erase(run_id) == 0) return;
    m_schedule_requested = true;
  }
  m_schedule_wakeup.notify_one();
}

void RunManager::schedule_loop() {
  while (true) {
    {
      std::unique_lock lock(m_mutex);
      m_schedule_wakeup.wait(lock, [this] { return m_stopping || m_schedule_requested; });
      if (m_stopping) return;
      m_schedule_requested = false;
      m_passing = true;
    }
    schedule();
    std::lock_guard lock(m_mutex);
    m_passing = false;
  }
}

void RunManager::schedule() {
  auto computes = m_store.list_all_computes();
  if (!computes) {
    spdlog::error("scheduler: cannot read the compute targets: {}", computes.error().message);
    // The last view of the targets may be stale now: every submission asks for a pass again
    // until one reads them.
    std::lock_guard lock(m_mutex);
    m_targets_read = false;
    return;
  }
  std::vector<scheduling::Target> targets;
  for (const auto& compute : *computes) {
    targets.push_back({compute.workspace, compute.name, compute.max_nodes, compute.state,
                       compute.message, queues_runs(m_engines, compute.type)});
  }
  // Only the runs of targets that can start something are read: a long queue on a full target
  // costs a pass nothing. Where queued runs stand is worked out when asked (queue_info).
  std::vector<scheduling::WaitingRun> waiting;
  std::vector<scheduling::HeldNodes> holding;
  {
    std::lock_guard lock(m_mutex);
    for (const auto& [id, run] : m_holding) holding.push_back({run.workspace, run.compute, run.nodes});
    for (const auto& target : targets) {
      if (scheduling::can_start_any(target, holding)) {
        append_waiting_on({target.workspace, target.name}, waiting);
      }
    }
  }
  auto decision = scheduling::schedule(targets, waiting, holding, scheduling::Detail::starts);

  for (auto& start : decision.starts) {
    RunUpdate preparing;
    preparing.status = RunStatus::Preparing;
    preparing.nodes = start.nodes;
    const auto waited = std::find_if(waiting.begin(), waiting.end(),
                                     [&](const auto& run) { return run.id == start.run_id; });
    preparing.message = fmt::format("on node{} {} of compute target '{}'",
                                    start.nodes.size() == 1 ? "" : "s", fmt::join(start.nodes, ","),
                                    waited == waiting.end() ? "" : waited->compute);
    auto updated = m_store.update_run(start.run_id, preparing);
    std::lock_guard lock(m_mutex);
    auto taken = take_waiting(start.run_id);
    if (!taken) continue;  // canceled meanwhile
    WaitingRun run = std::move(*taken);
    if (!updated) {
      if (updated.error().code != ErrorCode::conflict) {
        spdlog::error("run {}: cannot start it: {}", start.run_id, updated.error().message);
      }
      continue;  // conflict: it finished (canceled) since the pass read it
    }
    m_holding[start.run_id] = HoldingRun{run.workspace, run.compute, std::move(start.nodes)};
    m_to_prepare.push_back({run.workspace, start.run_id});
  }
  {
    std::lock_guard lock(m_mutex);
    m_targets = std::move(targets);
    m_targets_read = true;
    ++m_queue_version;  // the slots held and the targets may have changed too
  }
  if (!decision.starts.empty()) m_prepare_wakeup.notify_all();
  notify_change();
}

uint64_t RunManager::generation() const {
  std::lock_guard lock(m_mutex);
  return m_generation;
}

void RunManager::wait_for_change(uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(m_mutex);
  m_changed.wait_for(lock, timeout, [&] { return m_generation != seen || m_stopping; });
}

void RunManager::notify_change() {
  {
    std::lock_guard lock(m_mutex);
    ++m_generation;
  }
  m_changed.notify_all();
}

Result<CancelOutcome> RunManager::cancel(const std::string& workspace, const std::string& run_id,
                                         const std::string& reason) {
  std::lock_guard start_lock(m_start_mutex);
  auto run = m_store.get_run(workspace, run_id);
  if (!run) return fail(run.error());
  if (api::is_terminal(run->status)) return CancelOutcome{std::move(*run), false};

  RunUpdate change;
  bool engine_owns_it = run->status != RunStatus::NotStarted &&
                        run->status != RunStatus::Queued && run->status != RunStatus::Preparing;
  {
    std::lock_guard lock(m_mutex);
    engine_owns_it = engine_owns_it || m_active.contains(run_id);  // Queued in Slurm's queue
  }
  if (engine_owns_it) {
    change.status = RunStatus::CancelRequested;
    change.message = "cancel requested";
  } else {
    change.status = RunStatus::Canceled;
    change.ended_at_ms = util::now_unix_ms();
    change.message = "canceled before it started";
    if (!reason.empty()) change.failure_reason = reason;
  }
  if (!reason.empty()) {
    std::lock_guard lock(m_mutex);
    m_cancel_reasons[run_id] = reason;
  }
  auto updated = m_store.update_run(run_id, change);
  if (!updated && updated.error().code == ErrorCode::conflict) {
    // It finished since it was read: canceling a finished run is a no-op.
    auto finished = m_store.get_run(workspace, run_id);
    if (!finished) return fail(finished.error());
    return CancelOutcome{std::move(*finished), false};
  }
  if (!updated) return fail(updated.error());
  if (engine_owns_it) {
    {
      std::lock_guard lock(m_mutex);
      if (auto it = m_active.find(run_id); it != m_active.end()) it->second.status = updated->status;
    }
    ask_engine_to_cancel(engine_for(*updated), run_dir(run_id), run_id);
  } else {
    {
      std::lock_guard lock(m_mutex);
      take_waiting(run_id);
      // A run canceled while Preparing stops waiting for its environment build.
      if (auto preparing = m_preparing.find(run_id); preparing != m_preparing.end()) {
        preparing->second.request_stop();
      }
    }
    release_nodes(run_id);  // a run canceled while Preparing
    request_schedule();     // the places of the runs behind it changed
  }
  notify_change();
  return CancelOutcome{std::move(*updated), true};
}

void RunManager::preparation_loop() {
  while (true) {
    RunRef next;
    {
      std::unique_lock lock(m_mutex);
      m_prepare_wakeup.wait(lock, [this] { return m_stopping || !m_to_prepare.empty(); });
      if (m_stopping) return;
      next = std::move(m_to_prepare.front());
      m_to_prepare.pop_front();
    }
    prepare(next);
  }
}

void RunManager::prepare(const RunRef& ref) {
  // Registered before the run is read: a cancel recorded after the read finds it here.
  std::stop_source stop;
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping) return;
    m_preparing.insert_or_assign(ref.id, stop);
  }
  const auto unregister = [&] {
    std::lock_guard lock(m_mutex);
    m_preparing.erase(ref.id);
  };
  auto run = m_store.get_run(ref.workspace, ref.id);
  if (!run || api::is_terminal(run->status)) {  // deleted or canceled meanwhile
    unregister();
    release_nodes(ref.id);
    return;
  }
  auto started = prepare_and_start(*run);
  unregister();
  // Stopped: canceled (recorded, nodes released by cancel()) or the service is stopping (the
  // run stays Preparing and is prepared again at the next start).
  if (!started && !stop.stop_requested()) fail_run(ref.id, started.error().message);
}

Result<void> RunManager::prepare_and_start(const RunRecord& run) {
  const fs::path dir = run_dir(run.id);
  if (auto removed = remove_tree(dir); !removed) return removed;  // a crash's leftovers
  if (auto made = util::make_directories(dir, 0755); !made) return made;
  auto snapshot = m_store.get_snapshot(run.snapshot_id);
  if (!snapshot) return fail(snapshot.error());
  if (auto filled = materialize_snapshot(m_blobs, snapshot->files, dir / "snapshot"); !filled) {
    return filled;
  }
  if (auto filled = materialize_inputs(m_store, m_blobs, run, dir / "inputs"); !filled) {
    return filled;
  }
  for (const char* sub : {"outputs", "logs"}) {
    if (auto made = util::make_directories(dir / sub, 0755); !made) return made;
  }
  auto spec = spec::job_spec_from_payload(run.payload);
  if (!spec) return fail(spec.error());
  auto interpreter = run_interpreter(run, *spec);
  if (!interpreter) return fail(interpreter.error());
  auto plan = plan_for(run, *spec, *interpreter);
  if (!plan) return fail(plan.error());
  return start_on_engine(run, *plan);
}

Result<std::string> RunManager::run_interpreter(const RunRecord& run, const spec::JobSpec& spec) {
  std::string interpreter = m_options.interpreter;
  if (auto compute = m_store.get_compute(run.workspace, run.compute); compute && !compute->python.empty()) {
    interpreter = compute->python;
  }
  const auto& packages = spec.estimator.pip_packages;
  if (packages.empty()) return interpreter;
  // An engine whose nodes are hosts of their own has them build it (plan_for: node_environment).
  if (engine_for(run).queues_runs()) return interpreter;
  if (m_options.environments == nullptr) {
    return fail(ErrorCode::invalid_argument, "this service cannot build Python environments");
  }
  const fs::path log_file = run_dir(run.id) / "logs" / std::string(k_preparing_log);
  std::stop_token stop;  // none for a retry's attempt: a cache hit
  {
    std::lock_guard lock(m_mutex);
    if (auto preparing = m_preparing.find(run.id); preparing != m_preparing.end()) {
      stop = preparing->second.get_token();
    }
  }
  auto built = m_options.environments->acquire({interpreter, packages}, log_file, stop);
  if (!built) return fail(built.error());
  return built->string();
}

Result<spec::LaunchPlan> RunManager::placed_plan(const std::string& run_id,
                                                 std::vector<spec::NodePlace> nodes) {
  std::string workspace;
  {
    std::lock_guard lock(m_mutex);
    const auto active = m_active.find(run_id);
    if (active == m_active.end()) return fail(ErrorCode::conflict, "run {} is not running", run_id);
    workspace = active->second.workspace;
  }
  auto run = m_store.get_run(workspace, run_id);
  if (!run) return fail(run.error());
  auto spec = spec::job_spec_from_payload(run->payload);
  if (!spec) return fail(spec.error());
  auto interpreter = run_interpreter(*run, *spec);
  if (!interpreter) return fail(interpreter.error());
  return plan_for(*run, *spec, *interpreter, std::move(nodes));
}

Result<spec::LaunchPlan> RunManager::plan_for(const RunRecord& run, const spec::JobSpec& spec,
                                              const std::string& interpreter,
                                              std::vector<spec::NodePlace> nodes) {
  const fs::path dir = run_dir(run.id);
  spec::RunLayout layout;
  layout.run_id = run.id;
  layout.run_dir = dir.string();
  layout.snapshot_dir = (dir / "snapshot").string();
  layout.outputs_dir = (dir / "outputs").string();
  layout.logs_dir = (dir / "logs").string();
  layout.inputs_dir = (dir / "inputs").string();
  layout.interpreter = interpreter;
  layout.base_env = m_options.base_env;
  layout.grace_seconds = m_options.grace_seconds;
  layout.mpirun = m_options.mpirun;
  layout.rank_wrapper = m_options.rank_wrapper.string();
  layout.nodes = std::move(nodes);
  std::vector<int> slots;
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_holding.find(run.id); it != m_holding.end()) slots = it->second.nodes;
  }
  // An engine whose system allocates the nodes (Slurm) gives each node's tasks the GPUs that
  // system assigned; the service numbers GPUs only for the nodes it holds itself.
  if (auto compute = m_store.get_compute(run.workspace, run.compute);
      compute && !engine_for(run).queues_runs()) {
    layout.node_gpus = spec::node_gpu_lists(slots, compute->gpus_per_node, spec.estimator.use_gpu);
  }
  auto plan = spec::build_launch_plan(spec, layout);  // ports: free ones, taken now
  if (!plan) return plan;
  if (!spec.estimator.pip_packages.empty() && engine_for(run).queues_runs()) {
    plan->node_environment = spec::NodeEnvironment{interpreter, spec.estimator.pip_packages,
                                                   m_options.pip_index.index_url,
                                                   m_options.pip_index.find_links,
                                                   m_options.pip_index.no_index};
  }
  if (!plan->status_dir.empty()) {
    if (auto made = util::make_directories(plan->status_dir, 0755); !made) return fail(made.error());
  }
  return plan;
}

Result<void> RunManager::start_on_engine(const RunRecord& run, const spec::LaunchPlan& plan) {
  std::lock_guard start_lock(m_start_mutex);
  RunUpdate starting;
  starting.status = RunStatus::Starting;
  auto updated = m_store.update_run(run.id, starting);
  if (!updated) {
    // Canceled while it was being prepared.
    return updated.error().code == ErrorCode::conflict ? Result<void>{} : fail(updated.error());
  }
  auto target = m_store.get_compute(run.workspace, run.compute);
  if (!target) return fail(target.error());
  Engine& engine = engine_for(run);
  if (auto started = engine.start(run_dir(run.id), plan, *target); !started) return started;
  {
    std::lock_guard lock(m_mutex);
    m_active[run.id] =
        ActiveRun{run.workspace, &engine, RunStatus::Starting, nlohmann::json::array()};
  }
  notify_change();
  return {};
}

void RunManager::recover(const RunRecord& run) {
  // A run its engine holds in a queue of its own (a pending Slurm job) is Queued too, but it was
  // started: it is re-attached, never started twice.
  const bool in_engine_queue = run.status == RunStatus::Queued && engine_for(run).queues_runs() &&
                               fs::exists(run_dir(run.id) / engines::k_launch_file);
  {
    std::lock_guard lock(m_mutex);
    if ((run.status == RunStatus::Queued && !in_engine_queue) || run.status == RunStatus::NotStarted) {
      add_waiting(run.id, WaitingRun{run.workspace, run.compute, run.priority, run.seq,
                                     requested_nodes(run)});
      return;
    }
    m_holding[run.id] = HoldingRun{run.workspace, run.compute, run.nodes};
  }
  const fs::path dir = run_dir(run.id);
  if (fs::exists(dir / engines::k_launch_file)) {
    Engine& engine = engine_for(run);
    auto observation = engine.recover(dir);
    if (observation) {
      ActiveRun active{run.workspace, &engine, run.status, run.tasks};
      if (record_observation(run.id, active, *observation)) {
        // The service may have stopped between recording the cancel and asking the engine.
        if (run.status == RunStatus::CancelRequested) ask_engine_to_cancel(engine, dir, run.id);
        std::lock_guard lock(m_mutex);
        m_active[run.id] = std::move(active);
      } else {
        release_nodes(run.id);
      }
      spdlog::info("run {}: re-attached", run.id);
      return;
    }
    if (observation.error().code != ErrorCode::not_found) {
      fail_run(run.id, fmt::format("lost after a service restart: {}", observation.error().message));
      return;
    }
    // The service stopped inside engine.start, before a supervisor took the run: it never ran.
  }
  if (run.status == RunStatus::CancelRequested) {
    RunUpdate canceled;
    canceled.status = RunStatus::Canceled;
    canceled.ended_at_ms = util::now_unix_ms();
    update(run.id, canceled);
    release_nodes(run.id);
    return;
  }
  spdlog::info("run {}: preparing it again after a service restart", run.id);
  std::lock_guard lock(m_mutex);
  m_to_prepare.push_back({run.workspace, run.id});
}

void RunManager::watch_loop() {
  bool logs_written = false;  // a followed log was written; its followers are not woken yet
  while (!m_stopping) {
    record_unrecorded_changes();
    observe_active_runs();
    std::map<std::string, fs::path> followed;
    {
      std::lock_guard lock(m_mutex);
      for (const auto& [id, followers] : m_log_followers) followed.emplace(id, run_dir(id) / "logs");
    }
    if (m_state_watch.track_logs(followed) || std::exchange(logs_written, false)) notify_change();
    // Until the next observation, a followed log's write only wakes its followers; a state file
    // change (or stop()) observes at once.
    const auto next = std::chrono::steady_clock::now() + m_options.watch_interval;
    while (!m_stopping) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      const auto woken = m_state_watch.wait(left);
      if (woken.state) {
        logs_written = logs_written || woken.logs;
        break;
      }
      if (!woken.logs) continue;
      if (followed_run_starting()) {
        // Observed first: its followers hear that it runs before they get its first lines.
        logs_written = true;
        break;
      }
      notify_change();
      // A task that writes without pause wakes its followers once per gap, each reading what
      // the gap gathered, not once per write.
      std::this_thread::sleep_for(k_log_wake_gap);
    }
  }
}

bool RunManager::followed_run_starting() const {
  std::lock_guard lock(m_mutex);
  return std::ranges::any_of(m_log_followers, [&](const auto& followed) {
    const auto active = m_active.find(followed.first);
    return active != m_active.end() && (active->second.status == RunStatus::Starting ||
                                        active->second.status == RunStatus::Queued);
  });
}

void RunManager::follow_logs(const std::string& run_id) {
  bool first = false;
  {
    std::lock_guard lock(m_mutex);
    first = m_log_followers[run_id]++ == 0;
  }
  if (first) m_state_watch.wake();  // watch its logs now, not at the next observation
}

void RunManager::unfollow_logs(const std::string& run_id) {
  std::lock_guard lock(m_mutex);
  if (auto it = m_log_followers.find(run_id); it != m_log_followers.end() && --it->second <= 0) {
    m_log_followers.erase(it);
  }
}

void RunManager::observe_active_runs() {
  std::map<std::string, ActiveRun> active;
  {
    std::lock_guard lock(m_mutex);
    active = m_active;
  }
  std::map<std::string, std::filesystem::path> dirs;
  for (const auto& [id, run] : active) dirs.emplace(id, run_dir(id));
  m_state_watch.track(dirs);
  if (active.empty()) return;
  std::vector<std::string> finished;
  for (auto& [id, run] : active) {
    auto observation = run.engine->observe(run_dir(id));
    if (!observation) {
      spdlog::warn("run {}: cannot observe: {}", id, observation.error().message);
      continue;
    }
    if (!record_observation(id, run, *observation)) finished.push_back(id);
  }
  {
    std::lock_guard lock(m_mutex);
    for (auto& [id, run] : active) {
      auto it = m_active.find(id);
      if (it == m_active.end()) continue;
      // A cancel may have moved the status on meanwhile; keep the later one.
      if (it->second.status != RunStatus::CancelRequested) it->second.status = run.status;
      it->second.tasks = std::move(run.tasks);
    }
    for (const auto& id : finished) m_active.erase(id);
  }
}

bool RunManager::record_observation(const std::string& run_id, ActiveRun& active,
                                    const RunObservation& observation) {
  auto tasks = tasks_json(observation);
  RunUpdate change;
  if (tasks != active.tasks) change.tasks = tasks;
  switch (observation.phase) {
    case RunObservation::Phase::starting:
      note_waiting(run_id, active, observation, change);
      break;
    case RunObservation::Phase::running:
      forget_waiting(run_id);
      if (active.status == RunStatus::Starting || active.status == RunStatus::Queued) {
        change.status = RunStatus::Running;
        change.message = observation.placement;
        change.started_at_ms =
            observation.started_at_ms > 0 ? observation.started_at_ms : util::now_unix_ms();
      }
      break;
    case RunObservation::Phase::finished: {
      finish_metrics(active.workspace, run_id);
      switch (retry(run_id, active, observation)) {
        case Retry::no: break;
        case Retry::started: return true;
        case Retry::failed: return false;
      }
      forget_waiting(run_id);
      if ((active.status == RunStatus::Starting || active.status == RunStatus::Queued) &&
          observation.started_at_ms > 0) {
        RunUpdate running;  // it ran, even if it ended between two observations
        running.status = RunStatus::Running;
        running.message = observation.placement;
        running.started_at_ms = observation.started_at_ms;
        update(run_id, running);
      }
      RunUpdate finalizing;
      finalizing.status = RunStatus::Finalizing;
      finalizing.tasks = tasks;
      update(run_id, finalizing);
      change.tasks = tasks;
      change.status = observation.outcome;
      change.exit_code = observation.exit_code;
      change.failure_reason = observation.reason;
      {
        std::lock_guard lock(m_mutex);
        if (auto reason = m_cancel_reasons.find(run_id); reason != m_cancel_reasons.end()) {
          if (observation.outcome == RunStatus::Canceled) change.failure_reason = reason->second;
          m_cancel_reasons.erase(reason);
        }
      }
      if (observation.started_at_ms > 0) change.started_at_ms = observation.started_at_ms;
      change.ended_at_ms =
          observation.ended_at_ms > 0 ? observation.ended_at_ms : util::now_unix_ms();
      update(run_id, change);
      release_nodes(run_id);
      return false;
    }
  }
  if (change.status == RunStatus::Running) {
    // cancel() records CancelRequested holding m_start_mutex: holding it too, a run that a
    // cancel reached since `active` was copied is not set back to Running.
    std::lock_guard start_lock(m_start_mutex);
    bool cancel_requested = false;
    {
      std::lock_guard lock(m_mutex);
      const auto it = m_active.find(run_id);
      cancel_requested = it != m_active.end() && it->second.status == RunStatus::CancelRequested;
    }
    if (cancel_requested) change.status = std::nullopt;
    update(run_id, change);
  } else if (change.status || change.tasks) {
    update(run_id, change);
  }
  if (change.status) active.status = *change.status;
  active.tasks = std::move(tasks);
  return true;
}

void RunManager::finish_metrics(const std::string& workspace, const std::string& run_id) {
  if (m_options.metrics == nullptr) return;
  if (auto run = m_store.get_run(workspace, run_id); run) {
    m_options.metrics->finish_attempt(run_id, run->attempt);
  }
}

void RunManager::note_waiting(const std::string& run_id, const ActiveRun& active,
                              const RunObservation& observation, RunUpdate& change) {
  if (observation.waiting.empty()) {
    if (active.status != RunStatus::Queued) return;
    forget_waiting(run_id);
    change.status = RunStatus::Starting;  // its engine's queue let it go: it is starting
    return;
  }
  {
    std::lock_guard lock(m_mutex);
    m_engine_waiting[run_id] = QueueInfo{0, 0, observation.waiting};
  }
  if (active.status == RunStatus::Starting) {
    change.status = RunStatus::Queued;
    change.message = observation.waiting;
  }
}

void RunManager::forget_waiting(const std::string& run_id) {
  std::lock_guard lock(m_mutex);
  m_engine_waiting.erase(run_id);
}

void RunManager::update(const std::string& run_id, const RunUpdate& change) {
  {
    std::lock_guard lock(m_mutex);
    if (auto waiting = m_unrecorded.find(run_id); waiting != m_unrecorded.end()) {
      waiting->second.push_back(change);  // after the changes before it, in order
      return;
    }
  }
  auto updated = m_store.update_run(run_id, change);
  if (!updated && updated.error().code != ErrorCode::conflict) {
    spdlog::warn("run {}: cannot record a change now ({}); trying again", run_id,
                 updated.error().message);
    std::lock_guard lock(m_mutex);
    m_unrecorded[run_id].push_back(change);
  }
  notify_change();
}

void RunManager::record_unrecorded_changes() {
  std::map<std::string, std::deque<RunUpdate>> waiting;
  {
    std::lock_guard lock(m_mutex);
    if (m_unrecorded.empty()) return;
    waiting.swap(m_unrecorded);
  }
  for (auto& [run_id, changes] : waiting) {
    while (!changes.empty()) {
      auto updated = m_store.update_run(run_id, changes.front());
      if (!updated && updated.error().code != ErrorCode::conflict) break;  // still cannot
      changes.pop_front();
    }
    if (changes.empty()) spdlog::info("run {}: every change is recorded", run_id);
  }
  {
    std::lock_guard lock(m_mutex);
    for (auto& [run_id, changes] : waiting) {
      if (changes.empty()) continue;
      // Changes made meanwhile come after these.
      auto& queue = m_unrecorded[run_id];
      queue.insert(queue.begin(), changes.begin(), changes.end());
    }
  }
  notify_change();
}

void RunManager::fail_run(const std::string& run_id, const std::string& reason) {
  spdlog::warn("run {}: failed: {}", run_id, reason);
  RunUpdate failed;
  failed.status = RunStatus::Failed;
  failed.failure_reason = reason;
  failed.ended_at_ms = util::now_unix_ms();
  update(run_id, failed);
  release_nodes(run_id);
}

RunManager::Retry RunManager::retry(const std::string& run_id, ActiveRun& active,
                                    const RunObservation& observation) {
  auto run = m_store.get_run(active.workspace, run_id);
  if (!run) return Retry::no;
  auto spec = spec::job_spec_from_payload(run->payload);
  if (!spec) return Retry::no;
  const auto reason = retry_reason(spec->limits, run->attempt, observation);
  if (!reason) return Retry::no;

  const int next_attempt = run->attempt + 1;
  const int max_attempts = 1 + spec->limits.max_retries;
  spdlog::info("run {}: attempt {} of {}: {}", run_id, next_attempt, max_attempts, *reason);
  const auto failed_next = [&](const std::string& why) {
    fail_run(run_id, fmt::format("attempt {} of {} could not start: {}", next_attempt,
                                 max_attempts, why));
    return Retry::failed;
  };
  std::lock_guard start_lock(m_start_mutex);  // against a cancel recorded meanwhile
  {
    std::lock_guard lock(m_mutex);
    const auto it = m_active.find(run_id);
    if (it != m_active.end() && it->second.status == RunStatus::CancelRequested) return Retry::no;
  }
  if (auto archived = archive_attempt(run_dir(run_id), run->attempt); !archived) {
    return failed_next(archived.error().message);
  }
  auto attempts = run->attempts.is_array() ? run->attempts : nlohmann::json::array();
  attempts.push_back(attempt_json(run->attempt, observation, tasks_json(observation)));
  RunUpdate next;
  next.status = RunStatus::Starting;
  next.attempt = next_attempt;
  next.attempts = std::move(attempts);
  next.tasks = nlohmann::json::array();
  next.message = fmt::format("attempt {} of {}: {}", next_attempt, max_attempts, *reason);
  next.always_record = true;
  auto updated = m_store.update_run(run_id, next);
  if (!updated) return Retry::no;  // it ended meanwhile (a conflict): nothing to retry
  notify_change();
  auto interpreter = run_interpreter(*updated, *spec);  // a cache hit: built for attempt 1
  if (!interpreter) return failed_next(interpreter.error().message);
  auto plan = plan_for(*updated, *spec, *interpreter);
  if (!plan) return failed_next(plan.error().message);
  auto target = m_store.get_compute(updated->workspace, updated->compute);
  if (!target) return failed_next(target.error().message);
  if (auto started = active.engine->start(run_dir(run_id), *plan, *target); !started) {
    return failed_next(started.error().message);
  }
  active.status = RunStatus::Starting;
  active.tasks = nlohmann::json::array();
  return Retry::started;
}

}  // namespace trainctl::service
