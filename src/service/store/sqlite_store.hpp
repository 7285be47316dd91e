#pragma once
// The Store on SQLite: one writer connection whose concurrent writes are grouped into shared
// BEGIN IMMEDIATE transactions (group commit), and a pool of query-only reader connections,
// which WAL lets run alongside it.
#include <filesystem>
#include <memory>
#include <optional>
#include <type_traits>

#include "connection_pool.hpp"
#include "group_commit.hpp"
#include "sqlite.hpp"
#include "trainctl/service/store.hpp"

namespace trainctl::service::store {

class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> open(const std::filesystem::path& db_path,
                                                   StoreOptions options);

  int schema_version() override { return m_schema_version; }

  Result<WorkspaceRecord> create_workspace(const std::string& name,
                                           const std::string& description) override;
  Result<void> ensure_workspace(const std::string& name) override;
  Result<std::vector<WorkspaceRecord>> list_workspaces() override;
  Result<WorkspaceRecord> get_workspace(const std::string& name) override;
  Result<void> delete_workspace(const std::string& name) override;

  Result<std::vector<std::string>> missing_blobs(const std::vector<std::string>& hashes) override;
  Result<bool> has_blob(const std::string& sha256) override;
  Result<void> insert_blob(const std::string& sha256, int64_t size) override;
  Result<std::vector<std::string>> list_blob_hashes() override;

  Result<std::pair<SnapshotRecord, bool>> put_snapshot(const SnapshotRecord& snapshot) override;
  Result<SnapshotRecord> get_snapshot(const std::string& id) override;
  Result<std::vector<std::string>> snapshot_blob_hashes(const std::string& id) override;
  Result<bool> workspace_has_snapshot(const std::string& workspace, const std::string& id) override;

  Result<CreateRunOutcome> create_run(const RunRecord& draft) override;
  Result<CreateRunOutcome> create_run_with_snapshot(const RunRecord& draft,
                                                    const SnapshotRecord& snapshot) override;
  Result<std::vector<CreateRunOutcome>> create_runs(const std::vector<RunRecord>& drafts) override;
  Result<std::optional<RunRecord>> find_idempotent_run(const std::string& workspace,
                                                       const std::string& key) override;
  Result<RunRecord> get_run(const std::string& workspace, const std::string& id) override;
  Result<RunPage> list_runs(const RunQuery& query) override;
  Result<RunSummaryPage> list_run_summaries(const RunQuery& query) override;
  Result<std::vector<RunRecord>> list_active_runs() override;
  Result<std::vector<RunSummary>> list_active_run_summaries() override;
  Result<RunRecord> update_run(const std::string& id, const RunUpdate& update) override;
  Result<std::vector<RunEvent>> run_events(const std::string& id) override;

  Result<std::pair<DatasetVersionRecord, bool>> create_dataset_version(
      const DatasetVersionRecord& draft, bool create_new_version) override;
  Result<std::vector<DatasetSummary>> list_datasets(const std::string& workspace) override;
  Result<std::vector<DatasetVersionRecord>> list_dataset_versions(
      const std::string& workspace, const std::string& name) override;
  Result<DatasetVersionRecord> get_dataset_version(const std::string& workspace,
                                                   const std::string& name,
                                                   int64_t version) override;
  Result<void> delete_dataset(const std::string& workspace, const std::string& name,
                              int64_t version) override;

  // Compute targets: sqlite_store_computes.cpp
  Result<std::pair<ComputeRecord, bool>> put_compute(const ComputeRecord& compute,
                                                     bool replace) override;
  Result<ComputeRecord> get_compute(const std::string& workspace, const std::string& name) override;
  Result<std::vector<ComputeRecord>> list_computes(const std::string& workspace) override;
  Result<std::vector<ComputeRecord>> list_all_computes() override;
  Result<ComputeRecord> set_compute_state(const std::string& workspace, const std::string& name,
                                          const std::string& state,
                                          const std::string& message) override;
  Result<void> delete_compute(const std::string& workspace, const std::string& name) override;
  Result<void> ensure_local_compute(const std::string& workspace, int max_nodes) override;

  // Models: sqlite_store_models.cpp
  Result<ModelVersionRecord> create_model_version(const ModelVersionRecord& draft) override;
  Result<std::vector<ModelSummary>> list_models(const std::string& workspace) override;
  Result<std::vector<ModelVersionRecord>> list_model_versions(const std::string& workspace,
                                                              const std::string& name) override;
  Result<ModelVersionRecord> get_model_version(const std::string& workspace,
                                               const std::string& name, int64_t version) override;
  Result<void> delete_model(const std::string& workspace, const std::string& name,
                            int64_t version) override;

  // Deployments: sqlite_store_services.cpp
  Result<std::pair<DeploymentRecord, bool>> put_deployment(
      const DeploymentRecord& deployment) override;
  Result<DeploymentRecord> get_deployment(const std::string& workspace,
                                          const std::string& name) override;
  Result<std::vector<DeploymentRecord>> list_deployments(const std::string& workspace) override;
  Result<std::vector<DeploymentRecord>> list_all_deployments() override;
  Result<void> delete_deployment(const std::string& workspace, const std::string& name) override;

  // Sweeps: sqlite_store_sweeps.cpp
  Result<SweepRecord> create_sweep(const SweepRecord& draft) override;
  Result<SweepRecord> get_sweep(const std::string& workspace, const std::string& id) override;
  Result<std::vector<SweepRecord>> list_sweeps(const std::string& workspace) override;
  Result<std::vector<SweepRecord>> list_active_sweeps() override;
  Result<SweepRecord> end_sweep(const std::string& id, const std::string& status,
                                const std::string& message) override;
  Result<std::vector<RunRecord>> sweep_trials(const std::string& sweep_id) override;

  // Metrics: sqlite_store_metrics.cpp
  Result<void> record_metrics(const MetricBatch& batch) override;
  Result<std::vector<MetricFileRecord>> metric_files(const std::string& run_id) override;
  Result<std::vector<MetricSeriesRecord>> metric_series(
      const std::string& run_id, const std::optional<std::string>& name) override;
  Result<std::vector<MetricPointRecord>> metric_points(int64_t series_id, int64_t from_index,
                                                       int64_t limit) override;
  Result<std::vector<MetricPointRecord>> downsampled_metric_points(int64_t series_id,
                                                                   int64_t max_points) override;

 private:
  SqliteStore(const std::filesystem::path& db_path, StoreOptions options,
              std::unique_ptr<Connection> writer, int schema_version);

  // create_run and create_run_with_snapshot: the run, and `snapshot` when not null, in one
  // transaction.
  Result<CreateRunOutcome> create_run_and_snapshot(const RunRecord& draft,
                                                   const SnapshotRecord* snapshot);

  // Runs `body(connection)` on the writer connection, in a transaction that may be shared with
  // other threads' writes (group commit); returns its result once the transaction is durable.
  // A failing body's changes are rolled back. Fails with unavailable when another process
  // holds the write lock past the busy timeout.
  template <typename Body>
  std::invoke_result_t<Body&, Connection&> write(Body&& body);
  // Runs `body(connection)` on a reader connection from the pool.
  template <typename Body>
  std::invoke_result_t<Body&, Connection&> read(Body&& body);

  GroupCommitter m_writer;
  ConnectionPool m_readers;
  const int m_schema_version;
  const int m_local_max_nodes;  // of the "local" target a new workspace gets
};

template <typename Body>
std::invoke_result_t<Body&, Connection&> SqliteStore::write(Body&& body) {
  std::optional<std::invoke_result_t<Body&, Connection&>> result;
  auto committed = m_writer.run([&](Connection& connection) {
    try {
      result.emplace(body(connection));
    } catch (const std::exception& error) {
      result.emplace(
          fail(ErrorCode::internal, "unexpected failure writing the database: {}", error.what()));
    }
    return result->has_value();
  });
  if (!committed) return std::unexpected(committed.error());
  return std::move(*result);
}

template <typename Body>
std::invoke_result_t<Body&, Connection&> SqliteStore::read(Body&& body) {
  auto lease = m_readers.acquire();
  if (!lease) return std::unexpected(lease.error());
  try {
    return body(**lease);
  } catch (const std::exception& error) {
    return fail(ErrorCode::internal, "unexpected failure reading the database: {}", error.what());
  }
}

}  // namespace trainctl::service::store
