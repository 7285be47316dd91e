// `trainctl run list|show|cancel|wait|files|download|metrics|compare` (metrics and compare:
// run_metrics.cpp).
#include "trainctl/cli/commands/run.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "command_table.hpp"
#include "transfers.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/api/run_status.hpp"
#include "trainctl/cli/commands/run_metrics.hpp"
#include "trainctl/cli/resources.hpp"
#include "trainctl/cli/run_timeline.hpp"
#include "trainctl/cli/run_waiter.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/strings.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int k_max_page = 1000;

std::optional<api::RunStatus> status_of(const json& run) {
  return api::parse_run_status(run.value("status", ""));
}

std::string time_of(const json& object, const char* key) {
  return format_time(object.contains(key) ? object.at(key) : json());
}

// The task whose end failed the run ("failed_first"), or null when none did.
const json* first_failed_task(const json& tasks) {
  for (const auto& task : tasks) {
    if (task.value("failed_first", false)) return &task;
  }
  return nullptr;
}

// The NODE cell: the node's rank, and its host where the engine placed it on one ("1 (n2)").
std::string node_of(const json& task) {
  const auto node = format_field(task, "node");
  const auto host = task.find("host");
  if (host == task.end() || !host->is_string() || host->get<std::string>().empty()) return node;
  return fmt::format("{} ({})", node, host->get<std::string>());
}

// The STATE cell: the task's state, marked on the task that failed the run.
std::string state_of(const json& task) {
  const auto state = format_field(task, "state");
  return task.value("failed_first", false) ? state + " (first failure)" : state;
}

Description::Section tasks_section(const json& tasks) {
  Description::Section section{.title = "Tasks",
                               .headers = {"NAME", "ROLE", "NODE", "STATE", "EXIT", "SIGNAL",
                                           "STARTED", "ENDED", "MESSAGE"},
                               .rows = {}};
  for (const auto& task : tasks) {
    section.rows.push_back({format_field(task, "name"), format_field(task, "role"),
                            node_of(task), state_of(task),
                            format_field(task, "exit_code"), format_field(task, "signal"),
                            time_of(task, "started_at"), time_of(task, "ended_at"),
                            format_field(task, "message")});
  }
  return section;
}

// "node 0 (n1): chief-0, worker-1": the tasks on each node (and its host), one line per node.
Description::Section placement_section(const json& tasks) {
  std::map<int64_t, std::vector<std::string>> by_node;
  std::map<int64_t, std::string> cells;
  for (const auto& task : tasks) {
    const auto node = task.value("node", int64_t{0});
    by_node[node].push_back(task.value("name", ""));
    cells[node] = node_of(task);
  }
  Description::Section section{.title = "Placement", .headers = {}, .rows = {}};
  for (const auto& [node, names] : by_node) {
    section.rows.push_back(
        {fmt::format("node {}:", cells[node]), fmt::format("{}", fmt::join(names, ", "))});
  }
  return section;
}

// "worker-1: task 'worker-1' exited with code 3": which task failed the run, and how (the run's
// failure reason describes that task's end).
std::string first_failure_of(const json& run, const json& task) {
  return fmt::format("{}: {}", format_field(task, "name"), format_field(run, "failure_reason"));
}

// The timeline: every status change, when, how long the run stayed, and the service's note
// ("attempt 2 of 3: ...").
Description::Section timeline_section(const std::vector<TimelineSpan>& spans) {
  Description::Section section{
      .title = "Timeline", .headers = {"STATUS", "AT", "SPENT", "MESSAGE"}, .rows = {}};
  for (const auto& span : spans) {
    section.rows.push_back({span.status, format_time(span.at),
                            span.spent_ms ? util::format_duration_ms(*span.spent_ms) : "-",
                            span.message.empty() ? "-" : span.message});
  }
  return section;
}

// The time spent in each stage, with how many attempts went through Starting and Running.
Description::Section stages_section(const std::vector<TimelineSpan>& spans) {
  Description::Section section{.title = "Time spent", .headers = {"STAGE", "SPENT", "TIMES"},
                               .rows = {}};
  for (const auto& stage : stage_times(spans)) {
    section.rows.push_back({stage.stage, util::format_duration_ms(stage.spent_ms),
                            std::to_string(stage.spans)});
  }
  return section;
}

// "137 (signal 9)" or "1": how a retried attempt's failing task ended; "-" when unknown.
std::string exit_class_of(const json& attempt) {
  const auto signal = attempt.value("signal", json());
  if (signal.is_number_integer()) {
    return fmt::format("{} (signal {})", 128 + signal.get<int>(), signal.get<int>());
  }
  return format_field(attempt, "exit_code");
}

std::optional<int64_t> time_at(const json& object, const char* key) {
  const auto value = object.value(key, json());
  return value.is_string() ? util::parse_rfc3339(value.get<std::string>()) : std::nullopt;
}

std::string attempt_duration(const json& attempt) {
  const auto started = time_at(attempt, "started_at");
  const auto ended = time_at(attempt, "ended_at");
  return started && ended ? util::format_duration_ms(*ended - *started) : "-";
}

// The attempts that ended and were retried, oldest first.
Description::Section attempts_section(const json& attempts) {
  Description::Section section{
      .title = "Earlier attempts",
      .headers = {"ATTEMPT", "STATUS", "EXIT CLASS", "FAILED TASK", "DURATION", "REASON"},
      .rows = {}};
  for (const auto& attempt : attempts) {
    section.rows.push_back({format_field(attempt, "attempt"), format_field(attempt, "status"),
                            exit_class_of(attempt), format_field(attempt, "first_failed_task"),
                            attempt_duration(attempt), format_field(attempt, "reason")});
  }
  return section;
}

// "2 of 4"; "-" when the service does not say.
std::string attempt_of(const json& run) {
  const auto attempt = run.value("attempt", json());
  const auto most = run.value("max_attempts", json());
  if (!attempt.is_number_integer()) return "-";
  return most.is_number_integer() ? fmt::format("{} of {}", attempt.dump(), most.dump())
                                  : attempt.dump();
}

// "0, 1": the node slots the run holds; "-" when none.
std::string nodes_of(const json& run) {
  const auto nodes = run.value("nodes", json::array());
  if (!nodes.is_array() || nodes.empty()) return "-";
  std::vector<std::string> slots;
  for (const auto& node : nodes) slots.push_back(node.dump());
  return fmt::format("{}", fmt::join(slots, ", "));
}

// -o wide: the tasks with their index, host, exit, signal and duration in columns of their own.
Description::Section wide_tasks_section(const json& tasks) {
  Description::Section section{.title = "Tasks",
                               .headers = {"NAME", "ROLE", "INDEX", "NODE", "HOST", "STATE", "EXIT",
                                           "SIGNAL", "STARTED", "ENDED", "DURATION", "MESSAGE"},
                               .rows = {}};
  for (const auto& task : tasks) {
    const auto started = time_at(task, "started_at");
    const auto ended = time_at(task, "ended_at");
    section.rows.push_back({format_field(task, "name"), format_field(task, "role"),
                            format_field(task, "index"), format_field(task, "node"),
                            format_field(task, "host"), state_of(task),
                            format_field(task, "exit_code"), format_field(task, "signal"),
                            time_of(task, "started_at"), time_of(task, "ended_at"),
                            started && ended ? util::format_duration_ms(*ended - *started) : "-",
                            format_field(task, "message")});
  }
  return section;
}

// -o wide: the run's inputs (dataset versions resolved at submit).
Description::Section inputs_section(const json& inputs) {
  Description::Section section{
      .title = "Inputs", .headers = {"NAME", "DATASET", "VERSION", "MODE"}, .rows = {}};
  for (const auto& input : inputs) {
    section.rows.push_back({format_field(input, "name"), format_field(input, "dataset"),
                            format_field(input, "version"), format_field(input, "mode")});
  }
  return section;
}

// -o wide: "key: value" rows of an object (the estimator, tags, parameters), values compact.
Description::Section object_section(std::string title, const json& object) {
  Description::Section section{.title = std::move(title), .headers = {}, .rows = {}};
  for (const auto& [key, value] : object.items()) {
    section.rows.push_back({key + ":", format_cell(value)});
  }
  return section;
}

// -o wide: each metric's last value, its step, and its range.
Description::Section metrics_section(const json& metrics) {
  Description::Section section{
      .title = "Metrics", .headers = {"NAME", "LAST", "STEP", "MIN", "MAX", "POINTS"}, .rows = {}};
  for (const auto& [name, summary] : metrics.items()) {
    section.rows.push_back({name, format_field(summary, "last"), format_field(summary, "last_step"),
                            format_field(summary, "min"), format_field(summary, "max"),
                            format_field(summary, "count")});
  }
  return section;
}

// Whether `path` is `prefix` or lies under the folder `prefix`.
bool is_within(const std::string& path, const std::string& prefix) {
  if (prefix.empty() || path == prefix) return true;
  const auto folder = prefix.ends_with('/') ? prefix : prefix + "/";
  return path.starts_with(folder);
}

}  // namespace

Result<void> validate(const RunListOptions& options) {
  if (options.limit < 1 || options.limit > k_max_page) {
    return fail(ErrorCode::usage, "--limit must be within 1-{}", k_max_page);
  }
  if (!options.columns.empty()) {
    if (auto fields = parse_run_fields(options.columns); !fields) return fail(fields.error());
  }
  if (!options.sort.empty()) {
    if (auto sort = parse_run_sort(options.sort); !sort) return fail(sort.error());
  }
  if (options.status.empty()) return {};
  for (const auto status : util::split(options.status, ',')) {
    if (!api::parse_run_status(status)) {
      return fail(
          ErrorCode::usage,
          "--status {}: not a run status (Queued, Preparing, Starting, Running, Finalizing, "
          "CancelRequested, Completed, Failed, Canceled, TimedOut)",
          status);
    }
  }
  if (!options.experiment.empty()) return api::validate_name("experiment", options.experiment);
  return {};
}

Result<void> validate(const RunOptions& options) {
  if (options.run_id.empty()) return fail(ErrorCode::usage, "a run id is required");
  return {};
}

Result<void> validate(const RunWaitOptions& options) {
  if (options.run_ids.empty()) return fail(ErrorCode::usage, "a run id is required");
  for (const auto& id : options.run_ids) {
    if (auto valid = validate(RunOptions{id}); !valid) return valid;
  }
  if (options.any && options.all) return fail(ErrorCode::usage, "--all and --any exclude each other");
  if (options.timeout.empty()) return {};
  if (auto timeout = util::parse_duration(options.timeout); !timeout) {
    return fail(ErrorCode::usage, "--timeout {}: {}", options.timeout, timeout.error().message);
  }
  return {};
}

Result<void> validate(const RunDownloadOptions& options) {
  if (auto valid = validate(RunOptions{options.run_id}); !valid) return valid;
  if (options.dest.empty()) return fail(ErrorCode::usage, "--dest must not be empty");
  if (options.path.empty()) return {};
  if (auto parts = api::split_relative_path(options.path); !parts) {
    return fail(ErrorCode::usage, "--path {}: {}", options.path, parts.error().message);
  }
  return {};
}

Description describe_run(const json& run, int64_t now_ms, bool wide) {
  const auto tasks = run.value("tasks", json::array());
  Description description{
      .fields = {{"ID", format_field(run, "id")},
                 {"Workspace", format_field(run, "workspace")},
                 {"Experiment", format_field(run, "experiment")},
                 {"Name", format_field(run, "name")},
                 {"Status", format_field(run, "status")},
                 {"Priority", format_field(run, "priority")},
                 {"Compute", format_field(run, "compute")},
                 {"Nodes", nodes_of(run)},
                 {"Attempt", attempt_of(run)},
                 {"Created", time_of(run, "created_at")},
                 {"Started", time_of(run, "started_at")},
                 {"Ended", time_of(run, "ended_at")},
                 {"Duration", format_duration(run.value("duration_ms", json()))},
                 {"Exit code", format_field(run, "exit_code")},
                 {"Failure reason", format_field(run, "failure_reason")}},
      .sections = {tasks_section(tasks)}};
  if (const auto queue = run.value("queue", json()); queue.is_object()) {
    description.fields.emplace_back("Queue", format_queue(queue));
  }
  if (const auto* failed = first_failed_task(tasks)) {
    description.fields.emplace_back("First failure", first_failure_of(run, *failed));
  }
  if (tasks.size() > 1) description.sections.push_back(placement_section(tasks));
  if (const auto attempts = run.value("attempts", json::array());
      attempts.is_array() && !attempts.empty()) {
    description.sections.push_back(attempts_section(attempts));
  }
  const auto spans = timeline_spans(run.value("timeline", json::array()), now_ms);
  description.sections.push_back(timeline_section(spans));
  description.sections.push_back(stages_section(spans));
  if (!wide) return description;
  description.fields.emplace_back("Snapshot", format_field(run, "snapshot_id"));
  description.fields.emplace_back("Updated", time_of(run, "updated_at"));
  description.sections.front() = wide_tasks_section(tasks);
  const auto add_section = [&](const char* key, auto make) {
    const auto value = run.value(key, json());
    if ((value.is_object() || value.is_array()) && !value.empty()) {
      description.sections.push_back(make(value));
    }
  };
  add_section("inputs", inputs_section);
  add_section("estimator", [](const json& value) { return object_section("Estimator", value); });
  add_section("params", [](const json& value) { return object_section("Parameters", value); });
  add_section("tags", [](const json& value) { return object_section("Tags", value); });
  add_section("limits", [](const json& value) { return object_section("Limits", value); });
  add_section("environment_variables",
              [](const json& value) { return object_section("Environment variables", value); });
  add_section("metrics", metrics_section);
  return description;
}

ResourceKind run_list_kind(const json& items) {
  const bool any_queued = std::any_of(items.begin(), items.end(), [](const json& run) {
    return run.is_object() && run.value("queue", json()).is_object();
  });
  ResourceKind kind = run_kind();
  if (!any_queued) return kind;
  const auto status = std::find_if(kind.columns.begin(), kind.columns.end(),
                                   [](const Column& column) { return column.pointer == "/status"; });
  kind.columns.insert(status == kind.columns.end() ? status : status + 1,
                      Column{.header = "WAITING", .pointer = "/queue", .format = format_queue});
  return kind;
}

int exit_code_for_run(const json& run) {
  const auto status = status_of(run);
  return status ? api::exit_code_for_outcome(*status) : exit_code::k_error;
}

// Whether the list prints only what run summaries hold: the table's columns (plain and wide)
// and names do, unless --columns or --sort reads metrics, params or tags; every other format
// prints whole runs.
bool summaries_suffice(const RunListOptions& options, OutputFormat format) {
  const bool tabular = format == OutputFormat::table || format == OutputFormat::wide ||
                       format == OutputFormat::name;
  const bool reads_run_data = !options.columns.empty() ||
                              (!options.sort.empty() && options.sort.find('.') != std::string::npos);
  return tabular && !reads_run_data;
}

Result<int> run_run_list(Session& session, const RunListOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  client::RunListQuery query{
      .experiment = options.experiment,
      .status = options.status,
      .limit = options.limit,
      .page_token = {},
      .summary = summaries_suffice(options, session.printer().options().format)};
  json items = json::array();
  do {
    auto page = (*client)->list_runs(session.workspace(), query);
    if (!page) return fail(page.error());
    if (const auto listed = page->find("items"); listed != page->end() && listed->is_array()) {
      if (items.empty()) {
        items = std::move(*listed);
      } else {
        for (auto& item : *listed) items.push_back(std::move(item));
      }
    }
    const auto next_page = page->find("next_page_token");
    query.page_token = next_page != page->end() && next_page->is_string()
                           ? next_page->get<std::string>()
                           : std::string();
  } while (options.all && !query.page_token.empty());
  if (!options.sort.empty()) sort_runs(items, parse_run_sort(options.sort).value());
  ResourceKind kind = run_list_kind(items);
  if (!options.columns.empty()) kind = with_fields(std::move(kind), parse_run_fields(options.columns).value());
  session.printer().print_list(kind, items);
  if (!options.all && !query.page_token.empty()) {
    session.printer().notice(
        fmt::format("more runs exist: --all lists them, --limit N pages by N"));
  }
  return exit_code::k_success;
}

Result<int> run_run_show(Session& session, const RunOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto run = (*client)->get_run(session.workspace(), options.run_id);
  if (!run) return fail(run.error());
  const bool wide = session.printer().options().format == OutputFormat::wide;
  session.printer().print_description(run_kind(), *run,
                                      describe_run(*run, util::now_unix_ms(), wide));
  return exit_code::k_success;
}

Result<int> run_run_cancel(Session& session, const RunOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto run = (*client)->cancel_run(session.workspace(), options.run_id);
  if (!run) return fail(run.error());
  const auto status = run->value("status", "");
  const bool finished = status_of(*run) && api::is_terminal(*status_of(*run)) &&
                        *status_of(*run) != api::RunStatus::Canceled;
  auto& printer = session.printer();
  if (printer.options().format == OutputFormat::table ||
      printer.options().format == OutputFormat::wide) {
    printer.message(finished ? fmt::format("run {} already ended ({})", options.run_id, status)
                             : fmt::format("run {} {}", options.run_id,
                                           status == "Canceled" ? "canceled" : "cancel requested"));
  } else {
    printer.print_resource(run_kind(), *run);
  }
  return exit_code::k_success;
}

Result<int> run_run_wait(Session& session, const RunWaitOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  using SteadyClock = std::chrono::steady_clock;
  const auto deadline = options.timeout.empty()
                            ? SteadyClock::time_point::max()
                            : SteadyClock::now() + util::parse_duration(options.timeout).value();
  InterruptScope interrupt_scope;
  auto runs = wait_for_runs(**client, session.printer(), session.workspace(), options.run_ids,
                            options.any ? WaitFor::any : WaitFor::all, deadline);
  if (!runs && runs.error().code == ErrorCode::timeout) {
    return fail(ErrorCode::timeout, "{} after {}", runs.error().message, options.timeout);
  }
  if (!runs) return fail(runs.error());
  if (runs->size() == 1) {
    const json& run = runs->front();
    session.printer().print_description(
        run_kind(), run,
        Description{.fields = {{"ID", format_field(run, "id")},
                               {"Status", format_field(run, "status")},
                               {"Exit code", format_field(run, "exit_code")}},
                    .sections = {}});
    return exit_code_for_runs(*runs);
  }
  session.printer().print_list(run_kind(), json(*runs));
  if (options.any) {  // the outcome of the run that ended
    for (const auto& run : *runs) {
      const auto status = status_of(run);
      if (status && api::is_terminal(*status)) return api::exit_code_for_outcome(*status);
    }
  }
  return exit_code_for_runs(*runs);
}

Result<int> run_run_files(Session& session, const RunOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto files = (*client)->list_run_files(session.workspace(), options.run_id);
  if (!files) return fail(files.error());
  session.printer().print_list(run_file_kind(), files->value("items", json::array()));
  return exit_code::k_success;
}

Result<int> run_run_download(Session& session, const RunDownloadOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto files = (*client)->list_run_files(session.workspace(), options.run_id);
  if (!files) return fail(files.error());
  json selected = json::array();
  uint64_t total = 0;
  for (const auto& file : files->value("items", json::array())) {
    if (!is_within(file.value("path", ""), options.path)) continue;
    total += file.value("size", uint64_t{0});
    selected.push_back(file);
  }
  FilesProgress progress(session.printer(), "downloading", total);
  int downloaded = 0;
  for (const auto& file : selected) {
    const auto path = file.value("path", "");
    if (auto parts = api::split_relative_path(path); !parts) {
      session.printer().warning(fmt::format("skipped {}: {}", path, parts.error().message));
      continue;
    }
    const auto dest = download_destination(options.dest, path);
    if (!dest) return fail(dest.error());
    const client::DownloadOptions expected{.size = file.value("size", uint64_t{0}),
                                           .sha256 = {},
                                           .on_progress = progress.for_file()};
    if (auto done = (*client)->download_run_file(session.workspace(), options.run_id, path, *dest,
                                                 expected);
        !done) {
      return fail(done.error());
    }
    progress.file_done(*expected.size);
    ++downloaded;
  }
  if (downloaded == 0 && !options.path.empty()) {
    return fail(ErrorCode::not_found, "run {} has no file {}", options.run_id, options.path);
  }
  session.printer().message(fmt::format("downloaded {} file{} to {}", downloaded,
                                        downloaded == 1 ? "" : "s", options.dest));
  return exit_code::k_success;
}

void add_run_commands(CLI::App& app, Action& selected) {
  auto* group = app.add_subcommand("run", "List, inspect, cancel, wait for and download runs");
  group->require_subcommand(1);
  group->footer(R"(
Examples:
  trainctl run list --experiment tf-mnist --status Failed,TimedOut
  trainctl run show run-k3x9q2m7ab
  trainctl run wait run-k3x9q2m7ab --timeout 30m && echo completed
  trainctl run download run-k3x9q2m7ab --path outputs --dest ./results
  trainctl run metrics run-k3x9q2m7ab --name loss -f
  trainctl run list --experiment digits --columns metrics.accuracy,params.--C --sort -metrics.accuracy
  trainctl run compare run-k3x9q2m7ab run-p0q1w2e3r4)");

  auto list_options = std::make_shared<RunListOptions>();
  auto* list = group->add_subcommand("list", "List runs, newest first");
  list->alias("ls");
  list->add_option("--experiment", list_options->experiment, "Only this experiment");
  list->add_option("--status", list_options->status,
                   "Only these statuses (comma list); Queued runs show why they wait");
  list->add_option("--limit", list_options->limit, "At most N runs (per page with --all)")
      ->capture_default_str();
  list->add_flag("--all", list_options->all, "Every run, page after page");
  list->add_option("--columns", list_options->columns,
                   "Extra columns, a comma list of metrics.NAME (last value), params.NAME, "
                   "tags.NAME");
  list->add_option("--sort", list_options->sort,
                   "Sort the runs listed by metrics.NAME, params.NAME, tags.NAME or a run field "
                   "(created_at, status, ...); '-' first for descending; runs without it last");
  on_parsed(list, selected, list_options, run_run_list);

  auto show_options = std::make_shared<RunOptions>();
  auto* show = group->add_subcommand(
      "show",
      "Status, priority, nodes, attempts, queue place, tasks, placement and timeline of a run");
  show->add_option("RUN", show_options->run_id, "Run id")->required();
  on_parsed(show, selected, show_options, run_run_show);

  auto cancel_options = std::make_shared<RunOptions>();
  auto* cancel = group->add_subcommand("cancel", "Cancel a run (a no-op when it has ended)");
  cancel->add_option("RUN", cancel_options->run_id, "Run id")->required();
  on_parsed(cancel, selected, cancel_options, run_run_cancel);

  auto wait_options = std::make_shared<RunWaitOptions>();
  auto* wait = group->add_subcommand(
      "wait", "Wait for runs to end; exit with their outcome (the worst of several)");
  wait->add_option("RUN", wait_options->run_ids, "Run ids")->required();
  wait->add_flag("--all", wait_options->all, "Until every run has ended (the default)");
  wait->add_flag("--any", wait_options->any,
                 "Until one of the runs has ended; exit with that run's outcome");
  wait->add_option("--timeout", wait_options->timeout, "Give up after this long (90s, 15m, 2h)");
  wait->footer(R"(
Exit code: 0 when every run Completed; otherwise that of the worst outcome: 3 when one Failed,
else 5 when one TimedOut, else 4 when one was Canceled (with --any: the outcome of the run that
ended). A wait that runs out (--timeout) exits 1, Ctrl-C 130; the runs go on either way.

Examples:
  trainctl run wait run-k3x9q2m7ab --timeout 30m && echo completed
  trainctl run wait $(trainctl submit a.yaml b.yaml -o name)
  trainctl run wait --any run-k3x9q2m7ab run-p0q1w2e3r4)");
  on_parsed(wait, selected, wait_options, run_run_wait);

  auto files_options = std::make_shared<RunOptions>();
  auto* files = group->add_subcommand("files", "List a run's outputs and logs");
  files->add_option("RUN", files_options->run_id, "Run id")->required();
  on_parsed(files, selected, files_options, run_run_files);

  auto metrics_options = std::make_shared<RunMetricsOptions>();
  auto* metrics = group->add_subcommand(
      "metrics",
      "A run's metrics (summary, params, tags), one metric's points with --name, drawn as a "
      "chart on a terminal; -f follows them live");
  metrics->add_option("RUN", metrics_options->run_id, "Run id")->required();
  metrics->add_option("--name", metrics_options->name, "One metric: its points (or its chart)");
  metrics->add_option("--task", metrics_options->task, "Only this task's series (rank-1, worker-0)");
  metrics->add_option("--attempt", metrics_options->attempt, "Only this attempt's series");
  metrics->add_option("--max-points", metrics_options->max_points,
                      "At most N points per series; the service averages runs of points beyond")
      ->capture_default_str();
  metrics->add_flag("-f,--follow", metrics_options->follow,
                    "Print (on a terminal: draw) points as they are logged, until the run ends; "
                    "exit with its outcome");
  on_parsed(metrics, selected, metrics_options, run_run_metrics);

  auto compare_options = std::make_shared<RunCompareOptions>();
  auto* compare = group->add_subcommand(
      "compare", "Params and last metric values of runs side by side; * marks differences");
  compare->add_option("RUN", compare_options->run_ids, "Two or more run ids")->required();
  on_parsed(compare, selected, compare_options, run_run_compare);

  auto download_options = std::make_shared<RunDownloadOptions>();
  auto* download = group->add_subcommand("download", "Download a run's files");
  download->add_option("RUN", download_options->run_id, "Run id")->required();
  download->add_option("--path", download_options->path, "A file or folder (default: every file)");
  download->add_option("--dest", download_options->dest, "Where to write (default: .)");
  on_parsed(download, selected, download_options, run_run_download);
}

}  // namespace trainctl::cli
