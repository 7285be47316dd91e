#pragma once
// The exact processes a run starts: argv, environment and working directory of every task
// (docs/engines.md has the contract). Built by one function, used both by the engine and by
// `trainctl validate` / `submit --dry-run`, so the plan printed is the plan run.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/spec/job_spec.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::spec {

// What a task is in its run: the single process of a run without a backend, a
// parameter-server task type, or an MPI / PyTorch rank.
namespace task_role {
inline constexpr std::string_view k_main = "main";
inline constexpr std::string_view k_chief = "chief";
inline constexpr std::string_view k_worker = "worker";
inline constexpr std::string_view k_ps = "ps";
inline constexpr std::string_view k_evaluator = "evaluator";
inline constexpr std::string_view k_rank = "rank";
inline constexpr std::string_view k_launcher = "launcher";  // mpirun
}  // namespace task_role

// The folder of a run (<run>/python) that holds the `trainctl` Python module (docs/metrics.md):
// the supervisor writes it there before the first task starts, and every task has it on its
// PYTHONPATH.
inline constexpr std::string_view k_python_library_dir = "python";

struct TaskLaunch {
  std::string name;               // "main", "chief-0", "worker-1", "ps-0", "evaluator-0", "rank-3"
  std::string role;               // a task_role value
  int index = 0;                  // within its role: worker-1 has index 1; rank-3 has index 3
  int node_rank = 0;              // the virtual node the task runs on (0..node_count-1)
  std::vector<std::string> argv;  // argv[0] is absolute, or a name looked up on the env's PATH
  std::vector<std::pair<std::string, std::string>> env;  // the complete environment, sorted
  std::string cwd;                // absolute working directory
  std::string log_file;           // absolute path: <run>/logs/<name>.log
  // MPI ranks: started by the plan's launcher (mpirun, through `trainctld rank`), not by the
  // supervisor. `argv` is then the user command the rank runs and `env` what the rank sees,
  // including the OMPI_COMM_WORLD_* variables Open MPI sets on a single host; the rank reports
  // its state in <status_dir>/<name>.json.
  bool started_by_launcher = false;
};

// How the run's outcome follows from its tasks' (service/engines/outcome_policy.hpp).
namespace success_rule {
inline constexpr std::string_view k_all_tasks = "all_tasks";      // none, mpi, pytorch
inline constexpr std::string_view k_chief = "chief";              // parameter_server (default)
inline constexpr std::string_view k_all_workers = "all_workers";  // parameter_server
}  // namespace success_rule

// A run's working directory (LaunchPlan::working_dir) and what it is made of.
struct WorkingDirectory {
  std::string path;         // <run>/work; empty: none
  std::string source_dir;   // the snapshot, mirrored into `path` as links to its files
  std::string outputs_dir;  // linked as <path>/outputs
  std::string logs_dir;     // linked as <path>/logs
};

// A node of a multi-node run, as the engine placed it (RunLayout::nodes, LaunchPlan::nodes).
struct NodePlace {
  std::string host;        // its name: mpirun's -H (Slurm's node name)
  std::string address;     // the address its tasks listen on: TF_CONFIG, MASTER_ADDR
  std::vector<int> ports;  // free on that node when asked, for the tasks that listen there
};

// A Python environment for pip_packages that each host of a run builds before its tasks start
// (an engine that runs nodes on hosts of their own, where the service cannot build it: Slurm).
// The tasks' argv name `interpreter`; the host puts its environment's interpreter in its place.
struct NodeEnvironment {
  std::string interpreter;
  std::vector<std::string> pip_packages;
  // Where pip looks (the service's --pip-index-url, --pip-find-links, --pip-no-index).
  std::string index_url;
  std::vector<std::string> find_links;
  bool no_index = false;
};

struct LaunchPlan {
  std::string run_id;
  std::string backend = "none";           // spec::to_string(Backend)
  std::string success = "all_tasks";      // a success_rule value
  std::vector<TaskLaunch> tasks;          // in task_names() order, the launcher excluded
  std::optional<TaskLaunch> launcher;     // mpi: the mpirun process (name "mpirun")
  std::string status_dir;                 // <run>/tasks: where launcher-started tasks report
  int64_t max_duration_seconds = 0;       // 0: no limit
  int64_t grace_seconds = 10;             // SIGTERM -> SIGKILL on cancel, timeout and policy stop
  int64_t start_timeout_seconds = 60;     // every task must have started by then (start barrier)
  // Directories the run's processes must not change: the snapshot and every input mounted
  // (mode: mount), whose files are hard links into the blob store. Their permission bits say
  // read-only; a supervisor running as root also bind-mounts them read-only in a mount
  // namespace of the run's own, since root ignores permission bits.
  std::vector<std::string> read_only_dirs;
  // Where every task starts (each task's cwd): a writable directory the engine makes before the
  // first task starts and removes when the run's tasks have ended. It holds the source files as
  // links to the read-only snapshot (nothing is copied), real folders (so scratch files can be
  // written anywhere and are thrown away), and `outputs` and `logs`, which are the run's own
  // collected folders. Empty in a plan written before working directories: tasks start in cwd.
  WorkingDirectory working_dir;
  // Where the run's nodes are, by node rank, once an engine placed them on hosts of their own;
  // empty: every node is this host (127.0.0.1, mpirun -H localhost).
  std::vector<NodePlace> nodes;
  // >= 0: this plan is one node's part of a multi-node run (node_part_of): only that node's
  // tasks, run by a supervisor on that node; the launcher, if any, runs on node 0.
  int node = -1;
  // The environment the hosts build first; nullopt: the tasks' interpreter is ready.
  std::optional<NodeEnvironment> node_environment;

  nlohmann::json to_json() const;
  static Result<LaunchPlan> from_json(const nlohmann::json& json);
};

// Gives `count` distinct TCP ports of 127.0.0.1 that were free when asked (TF_CONFIG addresses,
// MASTER_PORT). util::free_loopback_ports is the real one; tests may pass their own.
using PortAllocator = std::function<Result<std::vector<int>>(size_t count)>;

// Where a run lives and what it inherits. The CLI's dry run fills it with placeholders
// ("<run>/snapshot") since it has no run directory.
struct RunLayout {
  std::string run_id;
  std::string run_dir;
  std::string snapshot_dir;  // <run>/snapshot
  std::string outputs_dir;   // <run>/outputs
  std::string logs_dir;      // <run>/logs
  std::string inputs_dir;    // <run>/inputs, a folder per input; empty: run_dir + "/inputs"
  std::string working_dir;   // every task's cwd (LaunchPlan::working_dir); empty: run_dir + "/work"
  std::string interpreter = "/usr/bin/python3";  // for .py entry scripts: Debian's, which sees Debian's Python packages
  // The variables passed through from the service's own environment (PATH, HOME, LANG, ...);
  // never the service token.
  std::vector<std::pair<std::string, std::string>> base_env;
  int64_t grace_seconds = 10;
  // MPI: the mpirun to start (a name looked up on PATH, or absolute) and the program that wraps
  // each rank (`<rank_wrapper> rank ...`: trainctld itself; "<trainctld>" in a dry run).
  std::string mpirun = "mpirun";
  std::string rank_wrapper = "<trainctld>";
  // Ports for TF_CONFIG and MASTER_PORT; empty means util::free_loopback_ports.
  PortAllocator allocate_ports;
  // The GPUs of each node, by node rank: the value of CUDA_VISIBLE_DEVICES for that node's tasks
  // ("0,1"; "" hides every GPU). Empty: CUDA_VISIBLE_DEVICES is not set. MPI ranks get theirs
  // from the rank wrapper (`--node-gpus "0,1;2,3"`), since mpirun passes one environment.
  std::vector<std::string> node_gpus;
  // Hosts of their own for the run's nodes, by node rank (an engine that runs the nodes on
  // several machines gives them); empty: every node is this host. When given, the ports of the
  // tasks that listen come from their own node's `ports` (in plan order), not allocate_ports.
  std::vector<NodePlace> nodes;
};

// The GPUs each of node_count nodes holds (RunLayout::node_gpus) on a target with
// `gpus_per_node` GPUs per node: node r, on slot nodes[r], gets GPUs slot*g .. slot*g+g-1; with
// use_gpu false every node gets "" (no GPU visible). Empty when the target has no GPUs.
std::vector<std::string> node_gpu_lists(const std::vector<int>& nodes, int gpus_per_node,
                                        bool use_gpu);

// The variables a run inherits from the service's own environment (RunLayout::base_env):
// PATH, HOME, USER, LOGNAME, LANG, TZ, TMPDIR, TERM and LC_*; nothing else, never a token.
bool is_inherited_variable(std::string_view name);
// The same rule in words, for `submit --dry-run`, which cannot know the service's values.
inline constexpr std::string_view k_inherited_variables_text =
    "PATH HOME USER LOGNAME LANG TZ TMPDIR TERM LC_*";

// Builds the plan for a validated spec (docs/job-spec.md, Distributed training, has the shapes).
// Every `${{inputs.NAME}}` in script_params and environment_variables values becomes
// `<inputs_dir>/NAME`. Each task's environment is base_env, then TRAINCTL_RUN_ID,
// TRAINCTL_OUTPUTS_DIR, TRAINCTL_TASK, TRAINCTL_NODE_RANK, TRAINCTL_LOCAL_RANK and
// TRAINCTL_LOCAL_SIZE (the task's place among the tasks of its node), PYTHONUNBUFFERED=1,
// TRAINCTL_METRICS_FILE=<logs_dir>/<task>.metrics.jsonl, PYTHONPATH=<run_dir>/python (after the
// spec's own PYTHONPATH when it sets one), one
// TRAINCTL_INPUT_<NAME> = <inputs_dir>/NAME per input (NAME upper-cased, every character but
// letters and digits made '_'), then the backend's (TF_CONFIG; MASTER_ADDR,
// MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, NODE_RANK, LOCAL_WORLD_SIZE; OMPI_COMM_WORLD_*),
// then the spec's environment_variables (which win), and never any TRAINCTL_TOKEN.
// CUDA_VISIBLE_DEVICES is the task's node's entry of layout.node_gpus, when that is not empty.
// Every task starts in the working directory; local ranks and sizes count the tasks of one node,
// so LOCAL_RANK / OMPI_COMM_WORLD_LOCAL_RANK index that node's CUDA_VISIBLE_DEVICES.
//  - none: one task "main" on node 0.
//  - parameter_server: chief-0 (unless chief: false), ps-0.., worker-0.., evaluator-0 (if asked),
//    placed round-robin over node_count nodes in that order; every training task gets the same
//    cluster with a distinct free loopback port each; the evaluator gets that cluster and
//    {"type":"evaluator","index":0}. TF_CONFIG is compact JSON with "environment":"cloud".
//  - pytorch: rank-0..N-1, N = node_count x process_count_per_node, rank r on node
//    r / process_count_per_node; MASTER_ADDR=127.0.0.1 and one free MASTER_PORT; LOCAL_RANK =
//    r % process_count_per_node, LOCAL_WORLD_SIZE = process_count_per_node.
//  - mpi: the same ranks (started_by_launcher), whose OMPI_COMM_WORLD_LOCAL_RANK / _LOCAL_SIZE /
//    _NODE_RANK are per node as on separate hosts, and a launcher running mpirun with the
//    command line of docs/job-spec.md (backend mpi), every variable the run sets passed with -x, and
//    `<rank_wrapper> rank --status-dir <run>/tasks --logs-dir <run>/logs --ranks-per-node P --`
//    `<user argv>` as the
//    program; mpirun's own output goes to logs/mpirun.log.
Result<LaunchPlan> build_launch_plan(const JobSpec& spec, const RunLayout& layout);

// How many ports node `node_rank` of a run of `spec` listens on: what an engine asks that node
// for (NodePlace::ports).
size_t ports_needed_on_node(const JobSpec& spec, int node_rank);

// Node `node`'s part of a multi-node plan: its tasks (with their places in the whole run), the
// launcher only on node 0. Each part succeeds when all its tasks do (a parameter server waits to
// be stopped): the run's own success rule is the engine's to apply over every node's tasks. The
// ranks of an MPI launcher may start outside their node's mount namespace (under a daemon of the
// launcher's), so no part of an MPI run has read-only mounts (its files' permission bits remain).
LaunchPlan node_part_of(const LaunchPlan& plan, int node);

}  // namespace trainctl::spec
