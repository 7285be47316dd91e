#pragma once
// The exact processes a run starts: argv, environment and working directory of every task
// (../shared/LAUNCH.md). Built by one function, used both by the engine and by
// `trainctl validate` / `submit --dry-run`, so the plan printed is the plan run.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/spec/job_spec.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::spec {

struct TaskLaunch {
  std::string name;               // "main" for a single-process run; "worker-1", "rank-3", ...
  int node_rank = 0;              // the virtual node the task runs on
  std::vector<std::string> argv;  // argv[0] is absolute, or a name looked up on the env's PATH
  std::vector<std::pair<std::string, std::string>> env;  // the complete environment, sorted
  std::string cwd;                // absolute working directory
  std::string log_file;           // absolute path: <run>/logs/<name>.log
};

struct LaunchPlan {
  std::string run_id;
  std::vector<TaskLaunch> tasks;
  int64_t max_duration_seconds = 0;  // 0: no limit
  int64_t grace_seconds = 10;        // SIGTERM -> SIGKILL on cancel and timeout

  nlohmann::json to_json() const;
  static Result<LaunchPlan> from_json(const nlohmann::json& json);
};

// Where a run lives and what it inherits. The CLI's dry run fills it with placeholders
// ("<run>/snapshot") since it has no run directory.
struct RunLayout {
  std::string run_id;
  std::string run_dir;
  std::string snapshot_dir;  // <run>/snapshot
  std::string outputs_dir;   // <run>/outputs
  std::string logs_dir;      // <run>/logs
  std::string interpreter = "/usr/bin/python3";  // for .py entry scripts (LAUNCH.md, Python)
  // The variables passed through from the service's own environment (PATH, HOME, LANG, ...);
  // never the service token (LAUNCH.md, Every process).
  std::vector<std::pair<std::string, std::string>> base_env;
  int64_t grace_seconds = 10;
};

// The variables a run inherits from the service's own environment (RunLayout::base_env):
// PATH, HOME, USER, LOGNAME, LANG, TZ, TMPDIR, TERM and LC_*; nothing else, never a token.
bool is_inherited_variable(std::string_view name);
// The same rule in words, for `submit --dry-run`, which cannot know the service's values.
inline constexpr std::string_view k_inherited_variables_text =
    "PATH HOME USER LOGNAME LANG TZ TMPDIR TERM LC_*";

// Builds the plan for a validated spec. The environment is base_env, then TRAINCTL_RUN_ID,
// TRAINCTL_OUTPUTS_DIR, TRAINCTL_TASK, TRAINCTL_NODE_RANK, PYTHONUNBUFFERED=1, then the spec's
// environment_variables (which win), and never any TRAINCTL_TOKEN.
Result<LaunchPlan> build_launch_plan(const JobSpec& spec, const RunLayout& layout);

}  // namespace trainctl::spec
