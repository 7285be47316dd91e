#pragma once
// An engine runs a prepared run somewhere and reports on it. Every engine (local, later mpi on
// remote hosts, slurm, kubernetes) implements these four operations; the service's run manager
// holds no engine-specific state, so everything needed to observe, cancel or recover a run is
// kept by the engine under the run directory (local) or by the external system (slurm, k8s).
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/api/run_status.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/spec/launch_plan.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service {

struct TaskObservation {
  std::string name;
  std::string role;    // spec::task_role: main | chief | worker | ps | evaluator | rank
  int index = 0;       // within its role
  int node_rank = 0;   // the node it runs on
  std::string host;    // the host of that node, when the engine placed nodes on hosts (Slurm)
  // "pending" | "running" | "exited" | "killed" | "failed_to_start" | "stopped" (ended because
  // the run was being stopped: by its success policy, by another task's failure, by a cancel or
  // by the time limit; exit_code / signal say how it ended). engines::task_state has the names.
  std::string state;
  std::optional<int> exit_code;
  std::optional<int> signal;  // the signal that ended it, if any
  int64_t pid = 0;
  int64_t started_at_ms = 0;
  int64_t ended_at_ms = 0;
  std::string message;  // e.g. "exec failed: No such file or directory"
};

struct RunObservation {
  enum class Phase { starting, running, finished };
  Phase phase = Phase::starting;
  // Meaningful when finished: Completed | Failed | Canceled | TimedOut.
  api::RunStatus outcome = api::RunStatus::Failed;
  std::optional<int> exit_code;  // of the run as a whole (the failing task's, or 0)
  std::string reason;            // for the user, when not Completed
  std::string first_failed_task;  // the task whose end failed the run; empty when none did
  std::vector<TaskObservation> tasks;  // in plan order; the launcher (mpirun) is not a task
  int64_t started_at_ms = 0;     // all tasks started (the start barrier passed)
  int64_t ended_at_ms = 0;
  // Where the engine placed the run, for the user ("Slurm job 42 on n1"); empty when there is
  // nothing to say (the local engine). Recorded with the run's Running event.
  std::string placement;
  // While the system behind the engine holds the run in a queue of its own (a pending Slurm
  // job): why, in that system's words ("Slurm job 42 is pending: Resources"). The run is then
  // Queued; empty otherwise.
  std::string waiting;
};

nlohmann::json to_json(const RunObservation& observation);

class Engine {
 public:
  virtual ~Engine() = default;
  // Starts the plan of a run of compute target `target` in run_dir (which holds snapshot/,
  // outputs/, logs/). Returns once something that outlives the service owns the run (a
  // supervisor, a Slurm job); a run that cannot start is reported by observe() as
  // finished/Failed with the reason.
  virtual Result<void> start(const std::filesystem::path& run_dir, const spec::LaunchPlan& plan,
                             const ComputeRecord& target) = 0;
  Result<void> start(const std::filesystem::path& run_dir, const spec::LaunchPlan& plan) {
    return start(run_dir, plan, ComputeRecord{});
  }
  // The run's state now. Cheap: called often for every active run.
  virtual Result<RunObservation> observe(const std::filesystem::path& run_dir) = 0;
  // Asks the run to stop: SIGTERM to every process it started, SIGKILL after the grace period.
  // Returns at once; observe() reports Canceled when it is over. A no-op on a finished run.
  virtual Result<void> cancel(const std::filesystem::path& run_dir) = 0;
  // After a service restart: re-attaches to a run this engine started. A run whose supervisor
  // is gone without a final state is reported finished/Failed, and what is left of it is killed.
  // not_found when start() was cut short before any supervisor took the run: it never ran.
  virtual Result<RunObservation> recover(const std::filesystem::path& run_dir) = 0;
  // Whether the system behind the engine queues runs and allocates their nodes itself (Slurm):
  // the service then holds no queue of its own for its targets.
  virtual bool queues_runs() const { return false; }
};

// The compute target type of the engine that runs processes on the service's own host.
inline constexpr std::string_view k_local_type = "local";

// The engines of a service by compute target type: "local", "slurm", ...
class Engines {
 public:
  void add(std::string type, Engine& engine) { m_engines.insert_or_assign(std::move(type), &engine); }
  // The engine of targets of `type`; nullptr when this service has none.
  Engine* find(std::string_view type) const {
    const auto found = m_engines.find(type);
    return found == m_engines.end() ? nullptr : found->second;
  }

 private:
  std::map<std::string, Engine*, std::less<>> m_engines;
};

struct LocalEngineOptions {
  // The program that runs `<supervisor_program> supervise <run_dir>`: trainctld itself.
  std::filesystem::path supervisor_program;
};

std::unique_ptr<Engine> make_local_engine(LocalEngineOptions options);

// The body of `trainctld supervise RUN_DIR`: drives one run to its end (see local_engine docs).
// Returns the process exit code.
int run_supervisor(const std::filesystem::path& run_dir);

}  // namespace trainctl::service
