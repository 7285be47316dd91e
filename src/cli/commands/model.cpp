// `trainctl register` and `trainctl model list|show|download|delete` (docs/models.md).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "command_table.hpp"
#include "trainctl/cli/commands/sweep.hpp"
#include "transfers.hpp"
#include "versioned_assets.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/cli/commands/dataset.hpp"
#include "trainctl/cli/resources.hpp"

namespace trainctl::cli {

namespace {

using nlohmann::json;

struct RegisterOptions {
  std::string run_id;
  std::string name;
  std::string path;
  std::string framework;  // empty: the service's default (custom)
  std::string framework_version;
  double cpu = 0;  // 0: not given
  double memory_gb = 0;
  std::string description;
  std::vector<std::string> tags;  // "key=value"
};

struct ModelRefOptions {
  std::string ref;  // NAME, NAME:VERSION or NAME@latest
};

struct ModelDownloadOptions {
  std::string ref;
  std::string dest;  // empty: ./NAME
};

struct ModelDeleteOptions {
  std::string ref;
  bool yes = false;
};

// A model reference, NAME[:VERSION|@latest], parsed as a dataset reference is, with messages
// that name a model.
Result<DatasetRef> parse_model_ref(std::string_view text) {
  if (auto valid = api::validate_name("model", text.substr(0, text.find_first_of(":@"))); !valid) {
    return fail(ErrorCode::usage, "{}", valid.error().message);
  }
  return parse_dataset_ref(text);
}

Result<void> validate(const RegisterOptions& options) {
  if (auto valid = api::validate_name("model", options.name); !valid) {
    return fail(ErrorCode::usage, "{}", valid.error().message);
  }
  if (auto valid = api::validate_name("run", options.run_id); !valid) {
    return fail(ErrorCode::usage, "--run: {}", valid.error().message);
  }
  if (auto tags = tags_of(options.tags); !tags) return fail(tags.error());
  return {};
}

Result<void> validate(const ModelRefOptions& options) {
  if (auto ref = parse_model_ref(options.ref); !ref) return fail(ref.error());
  return {};
}

Result<void> validate(const ModelDownloadOptions& options) {
  return validate(ModelRefOptions{options.ref});
}

Result<void> validate(const ModelDeleteOptions& options) {
  return validate_delete_ref(parse_model_ref(options.ref));
}

// "2 CPU, 4 GB" from the version's resource configuration; "-" when none was given.
std::string resources_text(const json& version) {
  std::vector<std::string> parts;
  if (const auto cpu = version.value("cpu", json()); cpu.is_number()) {
    parts.push_back(fmt::format("{:g} CPU", cpu.get<double>()));
  }
  if (const auto memory = version.value("memory_gb", json()); memory.is_number()) {
    parts.push_back(fmt::format("{:g} GB", memory.get<double>()));
  }
  return parts.empty() ? "-" : fmt::format("{}", fmt::join(parts, ", "));
}

// "framework 1.2.1", or the framework alone.
std::string framework_text(const json& version) {
  const auto framework_version = version.value("framework_version", "");
  const auto framework = format_field(version, "framework");
  return framework_version.empty() ? framework : framework + " " + framework_version;
}

// What `model show NAME:VERSION` prints for people: the version, its lineage and its files.
Description describe_model_version(const json& version) {
  Description description{
      .fields = {{"Name", format_field(version, "name")},
                 {"Version", format_field(version, "version")},
                 {"Description", format_field(version, "description")},
                 {"Tags", format_tags(version.value("tags", json::object()))},
                 {"Framework", framework_text(version)},
                 {"Resources", resources_text(version)},
                 {"Run", format_field(version, "run_id")},
                 {"Experiment", format_field(version, "experiment")},
                 {"Snapshot", format_field(version, "snapshot_id")},
                 {"Path in run", format_field(version, "path")},
                 {"Files", format_field(version, "file_count")},
                 {"Size", format_bytes(version.value("total_size", json()))},
                 {"Created", format_time(version.value("created_at", json()))}},
      .sections = {}};
  Description::Section inputs{
      .title = "Datasets", .headers = {"INPUT", "DATASET", "VERSION"}, .rows = {}};
  for (const auto& input : version.value("inputs", json::array())) {
    inputs.rows.push_back({format_field(input, "name"), format_field(input, "dataset"),
                           format_field(input, "version")});
  }
  if (!inputs.rows.empty()) description.sections.push_back(std::move(inputs));
  description.sections.push_back(files_section(version.value("files", json::array()), false));
  return description;
}

const VersionedAsset& model_asset() {
  static const VersionedAsset asset{.noun = "model",
                                    .kind = model_kind(),
                                    .version_kind = model_version_kind(),
                                    .describe_version = describe_model_version,
                                    .list = &client::ApiClient::list_models,
                                    .get = &client::ApiClient::get_model,
                                    .get_version = &client::ApiClient::get_model_version,
                                    .remove = &client::ApiClient::delete_model,
                                    .download_file = &client::ApiClient::download_model_file};
  return asset;
}

json register_body(const RegisterOptions& options) {
  json body{{"name", options.name},
            {"run_id", options.run_id},
            {"path", options.path},
            {"description", options.description},
            {"tags", tags_of(options.tags).value()}};
  if (!options.framework.empty()) body["framework"] = options.framework;
  if (!options.framework_version.empty()) body["framework_version"] = options.framework_version;
  if (options.cpu > 0) body["cpu"] = options.cpu;
  if (options.memory_gb > 0) body["memory_gb"] = options.memory_gb;
  return body;
}

Result<int> run_register(Session& session, const RegisterOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  // A sweep's id stands for the run of its best trial.
  auto run_id = resolve_run_or_sweep(**client, session.workspace(), options.run_id);
  if (!run_id) return fail(run_id.error());
  RegisterOptions resolved = options;
  resolved.run_id = *run_id;
  auto version = (*client)->register_model(session.workspace(), register_body(resolved));
  if (!version) return fail(version.error());
  auto& printer = session.printer();
  if (!printer.for_people()) {
    printer.print_resource(model_version_kind(), *version);
    return exit_code::k_success;
  }
  const auto files = version->value("file_count", int64_t{0});
  printer.message(fmt::format("registered {} version {} from run {} ({} file{}, {})",
                              format_field(*version, "name"), format_field(*version, "version"),
                              format_field(*version, "run_id"), files, files == 1 ? "" : "s",
                              format_bytes(version->value("total_size", json(0)))));
  return exit_code::k_success;
}

Result<int> run_model_list(Session& session) { return run_asset_list(session, model_asset()); }

Result<int> run_model_show(Session& session, const ModelRefOptions& options) {
  return run_asset_show(session, model_asset(), parse_model_ref(options.ref).value());
}

Result<int> run_model_download(Session& session, const ModelDownloadOptions& options) {
  return run_asset_download(session, model_asset(), parse_model_ref(options.ref).value(),
                            options.dest);
}

Result<int> run_model_delete(Session& session, const ModelDeleteOptions& options) {
  return run_asset_delete(session, model_asset(), parse_model_ref(options.ref).value(),
                          options.yes);
}

void add_register_command(CLI::App& app, Action& selected) {
  auto options = std::make_shared<RegisterOptions>();
  auto* command = app.add_subcommand(
      "register", "Register a new model version from the files of a Completed run");
  command->footer(R"(
The files are copied from the run's outputs on the service, so the version never changes, even
if the run is deleted. The version records its run, experiment, snapshot and datasets.

Examples:
  trainctl register --run run-abc123 --name digits --path outputs/model --framework sklearn
  trainctl register --run run-abc123 --name digits --path outputs/model.pkl --cpu 1 --memory-gb 2)");
  command->add_option("--run", options->run_id,
                      "The Completed run the files come from, or a sweep: its best trial's run")
      ->required();
  command->add_option("--name", options->name, "Model name (a new version of it is made)")
      ->required();
  command->add_option("--path", options->path,
                      "A file or directory in the run's outputs, e.g. outputs/model")
      ->required();
  command->add_option("--framework", options->framework, "What the model is (default: custom)")
      ->check(CLI::IsMember({"tensorflow", "pytorch", "sklearn", "onnx", "custom"}));
  command->add_option("--framework-version", options->framework_version,
                      "The framework's version, e.g. 1.2.1");
  command->add_option("--cpu", options->cpu, "CPUs a deployment of it needs")
      ->check(CLI::PositiveNumber);
  command->add_option("--memory-gb", options->memory_gb, "Memory (GB) a deployment of it needs")
      ->check(CLI::PositiveNumber);
  command->add_option("--description", options->description, "What the model is for");
  command->add_option("--tag", options->tags, "key=value (repeatable)");
  on_parsed(command, selected, options, run_register);
}

void add_model_group(CLI::App& app, Action& selected) {
  auto* group = app.add_subcommand("model", "List, show, download and delete registered models");
  group->require_subcommand(1);
  group->footer(R"(
Examples:
  trainctl model list
  trainctl model show digits          (its versions)
  trainctl model show digits:2        (one version: lineage and files)
  trainctl model download digits@latest --dest ./digits-model
  trainctl model delete digits:1 --yes)");

  auto* list = group->add_subcommand("list", "List models");
  list->alias("ls");
  on_parsed(list, selected, run_model_list);

  auto show_options = std::make_shared<ModelRefOptions>();
  auto* show = group->add_subcommand(
      "show",
      "A model's versions (NAME), or one version with its lineage and files (NAME:N, NAME@latest)");
  show->add_option("MODEL", show_options->ref, "NAME, NAME:VERSION or NAME@latest")->required();
  on_parsed(show, selected, show_options, run_model_show);

  auto download_options = std::make_shared<ModelDownloadOptions>();
  auto* download = group->add_subcommand(
      "download", "Download every file of a version (default: latest), verified and resumable");
  download->add_option("MODEL", download_options->ref, "NAME, NAME:VERSION or NAME@latest")
      ->required();
  download->add_option("--dest", download_options->dest, "Where to write (default: ./NAME)");
  on_parsed(download, selected, download_options, run_model_download);

  auto delete_options = std::make_shared<ModelDeleteOptions>();
  auto* remove = group->add_subcommand(
      "delete", "Delete a version (NAME:N) or every version (NAME), unless a deployment uses it");
  remove->add_option("MODEL", delete_options->ref, "NAME or NAME:VERSION")->required();
  remove->add_flag("-y,--yes", delete_options->yes, "Do not ask on a terminal");
  on_parsed(remove, selected, delete_options, run_model_delete);
}

}  // namespace

void add_model_commands(CLI::App& app, Action& selected) {
  add_register_command(app, selected);
  add_model_group(app, selected);
}

}  // namespace trainctl::cli
