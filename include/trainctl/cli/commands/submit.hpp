#pragma once
// `trainctl validate FILE` and `trainctl submit FILE`: a job spec to a launch plan, to a run.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/client/snapshot.hpp"
#include "trainctl/spec/job_spec.hpp"
#include "trainctl/spec/launch_plan.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

struct ValidateOptions {
  std::string file;
  std::vector<std::string> overrides;  // --set key=value
};

struct SubmitOptions {
  std::vector<std::string> files;       // one run per file and YAML document, or a batch
  std::vector<std::string> overrides;   // --set, for every run
  std::vector<std::string> matrix;      // --matrix KEY=V1,V2: a run per combination
  std::string from_file;                // --from-file FILE|-: a run per line of overrides
  std::string name;             // --name: the run's display name
  std::string idempotency_key;  // empty: a random one for this invocation
  bool dry_run = false;
  bool stream = false;
  bool wait = false;  // wait for the runs to end without following their logs
  bool cancel_on_interrupt = false;
};

// Whether the options make a batch (submit_batch.hpp) rather than one run: several files,
// --matrix or --from-file. One file of several YAML documents is a batch too.
bool is_batch(const SubmitOptions& options);

Result<void> validate(const ValidateOptions& options);
// Also: a file is given; --cancel-on-interrupt needs --stream or --wait; --dry-run excludes
// --stream and --wait, which exclude each other; a key follows api::validate_idempotency_key;
// --matrix entries are KEY=V1,V2,...
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

// As load_spec, parsing the text once, for `submit FILE`: nothing (no error) when the file holds
// more than one document, which `submit` takes as a batch (submit_batch.hpp).
Result<std::optional<LoadedSpec>> load_spec_or_batch(const std::string& file,
                                                     const std::vector<std::string>& overrides);

// The pieces of load_spec, for the documents of a batch. The text of `file`: not_found when it
// does not exist; invalid_spec when it is not a regular file or is over the size limit.
Result<std::string> read_spec_file(const std::string& file);
// `spec` of `file` with its source directory, which must exist and hold the entry script
// (invalid_spec otherwise).
Result<LoadedSpec> locate_source(const std::string& file, spec::JobSpec spec);

// Scans the source directory (with its hash cache) and uploads what the service lacks, with a
// progress bar; then creates the snapshot.
Result<client::UploadReport> upload_source(client::ApiClient& client, Session& session,
                                           const std::filesystem::path& source_directory);

// "run run-x Failed in 1.2s (exit code 3): task main exited with code 3": how a run ended.
std::string describe_outcome(const nlohmann::json& run);

// The plan `validate` and `submit --dry-run` print, made offline: run directory "<run>",
// snapshot "<run>/snapshot", the default interpreter, mpirun and rank wrapper ("<trainctld>"),
// and loopback ports that are free now (the service picks its own when the run starts).
Result<spec::LaunchPlan> placeholder_launch_plan(const spec::JobSpec& spec);

// The backend, the success rule, then the MPI launcher (if any) and every task: its role, node,
// how it is started, command line, working directory, log and environment (TF_CONFIG included).
Description describe_launch_plan(const spec::LaunchPlan& plan);

Result<int> run_validate(Session& session, const ValidateOptions& options);
// Exit code: 0, or with --stream or --wait the run's outcome; 130 on Ctrl-C. A batch is
// run_batch_submit's.
Result<int> run_submit(Session& session, const SubmitOptions& options);

}  // namespace trainctl::cli
