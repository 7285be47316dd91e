#pragma once
// Deployments (docs/deployments.md): registered model versions served by replica processes of a
// Python harness behind POST .../services/{name}/score. trainctld supervises the replicas (they
// are its children and die with it), restarts a crashed one with backoff, rolls updates out
// without dropping requests, and brings every stored deployment back when it starts.
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "trainctl/service/blob_store.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service {

namespace deployments {
class DeploymentRuntime;
}

struct DeploymentManagerOptions {
  std::filesystem::path services_dir;  // <home>/services
  std::string interpreter = "/usr/bin/python3";
  std::vector<std::pair<std::string, std::string>> base_env;  // the allowlisted service env
  // How long init() may take before the replica is failed (and the deployment with it).
  std::chrono::milliseconds init_timeout{std::chrono::minutes(2)};
  // How long one run() call may take; past it the replica is killed (and restarted).
  std::chrono::milliseconds request_timeout{std::chrono::minutes(1)};
  // How long a scoring request waits for a free replica while every ready one is busy.
  std::chrono::milliseconds queue_timeout{std::chrono::seconds(30)};
};

struct ReplicaStatus {
  int index = 0;
  std::string state;  // starting | ready | crashed | failed
  pid_t pid = 0;      // 0 when no process runs
  int restarts = 0;
  std::string message;
};

// Transitioning | Healthy | Unhealthy | Failed | Deleting, with a message and the replicas
// serving traffic (the new ones while an update rolls out are not listed until they take over).
// Failed is also the state after an update whose new replicas failed: the previous revision's
// replicas serve on, and `message` says what failed and what was rolled back.
struct DeploymentStatus {
  std::string state;
  std::string message;
  std::vector<ReplicaStatus> replicas;
};

// What a scoring call answered: run()'s JSON text, or the message of the exception it raised;
// `bad_request` when that exception was the harness's BadRequest (the client's fault: a 400).
struct ScoreReply {
  bool ok = false;
  std::string result_json;
  std::string message;
  bool bad_request = false;
};

// The environment variable that holds the directory of model `model` in a replica
// (docs/deployments.md, Environment of a replica): "TRAINCTL_MODEL_DIR_" and the name with its
// letters upper-cased and every character but letters and digits as '_' (my-model:
// TRAINCTL_MODEL_DIR_MY_MODEL). The models of a deployment must have distinct variables.
std::string model_directory_variable(std::string_view model);

class DeploymentManager {
 public:
  DeploymentManager(Store& store, BlobStore& blobs, DeploymentManagerOptions options);
  ~DeploymentManager();  // stop()
  DeploymentManager(const DeploymentManager&) = delete;
  DeploymentManager& operator=(const DeploymentManager&) = delete;

  // Writes the harness and starts the replicas of every stored deployment. Failures are
  // reported per deployment (in its status), not here, except an unusable services_dir.
  Result<void> start();
  // Stops every replica. Idempotent.
  void stop();

  struct Applied {
    DeploymentRecord record;
    bool created = false;
    std::string scoring_key;  // set when created: shown once
  };
  // Creates or updates a deployment. `draft.models` may hold version 0 ("latest"), resolved
  // here. not_found: an unknown snapshot or model version; invalid_spec: an entry script the
  // snapshot does not have. A draft without an entry script is a no-code deployment, whose
  // `no_code` is set here: invalid_argument unless it has exactly one model and that model's
  // framework and files are ones the built-in scoring script serves. Replicas start in the
  // background: a new deployment is Transitioning until they are ready; an update keeps the old
  // replicas serving until the new ones are ready, then stops them once their requests are
  // answered. An update whose new replicas fail is rolled back: the old replicas serve on, the
  // configuration they run is stored again as the next revision (so a restart starts it, not the
  // failed one), and the deployment is Failed with a message naming both revisions until the next
  // update.
  Result<Applied> apply(DeploymentRecord draft);
  // Stops the replicas, removes the deployment's files and its record. not_found when absent.
  Result<void> remove(const std::string& workspace, const std::string& name);
  // For a workspace just deleted (its deployment records went with it): stops the replicas of
  // each of its deployments and removes their files.
  Result<void> remove_workspace(const std::string& workspace);

  DeploymentStatus status(const std::string& workspace, const std::string& name) const;

  Result<std::string> scoring_key(const std::string& workspace, const std::string& name) const;
  Result<std::string> regenerate_scoring_key(const std::string& workspace, const std::string& name);
  // Constant time in the key: whether `authorization` is "Bearer <the deployment's key>".
  bool scoring_key_matches(const std::string& workspace, const std::string& name,
                           const std::string& authorization) const;

  // Sends `body` (JSON text, already checked) to a ready replica, one request at a time per
  // replica. not_found: no such deployment; unavailable: no replica is ready (or none became
  // free within queue_timeout, or the replica died while scoring); timeout: run() took longer
  // than request_timeout.
  Result<ScoreReply> score(const std::string& workspace, const std::string& name,
                           const std::string& body);

  // <services_dir>/<workspace>/<name>/logs/replica-<index>.log
  std::filesystem::path log_file(const std::string& workspace, const std::string& name,
                                 int index) const;

 private:
  using Key = std::pair<std::string, std::string>;  // (workspace, name)

  std::filesystem::path deployment_dir(const std::string& workspace, const std::string& name) const;
  Result<DeploymentRecord> resolve_models(DeploymentRecord draft) const;
  Result<void> check_entry_script(const DeploymentRecord& draft) const;
  // Checks what will score the draft's requests: its entry script, or else (no-code) sets
  // draft.no_code from its one model.
  Result<void> plan_scoring(DeploymentRecord& draft) const;
  // Materializes the revision's source snapshot and model files; returns its directory.
  Result<std::filesystem::path> materialize_revision(const DeploymentRecord& record) const;
  // Starts (or rolls out to) the record's revision on its runtime; a rollout that fails while
  // an older revision serves queues a rollback to that revision's configuration.
  Result<void> deploy(const DeploymentRecord& record);

  // A failed rollout to undo: `serving` is the configuration whose replicas kept serving.
  struct Rollback {
    DeploymentRecord serving;
    int64_t failed_revision = 0;
    std::string reason;
  };
  void queue_rollback(Rollback rollback);
  void rollback_loop();
  // Stores rollback.serving again as the next revision, unless the deployment was updated or
  // removed since the rollout failed.
  void roll_back(const Rollback& rollback);
  std::shared_ptr<deployments::DeploymentRuntime> runtime(const std::string& workspace,
                                                          const std::string& name) const;
  Result<std::string> read_key(const std::string& workspace, const std::string& name) const;
  Result<std::string> write_new_key(const std::string& workspace, const std::string& name);

  Store& m_store;
  BlobStore& m_blobs;
  DeploymentManagerOptions m_options;
  std::filesystem::path m_harness;
  std::filesystem::path m_no_code_script;  // the entry script of no-code deployments
  mutable std::mutex m_mutex;  // guards the maps below
  std::map<Key, std::shared_ptr<deployments::DeploymentRuntime>> m_runtimes;
  mutable std::map<Key, std::string> m_keys;  // cached scoring keys (the 0600 files are the truth)
  // The records of the revisions deployed, by revision: the rollout and the one serving.
  std::map<Key, std::map<int64_t, DeploymentRecord>> m_deployed;
  std::mutex m_apply_mutex;  // one apply/remove/rollback at a time

  std::mutex m_rollback_mutex;  // guards the two fields below
  std::condition_variable m_rollback_wakeup;
  std::deque<Rollback> m_rollbacks;
  bool m_rollbacks_stopping = false;
  std::thread m_rollback_thread;  // rollback_loop(), from construction to stop()
};

}  // namespace trainctl::service
