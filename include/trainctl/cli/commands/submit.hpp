#pragma once
// `trainctl validate FILE` and `trainctl submit FILE`: a job spec to a launch plan, to a run.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/spec/job_spec.hpp"
#include "trainctl/spec/launch_plan.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

struct ValidateOptions {
  std::string file;
  std::vector<std::string> overrides;  // --set key=value
};

struct SubmitOptions {
  std::string file;
  std::vector<std::string> overrides;
  std::string name;             // --name: the run's display name
  std::string idempotency_key;  // empty: a random one for this invocation
  bool dry_run = false;
  bool stream = false;
  bool cancel_on_interrupt = false;
};

Result<void> validate(const ValidateOptions& options);
// Also: --cancel-on-interrupt needs --stream; --dry-run excludes --stream; a key is 1-255
// printable characters.
Result<void> validate(const SubmitOptions& options);

// A parsed spec whose source directory and entry script exist.
struct LoadedSpec {
  spec::JobSpec spec;
  std::filesystem::path source_directory;  // absolute
};

// Reads and parses `file` with the overrides; source_directory is resolved against the spec
// file's folder. ErrorCode::invalid_spec with one "file:line:col: path: message" detail per
// problem.
Result<LoadedSpec> load_spec(const std::string& file, const std::vector<std::string>& overrides);

// The plan `validate` and `submit --dry-run` print, made offline: run directory "<run>",
// snapshot "<run>/snapshot", the default interpreter, mpirun and rank wrapper ("<trainctld>"),
// and loopback ports that are free now (the service picks its own when the run starts).
Result<spec::LaunchPlan> placeholder_launch_plan(const spec::JobSpec& spec);

// The backend, the success rule, then the MPI launcher (if any) and every task: its role, node,
// how it is started, command line, working directory, log and environment (TF_CONFIG included).
Description describe_launch_plan(const spec::LaunchPlan& plan);

Result<int> run_validate(Session& session, const ValidateOptions& options);
// Exit code: 0, or with --stream the run's outcome; 130 on Ctrl-C.
Result<int> run_submit(Session& session, const SubmitOptions& options);

}  // namespace trainctl::cli
