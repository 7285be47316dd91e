#pragma once
// The job spec (docs/job-spec.md): parsed from YAML (with positions, every problem reported at once),
// turned into the estimator payload the CLI POSTs, and validated again by the service from that
// payload. One set of rules serves both sides.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/spec/sweep.hpp"
#include "trainctl/spec/yaml_document.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::spec {

enum class Backend { none, mpi, parameter_server, pytorch };

std::string_view to_string(Backend backend);                  // "none", "mpi", ...
std::optional<Backend> parse_backend(std::string_view text);  // exact names only

// When a parameter-server run has succeeded: `chief` once the chief (or
// worker 0 without a chief) exits 0; `all_workers` once every worker (and the chief) exited 0.
// Either way the tasks still running (ps, evaluator, ...) are then stopped by policy.
enum class SuccessPolicy { chief, all_workers };

std::string_view to_string(SuccessPolicy policy);                        // "chief", "all_workers"
std::optional<SuccessPolicy> parse_success_policy(std::string_view text);  // exact names only

// The most tasks one run may have (workers + ps + chief + evaluator, or ranks): a count beyond
// it is a validation error, never clamped.
inline constexpr int k_max_tasks_per_run = 1024;

// YAML `estimator.distributed_training`; payload `estimator.distributed_training` with the same
// keys (docs/job-spec.md).
struct DistributedTraining {
  Backend backend = Backend::none;
  int worker_count = 0;            // parameter_server only; at least 1 there
  int parameter_server_count = 0;  // parameter_server only; at least 1 there
  bool chief = true;               // parameter_server only: a chief task (coordinator)
  bool evaluator = false;          // parameter_server only: an evaluator outside the cluster
  SuccessPolicy success_policy = SuccessPolicy::chief;  // parameter_server only
};

struct Estimator {
  std::string framework = "generic";  // tensorflow | pytorch | generic
  std::string framework_version;
  std::string source_directory = ".";  // as written; the CLI resolves it against the spec's folder
  std::string entry_script;            // relative to source_directory
  // script_params in order, flattened to argv: {"--lr", "0.1", "--verbose"}.
  std::vector<std::string> script_params;
  std::vector<std::string> pip_packages;
  std::vector<std::string> conda_packages;
  bool use_gpu = false;
  int node_count = 1;
  int process_count_per_node = 1;
  DistributedTraining distributed;
};

// A dataset made available to the run under <run>/inputs/<name> (docs/job-spec.md, Inputs): the
// service resolves `version` to a fixed number at submit; `mount` exposes the version's files
// read-only without copying them, `download` gives the run its own writable copy.
// `${{inputs.<name>}}` in a script_params or environment_variables value is that folder's path.
struct Input {
  std::string name;
  std::string dataset;
  std::string version = "latest";  // "latest" or a version number
  std::string mode = "mount";      // mount | download
};

// Bounds of the scheduling priority (JobSpec::priority) and of the retry budget.
inline constexpr int k_min_priority = -1000;
inline constexpr int k_max_priority = 1000;
inline constexpr int k_max_retries = 100;
// The longest time limit a run may have (3650 days): its milliseconds, added to a start time,
// stay far inside 64 bits.
inline constexpr int64_t k_max_run_duration_seconds = int64_t{3650} * 86400;

struct Limits {
  int64_t max_run_duration_seconds = 0;  // 0: no limit; at most k_max_run_duration_seconds
  // Attempts made again after a retryable failure (docs/job-spec.md, Retries): a run whose exit
  // code is 128-255 (ended by a signal, e.g. an OOM kill) or listed in retry_on_exit_codes is
  // started again while retries are left. 0..k_max_retries.
  int max_retries = 0;
  std::vector<int> retry_on_exit_codes;  // each 1..255; 1-127 are not retried otherwise
};

struct JobSpec {
  std::string experiment = "default";
  std::string name;               // display name; may be empty
  std::string compute = "local";
  // Queue order on the compute target: higher first, FIFO within one priority.
  // k_min_priority..k_max_priority.
  int priority = 0;
  Estimator estimator;
  std::vector<Input> inputs;                                               // in spec order
  std::vector<std::pair<std::string, std::string>> environment_variables;  // in spec order
  Limits limits;
  std::map<std::string, std::string> tags;
  // A hyperparameter sweep: the spec is the template of its trials (docs/sweeps.md).
  std::optional<Sweep> sweep;
};

struct ParseOptions {
  std::string file_name = "<spec>";         // used in error positions
  std::vector<std::string> overrides;       // --set key=value, applied before validation
  size_t max_spec_bytes = 1u << 20;         // RELIABILITY 7
};

// The tasks a run of `spec` has, in launch-plan order, without building the plan (no ports are
// taken): "main"; or "chief-0", "ps-0".., "worker-0".., "evaluator-0"; or "rank-0"..; followed by
// "mpirun" for backend mpi (the launcher, whose log is logs/mpirun.log). These are the names
// `logs --task` accepts.
std::vector<std::string> task_names(const JobSpec& spec);

// script_params as the run's params (docs/metrics.md): each flag ("--lr", "-v") with the
// argument after it as its value, or "" when the next argument is a flag too or there is none
// (a negative number such as "-1" is a value); an argument after no flag is "arg<index>".
// In argv order; a flag given twice keeps its last value.
std::vector<std::pair<std::string, std::string>> script_param_values(
    const std::vector<std::string>& script_params);

// The virtual nodes a run of `spec` occupies: estimator.node_count.
inline int node_count(const JobSpec& spec) { return spec.estimator.node_count; }

// Parses and validates a YAML job spec. On failure: ErrorCode::invalid_spec with one ErrorDetail
// per problem (file, line, column, field path, message), all of them, never only the first.
Result<JobSpec> parse_job_spec(std::string_view yaml_text, const ParseOptions& options = {});

// As parse_job_spec, for one document already parsed (one of a multi-document file:
// parse_yaml_documents): `overrides` are applied to it, then it is validated.
Result<JobSpec> job_spec_from_document(DocumentNode document,
                                       const std::vector<std::string>& overrides);

// The estimator payload POSTed to /v1/workspaces/{ws}/runs (docs/rest-api.md). "inputs" is
// written only when the spec has some.
nlohmann::json build_payload(const JobSpec& spec, const std::string& snapshot_id);

// The service's side: validates a payload by the same rules (details carry JSON field paths, no
// positions). ErrorCode::invalid_spec on failure.
//
// On its way from YAML to execve a spec is read three times, each for a reason:
//  1. parse_job_spec in the CLI: every problem with its file, line and column, before anything
//     is uploaded;
//  2. job_spec_from_payload when the service accepts a run: the service trusts no client (the
//     REST API is public, and the CLI may be older or newer than the service);
//  3. job_spec_from_payload when the service starts (or retries) the run from its stored
//     payload, which is all the store keeps: the rules run again because a payload stored by an
//     older trainctld must fail with a reason rather than run with a meaning it never had.
// The launch plan built from it is then only serialised (LaunchPlan::to_json / from_json) to the
// supervisor or a node agent, which check its shape, not the spec's rules.
Result<JobSpec> job_spec_from_payload(const nlohmann::json& payload);

}  // namespace trainctl::spec
