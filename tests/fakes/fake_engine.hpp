#pragma once
// An engine that runs nothing, for unit tests of the run manager (ninja's CommandRunner fakes are
// the model): it records what it is asked (start, cancel, recover) and says of each run what the
// test tells it to (report), as a real engine would from its processes.
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "trainctl/service/engine.hpp"
#include "trainctl/service/engines/run_state.hpp"

namespace trainctl::testing {

class FakeEngine final : public service::Engine {
 public:
  explicit FakeEngine(bool queues_runs = false) : m_queues_runs(queues_runs) {}

  Result<void> start(const std::filesystem::path& run_dir, const spec::LaunchPlan& plan,
                     const service::ComputeRecord&) override {
    std::lock_guard lock(m_mutex);
    m_started.push_back(plan.run_id);
    m_plans[plan.run_id] = plan;
    service::RunObservation starting;
    starting.tasks = service::engines::pending_tasks(plan);
    m_observations[run_dir.filename().string()] = std::move(starting);
    return {};
  }
  Result<service::RunObservation> observe(const std::filesystem::path& run_dir) override {
    std::lock_guard lock(m_mutex);
    const auto found = m_observations.find(run_dir.filename().string());
    if (found == m_observations.end()) return fail(ErrorCode::not_found, "not started here");
    return found->second;
  }
  Result<void> cancel(const std::filesystem::path& run_dir) override {
    std::lock_guard lock(m_mutex);
    m_canceled.push_back(run_dir.filename().string());
    return {};
  }
  Result<service::RunObservation> recover(const std::filesystem::path& run_dir) override {
    return observe(run_dir);
  }
  bool queues_runs() const override { return m_queues_runs; }

  // What observe() says of `run_id` from now on.
  void report(const std::string& run_id, service::RunObservation observation) {
    std::lock_guard lock(m_mutex);
    m_observations[run_id] = std::move(observation);
  }
  // The run's plan as last started, with every task of it in `state`.
  service::RunObservation with_tasks(const std::string& run_id, const std::string& state) const {
    std::lock_guard lock(m_mutex);
    service::RunObservation observation;
    observation.tasks = service::engines::pending_tasks(m_plans.at(run_id));
    for (auto& task : observation.tasks) task.state = state;
    return observation;
  }
  std::vector<std::string> started() const {
    std::lock_guard lock(m_mutex);
    return m_started;
  }
  std::vector<std::string> canceled() const {
    std::lock_guard lock(m_mutex);
    return m_canceled;
  }

 private:
  bool m_queues_runs;
  mutable std::mutex m_mutex;
  std::vector<std::string> m_started;   // run ids, in the order started (a retry again)
  std::vector<std::string> m_canceled;  // run ids
  std::map<std::string, spec::LaunchPlan> m_plans;
  std::map<std::string, service::RunObservation> m_observations;  // by run id
};

}  // namespace trainctl::testing
