#pragma once
// Runs sweeps (docs/sweeps.md): a thread that, for every Running sweep, starts its next trials as
// ordinary runs (same queue, compute targets, retries and environments) while fewer than
// max_concurrent_trials of them are unfinished and fewer than its total were started, samples
// each trial's script params (sweep/samplers.hpp: the Bayesian sampler learns from the trials
// that finished with a value of the primary metric), and ends the sweep Completed once every
// trial has finished (or its max_duration passed and the trials it had have finished). Starting
// a trial is inserting its run, whose number is unique in the sweep: a restart of the service
// (kill -9 included) goes on from the trials the store has, never losing or repeating one.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/service/runs/run_manager.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/spec/sweep.hpp"

namespace trainctl::service {

struct SweepManagerOptions {
  // The longest wait between two passes over the Running sweeps; a pass also follows every
  // change the run manager records.
  std::chrono::milliseconds interval{250};
};

// How a trial did: its objective (the primary metric's last value), when it has one.
struct TrialOutcome {
  const RunRecord* run = nullptr;
  std::optional<double> objective;
};

class SweepManager {
 public:
  SweepManager(Store& store, RunManager& runs, SweepManagerOptions options = {});
  ~SweepManager();  // stops the thread
  SweepManager(const SweepManager&) = delete;
  SweepManager& operator=(const SweepManager&) = delete;

  void start();
  void stop();  // idempotent

  // Stores a new sweep (its payload validated, "sweep" included) and starts its first trials.
  Result<SweepRecord> create(const SweepRecord& draft);
  // Ends a Running sweep Canceled and cancels its unfinished trials; a sweep that has ended is
  // returned as it is.
  Result<SweepRecord> cancel(const std::string& workspace, const std::string& id);

 private:
  void loop();
  // One look at a Running sweep: stops trials its policy stops, starts what its limits allow,
  // ends it when every trial has ended.
  void advance(const SweepRecord& sweep);
  // Cancels the Running trials the sweep's early termination policy stops ("early
  // termination"); returns how many.
  int stop_trials_behind(const SweepRecord& record, const spec::Sweep& sweep,
                         const std::vector<RunRecord>& trials);
  Store& m_store;
  RunManager& m_runs;
  SweepManagerOptions m_options;
  std::mutex m_advance_mutex;  // one pass at a time: the loop's, create's, cancel's
  std::mutex m_mutex;  // guards m_stopping and m_sweep_made
  // Wakes the loop while no sweep runs: on stop() and when a sweep is made.
  std::condition_variable m_wakeup;
  bool m_stopping = false;
  bool m_sweep_made = false;
  std::thread m_thread;
};

// The trials with their objective, the best first (by the sweep's goal), those without one last
// in trial order.
std::vector<TrialOutcome> rank_trials(const spec::Sweep& sweep, const std::vector<RunRecord>& trials);

// The trial's script_params with each (name, value) of `values` set: a flag already there gets
// the value (replacing the argument after it, unless that is a flag), else both are appended.
std::vector<std::string> with_script_values(
    std::vector<std::string> script_params,
    const std::vector<std::pair<std::string, std::string>>& values);

}  // namespace trainctl::service
