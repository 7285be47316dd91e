#pragma once
// Helpers shared by the local engine's integration tests: a run directory as the service
// prepares it, launch plans built by hand (so the engine is tested without the spec layer), and
// waiting for a run's state with a generous deadline.
#include <fmt/core.h>
#include <sys/types.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/service_fixture.hpp"
#include "trainctl/service/engine.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/service/process_tree.hpp"
#include "trainctl/spec/launch_plan.hpp"

namespace trainctl::testing::engine {

namespace fs = std::filesystem;
using service::Engine;
using service::RunObservation;
using Phase = service::RunObservation::Phase;

inline constexpr auto k_generous_deadline = std::chrono::seconds(60);
inline constexpr auto k_poll_interval = std::chrono::milliseconds(20);
inline constexpr const char* k_python = "/usr/bin/python3";

inline std::unique_ptr<Engine> make_engine() {
  return service::make_local_engine({.supervisor_program = TRAINCTLD_BINARY});
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Polls `condition` until it holds or the generous deadline passes.
template <typename Condition>
bool eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + k_generous_deadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(k_poll_interval);
  }
  return true;
}

// Gone, or dead and waiting for its parent to collect it.
inline bool process_gone(pid_t pid) {
  const auto info = service::read_process_info(pid);
  return !info || info->is_zombie();
}

// A run directory as the service prepares it, and plans for its tasks.
class RunDirectory {
 public:
  RunDirectory() {
    for (const char* sub : {"snapshot", "outputs", "logs"}) fs::create_directories(m_dir / sub);
  }
  // A run a test left going (it failed half-way, say) is canceled: no test leaves processes.
  ~RunDirectory() {
    auto engine = make_engine();
    const auto run = engine->observe(m_dir);
    if (!run || run->phase == Phase::finished || !engine->cancel(m_dir)) return;
    eventually([&] {
      const auto now = engine->observe(m_dir);
      return !now || now->phase == Phase::finished;
    });
  }
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const fs::path& path() const { return m_dir; }
  fs::path snapshot() const { return m_dir / "snapshot"; }
  fs::path logs() const { return m_dir / "logs"; }
  fs::path status_dir() const { return m_dir / "tasks"; }
  fs::path log_of(const std::string& task) const { return logs() / (task + ".log"); }

  // A task named `name`; role and index follow from it ("worker-1": worker, 1; "main": main, 0).
  spec::TaskLaunch task(std::string name, std::vector<std::string> argv) const {
    spec::TaskLaunch task;
    task.name = name;
    task.argv = std::move(argv);
    task.env = {{"PATH", "/usr/bin:/bin"}, {"TRAINCTL_RUN_ID", "run-engine-test"}};
    task.cwd = snapshot().string();
    task.log_file = log_of(name).string();
    const auto dash = name.rfind('-');
    task.role = dash == std::string::npos ? name : name.substr(0, dash);
    task.index = dash == std::string::npos ? 0 : std::stoi(name.substr(dash + 1));
    return task;
  }

  spec::LaunchPlan plan(std::vector<spec::TaskLaunch> tasks) const {
    spec::LaunchPlan plan;
    plan.run_id = "run-engine-test";
    plan.tasks = std::move(tasks);
    plan.grace_seconds = 1;
    return plan;
  }

  spec::LaunchPlan single(std::vector<std::string> argv) const {
    return plan({task("main", std::move(argv))});
  }

  fs::path write_script(const std::string& name, const std::string& text) const {
    const auto path = snapshot() / name;
    std::ofstream(path) << text;
    return path;
  }

 private:
  TempDir m_temp;
  fs::path m_dir = m_temp.path() / "run";
};

inline RunObservation observe_until(Engine& engine, const fs::path& run_dir,
                                    const std::function<bool(const RunObservation&)>& done) {
  RunObservation last;
  const bool reached = eventually([&] {
    const auto observation = engine.observe(run_dir);
    REQUIRE(observation.has_value());
    last = *observation;
    return done(last);
  });
  REQUIRE(reached);
  return last;
}

inline RunObservation wait_until_finished(Engine& engine, const fs::path& run_dir) {
  return observe_until(engine, run_dir,
                       [](const auto& run) { return run.phase == Phase::finished; });
}

inline RunObservation wait_until_running(Engine& engine, const fs::path& run_dir) {
  return observe_until(engine, run_dir,
                       [](const auto& run) { return run.phase != Phase::starting; });
}

inline service::engines::RunState state_of(const fs::path& run_dir) {
  auto state = service::engines::read_run_state(run_dir);
  REQUIRE(state.has_value());
  return *state;
}

// The task of `run` named `name`.
inline const service::TaskObservation& task_named(const RunObservation& run,
                                                  const std::string& name) {
  for (const auto& task : run.tasks) {
    if (task.name == name) return task;
  }
  FAIL("no task " << name);
  return run.tasks.front();
}

}  // namespace trainctl::testing::engine
