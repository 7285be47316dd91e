// `trainctl validate FILE` and `trainctl submit FILE`.
#include "trainctl/cli/commands/submit.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "command_table.hpp"
#include "transfers.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/cli/commands/logs.hpp"
#include "trainctl/cli/commands/submit_batch.hpp"
#include "trainctl/cli/commands/sweep.hpp"
#include "trainctl/cli/resources.hpp"
#include "trainctl/client/snapshot.hpp"
#include "trainctl/spec/yaml_document.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/random.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Result<void> validate_overrides(const std::vector<std::string>& overrides) {
  for (const auto& entry : overrides) {
    if (entry.find('=') == std::string::npos || entry.front() == '=') {
      return fail(ErrorCode::usage,
                  "--set {}: expected key=value (e.g. --set estimator.node_count=2)", entry);
    }
  }
  return {};
}

Error spec_error(const std::string& file, std::string path, std::string message) {
  return Error{ErrorCode::invalid_spec,
               fmt::format("{} is not valid", file),
               {ErrorDetail{.path = std::move(path), .message = std::move(message), .file = file}}};
}

// An argument as a POSIX shell would need it quoted, for display.
std::string shell_quote(const std::string& arg) {
  if (!arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789@%_-+=:,./<>") == std::string::npos) {
    return arg;
  }
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& arg : argv) {
    if (!line.empty()) line += ' ';
    line += shell_quote(arg);
  }
  return line;
}

// When a run of the plan has succeeded, in words, for a LaunchPlan::success value.
std::string success_text(std::string_view rule) {
  if (rule == spec::success_rule::k_chief) {
    return "the chief (worker 0 without a chief) exits 0; the other tasks are then stopped";
  }
  if (rule == spec::success_rule::k_all_workers) {
    return "the chief and every worker exit 0; the other tasks are then stopped";
  }
  return "every task exits 0";
}

// Whether the plan's environments hold loopback ports (TF_CONFIG, MASTER_PORT), which the
// service picks again when the run starts.
bool uses_ports(const spec::LaunchPlan& plan) {
  return plan.backend == spec::to_string(spec::Backend::parameter_server) ||
         plan.backend == spec::to_string(spec::Backend::pytorch);
}

// How a task is started when the supervisor does not start it itself: "by mpirun through
// trainctld rank"; empty otherwise.
std::string started_by(const spec::LaunchPlan& plan, const spec::TaskLaunch& task) {
  if (!task.started_by_launcher || !plan.launcher) return {};
  return fmt::format("by {} through trainctld rank", plan.launcher->name);
}

// One process of the plan: how it is started (when not by the supervisor), its command line,
// directory, log and environment.
Description::Section process_section(std::string title, const spec::TaskLaunch& process,
                                     const std::string& started) {
  Description::Section section{.title = std::move(title), .headers = {}, .rows = {}};
  if (!started.empty()) section.rows.push_back({"started:", started});
  section.rows.push_back({"command:", command_line(process.argv)});
  section.rows.push_back({"cwd:", process.cwd});
  section.rows.push_back({"log:", process.log_file});
  section.rows.push_back({"environment:"});
  for (const auto& [name, value] : process.env) {
    section.rows.push_back({fmt::format("  {}={}", name, value)});
  }
  section.rows.push_back(
      {fmt::format("  (and trainctld's own {}, when set)", spec::k_inherited_variables_text)});
  return section;
}

Description describe_dry_run(const json& payload, const spec::LaunchPlan& plan) {
  Description description = describe_launch_plan(plan);
  Description::Section section{.title = "Payload", .headers = {}, .rows = {}};
  std::istringstream lines(payload.dump(2));
  for (std::string line; std::getline(lines, line);) section.rows.push_back({line});
  description.sections.insert(description.sections.begin(), std::move(section));
  return description;
}

// Follows the run's logs to its end; Ctrl-C detaches, or cancels with --cancel-on-interrupt.
Result<int> stream_run(client::ApiClient& client, Session& session, const SubmitOptions& options,
                       const std::string& run_id) {
  auto& printer = session.printer();
  const auto status = [&] {
    InterruptScope interrupt_scope;  // ends before the cancel, which must not be aborted
    return print_logs(
        client, printer, session.workspace(),
        LogsOptions{.run_id = run_id, .task = {}, .rank = {}, .follow = true, .attempt = {}});
  }();
  if (status) {
    if (auto run = client.get_run(session.workspace(), run_id)) printer.notice(describe_outcome(*run));
    return api::exit_code_for_outcome(*status);
  }
  if (status.error().code != ErrorCode::interrupted) return fail(status.error());
  if (options.cancel_on_interrupt) {
    if (auto canceled = client.cancel_run(session.workspace(), run_id); !canceled) {
      return fail(canceled.error());
    }
    printer.notice(fmt::format("canceled run {}", run_id));
  } else {
    printer.notice(fmt::format("detached; the run goes on: trainctl logs {} -f", run_id));
  }
  return exit_code::k_interrupted;
}

}  // namespace

Result<client::SnapshotScan> scan_source(Session& session, const fs::path& source_directory) {
  auto scan = client::scan_source_directory(
      source_directory,
      client::ScanOptions{.limits = {},
                          .hash_cache_file = hash_cache_file(session, source_directory)});
  if (!scan) return fail(scan.error());
  for (const auto& warning : scan->warnings) session.printer().warning(warning);
  return scan;
}

Result<client::UploadReport> upload_source(client::ApiClient& client, Session& session,
                                           const fs::path& source_directory) {
  auto scan = scan_source(session, source_directory);
  if (!scan) return fail(scan.error());
  auto report = client::upload_snapshot(
      client, session.workspace(), *scan,
      [&](uint64_t done, uint64_t total) { session.printer().progress("uploading", done, total); });
  session.printer().end_progress();
  return report;
}

// "run run-x Failed in 1.2s (exit code 3): task main exited with code 3": how a streamed run
// ended, for stderr, since the log alone does not say.
std::string describe_outcome(const json& run) {
  std::string line = fmt::format("run {} {}", run.value("id", ""), run.value("status", ""));
  if (const auto duration = run.find("duration_ms"); duration != run.end() && duration->is_number()) {
    line += " in " + util::format_duration_ms(duration->get<int64_t>());
  }
  if (run.value("status", "") == "Completed") return line;
  if (const auto code = run.find("exit_code"); code != run.end() && code->is_number()) {
    line += fmt::format(" (exit code {})", code->get<int>());
  }
  if (const auto reason = run.value("failure_reason", ""); !reason.empty()) line += ": " + reason;
  return line;
}

bool is_batch(const SubmitOptions& options) {
  return options.files.size() > 1 || !options.matrix.empty() || !options.from_file.empty();
}

Result<void> validate(const ValidateOptions& options) {
  if (options.file.empty()) return fail(ErrorCode::usage, "a job spec file is required");
  return validate_overrides(options.overrides);
}

Result<void> validate(const SubmitOptions& options) {
  if (options.files.empty()) return fail(ErrorCode::usage, "a job spec file is required");
  for (const auto& file : options.files) {
    if (file.empty()) return fail(ErrorCode::usage, "a job spec file name is empty");
  }
  if (auto valid = validate_overrides(options.overrides); !valid) return valid;
  if (auto matrix = matrix_sets(options.matrix); !matrix) return fail(matrix.error());
  if (options.cancel_on_interrupt && !options.stream && !options.wait) {
    return fail(ErrorCode::usage, "--cancel-on-interrupt needs --stream or --wait");
  }
  if (options.stream && options.wait) {
    return fail(ErrorCode::usage, "--stream waits for the runs already; give one of them");
  }
  if (options.dry_run && (options.stream || options.wait)) {
    return fail(ErrorCode::usage, "--dry-run submits nothing, so it cannot --stream or --wait");
  }
  if (!options.name.empty()) {
    if (auto valid = api::validate_name("run name", options.name); !valid) return valid;
  }
  if (!options.idempotency_key.empty()) {
    if (auto valid = api::validate_idempotency_key(options.idempotency_key); !valid) {
      return fail(ErrorCode::usage, "--idempotency-key: {}", valid.error().message);
    }
  }
  return {};
}

Result<std::string> read_spec_file(const std::string& file) {
  // Looked at before it is opened: a FIFO would block the open and the read, and a spec over
  // the size limit is refused without being read.
  const size_t max_bytes = spec::YamlLimits{}.max_bytes;
  std::error_code error;
  const auto status = fs::status(file, error);
  if (status.type() == fs::file_type::not_found) {
    return fail(ErrorCode::not_found, "{} does not exist", file);
  }
  if (!error && status.type() != fs::file_type::regular) {
    return fail(spec_error(file, "", "is not a regular file (a directory, FIFO or device): give the "
                                     "path of a YAML job spec"));
  }
  if (const auto size = fs::file_size(file, error); !error && size > max_bytes) {
    return fail(spec_error(file, "", fmt::format("is {} bytes; a job spec is at most {} bytes (1 MiB)",
                                                 size, max_bytes)));
  }
  return util::read_file(file, max_bytes + 1);
}

Result<LoadedSpec> load_spec(const std::string& file, const std::vector<std::string>& overrides) {
  auto text = read_spec_file(file);
  if (!text) return fail(text.error());
  auto spec =
      spec::parse_job_spec(*text, spec::ParseOptions{.file_name = file, .overrides = overrides});
  if (!spec) return fail(spec.error());
  return locate_source(file, std::move(*spec));
}

Result<std::optional<LoadedSpec>> load_spec_or_batch(const std::string& file,
                                                     const std::vector<std::string>& overrides) {
  auto text = read_spec_file(file);
  if (!text) return fail(text.error());
  // One parse: a text of one document is the spec; more make a batch. Anything else (empty, only
  // `---`, malformed) goes to parse_job_spec, which says what is wrong.
  auto stream = spec::parse_yaml_stream(*text, file);
  if (stream && stream->documents.size() > 1) return std::optional<LoadedSpec>{};
  auto spec = stream && stream->count == 1 && stream->documents.size() == 1
                  ? spec::job_spec_from_document(std::move(stream->documents.front()), overrides)
                  : spec::parse_job_spec(*text, spec::ParseOptions{.file_name = file,
                                                                   .overrides = overrides});
  if (!spec) return fail(spec.error());
  auto loaded = locate_source(file, std::move(*spec));
  if (!loaded) return fail(loaded.error());
  return std::optional<LoadedSpec>(std::move(*loaded));
}

Result<LoadedSpec> locate_source(const std::string& file, spec::JobSpec spec) {
  std::error_code ignored;
  const fs::path spec_dir = fs::absolute(fs::path(file), ignored).parent_path();
  const fs::path source = (spec_dir / spec.estimator.source_directory).lexically_normal();
  if (!fs::is_directory(source, ignored)) {
    return fail(spec_error(file, "estimator.source_directory",
                           fmt::format("directory {} does not exist", source.string())));
  }
  if (!fs::is_regular_file(source / spec.estimator.entry_script, ignored)) {
    return fail(spec_error(
        file, "estimator.entry_script",
        fmt::format("{} is not a file in {}", spec.estimator.entry_script, source.string())));
  }
  return LoadedSpec{std::move(spec), source};
}

Result<spec::LaunchPlan> placeholder_launch_plan(const spec::JobSpec& spec) {
  spec::RunLayout layout;  // the default interpreter and grace period
  layout.run_id = "<run-id>";
  layout.run_dir = "<run>";
  layout.snapshot_dir = "<run>/snapshot";
  layout.outputs_dir = "<run>/outputs";
  layout.logs_dir = "<run>/logs";
  return spec::build_launch_plan(spec, layout);
}

Description describe_launch_plan(const spec::LaunchPlan& plan) {
  Description description;
  description.fields.emplace_back("Backend", plan.backend);
  if (plan.success != spec::success_rule::k_all_tasks) {
    description.fields.emplace_back("Succeeds when", success_text(plan.success));
  }
  if (plan.max_duration_seconds > 0) {
    description.fields.emplace_back("Max duration",
                                    util::format_duration_ms(plan.max_duration_seconds * 1000));
  }
  if (uses_ports(plan)) {
    description.fields.emplace_back(
        "Ports", "chosen when the run starts; these were free when this plan was printed");
  }
  if (plan.launcher) {
    description.sections.push_back(process_section(
        fmt::format("Launcher {} (node {})", plan.launcher->name, plan.launcher->node_rank),
        *plan.launcher, {}));
  }
  for (const auto& task : plan.tasks) {
    description.sections.push_back(process_section(
        fmt::format("Task {} ({}, node {})", task.name, task.role, task.node_rank), task,
        started_by(plan, task)));
  }
  return description;
}

json sweep_json(const spec::Sweep& sweep) {
  json space = json::array();
  for (const auto& parameter : sweep.search_space) {
    json entry{{"name", parameter.name}, {"type", spec::to_string(parameter.type)}};
    if (parameter.type == spec::ParameterType::choice) {
      entry["values"] = parameter.values;
    } else if (parameter.type == spec::ParameterType::normal) {
      entry["mu"] = parameter.mu;
      entry["sigma"] = parameter.sigma;
    } else {
      entry["min"] = parameter.min;
      entry["max"] = parameter.max;
      if (parameter.q > 0) entry["q"] = parameter.q;
    }
    if (const auto values = spec::grid_values(parameter)) entry["grid_values"] = values->size();
    space.push_back(std::move(entry));
  }
  return {{"sampling", spec::to_string(sweep.sampling)},
          {"trials", spec::total_trials(sweep)},
          {"grid_size", spec::grid_size(sweep) ? json(*spec::grid_size(sweep)) : json(nullptr)},
          {"max_concurrent_trials", sweep.max_concurrent_trials},
          {"primary_metric", sweep.primary_metric},
          {"goal", spec::to_string(sweep.goal)},
          {"early_termination", spec::to_string(sweep.early_termination.policy)},
          {"search_space", std::move(space)}};
}

// "loguniform 0.01 .. 100", "choice of rbf, poly", "randint 1 .. 5 (5 values)".
std::string parameter_range(const spec::SearchParameter& parameter) {
  using spec::ParameterType;
  std::string text;
  switch (parameter.type) {
    case ParameterType::choice:
      text = fmt::format("choice of {}", fmt::join(parameter.values, ", "));
      break;
    case ParameterType::normal:
      text = fmt::format("normal, mu {} sigma {}", parameter.mu, parameter.sigma);
      break;
    default:
      text = fmt::format("{} {} .. {}", spec::to_string(parameter.type), parameter.min,
                         parameter.max);
      if (parameter.q > 0) text += fmt::format(" in steps of {}", parameter.q);
  }
  if (parameter.type != ParameterType::choice) {
    if (const auto values = spec::grid_values(parameter)) {
      text += fmt::format(" ({} values)", values->size());
    }
  }
  return text;
}

Description::Section sweep_section(const spec::Sweep& sweep) {
  Description::Section section{.title = "Sweep", .headers = {}, .rows = {}};
  const auto grid = spec::grid_size(sweep);
  std::string trials = fmt::format("{}", spec::total_trials(sweep));
  if (sweep.sampling == spec::Sampling::grid) {
    trials += fmt::format(" (the grid has {} points)", grid.value_or(0));
  }
  section.rows.push_back({"sampling:", std::string(spec::to_string(sweep.sampling))});
  section.rows.push_back({"trials:", trials});
  section.rows.push_back({"at once:", std::to_string(sweep.max_concurrent_trials)});
  section.rows.push_back({"objective:", fmt::format("{} {}", spec::to_string(sweep.goal),
                                                    sweep.primary_metric)});
  if (sweep.early_termination.policy != spec::TerminationPolicy::none) {
    section.rows.push_back({"early termination:",
                            std::string(spec::to_string(sweep.early_termination.policy))});
  }
  for (const auto& parameter : sweep.search_space) {
    section.rows.push_back({fmt::format("{}:", parameter.name), parameter_range(parameter)});
  }
  return section;
}

// The formats validate takes are checked before it runs (format_rules.cpp).
Result<int> run_validate(Session& session, const ValidateOptions& options) {
  auto loaded = load_spec(options.file, options.overrides);
  if (!loaded) return fail(loaded.error());
  auto plan = placeholder_launch_plan(loaded->spec);
  if (!plan) return fail(plan.error());
  session.printer().message(fmt::format("{} is valid", options.file));
  json document{{"file", options.file}, {"valid", true}, {"launch_plan", plan->to_json()}};
  Description description = describe_launch_plan(*plan);
  if (loaded->spec.sweep) {
    document["sweep"] = sweep_json(*loaded->spec.sweep);
    description.sections.insert(description.sections.begin(), sweep_section(*loaded->spec.sweep));
  }
  session.printer().print_document(document, description);
  return exit_code::k_success;
}

Result<int> run_submit(Session& session, const SubmitOptions& options) {
  if (options.dry_run) {
    using enum OutputFormat;
    if (auto accepted = accept_formats(session.printer().options().format,
                                       {table, wide, json, yaml, tsv, jsonpath, custom_columns},
                                       "submit --dry-run", "prints launch plans, which have no name");
        !accepted) {
      return fail(accepted.error());
    }
  }
  if (is_batch(options)) return run_batch_submit(session, options);
  const std::string& file = options.files.front();
  auto single = load_spec_or_batch(file, options.overrides);
  if (!single) return fail(single.error());
  if (!*single) return run_batch_submit(session, options);  // a file of several documents
  LoadedSpec& loaded = **single;
  if (!options.name.empty()) loaded.spec.name = options.name;
  auto& printer = session.printer();

  if (options.dry_run) {
    auto plan = placeholder_launch_plan(loaded.spec);
    if (!plan) return fail(plan.error());
    const auto payload = spec::build_payload(loaded.spec, "<snapshot-id>");
    printer.print_document(json{{"payload", payload}, {"launch_plan", plan->to_json()}},
                           describe_dry_run(payload, *plan));
    return exit_code::k_success;
  }

  auto client = session.client();
  if (!client) return fail(client.error());
  if (loaded.spec.sweep) {
    auto snapshot = upload_source(**client, session, loaded.source_directory);
    if (!snapshot) return fail(snapshot.error());
    auto sweep = (*client)->create_sweep(
        session.workspace(), spec::build_payload(loaded.spec, snapshot->snapshot_id));
    if (!sweep) return fail(sweep.error());
    const auto sweep_id = sweep->value("id", "");
    if (!options.stream && !options.wait) {
      printer.print_resource(sweep_kind(), *sweep);
      return exit_code::k_success;
    }
    printer.notice(fmt::format("submitted sweep {}", sweep_id));
    return follow_sweep(**client, session, sweep_id);
  }
  const auto key = options.idempotency_key.empty() ? util::random_hex(16) : options.idempotency_key;
  auto scan = scan_source(session, loaded.source_directory);
  if (!scan) return fail(scan.error());
  // One request when the service has the snapshot; the files and missing blobs only when asked.
  // Only the run's id is printed or followed with -o name, --wait and --stream: the reply then
  // carries no more.
  const auto reply = options.wait || options.stream || printer.options().format == OutputFormat::name
                         ? client::SubmitReply::minimal
                         : client::SubmitReply::run;
  auto submitted = client::create_run_with_snapshot(
      **client, session.workspace(), *scan, spec::build_payload(loaded.spec, scan->digest()), key,
      [&](uint64_t done, uint64_t total) { printer.progress("uploading", done, total); }, nullptr,
      reply);
  printer.end_progress();
  if (!submitted) return fail(submitted.error());
  const auto run_id = submitted->run.value("id", "");
  if (submitted->replayed) {
    printer.notice(fmt::format("run {} was already submitted with this idempotency key", run_id));
  }
  if (options.wait) {
    printer.notice(fmt::format("submitted run {}", run_id));
    return wait_for_submitted(**client, session, options, {run_id});
  }
  if (!options.stream) {
    printer.print_resource(run_kind(), submitted->run);
    return exit_code::k_success;
  }
  printer.notice(fmt::format("submitted run {}", run_id));
  return stream_run(**client, session, options, run_id);
}

void add_spec_commands(CLI::App& app, Action& selected) {
  auto validate_options = std::make_shared<ValidateOptions>();
  auto* check = app.add_subcommand("validate", "Check a job spec and print its launch plan");
  check->add_option("FILE", validate_options->file, "Job spec (YAML)")->required();
  check
      ->add_option("--set", validate_options->overrides, "Override a field: key=value (repeatable)")
      ->allow_extra_args(false);
  check->footer(R"(
Every problem is reported at once as file:line:col: field: message (exit 6).

Examples:
  trainctl validate job.yaml
  trainctl validate job.yaml --set estimator.node_count=2 -o json)");
  on_parsed(check, selected, validate_options, run_validate);

  auto options = std::make_shared<SubmitOptions>();
  auto* submit = app.add_subcommand(
      "submit", "Upload the source directory and start a run, or a batch of runs");
  submit->add_option("SPEC", options->files,
                     "Job specs (YAML); a file of several documents (---) is a run per document")
      ->required();
  submit->add_option("--set", options->overrides, "Override a field: key=value (repeatable)")
      ->allow_extra_args(false);
  submit->add_option("--matrix", options->matrix,
                     "A run per value: KEY=V1,V2,... (repeatable: every combination)")
      ->allow_extra_args(false);
  submit->add_option("--from-file", options->from_file,
                     "A run per line of overrides in FILE (- for stdin): key=value words, or a "
                     "JSON object");
  submit->add_option("--name", options->name, "Display name of the run (of every run of a batch)");
  submit->add_option("--idempotency-key", options->idempotency_key,
                     "Submitting again with the same key returns the same runs (default: random)");
  submit->add_flag("--dry-run", options->dry_run,
                   "Print the payload and launch plan (of a batch: every run); contact no service");
  submit->add_flag("--stream", options->stream,
                   "Follow the logs (of a batch: prefixed with the run); exit with the outcome");
  submit->add_flag("--wait", options->wait,
                   "Wait for the runs to end without their logs; exit with the outcome");
  submit->add_flag("--cancel-on-interrupt", options->cancel_on_interrupt,
                   "With --stream or --wait: Ctrl-C cancels the runs instead of detaching");
  submit->footer(R"(
Only files the service lacks are uploaded (hashes are cached under $XDG_CACHE_HOME/trainctl).

Several specs, a file of several YAML documents, --matrix and --from-file make a batch: every
run is checked before any is made, and one request makes them all, or none (docs/batch.md).
--matrix and --from-file lines combine with each other and with --set; a later value of a
key wins. With --stream or --wait, the exit code is the worst outcome: 3 when a run failed.

Examples:
  trainctl submit job.yaml
  trainctl submit job.yaml --stream --cancel-on-interrupt
  RUN=$(trainctl submit job.yaml -o name --idempotency-key "$CI_JOB_ID")
  trainctl submit job.yaml --dry-run -o yaml
  trainctl submit a.yaml b.yaml --wait
  trainctl submit job.yaml --matrix estimator.script_params.--lr=0.1,0.01 \
                           --matrix estimator.script_params.--batch-size=16,32 -o name
  trainctl submit job.yaml --from-file params.txt --idempotency-key "$CI_JOB_ID")");
  on_parsed(submit, selected, options, run_submit);
}

}  // namespace trainctl::cli
