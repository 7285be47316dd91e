#pragma once
// The service's durable state in SQLite (WAL, versioned migrations, writes in BEGIN IMMEDIATE
// with a busy timeout). Thread-safe: one Store is shared by every request thread. A write that
// cannot get the lock within the busy timeout fails with ErrorCode::unavailable (HTTP 503).
// Concurrent writes share one transaction and one fsync (group commit); docs/storage.md.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/api/run_status.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service {

struct WorkspaceRecord {
  std::string name;
  std::string description;
  int64_t created_at_ms = 0;
  int64_t run_count = 0;
};

struct SnapshotRecord {
  std::string id;  // sha256 of the canonical manifest
  nlohmann::json files = nlohmann::json::array();  // [{"path","sha256","size","mode"}]
  int64_t file_count = 0;
  int64_t total_size = 0;
  int64_t created_at_ms = 0;
};

// One version of a dataset (docs/datasets.md). Versions count 1, 2, ... per (workspace, name)
// and are never reused, not even after a delete.
struct DatasetVersionRecord {
  std::string workspace;
  std::string name;
  int64_t version = 0;  // assigned by the store
  std::string description;
  nlohmann::json tags = nlohmann::json::object();
  // [{"path","sha256","size","mode"}] sorted by path, as a snapshot manifest; for a dataset made
  // from URLs each entry also has "url" (where the service downloaded it from).
  nlohmann::json files = nlohmann::json::array();
  std::string content_hash;  // sha256 of the canonical manifest (path, sha256, mode of each file)
  std::string source = "files";  // "files" (uploaded blobs) or "urls" (downloaded by the service)
  int64_t file_count = 0;
  int64_t total_size = 0;
  int64_t created_at_ms = 0;
};

struct DatasetSummary {
  std::string name;
  std::string description;  // the latest version's
  int64_t latest_version = 0;
  int64_t version_count = 0;  // versions not deleted
  int64_t updated_at_ms = 0;  // when the latest version was made
};

// A compute target (docs/computes.md): where runs are scheduled. Type "local" has `max_nodes`
// virtual nodes on this host; a run with node_count N takes N of them at once (gang).
// Where a compute target of type slurm sends its runs (docs/slurm.md); empty fields leave the
// choice to Slurm (its default partition, the user's default account and QOS, SLURM_CONF or
// /etc/slurm/slurm.conf).
struct SlurmSettings {
  std::string partition;
  std::string account;
  std::string qos;
  std::string conf;  // the slurm.conf the Slurm commands read, as SLURM_CONF

  bool operator==(const SlurmSettings&) const = default;
};

struct ComputeRecord {
  std::string workspace;
  std::string name;
  std::string type = "local";  // local | slurm
  int max_nodes = 1;
  int cpus_per_node = 0;  // 0: the host's CPU count
  int gpus_per_node = 0;
  std::string python;     // the interpreter its runs use; empty: the service's --python
  std::string conda;      // the conda executable found when provisioned; empty: none
  SlurmSettings slurm;     // type slurm only
  // Creating (being provisioned) | Succeeded (runs may start) | Failed (message says why) |
  // Deleting (draining: no new runs; removed once its runs have ended).
  std::string state = "Creating";
  std::string message;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// One version of a registered model (docs/models.md). Versions count 1, 2, ... per
// (workspace, name) and are never reused. The files are copied (as blobs) from a run's
// artifacts at registration, so the version never changes after it.
struct ModelVersionRecord {
  std::string workspace;
  std::string name;
  int64_t version = 0;  // assigned by the store
  std::string description;
  nlohmann::json tags = nlohmann::json::object();
  std::string framework = "custom";  // tensorflow | pytorch | sklearn | onnx | custom
  std::string framework_version;
  double cpu = 0;        // resource configuration for deployments; 0: not given
  double memory_gb = 0;
  // Lineage: the run the files came from, where in it, and what that run used.
  std::string run_id;
  std::string experiment;
  std::string snapshot_id;
  std::string source_path;  // e.g. "outputs/model", relative to the run
  nlohmann::json inputs = nlohmann::json::array();  // the run's inputs (inputs_json)
  // [{"path","sha256","size","mode"}] relative to source_path, sorted by path.
  nlohmann::json files = nlohmann::json::array();
  int64_t file_count = 0;
  int64_t total_size = 0;
  int64_t created_at_ms = 0;
};

// A deployment of registered model versions as a scoring web service (docs/deployments.md).
// The scoring key is not here: it lives in a 0600 file under the service's home.
struct DeploymentModel {
  std::string name;
  int64_t version = 0;  // a fixed version ("latest" is resolved before it is stored)
};

// What the built-in scoring script of a deployment without an entry script serves: the
// deployment's one model, loaded by its framework from one of its files.
struct NoCodeScoring {
  std::string framework;   // sklearn | pytorch
  std::string model_file;  // relative to the model version's directory
};

struct DeploymentRecord {
  std::string workspace;
  std::string name;
  std::vector<DeploymentModel> models;
  std::string entry_script;  // relative to the source snapshot; empty: no-code
  std::string snapshot_id;   // empty when entry_script is
  // Set (by the deployment manager) exactly when entry_script is empty.
  std::optional<NoCodeScoring> no_code;
  int replicas = 1;
  double cpu = 0;        // recorded and shown; see docs/deployments.md for what is enforced
  double memory_gb = 0;
  nlohmann::json environment_variables = nlohmann::json::object();
  std::string description;
  nlohmann::json tags = nlohmann::json::object();
  int64_t revision = 0;  // 1 when created, +1 per update; assigned by the store
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

struct ModelSummary {
  std::string name;
  std::string description;  // the latest version's
  std::string framework;    // the latest version's
  int64_t latest_version = 0;
  int64_t version_count = 0;  // versions not deleted
  int64_t updated_at_ms = 0;
};

// A run's input, resolved at submit time to a fixed dataset version (recorded on the run).
struct ResolvedInput {
  std::string name;     // the spec's inputs key
  std::string dataset;
  int64_t version = 0;
  std::string mode;     // mount | download
};

// Resolved inputs as JSON, [{"name","dataset","version","mode"}]: the API's run "inputs" and
// the store's runs.inputs column alike.
nlohmann::json inputs_json(const std::vector<ResolvedInput>& inputs);

struct RunRecord {
  std::string id;  // "run-" + 10 random [a-z0-9]
  std::string workspace;
  std::string experiment;
  std::string name;
  std::string compute;
  api::RunStatus status = api::RunStatus::Queued;
  std::string snapshot_id;
  nlohmann::json payload = nlohmann::json::object();  // the validated estimator payload
  nlohmann::json tasks = nlohmann::json::array();     // the engine's last task observations
  std::string idempotency_key;                        // empty: none
  std::string request_hash;                           // sha256 of the canonical payload
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t started_at_ms = 0;  // 0: not yet
  int64_t ended_at_ms = 0;    // 0: not yet
  std::optional<int> exit_code;
  std::string failure_reason;
  std::vector<ResolvedInput> inputs;  // in spec order; empty when the run has none
  int64_t seq = 0;  // insertion order, assigned by the store
  // Scheduling (docs/scheduler.md): higher priorities start first, FIFO (seq) within one.
  int priority = 0;
  // The virtual nodes (slots of the compute target, 0..max_nodes-1) the run holds; given when
  // it leaves Queued, kept until it ends. Empty while queued and once finished.
  std::vector<int> nodes;
  int attempt = 1;  // 1 + the retries made so far (limits.max_retries)
  // The attempts that ended and were retried, oldest first: [{"attempt", "status",
  // "exit_code", "signal", "reason", "first_failed_task", "started_at", "ended_at", "tasks"}].
  nlohmann::json attempts = nlohmann::json::array();
  // What the run logged (docs/metrics.md): its params (script_params, recorded at submit, then
  // what the script logged) and tags as {"name": "text"}, and per metric name its summary
  // {"last", "last_step", "min", "max", "count"} over every task and attempt.
  nlohmann::json params = nlohmann::json::object();
  nlohmann::json logged_tags = nlohmann::json::object();
  nlohmann::json metrics = nlohmann::json::object();
  // A trial of a sweep (docs/sweeps.md): the sweep's id and the trial's number (0..), unique
  // within the sweep; empty and 0 for a run of its own.
  std::string sweep_id;
  int trial = 0;
};

// A hyperparameter sweep (docs/sweeps.md): its trials are runs (RunRecord::sweep_id).
struct SweepRecord {
  std::string id;  // "sweep-" + 10 random [a-z0-9]
  std::string workspace;
  std::string experiment;
  nlohmann::json payload = nlohmann::json::object();  // the validated payload, "sweep" included
  uint64_t seed = 0;  // the spec's, or drawn at creation
  std::string status = "Running";  // Running | Completed | Canceled
  std::string message;
  int64_t created_at_ms = 0;
  int64_t ended_at_ms = 0;  // 0: not yet
  int64_t seq = 0;
};

struct RunEvent {
  api::RunStatus status = api::RunStatus::Queued;
  int64_t at_ms = 0;
  std::string message;
};

struct RunQuery {
  std::string workspace;
  std::optional<std::string> experiment;
  std::optional<std::string> compute;    // the compute target's name
  std::vector<api::RunStatus> statuses;  // empty: any
  int limit = 100;
  std::optional<int64_t> before_seq;     // page token: runs with seq < this
};

struct RunPage {
  std::vector<RunRecord> items;          // newest first
  std::optional<int64_t> next_before_seq;
};

// What a list of runs shows of each run: the fields the runs table keeps in columns of their
// own, none of the JSON a run carries (payload, tasks, inputs, attempts, params, metrics), so a
// page of them is read without parsing any JSON.
struct RunSummary {
  std::string id;
  std::string workspace;
  std::string experiment;
  std::string name;
  std::string compute;
  api::RunStatus status = api::RunStatus::Queued;
  std::string snapshot_id;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t started_at_ms = 0;  // 0: not yet
  int64_t ended_at_ms = 0;    // 0: not yet
  std::optional<int> exit_code;
  std::string failure_reason;
  int priority = 0;
  int attempt = 1;
  int64_t seq = 0;
};

// The summary of a whole run: the same fields, copied.
RunSummary summary_of(const RunRecord& run);

struct RunSummaryPage {
  std::vector<RunSummary> items;         // newest first
  std::optional<int64_t> next_before_seq;
};

struct RunUpdate {
  std::optional<api::RunStatus> status;  // appends a timeline event when it changes
  std::optional<nlohmann::json> tasks;
  std::optional<int> exit_code;
  std::optional<std::string> failure_reason;
  std::optional<int64_t> started_at_ms;
  std::optional<int64_t> ended_at_ms;
  std::optional<std::vector<int>> nodes;   // the node slots held (empty: released)
  std::optional<int> attempt;
  std::optional<nlohmann::json> attempts;
  std::string message;                   // recorded with the timeline event
  // Appends the timeline event even when the status stays the same: a new attempt that starts
  // again from Starting before the one it replaces was ever seen Running.
  bool always_record = false;
};

// ---- Metrics (docs/metrics.md) ----

// A metric point read from a task's metrics file, to record.
struct MetricPointDraft {
  std::string name;
  double value = 0;             // NaN and infinities too
  std::optional<int64_t> step;  // absent: one more than the series' last step (0 for the first)
  int64_t at_ms = 0;
};

// What one read of a task's metrics file found: the bytes [from_offset, to_offset) of it.
struct MetricBatch {
  std::string run_id;
  int attempt = 1;
  std::string task;
  int64_t from_offset = 0;
  int64_t to_offset = 0;
  int64_t lines = 0;  // lines read, rejected ones included
  std::vector<MetricPointDraft> points;
  std::vector<std::pair<std::string, std::string>> params;  // in order: a later one wins
  std::vector<std::pair<std::string, std::string>> tags;
  int64_t rejected = 0;      // lines that were not records
  std::string last_problem;  // why the last of them was rejected
};

// The points one task logged under one name in one attempt.
struct MetricSeriesRecord {
  int64_t id = 0;
  std::string name;
  int attempt = 1;
  std::string task;
  int64_t count = 0;
  double last = 0;
  int64_t last_step = 0;
  int64_t last_at_ms = 0;
  std::optional<double> min;  // over the values that are not NaN; none when all are
  std::optional<double> max;
};

struct MetricPointRecord {
  int64_t index = 0;  // 0.. in the order logged
  int64_t step = 0;
  double value = 0;
  int64_t at_ms = 0;
  // A downsampled point stands for the points index..last_index: value is their mean, and
  // these their least and greatest values and last step. Equal to the point's own otherwise.
  int64_t last_index = 0;
  double low = 0;
  double high = 0;
};

// How far the service has read one task's metrics file, and what it refused in it.
struct MetricFileRecord {
  int attempt = 1;
  std::string task;
  int64_t offset = 0;
  int64_t lines = 0;
  int64_t rejected = 0;
  std::string last_problem;
};

struct CreateRunOutcome {
  RunRecord run;
  bool replayed = false;  // an earlier run with the same idempotency key and request hash
};

struct StoreOptions {
  int busy_timeout_ms = 5000;
  // max_nodes of the "local" compute target each new workspace gets (trainctld
  // --local-max-nodes).
  int local_max_nodes = 8;
};

class Store {
 public:
  // Opens (creating if needed) and migrates the database. Migrations run in one transaction each,
  // so a crash leaves the old schema or the new (RELIABILITY 32).
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& db_path,
                                             StoreOptions options = {});
  virtual ~Store() = default;

  virtual int schema_version() = 0;

  virtual Result<WorkspaceRecord> create_workspace(const std::string& name,
                                                   const std::string& description) = 0;  // conflict
  virtual Result<void> ensure_workspace(const std::string& name) = 0;
  virtual Result<std::vector<WorkspaceRecord>> list_workspaces() = 0;
  virtual Result<WorkspaceRecord> get_workspace(const std::string& name) = 0;  // not_found
  // conflict while the workspace has runs that are not terminal; deletes its run rows.
  // The "default" workspace always exists: deleting it is a conflict.
  virtual Result<void> delete_workspace(const std::string& name) = 0;

  virtual Result<std::vector<std::string>> missing_blobs(const std::vector<std::string>& hashes) = 0;
  virtual Result<bool> has_blob(const std::string& sha256) = 0;
  virtual Result<void> insert_blob(const std::string& sha256, int64_t size) = 0;  // idempotent
  virtual Result<std::vector<std::string>> list_blob_hashes() = 0;

  // Returns the record and whether it was new.
  virtual Result<std::pair<SnapshotRecord, bool>> put_snapshot(const SnapshotRecord& snapshot) = 0;
  virtual Result<SnapshotRecord> get_snapshot(const std::string& id) = 0;
  // The distinct blob hashes of snapshot `id`, sorted, read without building its manifest;
  // not_found when there is no such snapshot.
  virtual Result<std::vector<std::string>> snapshot_blob_hashes(const std::string& id) = 0;
  // Whether a run of `workspace` names snapshot `id` (a snapshot the workspace has submitted).
  virtual Result<bool> workspace_has_snapshot(const std::string& workspace,
                                              const std::string& id) = 0;

  // Inserts a run (status Queued, with its first timeline event) and assigns id and seq when
  // empty. A trial (sweep_id set) whose number the sweep has already is a conflict. With an idempotency key already used in the workspace: the same request_hash replays
  // the existing run; a different one fails with conflict.
  virtual Result<CreateRunOutcome> create_run(const RunRecord& draft) = 0;
  // create_run that stores `snapshot` (kept as it is when stored already: content-addressed) in
  // the same transaction as the run.
  virtual Result<CreateRunOutcome> create_run_with_snapshot(const RunRecord& draft,
                                                            const SnapshotRecord& snapshot) = 0;
  // The runs of a batch, each as create_run would make or replay it, in one transaction (one
  // fsync), outcomes in the order of `drafts`. All or nothing: when one cannot be made (its key
  // was used for a different request: conflict; an input version is gone: invalid_spec) none
  // is, and the error names it as "runs[i]" (in the message, or first in each detail's path).
  virtual Result<std::vector<CreateRunOutcome>> create_runs(const std::vector<RunRecord>& drafts) = 0;
  virtual Result<RunRecord> get_run(const std::string& workspace, const std::string& id) = 0;
  // The run an earlier submission with `idempotency_key` made in the workspace, if any.
  virtual Result<std::optional<RunRecord>> find_idempotent_run(const std::string& workspace,
                                                               const std::string& key) = 0;
  // not_found when the workspace does not exist; invalid_argument when limit < 1.
  virtual Result<RunPage> list_runs(const RunQuery& query) = 0;
  // The same page as list_runs, as summaries; the same errors.
  virtual Result<RunSummaryPage> list_run_summaries(const RunQuery& query) = 0;
  virtual Result<std::vector<RunRecord>> list_active_runs() = 0;  // every workspace
  // The same runs as summaries: no run's JSON is parsed (for who polls thousands of queued runs).
  virtual Result<std::vector<RunSummary>> list_active_run_summaries() = 0;
  // Applies `update` in one transaction. A terminal status is final: updating the status of a
  // terminal run fails with conflict and changes nothing.
  virtual Result<RunRecord> update_run(const std::string& id, const RunUpdate& update) = 0;
  virtual Result<std::vector<RunEvent>> run_events(const std::string& id) = 0;

  // Datasets. A new version is made unless `create_new_version` is false and the latest version
  // has the same content_hash: then that version is returned with `false` (not new). The
  // workspace must exist (not_found).
  virtual Result<std::pair<DatasetVersionRecord, bool>> create_dataset_version(
      const DatasetVersionRecord& draft, bool create_new_version) = 0;
  virtual Result<std::vector<DatasetSummary>> list_datasets(const std::string& workspace) = 0;
  // Every version not deleted, oldest first, without their files (get_dataset_version has
  // them); not_found when there is none.
  virtual Result<std::vector<DatasetVersionRecord>> list_dataset_versions(
      const std::string& workspace, const std::string& name) = 0;
  // version 0 means the latest; not_found when absent or deleted.
  virtual Result<DatasetVersionRecord> get_dataset_version(const std::string& workspace,
                                                           const std::string& name,
                                                           int64_t version) = 0;
  // Deletes one version (version > 0) or every version (version 0). Refused with conflict, and
  // nothing deleted, while a run that has not finished uses a version it would delete; the
  // message names those runs. Blobs stay: finished runs keep what they had.
  virtual Result<void> delete_dataset(const std::string& workspace, const std::string& name,
                                      int64_t version) = 0;

  // ---- Compute targets (src/service/store/sqlite_store_computes.cpp) ----
  // Creates the target, or with `replace` updates its configuration (type cannot change:
  // invalid_argument). Returns the record and whether it was new. not_found: no workspace;
  // conflict: exists and !replace, or it is Deleting.
  virtual Result<std::pair<ComputeRecord, bool>> put_compute(const ComputeRecord& compute,
                                                             bool replace) = 0;
  virtual Result<ComputeRecord> get_compute(const std::string& workspace,
                                            const std::string& name) = 0;  // not_found
  virtual Result<std::vector<ComputeRecord>> list_computes(const std::string& workspace) = 0;
  virtual Result<std::vector<ComputeRecord>> list_all_computes() = 0;  // every workspace
  virtual Result<ComputeRecord> set_compute_state(const std::string& workspace,
                                                  const std::string& name,
                                                  const std::string& state,
                                                  const std::string& message) = 0;
  // Removes the target. conflict while runs that have not finished use it (the message names
  // them); `compute delete --force` cancels them first and deletes once they have ended.
  virtual Result<void> delete_compute(const std::string& workspace, const std::string& name) = 0;
  // Inserts the workspace's "local" target (state Succeeded) when it has none.
  virtual Result<void> ensure_local_compute(const std::string& workspace, int max_nodes) = 0;

  // ---- Model registry (src/service/store/sqlite_store_models.cpp) ----
  // Adds the next version of draft.name (the workspace must exist: not_found).
  virtual Result<ModelVersionRecord> create_model_version(const ModelVersionRecord& draft) = 0;
  virtual Result<std::vector<ModelSummary>> list_models(const std::string& workspace) = 0;
  // Every version not deleted, oldest first, without their files; not_found when none.
  virtual Result<std::vector<ModelVersionRecord>> list_model_versions(
      const std::string& workspace, const std::string& name) = 0;
  // version 0 means the latest; not_found when absent or deleted.
  virtual Result<ModelVersionRecord> get_model_version(const std::string& workspace,
                                                       const std::string& name,
                                                       int64_t version) = 0;
  // Deletes one version (version > 0) or all (0). conflict, and nothing deleted, while a
  // deployment uses a version it would delete (table service_models); the message names them.
  virtual Result<void> delete_model(const std::string& workspace, const std::string& name,
                                    int64_t version) = 0;

  // ---- Deployments (src/service/store/sqlite_store_services.cpp) ----
  // Creates the deployment (revision 1), or replaces the configuration of the existing one
  // (revision + 1, created_at kept), and records the model versions it uses (service_models).
  // Returns the stored record and whether it was new. not_found: no workspace, or a model
  // version that does not exist or was deleted.
  virtual Result<std::pair<DeploymentRecord, bool>> put_deployment(
      const DeploymentRecord& deployment) = 0;
  virtual Result<DeploymentRecord> get_deployment(const std::string& workspace,
                                                  const std::string& name) = 0;  // not_found
  virtual Result<std::vector<DeploymentRecord>> list_deployments(
      const std::string& workspace) = 0;  // by name
  virtual Result<std::vector<DeploymentRecord>> list_all_deployments() = 0;  // every workspace
  // Removes the deployment and its service_models rows; not_found when absent.
  virtual Result<void> delete_deployment(const std::string& workspace,
                                         const std::string& name) = 0;

  // ---- Sweeps (docs/sweeps.md; src/service/store/sqlite_store_sweeps.cpp) ----
  // Inserts the sweep (status Running) and assigns its id and seq. not_found: no workspace.
  virtual Result<SweepRecord> create_sweep(const SweepRecord& draft) = 0;
  virtual Result<SweepRecord> get_sweep(const std::string& workspace, const std::string& id) = 0;
  virtual Result<std::vector<SweepRecord>> list_sweeps(const std::string& workspace) = 0;  // newest first
  virtual Result<std::vector<SweepRecord>> list_active_sweeps() = 0;  // Running, every workspace
  // Sets status, message and ended_at of a Running sweep; conflict when it has ended.
  virtual Result<SweepRecord> end_sweep(const std::string& id, const std::string& status,
                                        const std::string& message) = 0;
  // The sweep's trials, by trial number.
  virtual Result<std::vector<RunRecord>> sweep_trials(const std::string& sweep_id) = 0;

  // ---- Metrics (docs/metrics.md; src/service/store/sqlite_store_metrics.cpp) ----
  // Records a batch, the file's new offset, and the run's new summary, params and tags, in one
  // transaction, so that a byte of a metrics file is recorded once or not at all. conflict
  // when the file's recorded offset is not batch.from_offset (the batch was recorded already);
  // not_found when the run does not exist.
  virtual Result<void> record_metrics(const MetricBatch& batch) = 0;
  virtual Result<std::vector<MetricFileRecord>> metric_files(const std::string& run_id) = 0;
  // The run's series, by name, attempt and task; only those of `name` when it is given.
  virtual Result<std::vector<MetricSeriesRecord>> metric_series(
      const std::string& run_id, const std::optional<std::string>& name) = 0;
  // Up to `limit` points of a series from index `from_index` on, in order.
  virtual Result<std::vector<MetricPointRecord>> metric_points(int64_t series_id,
                                                               int64_t from_index,
                                                               int64_t limit) = 0;
  // The series in at most `max_points` points: all of them when it has no more, else one point
  // per run of ceil(count / max_points) consecutive points (MetricPointRecord).
  virtual Result<std::vector<MetricPointRecord>> downsampled_metric_points(
      int64_t series_id, int64_t max_points) = 0;
};

}  // namespace trainctl::service
