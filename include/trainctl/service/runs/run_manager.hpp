#pragma once
// Drives runs through their lifecycle (docs/runs.md: Queued -> Preparing -> Starting -> Running
// -> Finalizing -> outcome). A scheduler thread gives queued runs the nodes of their compute
// target (scheduler.hpp: gang, priority then FIFO) and hands each started run to a pool of
// preparation threads, which materialize it (snapshot, inputs, Python environment) and start it
// on the engine; a watcher thread observes every active run about every 50 ms, records what the
// engine reports, retries a failed attempt when the run's limits allow, and frees the nodes of
// finished runs. The queue and the nodes held are in the store, so a restart keeps both.
// Waiters (log followers, `?wait=true`) block on change notifications instead of polling.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "trainctl/service/blob_store.hpp"
#include "trainctl/service/engine.hpp"
#include "trainctl/service/environments.hpp"
#include "trainctl/service/metrics/metrics_ingester.hpp"
#include "trainctl/service/runs/state_watch.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service {

namespace scheduling {
struct HeldNodes;
struct Target;
struct WaitingRun;
}

struct RunManagerOptions {
  std::filesystem::path runs_dir;  // <home>/runs
  std::string interpreter = "/usr/bin/python3";
  std::vector<std::pair<std::string, std::string>> base_env;  // the allowlisted service env
  int64_t grace_seconds = 10;
  std::chrono::milliseconds watch_interval{50};
  // MPI runs: the mpirun to start (a name looked up on PATH, or absolute), and the absolute path
  // of the program that wraps each rank (`<rank_wrapper> rank ...`: trainctld itself).
  std::string mpirun = "mpirun";
  std::filesystem::path rank_wrapper;
  // Builds the virtual environments of runs with pip_packages; null: such runs fail in
  // Preparing.
  EnvironmentCache* environments = nullptr;
  // Reads what runs log (metrics); null: nothing is read. An attempt's metrics are read to
  // their end before it is archived or its run recorded finished.
  MetricsIngester* metrics = nullptr;
  // Where pip looks, for the environments the hosts of an engine's nodes build (Slurm).
  PipIndexConfig pip_index;
  // Runs prepared at once (an environment build can take minutes; others go on meanwhile).
  int preparation_threads = 4;
};

// Where a queued run stands (docs/scheduler.md).
struct QueueInfo {
  int position = 0;      // 1-based, in its compute target's queue; 0: in its engine's (Slurm's)
  int queue_length = 0;  // runs queued on that target; 0: unknown (in its engine's queue)
  std::string reason;    // why it waits, for the user
};

// What a compute target holds now.
struct ComputeUsage {
  int busy_nodes = 0;
  int active_runs = 0;  // holding nodes: Preparing .. Finalizing
  int queued_runs = 0;
};

struct CancelOutcome {
  RunRecord run;
  bool changed = false;  // false: the run had already finished (a no-op)
};

class RunManager {
 public:
  // `engines` has an engine for every compute target type runs may use ("local" at least).
  RunManager(Store& store, BlobStore& blobs, const Engines& engines, RunManagerOptions options);
  ~RunManager();  // stops the threads; runs keep going under their supervisors
  RunManager(const RunManager&) = delete;
  RunManager& operator=(const RunManager&) = delete;

  // Re-attaches every run that is not finished (after a restart), then starts the threads.
  void start();
  // Wakes every waiter and stops the threads. Idempotent.
  void stop();
  bool stopping() const { return m_stopping.load(); }

  // Queues a newly created run on its compute target.
  void submit(const RunRecord& run);
  // Queued/Preparing -> Canceled; Starting/Running/Finalizing -> CancelRequested and the engine
  // is asked to stop it; a finished run is returned unchanged.
  // `reason`, when given, is the Canceled run's failure_reason (a sweep's "early termination").
  Result<CancelOutcome> cancel(const std::string& workspace, const std::string& run_id,
                               const std::string& reason = {});

  std::filesystem::path run_dir(const std::string& run_id) const;

  // A started run whose engine has placed its nodes on hosts of their own (the nodes of a Slurm
  // job): its launch plan built again with each node's host, address and free ports (TF_CONFIG,
  // MASTER_ADDR, mpirun -H). conflict when the run is not active here.
  Result<spec::LaunchPlan> placed_plan(const std::string& run_id, std::vector<spec::NodePlace> nodes);

  // A compute target was created, updated, provisioned or is being deleted: the scheduler
  // reads the targets again and starts what now fits.
  void compute_changed();
  // nullopt unless the run is Queued.
  std::optional<QueueInfo> queue_info(const std::string& run_id) const;
  ComputeUsage compute_usage(const std::string& workspace, const std::string& compute) const;

  // A counter that moves on every recorded change and whenever a log of a followed run is
  // written (new log bytes to send). wait_for_change returns once it differs from `seen`, on
  // stop(), or after `timeout`.
  uint64_t generation() const;
  void wait_for_change(uint64_t seen, std::chrono::milliseconds timeout) const;

  // While a run has a log follower (between follow_logs and its unfollow_logs), every write to
  // one of its logs moves the generation, so the follower sends a line as soon as it is written.
  // Calls pair up; a run may have many followers.
  void follow_logs(const std::string& run_id);
  void unfollow_logs(const std::string& run_id);

 private:
  struct RunRef {
    std::string workspace;
    std::string id;
  };
  struct ActiveRun {
    std::string workspace;
    Engine* engine = nullptr;  // the engine of the run's compute target
    api::RunStatus status = api::RunStatus::Starting;
    nlohmann::json tasks = nlohmann::json::array();  // as last recorded
  };
  // A run in its compute target's queue.
  struct WaitingRun {
    std::string workspace;
    std::string compute;
    int priority = 0;
    int64_t seq = 0;
    int node_count = 1;
  };
  // A run that has left the queue and holds nodes until it ends.
  struct HoldingRun {
    std::string workspace;
    std::string compute;
    std::vector<int> nodes;
  };
  using TargetKey = std::pair<std::string, std::string>;  // workspace, compute target

  void schedule_loop();
  void schedule();  // one pass: start what fits
  // m_waiting and m_waiting_on together; the caller holds m_mutex.
  void add_waiting(const std::string& id, WaitingRun run);
  std::optional<WaitingRun> take_waiting(const std::string& id);
  // Whether a pass now would start nothing on the target: the last pass's view of it is
  // current and its nodes are all held. The caller holds m_mutex.
  bool starts_nothing_locked(const TargetKey& key) const;
  // The nodes the runs on `key` hold; the caller holds m_mutex.
  std::vector<scheduling::HeldNodes> held_on_locked(const TargetKey& key) const;
  // The queued runs of `key`, as the scheduler takes them, appended to `waiting`; the caller
  // holds m_mutex.
  void append_waiting_on(const TargetKey& key, std::vector<scheduling::WaitingRun>& waiting) const;
  // Where every queued run of `key` stands now; the caller holds m_mutex.
  std::map<std::string, QueueInfo> places_on(const TargetKey& key) const;
  void request_schedule();
  void preparation_loop();
  void watch_loop();
  // A run with a log follower is active and not yet recorded Running.
  bool followed_run_starting() const;
  void prepare(const RunRef& ref);
  // Preparing -> Starting -> engine.start; a failure is returned for the caller to record.
  Result<void> prepare_and_start(const RunRecord& run);
  // The interpreter the run's tasks use: its compute target's (else the service's), or the
  // virtual environment built for its pip_packages (output in logs/preparing.log).
  Result<std::string> run_interpreter(const RunRecord& run, const spec::JobSpec& spec);
  // The launch plan of the run's current attempt (ports are taken now).
  Result<spec::LaunchPlan> plan_for(const RunRecord& run, const spec::JobSpec& spec,
                                    const std::string& interpreter,
                                    std::vector<spec::NodePlace> nodes = {});
  Result<void> start_on_engine(const RunRecord& run, const spec::LaunchPlan& plan);
  void recover(const RunRecord& run);
  // The engine of the run's compute target (the local engine when the target is gone).
  Engine& engine_for(const std::string& workspace, const std::string& compute);
  Engine& engine_for(const RunRecord& run) { return engine_for(run.workspace, run.compute); }
  void observe_active_runs();
  // Reads the rest of the metrics of the run's current attempt, whose tasks have ended.
  void finish_metrics(const std::string& workspace, const std::string& run_id);
  // A started run that its engine's system holds in a queue of its own (a pending Slurm job) is
  // Queued, with that system's reason; Starting again once it leaves that queue.
  void note_waiting(const std::string& run_id, const ActiveRun& active,
                    const RunObservation& observation, RunUpdate& change);
  void forget_waiting(const std::string& run_id);
  // Records an engine observation; returns false once the run is finished (stop watching it).
  bool record_observation(const std::string& run_id, ActiveRun& active,
                          const RunObservation& observation);
  // A failed attempt with retries left: archives it and starts the next one on the same nodes
  // (`active` then describes the new attempt). `no`: not retried, the caller records the
  // outcome; `failed`: the next attempt could not start and the run's failure is recorded.
  enum class Retry { no, started, failed };
  Retry retry(const std::string& run_id, ActiveRun& active, const RunObservation& observation);
  // Applies an update; a run that already finished (conflict) is left alone. A change the store
  // cannot take now (locked past its busy timeout, disk full) is kept and recorded later, after
  // the run's earlier changes, by the watcher (record_unrecorded_changes). Notifies waiters.
  void update(const std::string& run_id, const RunUpdate& update);
  // Records the changes update() could not, in order, until each is recorded; none is dropped.
  void record_unrecorded_changes();
  void fail_run(const std::string& run_id, const std::string& reason);
  // The run no longer holds nodes (it ended, or was canceled before it started).
  void release_nodes(const std::string& run_id);
  void notify_change();

  Store& m_store;
  BlobStore& m_blobs;
  const Engines& m_engines;
  RunManagerOptions m_options;

  std::atomic<bool> m_stopping{false};
  mutable std::mutex m_mutex;  // guards the fields below
  mutable std::condition_variable m_changed;
  std::condition_variable m_schedule_wakeup;
  std::condition_variable m_prepare_wakeup;
  // The watcher's sleep, cut short by a state file change, a followed log's write or stop().
  StateWatch m_state_watch;
  uint64_t m_generation = 0;
  bool m_schedule_requested = false;
  bool m_passing = false;  // a pass is running
  // Where the queued runs of one target stand, worked out when first asked after a change.
  struct Places {
    uint64_t version = 0;  // m_queue_version they were worked out at
    std::map<std::string, QueueInfo> of_run;
  };
  std::map<std::string, WaitingRun> m_waiting;     // queued runs, by id
  std::map<TargetKey, std::set<std::string>> m_waiting_on;  // their ids, by target
  // Moves whenever a queue, the slots runs hold or the targets may have changed.
  uint64_t m_queue_version = 1;
  std::vector<scheduling::Target> m_targets;  // as the last pass read them
  bool m_targets_read = false;
  mutable std::map<TargetKey, Places> m_places;
  std::map<std::string, QueueInfo> m_engine_waiting;  // started runs an engine's queue holds
  std::map<std::string, HoldingRun> m_holding;     // runs holding nodes, by id
  std::deque<RunRef> m_to_prepare;                 // started by the scheduler, to prepare
  // Runs a preparer is preparing, by id: a cancel (or stop()) asks it to stop waiting for the
  // run's environment build.
  std::map<std::string, std::stop_source> m_preparing;
  std::map<std::string, ActiveRun> m_active;       // runs the engine owns, by id
  std::map<std::string, std::deque<RunUpdate>> m_unrecorded;  // changes the store could not take yet
  std::map<std::string, std::string> m_cancel_reasons;  // runs canceled with a reason, by id
  std::map<std::string, int> m_log_followers;           // followed runs: their followers, by id
  // Serializes "Starting + engine.start" and the watcher's "Running" against cancel, so a cancel
  // never misses a start and CancelRequested is never set back to Running.
  std::mutex m_start_mutex;
  std::thread m_scheduler;
  std::vector<std::thread> m_preparers;
  std::thread m_watcher;
};

// The service's own values of the variables a run inherits (spec::is_inherited_variable).
std::vector<std::pair<std::string, std::string>> allowlisted_environment();

}  // namespace trainctl::service
