#include "migrations.hpp"

#include <array>

namespace trainctl::service::store {

namespace {

// Version 1: workspaces (with "default"), blobs, snapshots, runs and their timeline.
// Workspaces count their runs (triggers), so reading one costs no scan of its runs.
// Runs are ordered by `seq` (AUTOINCREMENT: never reused, so page tokens stay valid after
// deletes); every list query is served by an index ending in seq.
constexpr std::string_view k_initial_schema = R"sql(
CREATE TABLE workspaces (
  name          TEXT PRIMARY KEY NOT NULL,
  description   TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  run_count     INTEGER NOT NULL DEFAULT 0  -- kept by the triggers on runs
);
INSERT INTO workspaces (name, description, created_at_ms)
  VALUES ('default', 'The default workspace',
          CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));

CREATE TABLE blobs (
  sha256        TEXT PRIMARY KEY NOT NULL,
  size          INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE snapshots (
  id            TEXT PRIMARY KEY NOT NULL,
  manifest      TEXT NOT NULL,
  file_count    INTEGER NOT NULL,
  total_size    INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL
);

CREATE TABLE runs (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT NOT NULL UNIQUE,
  workspace       TEXT NOT NULL REFERENCES workspaces (name) ON DELETE CASCADE,
  experiment      TEXT NOT NULL,
  name            TEXT NOT NULL,
  compute         TEXT NOT NULL,
  status          TEXT NOT NULL,
  snapshot_id     TEXT NOT NULL,
  payload         TEXT NOT NULL,
  tasks           TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  request_hash    TEXT NOT NULL,
  created_at_ms   INTEGER NOT NULL,
  updated_at_ms   INTEGER NOT NULL,
  started_at_ms   INTEGER NOT NULL,
  ended_at_ms     INTEGER NOT NULL,
  exit_code       INTEGER,
  failure_reason  TEXT NOT NULL
);
CREATE UNIQUE INDEX runs_by_idempotency_key ON runs (workspace, idempotency_key)
  WHERE idempotency_key <> '';
CREATE INDEX runs_by_workspace ON runs (workspace, seq);
CREATE INDEX runs_by_experiment ON runs (workspace, experiment, seq);
CREATE INDEX runs_by_status ON runs (workspace, status, seq);
CREATE INDEX runs_active ON runs (seq)
  WHERE status NOT IN ('Completed', 'Failed', 'Canceled', 'TimedOut');
CREATE TRIGGER runs_counted AFTER INSERT ON runs BEGIN
  UPDATE workspaces SET run_count = run_count + 1 WHERE name = NEW.workspace;
END;
CREATE TRIGGER runs_uncounted AFTER DELETE ON runs BEGIN
  UPDATE workspaces SET run_count = run_count - 1 WHERE name = OLD.workspace;
END;

CREATE TABLE run_events (
  id      INTEGER PRIMARY KEY,
  run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  status  TEXT NOT NULL,
  at_ms   INTEGER NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX run_events_by_run ON run_events (run_id, id);
)sql";

// Version 2: dataset versions and run inputs (docs/datasets.md). A deleted version keeps its row
// (deleted = 1), so the next version number is max + 1 over every row and never reused; the
// partial index serves "the latest version" and the live listings. A run's resolved inputs are
// kept as JSON on the run (what the API shows) and as rows of run_inputs, which the delete of a
// dataset joins with the runs that have not finished.
constexpr std::string_view k_datasets_schema = R"sql(
CREATE TABLE dataset_versions (
  workspace     TEXT NOT NULL REFERENCES workspaces (name) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  version       INTEGER NOT NULL,
  description   TEXT NOT NULL,
  tags          TEXT NOT NULL,     -- JSON object
  files         TEXT NOT NULL,     -- JSON manifest, sorted by path
  content_hash  TEXT NOT NULL,
  source        TEXT NOT NULL,     -- files | urls
  file_count    INTEGER NOT NULL,
  total_size    INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  deleted       INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace, name, version)
);
CREATE INDEX dataset_versions_live ON dataset_versions (workspace, name, version)
  WHERE deleted = 0;

ALTER TABLE runs ADD COLUMN inputs TEXT NOT NULL DEFAULT '[]';
CREATE TABLE run_inputs (
  run_id    TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  input     TEXT NOT NULL,
  workspace TEXT NOT NULL,
  dataset   TEXT NOT NULL,
  version   INTEGER NOT NULL,
  PRIMARY KEY (run_id, input)
) WITHOUT ROWID;
CREATE INDEX run_inputs_by_dataset ON run_inputs (workspace, dataset, version);
)sql";

// Version 3: compute targets and the scheduler (docs/computes.md, docs/scheduler.md). A run
// records its queue priority, the virtual nodes (slots 0..max_nodes-1 of its target) it holds
// while it is not finished, its attempt number and the attempts that ended before it
// (limits.max_retries). Every existing workspace gets its "local" target.
constexpr std::string_view k_computes_schema = R"sql(
CREATE TABLE computes (
  workspace     TEXT NOT NULL REFERENCES workspaces (name) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  type          TEXT NOT NULL,                 -- local (later slurm, kubernetes)
  max_nodes     INTEGER NOT NULL,
  cpus_per_node INTEGER NOT NULL,
  gpus_per_node INTEGER NOT NULL,
  python        TEXT NOT NULL,                 -- '' : the service's --python
  conda         TEXT NOT NULL,                 -- the conda found at provisioning; '' : none
  state         TEXT NOT NULL,                 -- Creating | Succeeded | Failed | Deleting
  message       TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (workspace, name)
) WITHOUT ROWID;
INSERT INTO computes (workspace, name, type, max_nodes, cpus_per_node, gpus_per_node, python,
                      conda, state, message, created_at_ms, updated_at_ms)
  SELECT name, 'local', 'local', 8, 0, 0, '', '', 'Succeeded', '', created_at_ms, created_at_ms
  FROM workspaces;

ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN nodes TEXT NOT NULL DEFAULT '[]';     -- JSON array of node slots
ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]';  -- JSON: the ended attempts
)sql";

// Version 4: the model registry (docs/models.md). Like dataset versions, a deleted model version
// keeps its row (deleted = 1), so version numbers are never reused. A version records where its
// files came from (run, experiment, snapshot, the run's inputs, the path in the run); its files
// are blobs, so it does not change when the run is deleted.
constexpr std::string_view k_models_schema = R"sql(
CREATE TABLE model_versions (
  workspace         TEXT NOT NULL REFERENCES workspaces (name) ON DELETE CASCADE,
  name              TEXT NOT NULL,
  version           INTEGER NOT NULL,
  description       TEXT NOT NULL,
  tags              TEXT NOT NULL,     -- JSON object
  framework         TEXT NOT NULL,     -- tensorflow | pytorch | sklearn | onnx | custom
  framework_version TEXT NOT NULL,
  cpu               REAL NOT NULL,     -- 0: not given
  memory_gb         REAL NOT NULL,     -- 0: not given
  run_id            TEXT NOT NULL,
  experiment        TEXT NOT NULL,
  snapshot_id       TEXT NOT NULL,
  source_path       TEXT NOT NULL,     -- relative to the run directory
  inputs            TEXT NOT NULL,     -- JSON: the run's resolved inputs
  files             TEXT NOT NULL,     -- JSON manifest, sorted by path
  file_count        INTEGER NOT NULL,
  total_size        INTEGER NOT NULL,
  created_at_ms     INTEGER NOT NULL,
  deleted           INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace, name, version)
);
CREATE INDEX model_versions_live ON model_versions (workspace, name, version)
  WHERE deleted = 0;
)sql";

// Version 5: deployments (docs/deployments.md). It creates service_models (workspace, service, model, version): the model versions each
// deployment uses, which the delete of a model checks. A deployment's configuration is one JSON
// column (models, entry script, snapshot, replicas, resources, environment, description, tags).
constexpr std::string_view k_services_schema = R"sql(
CREATE TABLE services (
  workspace     TEXT NOT NULL REFERENCES workspaces (name) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  config        TEXT NOT NULL,     -- JSON object
  revision      INTEGER NOT NULL,  -- 1 when created, +1 per update
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (workspace, name)
) WITHOUT ROWID;
CREATE TABLE service_models (
  workspace TEXT NOT NULL REFERENCES workspaces (name) ON DELETE CASCADE,
  service   TEXT NOT NULL,
  model     TEXT NOT NULL,
  version   INTEGER NOT NULL,
  PRIMARY KEY (workspace, service, model, version)
) WITHOUT ROWID;
CREATE INDEX service_models_by_model ON service_models (workspace, model, version);
)sql";

// Version 6: compute targets of type slurm (docs/slurm.md): the partition, account and QOS their
// jobs go to, and the slurm.conf the Slurm commands read.
constexpr std::string_view k_slurm_computes_schema = R"sql(
ALTER TABLE computes ADD COLUMN slurm_partition TEXT NOT NULL DEFAULT '';
ALTER TABLE computes ADD COLUMN slurm_account TEXT NOT NULL DEFAULT '';
ALTER TABLE computes ADD COLUMN slurm_qos TEXT NOT NULL DEFAULT '';
ALTER TABLE computes ADD COLUMN slurm_conf TEXT NOT NULL DEFAULT '';
)sql";

// Version 7: metrics (docs/metrics.md). A series is what one task logged under one name in one
// attempt; its row keeps the summary (count, last, min, max), so neither `run show` nor
// `run list` reads points: the run's summary over its series, and its params and tags, are
// JSON columns of the run, rewritten with each batch. A point is keyed by its series and its
// place in it, so a series is read, paged and downsampled by its primary key. NaN is stored as
// NULL, which SQLite's aggregates skip. metric_files says how many bytes of each task's
// metrics file are recorded: a batch and its new offset commit together.
constexpr std::string_view k_metrics_schema = R"sql(
CREATE TABLE metric_series (
  id          INTEGER PRIMARY KEY,
  run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  attempt     INTEGER NOT NULL,
  task        TEXT NOT NULL,
  count       INTEGER NOT NULL,
  last_value  REAL,              -- NULL: NaN
  last_step   INTEGER NOT NULL,
  last_at_ms  INTEGER NOT NULL,
  min_value   REAL,              -- NULL: no value but NaN yet
  max_value   REAL,
  UNIQUE (run_id, name, attempt, task)
);
CREATE TABLE metric_points (
  series_id INTEGER NOT NULL REFERENCES metric_series (id) ON DELETE CASCADE,
  idx       INTEGER NOT NULL,    -- 0.. in the order logged
  step      INTEGER NOT NULL,
  value     REAL,                -- NULL: NaN
  at_ms     INTEGER NOT NULL,
  PRIMARY KEY (series_id, idx)
) WITHOUT ROWID;
CREATE TABLE metric_files (
  run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  attempt      INTEGER NOT NULL,
  task         TEXT NOT NULL,
  offset       INTEGER NOT NULL,
  lines        INTEGER NOT NULL,
  rejected     INTEGER NOT NULL,
  last_problem TEXT NOT NULL,
  PRIMARY KEY (run_id, attempt, task)
) WITHOUT ROWID;
ALTER TABLE runs ADD COLUMN params TEXT NOT NULL DEFAULT '{}';       -- JSON {"name": "text"}
ALTER TABLE runs ADD COLUMN logged_tags TEXT NOT NULL DEFAULT '{}';  -- JSON {"name": "text"}
ALTER TABLE runs ADD COLUMN metrics TEXT NOT NULL DEFAULT '{}';      -- JSON summary by name
)sql";

// Version 8: sweeps (docs/sweeps.md). A sweep is a row of its own; its trials are runs that name
// it, each with its number, unique within the sweep: the insert of a trial is the one thing a
// sweep does to start it, so a restart can neither lose nor repeat one.
constexpr std::string_view k_sweeps_schema = R"sql(
CREATE TABLE sweeps (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  id            TEXT NOT NULL UNIQUE,
  workspace     TEXT NOT NULL REFERENCES workspaces (name) ON DELETE CASCADE,
  experiment    TEXT NOT NULL,
  payload       TEXT NOT NULL,     -- JSON: the validated payload, its "sweep" included
  seed          INTEGER NOT NULL,
  status        TEXT NOT NULL,     -- Running | Completed | Canceled
  message       TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  ended_at_ms   INTEGER NOT NULL
);
CREATE INDEX sweeps_by_workspace ON sweeps (workspace, seq);
CREATE INDEX sweeps_running ON sweeps (seq) WHERE status = 'Running';
ALTER TABLE runs ADD COLUMN sweep_id TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN trial INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX runs_by_sweep ON runs (sweep_id, trial) WHERE sweep_id <> '';
)sql";

constexpr std::array k_migrations{
    Migration{1, "workspaces, blobs, snapshots, runs and run events", k_initial_schema},
    Migration{2, "dataset versions and run inputs", k_datasets_schema},
    Migration{3, "compute targets, run priority, nodes and attempts", k_computes_schema},
    Migration{4, "model registry", k_models_schema},
    Migration{5, "deployments", k_services_schema},
    Migration{6, "compute targets of type slurm", k_slurm_computes_schema},
    Migration{7, "metrics, params and logged tags of runs", k_metrics_schema},
    Migration{8, "sweeps and their trials", k_sweeps_schema},
};

Result<void> apply(Connection& connection, const Migration& migration) {
  return connection.immediate_transaction([&]() -> Result<void> {
    auto version = connection.query_int64("PRAGMA user_version");
    if (!version) return std::unexpected(version.error());
    if (*version >= migration.version) return {};  // another process applied it meanwhile
    if (auto done = connection.exec(migration.sql); !done) {
      return fail(ErrorCode::internal, "schema migration {} ({}) failed: {}", migration.version,
                  migration.summary, done.error().message);
    }
    return connection.exec(fmt::format("PRAGMA user_version = {}", migration.version));
  });
}

}  // namespace

std::span<const Migration> schema_migrations() {
  return k_migrations;
}

int latest_schema_version() {
  return k_migrations.back().version;
}

Result<int> migrate(Connection& connection, std::span<const Migration> migrations) {
  auto version = connection.query_int64("PRAGMA user_version");
  if (!version) return std::unexpected(version.error());
  const int known = migrations.empty() ? 0 : migrations.back().version;
  if (*version > known) {
    return fail(ErrorCode::internal,
                "the database has schema version {}, newer than this trainctld knows ({}); "
                "run a newer trainctld",
                *version, known);
  }
  for (const auto& migration : migrations) {
    if (migration.version <= *version) continue;
    if (auto applied = apply(connection, migration); !applied) {
      return std::unexpected(applied.error());
    }
  }
  auto migrated = connection.query_int64("PRAGMA user_version");
  if (!migrated) return std::unexpected(migrated.error());
  return static_cast<int>(*migrated);
}

}  // namespace trainctl::service::store
