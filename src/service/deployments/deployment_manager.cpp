// DeploymentManager (deployments.hpp): files of each revision, scoring keys, and the runtimes.
//
// <services_dir>/scoring_harness.py                 the harness every replica runs
// <services_dir>/builtin/no_code_scoring.py         the entry script of no-code deployments
// <services_dir>/<ws>/<name>/scoring_key            the deployment's scoring key (0600)
// <services_dir>/<ws>/<name>/logs/replica-<i>.log   what replica i wrote, across restarts
// <services_dir>/<ws>/<name>/rev-<n>/source/        the source snapshot (read-only)
// <services_dir>/<ws>/<name>/rev-<n>/models/<model>/<version>/   each model version's files
#include <openssl/crypto.h>

#include <cctype>
#include <map>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

#include "deployment_runtime.hpp"
#include "no_code.hpp"
#include "trainctl/service/deployments.hpp"
#include "trainctl/service/no_code_scoring.hpp"
#include "trainctl/service/runs/run_files.hpp"
#include "trainctl/service/scoring_harness.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/random.hpp"

namespace trainctl::service {

namespace fs = std::filesystem;
using deployments::DeploymentRuntime;
using deployments::Replica;
using deployments::ReplicaLaunch;
using deployments::ReplicaSet;

namespace {

constexpr std::string_view k_key_file = "scoring_key";
constexpr std::string_view k_no_code_script = "no_code_scoring.py";

fs::path revision_dir(const fs::path& deployment_dir, int64_t revision) {
  return deployment_dir / fmt::format("rev-{}", revision);
}

// Where a replica finds its models, `models` being the revision's <name>/<version>/ tree:
// TRAINCTL_MODEL_ROOT is that tree; TRAINCTL_MODEL_DIR and AZUREML_MODEL_DIR the one model
// version's directory, or with several models the tree; TRAINCTL_MODEL_DIR_<NAME> each model's.
std::map<std::string, std::string> model_environment(const fs::path& models,
                                                     const std::vector<DeploymentModel>& used) {
  const auto version_dir = [&](const DeploymentModel& model) {
    return (models / model.name / std::to_string(model.version)).string();
  };
  const std::string model_dir = used.size() == 1 ? version_dir(used.front()) : models.string();
  std::map<std::string, std::string> env{{"TRAINCTL_MODEL_ROOT", models.string()},
                                         {"TRAINCTL_MODEL_DIR", model_dir},
                                         {"AZUREML_MODEL_DIR", model_dir}};
  for (const auto& model : used) env[model_directory_variable(model.name)] = version_dir(model);
  return env;
}

// Removes the revision directories other than `keep` (the revision rolling out or stored, and
// the one whose replicas serve), and any partial one.
void remove_old_revisions(const fs::path& deployment_dir, const std::set<int64_t>& keep) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(deployment_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("rev-")) continue;
    int64_t revision = 0;
    try {
      revision = std::stoll(name.substr(4));
    } catch (const std::exception&) {
      revision = 0;  // a partial directory: never used again
    }
    if (keep.contains(revision) && name.find('.') == std::string::npos) continue;
    if (auto removed = remove_tree(entry.path()); !removed) {
      spdlog::warn("cannot remove {}: {}", entry.path().string(), removed.error().message);
    }
  }
}

}  // namespace

std::string model_directory_variable(std::string_view model) {
  std::string variable = "TRAINCTL_MODEL_DIR_";
  for (const char c : model) {
    const auto byte = static_cast<unsigned char>(c);
    variable += std::isalnum(byte) && byte < 0x80 ? static_cast<char>(std::toupper(byte)) : '_';
  }
  return variable;
}

DeploymentManager::DeploymentManager(Store& store, BlobStore& blobs,
                                     DeploymentManagerOptions options)
    : m_store(store),
      m_blobs(blobs),
      m_options(std::move(options)),
      m_harness(m_options.services_dir / "scoring_harness.py"),
      m_no_code_script(m_options.services_dir / "builtin" / k_no_code_script) {
  m_rollback_thread = std::thread([this] { rollback_loop(); });
}

DeploymentManager::~DeploymentManager() { stop(); }

Result<void> DeploymentManager::start() {
  if (auto made = util::make_directories(m_options.services_dir, 0700); !made) return made;
  if (auto written = util::write_file_atomic(m_harness, k_scoring_harness, 0644); !written) {
    return written;
  }
  if (auto made = util::make_directories(m_no_code_script.parent_path(), 0700); !made) return made;
  if (auto written = util::write_file_atomic(m_no_code_script, k_no_code_scoring, 0644); !written) {
    return written;
  }
  auto deployments = m_store.list_all_deployments();
  if (!deployments) return fail(deployments.error());
  std::lock_guard apply_lock(m_apply_mutex);
  for (const auto& record : *deployments) {
    if (auto deployed = deploy(record); !deployed) {
      spdlog::error("deployment {}/{} could not be started: {}", record.workspace, record.name,
                    deployed.error().message);
    }
  }
  return {};
}

void DeploymentManager::stop() {
  {
    std::lock_guard lock(m_rollback_mutex);
    m_rollbacks_stopping = true;
  }
  m_rollback_wakeup.notify_all();
  if (m_rollback_thread.joinable()) m_rollback_thread.join();
  std::map<Key, std::shared_ptr<DeploymentRuntime>> runtimes;
  {
    std::lock_guard lock(m_mutex);
    runtimes.swap(m_runtimes);
  }
  for (auto& [key, runtime] : runtimes) runtime->stop();
}

fs::path DeploymentManager::deployment_dir(const std::string& workspace,
                                           const std::string& name) const {
  return m_options.services_dir / workspace / name;
}

fs::path DeploymentManager::log_file(const std::string& workspace, const std::string& name,
                                     int index) const {
  return deployment_dir(workspace, name) / "logs" / fmt::format("replica-{}.log", index);
}

std::shared_ptr<DeploymentRuntime> DeploymentManager::runtime(const std::string& workspace,
                                                              const std::string& name) const {
  std::lock_guard lock(m_mutex);
  const auto found = m_runtimes.find({workspace, name});
  return found == m_runtimes.end() ? nullptr : found->second;
}

Result<DeploymentRecord> DeploymentManager::resolve_models(DeploymentRecord draft) const {
  for (auto& model : draft.models) {
    auto version = m_store.get_model_version(draft.workspace, model.name, model.version);
    if (!version) return fail(version.error());
    model.version = version->version;
  }
  return draft;
}

Result<void> DeploymentManager::check_entry_script(const DeploymentRecord& draft) const {
  auto snapshot = m_store.get_snapshot(draft.snapshot_id);
  if (!snapshot) return fail(snapshot.error());
  for (const auto& file : snapshot->files) {
    if (file.value("path", "") == draft.entry_script) return {};
  }
  ErrorDetail detail;
  detail.path = "entry_script";
  detail.message = fmt::format("'{}' is not a file of the source directory (snapshot {})",
                               draft.entry_script, draft.snapshot_id);
  return fail(Error{ErrorCode::invalid_spec, detail.to_string(), {detail}});
}

Result<void> DeploymentManager::plan_scoring(DeploymentRecord& draft) const {
  draft.no_code.reset();
  if (!draft.entry_script.empty()) return check_entry_script(draft);
  if (draft.models.size() != 1) {
    std::string models;
    for (const auto& model : draft.models) {
      models += fmt::format("{}{}:{}", models.empty() ? "" : ", ", model.name, model.version);
    }
    return fail(ErrorCode::invalid_argument,
                "a deployment without an entry script serves exactly one model, and this one has "
                "{} ({}): give an entry script (--entry-script) that uses each model's directory "
                "($TRAINCTL_MODEL_DIR_<NAME>)",
                draft.models.size(), models);
  }
  const auto& model = draft.models.front();
  auto version = m_store.get_model_version(draft.workspace, model.name, model.version);
  if (!version) return fail(version.error());
  auto planned = deployments::plan_no_code_scoring(*version, m_blobs);
  if (!planned) return fail(planned.error());
  draft.no_code = std::move(*planned);
  return {};
}

Result<fs::path> DeploymentManager::materialize_revision(const DeploymentRecord& record) const {
  const fs::path dir = deployment_dir(record.workspace, record.name);
  const fs::path revision = revision_dir(dir, record.revision);
  if (fs::exists(revision)) return revision;
  const fs::path partial = revision.string() + ".partial";
  if (auto removed = remove_tree(partial); !removed) return fail(removed.error());
  if (auto made = util::make_directories(partial / "models", 0700); !made) return fail(made.error());
  if (!record.snapshot_id.empty()) {
    auto snapshot = m_store.get_snapshot(record.snapshot_id);
    if (!snapshot) return fail(snapshot.error());
    if (auto done = materialize_snapshot(m_blobs, snapshot->files, partial / "source"); !done) {
      return fail(done.error());
    }
  }
  for (const auto& model : record.models) {
    auto version = m_store.get_model_version(record.workspace, model.name, model.version);
    if (!version) return fail(version.error());
    const fs::path model_parent = partial / "models" / model.name;
    if (auto made = util::make_directories(model_parent, 0700); !made) return fail(made.error());
    auto done = materialize_snapshot(m_blobs, version->files,
                                     model_parent / std::to_string(model.version));
    if (!done) return fail(done.error());
  }
  std::error_code ec;
  fs::rename(partial, revision, ec);
  if (ec) return fail(ErrorCode::io, "cannot rename {}: {}", partial.string(), ec.message());
  return revision;
}

Result<void> DeploymentManager::deploy(const DeploymentRecord& record) {
  if (record.entry_script.empty() && !record.no_code) {
    return fail(ErrorCode::internal,
                "deployment {} has neither an entry script nor a model the "
                "built-in scoring script serves",
                record.name);
  }
  const fs::path dir = deployment_dir(record.workspace, record.name);
  if (auto made = util::make_directories(dir / "logs", 0700); !made) return made;
  auto revision = materialize_revision(record);
  if (!revision) return fail(revision.error());
  std::shared_ptr<DeploymentRuntime> target;
  std::optional<DeploymentRecord> serving_record;  // what serves now, to roll back to
  int64_t serving = 0;
  {
    std::lock_guard lock(m_mutex);
    auto& slot = m_runtimes[{record.workspace, record.name}];
    if (!slot) slot = std::make_shared<DeploymentRuntime>();
    target = slot;
    serving = target->serving_revision();
    auto& deployed = m_deployed[{record.workspace, record.name}];
    if (auto found = deployed.find(serving); found != deployed.end()) serving_record = found->second;
    std::erase_if(deployed, [&](const auto& entry) {
      return entry.first != serving && entry.first != record.revision;
    });
    deployed.insert_or_assign(record.revision, record);
  }
  std::map<std::string, std::string> env(m_options.base_env.begin(), m_options.base_env.end());
  for (const auto& [name, value] : record.environment_variables.items()) {
    env[name] = value.get<std::string>();
  }
  for (auto& [name, value] : model_environment(*revision / "models", record.models)) {
    env.insert_or_assign(name, std::move(value));
  }
  if (record.no_code) {
    env["TRAINCTL_NO_CODE_FRAMEWORK"] = record.no_code->framework;
    env["TRAINCTL_NO_CODE_MODEL_FILE"] = record.no_code->model_file;
  }
  env["PYTHONUNBUFFERED"].assign(1, '1');  // not = "1": GCC 12 -O3 warns falsely (-Wrestrict)
  env["TRAINCTL_WORKSPACE"] = record.workspace;
  env["TRAINCTL_DEPLOYMENT"] = record.name;
  // A no-code deployment runs the built-in script from its own folder, in the revision's.
  const fs::path source = record.no_code ? m_no_code_script.parent_path() : *revision / "source";
  const std::string entry_script =
      record.no_code ? std::string(k_no_code_script) : record.entry_script;
  ReplicaSet replicas;
  for (int index = 0; index < record.replicas; ++index) {
    env["TRAINCTL_REPLICA"] = std::to_string(index);
    ReplicaLaunch launch{
        .argv = {m_options.interpreter, "-u", m_harness.string(), source.string(), entry_script},
        .env = {},
        .cwd = record.no_code ? *revision : source,
        .log_file = log_file(record.workspace, record.name, index),
        .init_timeout = m_options.init_timeout,
        .request_timeout = m_options.request_timeout};
    for (const auto& [name, value] : env) launch.env.push_back(name + "=" + value);
    DeploymentRuntime* owner = target.get();  // outlives its replicas: it stops them
    replicas.push_back(
        std::make_shared<Replica>(index, std::move(launch), [owner] { owner->notify(); }));
  }
  deployments::RolloutFailed on_failed;
  if (serving_record && serving != record.revision) {
    on_failed = [this, previous = *serving_record](int64_t failed_revision,
                                                   const std::string& reason) {
      queue_rollback({previous, failed_revision, reason});
    };
  }
  target->roll_out(record.revision, std::move(replicas), std::move(on_failed));
  remove_old_revisions(dir, {record.revision, serving});
  return {};
}

void DeploymentManager::queue_rollback(Rollback rollback) {
  {
    std::lock_guard lock(m_rollback_mutex);
    m_rollbacks.push_back(std::move(rollback));
  }
  m_rollback_wakeup.notify_all();
}

void DeploymentManager::rollback_loop() {
  std::unique_lock lock(m_rollback_mutex);
  while (true) {
    m_rollback_wakeup.wait(lock, [this] { return m_rollbacks_stopping || !m_rollbacks.empty(); });
    if (m_rollbacks_stopping) return;
    const Rollback next = std::move(m_rollbacks.front());
    m_rollbacks.pop_front();
    lock.unlock();
    roll_back(next);
    lock.lock();
  }
}

void DeploymentManager::roll_back(const Rollback& rollback) {
  std::lock_guard apply_lock(m_apply_mutex);
  const DeploymentRecord& previous = rollback.serving;
  const auto target = runtime(previous.workspace, previous.name);
  auto current = m_store.get_deployment(previous.workspace, previous.name);
  // Updated (a newer rollout replaced the failed one) or removed since: nothing to undo.
  if (!target || !current || current->revision != rollback.failed_revision) return;
  auto stored = m_store.put_deployment(previous);
  if (!stored) {
    spdlog::error("deployment {}/{}: cannot store the configuration of revision {} again: {}",
                  previous.workspace, previous.name, previous.revision, stored.error().message);
    target->set_rollout_message(fmt::format(
        "revision {} failed: {}; revision {} still serves, but its configuration could not be "
        "stored again ({}), so a restart of trainctld would start revision {}: update the "
        "deployment",
        rollback.failed_revision, rollback.reason, previous.revision, stored.error().message,
        rollback.failed_revision));
    return;
  }
  const DeploymentRecord& restored = stored->first;
  spdlog::warn("deployment {}/{}: revision {} failed ({}); rolled back to the configuration of "
               "revision {} as revision {}",
               previous.workspace, previous.name, rollback.failed_revision, rollback.reason,
               previous.revision, restored.revision);
  const int64_t serving = target->serving_revision();
  {
    std::lock_guard lock(m_mutex);
    auto& deployed = m_deployed[{previous.workspace, previous.name}];
    deployed.erase(rollback.failed_revision);
    deployed.insert_or_assign(restored.revision, restored);
  }
  // The failed revision's files go before the rollback is announced: who reads "rolled back"
  // finds no trace of it.
  remove_old_revisions(deployment_dir(previous.workspace, previous.name),
                       {restored.revision, serving});
  target->set_rollout_message(fmt::format(
      "revision {} failed and was rolled back: {}; revision {} (the configuration of revision "
      "{}) serves",
      rollback.failed_revision, rollback.reason, restored.revision, previous.revision));
}

Result<DeploymentManager::Applied> DeploymentManager::apply(DeploymentRecord draft) {
  std::lock_guard apply_lock(m_apply_mutex);
  auto resolved = resolve_models(std::move(draft));
  if (!resolved) return fail(resolved.error());
  if (auto planned = plan_scoring(*resolved); !planned) return fail(planned.error());
  auto stored = m_store.put_deployment(*resolved);
  if (!stored) return fail(stored.error());
  Applied applied{stored->first, stored->second, ""};
  const std::string& workspace = applied.record.workspace;
  const std::string& name = applied.record.name;
  if (auto made = util::make_directories(deployment_dir(workspace, name), 0700); !made) {
    return fail(made.error());
  }
  if (applied.created) {
    auto key = write_new_key(workspace, name);
    if (!key) return fail(key.error());
    applied.scoring_key = *key;
  }
  if (auto deployed = deploy(applied.record); !deployed) return fail(deployed.error());
  return applied;
}

Result<void> DeploymentManager::remove(const std::string& workspace, const std::string& name) {
  std::lock_guard apply_lock(m_apply_mutex);
  if (auto existing = m_store.get_deployment(workspace, name); !existing) {
    return fail(existing.error());
  }
  std::shared_ptr<DeploymentRuntime> removed;
  {
    std::lock_guard lock(m_mutex);
    if (auto found = m_runtimes.find({workspace, name}); found != m_runtimes.end()) {
      removed = found->second;
    }
  }
  if (removed) removed->stop();  // status Deleting until the replicas are gone
  {
    std::lock_guard lock(m_mutex);
    m_runtimes.erase({workspace, name});
    m_keys.erase({workspace, name});
    m_deployed.erase({workspace, name});
  }
  if (auto deleted = m_store.delete_deployment(workspace, name); !deleted) return deleted;
  return remove_tree(deployment_dir(workspace, name));
}

Result<void> DeploymentManager::remove_workspace(const std::string& workspace) {
  std::lock_guard apply_lock(m_apply_mutex);
  std::vector<std::shared_ptr<DeploymentRuntime>> removed;
  {
    std::lock_guard lock(m_mutex);
    const auto in_workspace = [&workspace](const auto& entry) {
      return entry.first.first == workspace;
    };
    for (const auto& entry : m_runtimes) {
      if (in_workspace(entry)) removed.push_back(entry.second);
    }
    std::erase_if(m_runtimes, in_workspace);
    std::erase_if(m_keys, in_workspace);
    std::erase_if(m_deployed, in_workspace);
  }
  for (const auto& runtime : removed) runtime->stop();
  return remove_tree(m_options.services_dir / workspace);
}

DeploymentStatus DeploymentManager::status(const std::string& workspace,
                                           const std::string& name) const {
  if (auto found = runtime(workspace, name)) return found->status();
  return {"Failed", "the deployment's replicas could not be started; see the trainctld log", {}};
}

Result<ScoreReply> DeploymentManager::score(const std::string& workspace, const std::string& name,
                                            const std::string& body) {
  auto found = runtime(workspace, name);
  if (!found) {
    if (auto existing = m_store.get_deployment(workspace, name); !existing) {
      return fail(existing.error());
    }
    return fail(ErrorCode::unavailable, "deployment '{}' is not running", name);
  }
  return found->score(body, m_options.queue_timeout);
}

Result<std::string> DeploymentManager::read_key(const std::string& workspace,
                                                const std::string& name) const {
  {
    std::lock_guard lock(m_mutex);
    if (auto cached = m_keys.find({workspace, name}); cached != m_keys.end()) return cached->second;
  }
  auto text = util::read_file(deployment_dir(workspace, name) / k_key_file, 4096);
  if (!text) return fail(ErrorCode::not_found, "deployment '{}' has no scoring key", name);
  std::string key = text->substr(0, text->find('\n'));
  std::lock_guard lock(m_mutex);
  m_keys[{workspace, name}] = key;
  return key;
}

Result<std::string> DeploymentManager::write_new_key(const std::string& workspace,
                                                     const std::string& name) {
  std::string key = util::random_hex(32);
  const fs::path path = deployment_dir(workspace, name) / k_key_file;
  if (auto written = util::write_file_atomic(path, key + "\n", 0600); !written) {
    return fail(written.error());
  }
  std::lock_guard lock(m_mutex);
  m_keys[{workspace, name}] = key;
  return key;
}

Result<std::string> DeploymentManager::scoring_key(const std::string& workspace,
                                                   const std::string& name) const {
  if (auto existing = m_store.get_deployment(workspace, name); !existing) {
    return fail(existing.error());
  }
  return read_key(workspace, name);
}

Result<std::string> DeploymentManager::regenerate_scoring_key(const std::string& workspace,
                                                              const std::string& name) {
  std::lock_guard apply_lock(m_apply_mutex);
  if (auto existing = m_store.get_deployment(workspace, name); !existing) {
    return fail(existing.error());
  }
  return write_new_key(workspace, name);
}

bool DeploymentManager::scoring_key_matches(const std::string& workspace, const std::string& name,
                                            const std::string& authorization) const {
  auto key = read_key(workspace, name);
  if (!key) return false;
  const std::string expected = "Bearer " + *key;
  return authorization.size() == expected.size() &&
         CRYPTO_memcmp(authorization.data(), expected.data(), expected.size()) == 0;
}

}  // namespace trainctl::service
