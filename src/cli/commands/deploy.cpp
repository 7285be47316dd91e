// `trainctl deploy create|list|show|logs|update|delete|regenerate-key|invoke`.
#include "trainctl/cli/commands/deploy.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <iostream>
#include <iterator>
#include <thread>

#include <fmt/format.h>

#include "command_table.hpp"
#include "transfers.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/cli/commands/dataset.hpp"
#include "trainctl/cli/commands/logs.hpp"
#include "trainctl/client/snapshot.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr auto k_poll_interval = std::chrono::milliseconds(500);
constexpr std::string_view k_default_timeout = "10m";
constexpr std::string_view k_healthy = "Healthy";
constexpr std::string_view k_failed = "Failed";
// Every field of the PUT body (docs/rest-api.md, Deployments): a PUT replaces them all, so an
// update sends each one back.
constexpr std::array k_put_fields{"models",    "entry_script", "snapshot_id",
                                  "replicas",  "cpu",          "memory_gb",
                                  "environment_variables", "description", "tags"};

Result<void> validate_name(const std::string& name) {
  if (auto valid = api::validate_name("deployment", name); !valid) {
    return fail(ErrorCode::usage, "{}", valid.error().message);
  }
  return {};
}

bool is_variable_name(std::string_view name) {
  const auto first_ok = [](char c) { return c == '_' || std::isalpha(static_cast<unsigned char>(c)); };
  return !name.empty() && first_ok(name.front()) &&
         std::all_of(name.begin(), name.end(), [&](char c) {
           return first_ok(c) || std::isdigit(static_cast<unsigned char>(c));
         });
}

// --env NAME=value entries as a JSON object, added to `variables`.
Result<void> add_variables(const std::vector<std::string>& entries, json& variables) {
  for (const auto& entry : entries) {
    const auto equals = entry.find('=');
    const auto name = entry.substr(0, equals);
    if (equals == std::string::npos || !is_variable_name(name)) {
      return fail(ErrorCode::usage, "--env {}: expected NAME=value, NAME a variable name", entry);
    }
    variables[name] = entry.substr(equals + 1);
  }
  return {};
}

Result<void> validate_fields(const DeploymentFields& fields) {
  if (auto models = models_of(fields.models); !models) return fail(models.error());
  if (fields.replicas && *fields.replicas < 1) {
    return fail(ErrorCode::usage, "--replicas {}: at least 1", *fields.replicas);
  }
  if (fields.cpu && !(*fields.cpu > 0)) return fail(ErrorCode::usage, "--cpu must be above 0");
  if (fields.memory_gb && !(*fields.memory_gb > 0)) {
    return fail(ErrorCode::usage, "--memory-gb must be above 0");
  }
  json ignored = json::object();
  if (auto variables = add_variables(fields.env, ignored); !variables) return variables;
  if (!fields.timeout.empty() && !fields.wait) return fail(ErrorCode::usage, "--timeout needs --wait");
  if (auto timeout = util::parse_duration(fields.timeout.empty() ? k_default_timeout : fields.timeout);
      !timeout) {
    return fail(ErrorCode::usage, "--timeout {}: {}", fields.timeout, timeout.error().message);
  }
  return {};
}

// "digits:3, text:1".
std::string format_models(const json& models) {
  if (!models.is_array() || models.empty()) return "-";
  std::string out;
  for (const auto& model : models) {
    out += fmt::format("{}{}:{}", out.empty() ? "" : ", ", format_field(model, "name"),
                       format_field(model, "version"));
  }
  return out;
}

// The entry script, or "(built-in)" for a no-code deployment.
std::string format_entry_script(const json& entry_script) {
  return entry_script.is_string() ? entry_script.get<std::string>() : "(built-in)";
}

// The entry script, or for a no-code deployment what the built-in scoring script serves.
std::string describe_entry_script(const json& deployment) {
  const auto script = deployment.value("entry_script", json());
  const auto no_code = deployment.value("no_code", json());
  if (script.is_string() || !no_code.is_object()) return format_cell(script);
  return fmt::format("none: the built-in scoring script serves {} ({})",
                     format_field(no_code, "model_file"), format_field(no_code, "framework"));
}

// "2/3": the replicas ready out of those reported.
std::string format_ready(const json& replicas) {
  if (!replicas.is_array()) return "-";
  const auto ready = std::count_if(replicas.begin(), replicas.end(), [](const json& replica) {
    return replica.value("state", "") == "ready";
  });
  return fmt::format("{}/{}", ready, replicas.size());
}

// Scans the source directory, checks that the entry script is one of its files (after
// .trainctlignore), uploads what the service lacks and returns the snapshot id.
Result<std::string> upload_source(client::ApiClient& client, Session& session,
                                  const std::string& source_dir, const std::string& entry_script) {
  std::error_code error;
  const auto source = fs::absolute(source_dir.empty() ? "." : source_dir, error).lexically_normal();
  if (!fs::is_directory(source, error)) {
    return fail(ErrorCode::invalid_argument, "--source-dir {}: not a directory", source.string());
  }
  auto scan = client::scan_source_directory(
      source, client::ScanOptions{.limits = {}, .hash_cache_file = hash_cache_file(session, source)});
  if (!scan) return fail(scan.error());
  const auto entry = fs::path(entry_script).lexically_normal().generic_string();
  const bool found = std::any_of(scan->files.begin(), scan->files.end(),
                                 [&](const client::SnapshotFile& file) { return file.path == entry; });
  if (!found) {
    return fail(ErrorCode::invalid_argument,
                "--entry-script {} is not a file in {} (give the directory that holds it with "
                "--source-dir; .trainctlignore may leave it out)",
                entry_script, source.string());
  }
  for (const auto& warning : scan->warnings) session.printer().warning(warning);
  auto report = client::upload_snapshot(
      client, session.workspace(), *scan,
      [&](uint64_t done, uint64_t total) { session.printer().progress("uploading", done, total); });
  session.printer().end_progress();
  if (!report) return fail(report.error());
  return report->snapshot_id;
}

// Sets the fields given on the command line in a PUT body; a snapshot is uploaded when the
// source or the entry script is given.
Result<void> apply_fields(client::ApiClient& client, Session& session,
                          const DeploymentFields& fields, json& body) {
  if (!fields.models.empty()) body["models"] = models_of(fields.models).value();
  if (!fields.entry_script.empty()) body["entry_script"] = fields.entry_script;
  if (!fields.source_dir.empty() || !fields.entry_script.empty()) {
    const auto script = body.find("entry_script");
    if (script == body.end() || !script->is_string()) {
      return fail(ErrorCode::usage,
                  "--source-dir needs --entry-script: the deployment has no entry script of its "
                  "own (the built-in scoring script serves its model)");
    }
    auto snapshot = upload_source(client, session, fields.source_dir, script->get<std::string>());
    if (!snapshot) return fail(snapshot.error());
    body["snapshot_id"] = *snapshot;
  }
  if (fields.replicas) body["replicas"] = *fields.replicas;
  if (fields.cpu) body["cpu"] = *fields.cpu;
  if (fields.memory_gb) body["memory_gb"] = *fields.memory_gb;
  if (!fields.description.empty()) body["description"] = fields.description;
  if (!fields.env.empty()) {
    if (!body.contains("environment_variables")) body["environment_variables"] = json::object();
    if (auto added = add_variables(fields.env, body["environment_variables"]); !added) return added;
  }
  return {};
}

// Polls the deployment until it is Healthy or Failed (its resource either way), or the timeout
// passes (ErrorCode::timeout). Ctrl-C: ErrorCode::interrupted.
Result<json> wait_until_settled(client::ApiClient& client, Session& session,
                                const std::string& name, const std::string& timeout) {
  const auto shown_timeout = timeout.empty() ? std::string(k_default_timeout) : timeout;
  const auto deadline = SteadyClock::now() + util::parse_duration(shown_timeout).value();
  InterruptScope interrupt_scope;
  while (true) {
    auto deployment = client.get_deployment(session.workspace(), name);
    if (!deployment) return deployment;
    const auto state = deployment->value("state", "");
    if (state == k_healthy || state == k_failed) return deployment;
    if (SteadyClock::now() >= deadline) {
      return fail(ErrorCode::timeout, "deployment {} is still {} after {} ({} replicas ready)",
                  name, state, shown_timeout,
                  format_ready(deployment->value("replica_status", json())));
    }
    std::this_thread::sleep_for(k_poll_interval);
    if (InterruptScope::interrupted()) {
      return fail(ErrorCode::interrupted,
                  "stopped waiting; deployment {} goes on: trainctl deploy show {}", name, name);
    }
  }
}

// After a PUT: waits when asked, then prints the deployment (and, for people, what happened).
// Exit 3 when the wait ends with the deployment Failed.
Result<int> finish_put(client::ApiClient& client, Session& session, const std::string& name,
                       const DeploymentFields& fields, client::DeploymentOutcome outcome) {
  auto& printer = session.printer();
  const auto key = outcome.deployment.value("scoring_key", "");
  if (printer.for_people()) {
    printer.message(fmt::format("{} deployment {} (revision {})",
                                outcome.created ? "created" : "updated", name,
                                format_field(outcome.deployment, "revision")));
    if (!key.empty()) {
      printer.message(fmt::format(
          "scoring key: {} (again later: trainctl deploy show {} --show-key)", key, name));
    }
  }
  auto deployment = std::move(outcome.deployment);
  if (fields.wait) {
    auto settled = wait_until_settled(client, session, name, fields.timeout);
    if (!settled) return fail(settled.error());
    if (!key.empty()) (*settled)["scoring_key"] = key;
    deployment = std::move(*settled);
    if (deployment.value("state", "") == k_failed) {
      printer.error(Error(ErrorCode::internal,
                          fmt::format("deployment {} is Failed: {}\n  see why: trainctl deploy "
                                      "logs {}",
                                      name, deployment.value("message", "(no message)"), name)));
      return exit_code::k_run_failed;
    }
    if (printer.for_people()) {
      printer.message(fmt::format("{} is Healthy ({} replicas ready); score with: trainctl deploy "
                                  "invoke {} --data JSON",
                                  name, format_ready(deployment.value("replica_status", json())),
                                  name));
    }
  }
  if (!printer.for_people()) printer.print_resource(deployment_kind(), deployment);
  return exit_code::k_success;
}

// The bytes of --data: inline JSON, a file (@FILE), or stdin (@-).
Result<std::string> data_of(const std::string& data) {
  if (!data.starts_with('@')) return data;
  const auto file = data.substr(1);
  if (file == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  return util::read_file(file);
}

}  // namespace

Result<json> models_of(const std::vector<std::string>& refs) {
  json models = json::array();
  for (const auto& text : refs) {
    auto ref = parse_dataset_ref(text);
    if (!ref) {
      return fail(ErrorCode::usage,
                  "--model {}: expected NAME, NAME:VERSION (a version number from 1) or "
                  "NAME@latest",
                  text);
    }
    json version = ref->version.empty() || ref->version == "latest"
                       ? json("latest")
                       : json(std::stoll(ref->version));
    models.push_back({{"name", ref->name}, {"version", std::move(version)}});
  }
  return models;
}

Result<json> update_body(const std::string& name, const json& current,
                         const DeploymentFields& fields) {
  // Whether the update sets the field whole, so the current value is not needed.
  const auto replaced = [&](std::string_view key) {
    if (key == "models") return !fields.models.empty();
    if (key == "entry_script") return !fields.entry_script.empty();
    if (key == "snapshot_id") return !fields.entry_script.empty() || !fields.source_dir.empty();
    if (key == "replicas") return fields.replicas.has_value();
    if (key == "cpu") return fields.cpu.has_value();
    if (key == "memory_gb") return fields.memory_gb.has_value();
    if (key == "description") return !fields.description.empty();
    return false;  // environment_variables (--env adds to them), tags
  };
  // Null in a no-code deployment, and sent back so: it stays one.
  const auto may_be_null = [](std::string_view key) {
    return key == "entry_script" || key == "snapshot_id";
  };
  json body = json::object();
  for (const auto* key : k_put_fields) {
    if (const auto found = current.find(key);
        found != current.end() && (!found->is_null() || may_be_null(key))) {
      body[key] = *found;
    } else if (!replaced(key)) {
      return fail(ErrorCode::internal,
                  "trainctld did not return the {} of deployment {}, and an update without it "
                  "would reset it; nothing was changed",
                  key, name);
    }
  }
  return body;
}

Result<void> validate(const DeployCreateOptions& options) {
  if (auto valid = validate_name(options.name); !valid) return valid;
  if (options.fields.models.empty()) {
    return fail(ErrorCode::usage, "--model NAME:VERSION is required (repeat it for several)");
  }
  if (options.fields.entry_script.empty() && !options.fields.source_dir.empty()) {
    return fail(ErrorCode::usage,
                "--source-dir needs --entry-script (the script with init() and run()); without "
                "both, the built-in scoring script serves the model by its framework");
  }
  return validate_fields(options.fields);
}

Result<void> validate(const DeployUpdateOptions& options) {
  if (auto valid = validate_name(options.name); !valid) return valid;
  const auto& fields = options.fields;
  if (fields.models.empty() && fields.entry_script.empty() && fields.source_dir.empty() &&
      !fields.replicas && !fields.cpu && !fields.memory_gb && fields.env.empty() &&
      fields.description.empty()) {
    return fail(ErrorCode::usage,
                "nothing to update: give --model, --entry-script, --source-dir, --replicas, --cpu, "
                "--memory-gb, --env or --description");
  }
  return validate_fields(fields);
}

Result<void> validate(const DeployShowOptions& options) { return validate_name(options.name); }

Result<void> validate(const DeployLogsOptions& options) {
  if (auto valid = validate_name(options.name); !valid) return valid;
  if (options.replica && *options.replica < 0) {
    return fail(ErrorCode::usage, "--replica {}: replicas count from 0", *options.replica);
  }
  return {};
}

Result<void> validate(const DeployDeleteOptions& options) { return validate_name(options.name); }

Result<void> validate(const DeployKeyOptions& options) { return validate_name(options.name); }

Result<void> validate(const DeployInvokeOptions& options) {
  if (auto valid = validate_name(options.name); !valid) return valid;
  if (options.data.empty()) return fail(ErrorCode::usage, "--data JSON, @FILE or @- is required");
  if (!options.data.starts_with('@') && !json::accept(options.data)) {
    return fail(ErrorCode::usage, "--data is not valid JSON (give @FILE to read it from a file)");
  }
  return {};
}

const ResourceKind& deployment_kind() {
  static const ResourceKind kind{
      .name = "deployment",
      .columns = {{.header = "NAME", .pointer = "/name"},
                  {.header = "STATE", .pointer = "/state"},
                  {.header = "READY", .pointer = "/replica_status", .format = format_ready},
                  {.header = "MODELS", .pointer = "/models", .format = format_models},
                  {.header = "UPDATED", .pointer = "/updated_at", .format = format_time},
                  {.header = "ENTRY SCRIPT",
                   .pointer = "/entry_script",
                   .wide_only = true,
                   .format = format_entry_script},
                  {.header = "REVISION", .pointer = "/revision", .wide_only = true},
                  {.header = "CPU", .pointer = "/cpu", .wide_only = true},
                  {.header = "MEMORY GB", .pointer = "/memory_gb", .wide_only = true},
                  {.header = "MESSAGE", .pointer = "/message", .wide_only = true}},
      .name_pointer = "/name"};
  return kind;
}

Description describe_deployment(const json& deployment, const std::string& endpoint) {
  Description description{
      .fields = {{"Name", format_field(deployment, "name")},
                 {"State", format_field(deployment, "state")},
                 {"Message", format_field(deployment, "message")},
                 {"Models", format_models(deployment.value("models", json()))},
                 {"Entry script", describe_entry_script(deployment)},
                 {"Snapshot", format_field(deployment, "snapshot_id")},
                 {"Replicas", fmt::format("{} ready ({} wanted)",
                                          format_ready(deployment.value("replica_status", json())),
                                          format_field(deployment, "replicas"))},
                 {"CPU", format_field(deployment, "cpu")},
                 {"Memory (GB)", format_field(deployment, "memory_gb")},
                 {"Scoring URL", endpoint + deployment.value("scoring_path", "")},
                 {"Revision", format_field(deployment, "revision")},
                 {"Created", format_time(deployment.value("created_at", json()))},
                 {"Updated", format_time(deployment.value("updated_at", json()))}},
      .sections = {}};
  if (const auto key = deployment.value("scoring_key", ""); !key.empty()) {
    description.fields.emplace_back("Scoring key", key);
  }
  Description::Section replicas{
      .title = "Replicas", .headers = {"INDEX", "STATE", "PID", "RESTARTS", "MESSAGE"}, .rows = {}};
  for (const auto& replica : deployment.value("replica_status", json::array())) {
    replicas.rows.push_back({format_field(replica, "index"), format_field(replica, "state"),
                             format_field(replica, "pid"), format_field(replica, "restarts"),
                             format_field(replica, "message")});
  }
  description.sections.push_back(std::move(replicas));
  return description;
}

Result<int> run_deploy_create(Session& session, const DeployCreateOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  json body = json::object();
  if (auto applied = apply_fields(**client, session, options.fields, body); !applied) {
    return fail(applied.error());
  }
  auto outcome = (*client)->put_deployment(session.workspace(), options.name, body);
  if (!outcome) return fail(outcome.error());
  return finish_put(**client, session, options.name, options.fields, std::move(*outcome));
}

Result<int> run_deploy_update(Session& session, const DeployUpdateOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto current = (*client)->get_deployment(session.workspace(), options.name);
  if (!current) return fail(current.error());
  auto body = update_body(options.name, *current, options.fields);
  if (!body) return fail(body.error());
  if (auto applied = apply_fields(**client, session, options.fields, *body); !applied) {
    return fail(applied.error());
  }
  auto outcome = (*client)->put_deployment(session.workspace(), options.name, *body);
  if (!outcome) return fail(outcome.error());
  return finish_put(**client, session, options.name, options.fields, std::move(*outcome));
}

Result<int> run_deploy_regenerate_key(Session& session, const DeployKeyOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto key = (*client)->regenerate_deployment_key(session.workspace(), options.name);
  if (!key) return fail(key.error());
  auto& printer = session.printer();
  if (printer.for_people()) {
    printer.message(fmt::format("new scoring key of deployment {}: {}", options.name, *key));
    printer.notice("the old key no longer works");
  } else {
    printer.print_resource(deployment_kind(), {{"name", options.name}, {"scoring_key", *key}});
  }
  return exit_code::k_success;
}

Result<int> run_deploy_list(Session& session) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto deployments = (*client)->list_deployments(session.workspace());
  if (!deployments) return fail(deployments.error());
  session.printer().print_list(deployment_kind(), deployments->value("items", json::array()));
  return exit_code::k_success;
}

Result<int> run_deploy_show(Session& session, const DeployShowOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto deployment = (*client)->get_deployment(session.workspace(), options.name);
  if (!deployment) return fail(deployment.error());
  if (options.show_key) {
    auto key = (*client)->get_deployment_key(session.workspace(), options.name);
    if (!key) return fail(key.error());
    (*deployment)["scoring_key"] = *key;
  }
  session.printer().print_description(
      deployment_kind(), *deployment,
      describe_deployment(*deployment, (*client)->transport().endpoint()));
  return exit_code::k_success;
}

Result<int> run_deploy_logs(Session& session, const DeployLogsOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  InterruptScope interrupt_scope;
  const LogSource source = [&](const client::LogQuery& query, const LogEventHandler& on_event) {
    return (*client)->stream_deployment_logs(session.workspace(), options.name, query, on_event);
  };
  const auto task = options.replica ? fmt::format("replica-{}", *options.replica) : std::string();
  auto ended = print_log_events(source, session.printer(), task, options.follow, options.name);
  if (!ended) return fail(ended.error());
  return exit_code::k_success;
}

Result<int> run_deploy_delete(Session& session, const DeployDeleteOptions& options) {
  if (!options.yes &&
      !confirmed(session.printer(), fmt::format("delete deployment {}?", options.name))) {
    return fail(ErrorCode::interrupted, "not deleted");
  }
  auto client = session.client();
  if (!client) return fail(client.error());
  if (auto deleted = (*client)->delete_deployment(session.workspace(), options.name); !deleted) {
    return fail(deleted.error());
  }
  session.printer().message(fmt::format("deleted deployment {}", options.name));
  return exit_code::k_success;
}

Result<int> run_deploy_invoke(Session& session, const DeployInvokeOptions& options) {
  auto data = data_of(options.data);
  if (!data) return fail(data.error());
  if (!json::accept(*data)) {
    return fail(ErrorCode::invalid_argument, "{} does not hold valid JSON", options.data.substr(1));
  }
  auto client = session.client();
  if (!client) return fail(client.error());
  auto key = (*client)->get_deployment_key(session.workspace(), options.name);
  if (!key) return fail(key.error());
  auto result = (*client)->score(session.workspace(), options.name, *key, std::move(*data));
  if (!result) return fail(result.error());
  auto& printer = session.printer();
  if (printer.for_people()) {
    printer.write(result->dump(2) + "\n");
  } else {
    printer.print_document(*result, {});
  }
  return exit_code::k_success;
}

void add_deploy_commands(CLI::App& app, Action& selected) {
  auto* group = app.add_subcommand(
      "deploy", "Deploy registered models as scoring web services served by trainctld");
  group->require_subcommand(1);
  group->footer(R"(
A deployment runs REPLICAS processes of your entry script: init() once per replica (the model
files are under $TRAINCTL_MODEL_DIR; with several models, each one's under
$TRAINCTL_MODEL_DIR_<NAME>), then run(raw_data) per request. Without --entry-script (no-code),
a built-in script serves one sklearn or pytorch model: {"data": [[...], ...]} in,
{"predictions": [...]} out. trainctld serves POST /v1/workspaces/WS/services/NAME/score with
the deployment's own scoring key.

Examples:
  trainctl deploy create digits --model digits:1 --entry-script score.py --source-dir . --wait
  trainctl deploy create iris --model iris:1 --wait          # no-code: model.pkl, model.pt, ...
  trainctl deploy invoke iris --data '{"data": [[5.1, 3.5, 1.4, 0.2]], "method": "predict_proba"}'
  trainctl deploy update digits --model digits:2 --wait
  trainctl deploy logs digits --replica 0 -f
  trainctl deploy regenerate-key digits
  trainctl deploy delete digits --yes)");

  const auto add_field_options = [](CLI::App* command, DeploymentFields& fields) {
    command->add_option("--model", fields.models,
                        "NAME:VERSION, NAME@latest or NAME (latest); repeat for several");
    command->add_option("--entry-script", fields.entry_script,
                        "The script with init() and run(raw_data), relative to --source-dir");
    command->add_option("--source-dir", fields.source_dir,
                        "The directory uploaded as the deployment's code (default: .)");
    command->add_option("--replicas", fields.replicas, "Processes serving requests (default: 1)");
    command->add_option("--cpu", fields.cpu, "CPU cores per replica (recorded)");
    command->add_option("--memory-gb", fields.memory_gb, "Memory per replica in GB (recorded)");
    command->add_option("--env", fields.env, "NAME=value for the replicas (repeatable)");
    command->add_option("--description", fields.description, "What the deployment is for");
    command->add_flag("--wait", fields.wait,
                      "Wait until it is Healthy; exit 3 when it ends Failed");
    command->add_option("--timeout", fields.timeout, "With --wait: give up after this long (default 10m)");
  };

  auto create_options = std::make_shared<DeployCreateOptions>();
  auto* create = group->add_subcommand(
      "create",
      "Deploy model versions behind a scoring route, with your entry script or no-code");
  create->add_option("NAME", create_options->name, "Deployment name")->required();
  add_field_options(create, create_options->fields);
  create->footer(R"(
Without --entry-script (and --source-dir), the deployment is no-code: trainctld's built-in
scoring script serves the one --model by the framework it was registered with:
  sklearn   model.pkl, model.pickle or model.joblib at the top of the model's files, else its
            only .pkl/.pickle/.joblib file; predict(), or predict_proba() when the request says
            "method": "predict_proba"
  pytorch   model.pt or model.pth at the top, else its only .pt/.pth file, saved as TorchScript
            (torch.jit.script(model).save(...)); a state dict is refused
Request {"data": [[number, ...], ...]}, response {"predictions": [...]}. A model it cannot
serve is refused at once (exit 2) with what to do.)");
  on_parsed(create, selected, create_options, run_deploy_create);

  auto* list = group->add_subcommand("list", "List deployments");
  list->alias("ls");
  on_parsed(list, selected, run_deploy_list);

  auto show_options = std::make_shared<DeployShowOptions>();
  auto* show = group->add_subcommand("show", "A deployment's state, models and replicas");
  show->add_option("NAME", show_options->name, "Deployment name")->required();
  show->add_flag("--show-key", show_options->show_key, "Also print its scoring key");
  on_parsed(show, selected, show_options, run_deploy_show);

  auto logs_options = std::make_shared<DeployLogsOptions>();
  auto* logs = group->add_subcommand(
      "logs", "Print the replicas' logs (init() tracebacks, prints of run()), merged or one replica");
  logs->add_option("NAME", logs_options->name, "Deployment name")->required();
  logs->add_option("--replica", logs_options->replica, "Only replica N (from 0)");
  logs->add_flag("-f,--follow", logs_options->follow, "Keep printing new lines until Ctrl-C");
  on_parsed(logs, selected, logs_options, run_deploy_logs);

  auto update_options = std::make_shared<DeployUpdateOptions>();
  auto* update = group->add_subcommand(
      "update", "Change models, code, replicas or settings: a rolling update, no request dropped");
  update->add_option("NAME", update_options->name, "Deployment name")->required();
  add_field_options(update, update_options->fields);
  update->footer(R"(
--model replaces the model list; --env adds to the variables; --source-dir or --entry-script
uploads the code again (from . when only --entry-script is given).)");
  on_parsed(update, selected, update_options, run_deploy_update);

  auto delete_options = std::make_shared<DeployDeleteOptions>();
  auto* remove = group->add_subcommand("delete", "Stop the replicas and delete the deployment");
  remove->add_option("NAME", delete_options->name, "Deployment name")->required();
  remove->add_flag("-y,--yes", delete_options->yes, "Do not ask on a terminal");
  on_parsed(remove, selected, delete_options, run_deploy_delete);

  auto key_options = std::make_shared<DeployKeyOptions>();
  auto* regenerate = group->add_subcommand(
      "regenerate-key", "Print a new scoring key for a deployment; the old key stops working");
  regenerate->add_option("NAME", key_options->name, "Deployment name")->required();
  regenerate->footer(R"(
The new key works at once and the old one is refused (401) from then on: give the new key to every
client of the score route. `-o json` prints {"name", "scoring_key"}.

Example:
  KEY=$(trainctl deploy regenerate-key digits -o json | jq -r .scoring_key))");
  on_parsed(regenerate, selected, key_options, run_deploy_regenerate_key);

  auto invoke_options = std::make_shared<DeployInvokeOptions>();
  auto* invoke = group->add_subcommand(
      "invoke", "Score data with a deployment and print run()'s JSON result");
  invoke->add_option("NAME", invoke_options->name, "Deployment name")->required();
  invoke->add_option("--data", invoke_options->data, "JSON, @FILE or @- (stdin)")->required();
  invoke->footer(R"(
run() raising is an error with its message (exit 1); no ready replica exits 8.)");
  on_parsed(invoke, selected, invoke_options, run_deploy_invoke);
}

}  // namespace trainctl::cli
