#include "trainctl/service/compute_manager.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <vector>

#include "trainctl/service/runs/run_manager.hpp"

namespace trainctl::service {

namespace {

// How often a drain looks whether the canceled runs of a Deleting target have ended.
constexpr auto k_drain_poll = std::chrono::milliseconds(100);

bool same_configuration(const ComputeRecord& a, const ComputeRecord& b) {
  return a.type == b.type && a.max_nodes == b.max_nodes && a.cpus_per_node == b.cpus_per_node &&
         a.gpus_per_node == b.gpus_per_node && a.python == b.python && a.slurm == b.slurm;
}

std::string plural(int count, std::string_view word) {
  return fmt::format("{} {}{}", count, word, count == 1 ? "" : "s");
}

}  // namespace

ComputeManager::ComputeManager(Store& store, RunManager& runs, HostProbe& probe,
                               slurm::SlurmClient& slurm, std::string default_python)
    : m_store(store),
      m_runs(runs),
      m_probe(probe),
      m_slurm(slurm),
      m_default_python(std::move(default_python)) {}

ComputeManager::~ComputeManager() { stop(); }

void ComputeManager::start() {
  auto computes = m_store.list_all_computes();
  if (!computes) {
    spdlog::error("cannot list the compute targets to resume: {}", computes.error().message);
  } else {
    for (const auto& compute : *computes) {
      const Key key{compute.workspace, compute.name};
      if (compute.state == "Creating") enqueue_provision(key);
      if (compute.state == "Deleting") enqueue_drain(key);
    }
  }
  m_worker = std::thread([this] { work(); });
}

void ComputeManager::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_worker.joinable()) m_worker.join();
}

Result<std::pair<ComputeRecord, bool>> ComputeManager::put(const ComputeRecord& config,
                                                           bool create_only) {
  ComputeRecord record = config;
  record.state = "Creating";
  record.message = record.type == k_slurm_compute_type
                       ? "provisioning: asking Slurm about the partition and its nodes"
                       : "provisioning: checking the interpreter and the resources";
  record.conda.clear();
  Result<std::pair<ComputeRecord, bool>> stored;
  {
    std::lock_guard lock(m_change_mutex);
    stored = m_store.put_compute(record, !create_only);
  }
  if (!stored) return stored;
  enqueue_provision({record.workspace, record.name});
  m_runs.compute_changed();
  return stored;
}

Result<std::optional<ComputeRecord>> ComputeManager::remove(const std::string& workspace,
                                                            const std::string& name, bool force) {
  if (name == k_local_compute) {
    return fail(ErrorCode::conflict,
                "the compute target 'local' is the default of every spec and cannot be deleted; "
                "change it with `trainctl compute update local`");
  }
  if (!force) {
    if (auto deleted = m_store.delete_compute(workspace, name); !deleted) {
      return fail(deleted.error());
    }
    m_runs.compute_changed();
    return std::nullopt;
  }
  Result<ComputeRecord> marked;
  {
    std::lock_guard lock(m_change_mutex);
    marked = m_store.set_compute_state(workspace, name, "Deleting",
                                       "deleting: its runs are canceled, then it is removed");
  }
  if (!marked) return fail(marked.error());
  m_runs.compute_changed();
  const Key key{workspace, name};
  auto gone = drain_step(key);
  if (!gone) return fail(gone.error());
  if (*gone) return std::nullopt;
  enqueue_drain(key);
  return std::optional(std::move(*marked));
}

void ComputeManager::enqueue_provision(const Key& key) {
  {
    std::lock_guard lock(m_mutex);
    m_provisions.push_back(key);
  }
  m_wake.notify_all();
}

void ComputeManager::enqueue_drain(const Key& key) {
  {
    std::lock_guard lock(m_mutex);
    m_drains.insert(key);
  }
  m_wake.notify_all();
}

void ComputeManager::work() {
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    if (!m_provisions.empty()) {
      const Key key = m_provisions.front();
      m_provisions.pop_front();
      lock.unlock();
      provision(key);
      lock.lock();
      continue;
    }
    if (m_drains.empty()) {
      m_wake.wait(lock, [this] { return m_stopping || !m_provisions.empty() || !m_drains.empty(); });
      continue;
    }
    const auto drains = m_drains;
    lock.unlock();
    std::vector<Key> finished;
    for (const auto& key : drains) {
      auto gone = drain_step(key);
      if (!gone) spdlog::error("deleting compute target {}: {}", key.second, gone.error().message);
      if (gone && *gone) finished.push_back(key);
    }
    lock.lock();
    for (const auto& key : finished) m_drains.erase(key);
    m_wake.wait_for(lock, k_drain_poll, [this] { return m_stopping || !m_provisions.empty(); });
  }
}

void ComputeManager::provision(const Key& key) {
  auto record = m_store.get_compute(key.first, key.second);
  if (!record || record->state != "Creating") return;  // deleted, or provisioned already
  const ComputeRecord result = provisioned(*record);
  {
    std::lock_guard lock(m_change_mutex);
    auto now = m_store.get_compute(key.first, key.second);
    // Changed since it was read: the newer configuration has its own provisioning queued.
    if (!now || now->state != "Creating" || !same_configuration(*now, *record)) return;
    if (auto stored = m_store.put_compute(result, true); !stored) {
      spdlog::error("compute target {}: cannot record its provisioning: {}", key.second,
                    stored.error().message);
      return;
    }
  }
  spdlog::info("compute target {}/{} is {}: {}", key.first, key.second, result.state,
               result.message);
  m_runs.compute_changed();
}

Result<slurm::TargetPartition> ComputeManager::slurm_partition(const ComputeRecord& target) {
  if (target.type != k_slurm_compute_type) {
    return fail(ErrorCode::invalid_argument, "compute target '{}' is of type {}, not slurm",
                target.name, target.type);
  }
  return slurm::target_partition(target, m_slurm, slurm::k_show_timeout);
}

ComputeRecord ComputeManager::provisioned(ComputeRecord record) {
  if (record.type != k_slurm_compute_type) return provisioned_on_host(std::move(record));
  // Nothing of this host counts: the nodes are Slurm's, and so is their software.
  record.conda.clear();
  auto outcome = slurm::provision_slurm_target(record, m_slurm);
  record.state = std::move(outcome.state);
  record.message = std::move(outcome.message);
  return record;
}

ComputeRecord ComputeManager::provisioned_on_host(ComputeRecord record) {
  const std::string python = record.python.empty() ? m_default_python : record.python;
  std::vector<std::string> problems;
  auto version = m_probe.python_version(python);
  if (!version) {
    problems.push_back(fmt::format(
        "the interpreter {} does not work ({}); install it, or set another with `trainctl "
        "compute update {} --python PATH`",
        python, version.error().message, record.name));
  }
  if (const int cpus = m_probe.cpu_count(); record.cpus_per_node > cpus) {
    problems.push_back(fmt::format("cpus_per_node is {} but this host has {}; lower --cpus-per-node",
                                   record.cpus_per_node, plural(cpus, "CPU")));
  }
  const int gpus_needed = record.gpus_per_node * record.max_nodes;
  if (const int gpus = m_probe.gpu_count(); gpus_needed > gpus) {
    problems.push_back(fmt::format(
        "{} of {} need {} but this host has {}; lower --gpus-per-node or --max-nodes (or start "
        "trainctld with --host-gpus N)",
        plural(record.max_nodes, "node"), plural(record.gpus_per_node, "GPU"),
        plural(gpus_needed, "GPU"), gpus));
  }
  record.conda = m_probe.find_on_path("conda");
  if (!problems.empty()) {
    record.state = "Failed";
    record.message = fmt::format("{}", fmt::join(problems, "; "));
    return record;
  }
  record.state = "Succeeded";
  record.message = fmt::format("Python {} ({}); conda: {}", *version, python,
                               record.conda.empty() ? "none" : record.conda);
  return record;
}

Result<bool> ComputeManager::drain_step(const Key& key) {
  const auto& [workspace, name] = key;
  auto active = m_store.list_active_run_summaries();
  if (!active) return fail(active.error());
  for (const auto& run : *active) {
    if (run.workspace != workspace || run.compute != name ||
        run.status == api::RunStatus::CancelRequested) {
      continue;
    }
    if (auto canceled = m_runs.cancel(workspace, run.id); !canceled) {
      spdlog::warn("deleting compute target {}: cannot cancel run {}: {}", name, run.id,
                   canceled.error().message);
    }
  }
  auto deleted = m_store.delete_compute(workspace, name);
  if (!deleted && deleted.error().code == ErrorCode::conflict) return false;  // runs still ending
  if (!deleted && deleted.error().code != ErrorCode::not_found) return fail(deleted.error());
  m_runs.compute_changed();
  return true;
}

}  // namespace trainctl::service
