#pragma once
// Drives runs through the lifecycle of DESIGN.md §5 (Queued -> Preparing -> Starting -> Running
// -> Finalizing -> outcome). A preparation thread materializes each queued run and hands it to
// the engine; a watcher thread observes every active run about every 50 ms and records what the
// engine reports. Waiters (log followers, `?wait=true`) block on change notifications instead of
// polling the store in a loop.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "trainctl/service/blob_store.hpp"
#include "trainctl/service/engine.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service {

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
  // The virtual nodes of the local compute target (DESIGN.md §6): a run asking for more is
  // refused at submit (`trainctld --local-max-nodes`).
  int local_max_nodes = 8;
};

struct CancelOutcome {
  RunRecord run;
  bool changed = false;  // false: the run had already finished (a no-op)
};

class RunManager {
 public:
  RunManager(Store& store, BlobStore& blobs, Engine& engine, RunManagerOptions options);
  ~RunManager();  // stops the threads; runs keep going under their supervisors
  RunManager(const RunManager&) = delete;
  RunManager& operator=(const RunManager&) = delete;

  // Re-attaches every run that is not finished (after a restart), then starts the threads.
  void start();
  // Wakes every waiter and stops the threads. Idempotent.
  void stop();
  bool stopping() const { return m_stopping.load(); }

  // Queues a newly created run for preparation.
  void submit(const RunRecord& run);
  // Queued/Preparing -> Canceled; Starting/Running/Finalizing -> CancelRequested and the engine
  // is asked to stop it; a finished run is returned unchanged.
  Result<CancelOutcome> cancel(const std::string& workspace, const std::string& run_id);

  std::filesystem::path run_dir(const std::string& run_id) const;
  int local_max_nodes() const { return m_options.local_max_nodes; }

  // A counter that moves on every recorded change and on every watcher tick with active runs
  // (new log bytes may have been written). wait_for_change returns once it differs from `seen`,
  // on stop(), or after `timeout`.
  uint64_t generation() const;
  void wait_for_change(uint64_t seen, std::chrono::milliseconds timeout) const;

 private:
  struct RunRef {
    std::string workspace;
    std::string id;
  };
  struct ActiveRun {
    std::string workspace;
    api::RunStatus status = api::RunStatus::Starting;
    nlohmann::json tasks = nlohmann::json::array();  // as last recorded
  };

  void preparation_loop();
  void watch_loop();
  void prepare(const RunRef& ref);
  // Preparing -> Starting -> engine.start; a failure is returned for the caller to record.
  Result<void> prepare_and_start(const RunRecord& run);
  Result<void> start_on_engine(const RunRecord& run, const spec::LaunchPlan& plan);
  void recover(const RunRecord& run);
  void observe_active_runs();
  // Records an engine observation; returns false once the run is finished (stop watching it).
  bool record_observation(const std::string& run_id, ActiveRun& active,
                          const RunObservation& observation);
  // Applies an update; a run that already finished (conflict) is left alone. Notifies waiters.
  void update(const std::string& run_id, const RunUpdate& update);
  void fail_run(const std::string& run_id, const std::string& reason);
  void notify_change();

  Store& m_store;
  BlobStore& m_blobs;
  Engine& m_engine;
  RunManagerOptions m_options;

  std::atomic<bool> m_stopping{false};
  mutable std::mutex m_mutex;  // guards the fields below
  mutable std::condition_variable m_changed;
  std::condition_variable m_work;        // the preparation thread's wakeup
  std::condition_variable m_watch_tick;  // the watcher's sleep, cut short by stop()
  uint64_t m_generation = 0;
  std::deque<RunRef> m_queue;                  // runs to prepare
  std::map<std::string, ActiveRun> m_active;  // runs the engine owns, by id
  // Serializes "Starting + engine.start" and the watcher's "Running" against cancel, so a cancel
  // never misses a start and CancelRequested is never set back to Running.
  std::mutex m_start_mutex;
  std::thread m_preparer;
  std::thread m_watcher;
};

// The service's own values of the variables a run inherits (spec::is_inherited_variable).
std::vector<std::pair<std::string, std::string>> allowlisted_environment();

}  // namespace trainctl::service
