// `trainctl register` and `trainctl model list|show|download|delete` (docs/models.md).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "command_table.hpp"
#include "transfers.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/cli/commands/dataset.hpp"
#include "trainctl/cli/resources.hpp"

namespace trainctl::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr size_t k_hash_shown = 12;

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

std::string text_of(const json& object, const char* key) {
  return format_cell(object.contains(key) ? object.at(key) : json());
}

bool for_people(const Printer& printer) {
  const auto format = printer.options().format;
  return format == OutputFormat::table || format == OutputFormat::wide;
}

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
  auto ref = parse_model_ref(options.ref);
  if (!ref) return fail(ref.error());
  if (ref->version == "latest") {
    return fail(ErrorCode::usage, "delete takes NAME or NAME:VERSION, not @latest");
  }
  return {};
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
  const auto framework = text_of(version, "framework");
  return framework_version.empty() ? framework : framework + " " + framework_version;
}

// What `model show NAME:VERSION` prints for people: the version, its lineage and its files.
Description describe_model_version(const json& version) {
  std::string tags;
  const auto tag_map = version.value("tags", json::object());
  for (const auto& [key, value] : tag_map.items()) {
    tags += fmt::format("{}{}={}", tags.empty() ? "" : ", ", key, format_cell(value));
  }
  Description description{
      .fields = {{"Name", text_of(version, "name")},
                 {"Version", text_of(version, "version")},
                 {"Description", text_of(version, "description")},
                 {"Tags", tags.empty() ? "-" : tags},
                 {"Framework", framework_text(version)},
                 {"Resources", resources_text(version)},
                 {"Run", text_of(version, "run_id")},
                 {"Experiment", text_of(version, "experiment")},
                 {"Snapshot", text_of(version, "snapshot_id")},
                 {"Path in run", text_of(version, "path")},
                 {"Files", text_of(version, "file_count")},
                 {"Size", format_bytes(version.value("total_size", json()))},
                 {"Created", format_time(version.value("created_at", json()))}},
      .sections = {}};
  Description::Section inputs{
      .title = "Datasets", .headers = {"INPUT", "DATASET", "VERSION"}, .rows = {}};
  for (const auto& input : version.value("inputs", json::array())) {
    inputs.rows.push_back(
        {text_of(input, "name"), text_of(input, "dataset"), text_of(input, "version")});
  }
  if (!inputs.rows.empty()) description.sections.push_back(std::move(inputs));
  Description::Section files{.title = "Files", .headers = {"PATH", "SIZE", "SHA256"}, .rows = {}};
  for (const auto& file : version.value("files", json::array())) {
    files.rows.push_back({text_of(file, "path"), format_bytes(file.value("size", json())),
                          file.value("sha256", "").substr(0, k_hash_shown)});
  }
  description.sections.push_back(std::move(files));
  return description;
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
  auto version = (*client)->register_model(session.workspace(), register_body(options));
  if (!version) return fail(version.error());
  auto& printer = session.printer();
  if (!for_people(printer)) {
    printer.print_resource(model_version_kind(), *version);
    return exit_code::k_success;
  }
  const auto files = version->value("file_count", int64_t{0});
  printer.message(fmt::format("registered {} version {} from run {} ({} file{}, {})",
                              text_of(*version, "name"), text_of(*version, "version"),
                              text_of(*version, "run_id"), files, files == 1 ? "" : "s",
                              format_bytes(version->value("total_size", json(0)))));
  return exit_code::k_success;
}

Result<int> run_model_list(Session& session) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto models = (*client)->list_models(session.workspace());
  if (!models) return fail(models.error());
  session.printer().print_list(model_kind(), models->value("items", json::array()));
  return exit_code::k_success;
}

Result<int> run_model_show(Session& session, const ModelRefOptions& options) {
  const auto ref = parse_model_ref(options.ref).value();
  auto client = session.client();
  if (!client) return fail(client.error());
  auto& printer = session.printer();
  if (!ref.version.empty()) {
    auto version = (*client)->get_model_version(session.workspace(), ref.name, ref.version);
    if (!version) return fail(version.error());
    printer.print_description(model_version_kind(), *version, describe_model_version(*version));
    return exit_code::k_success;
  }
  auto model = (*client)->get_model(session.workspace(), ref.name);
  if (!model) return fail(model.error());
  if (for_people(printer)) {
    printer.print_list(model_version_kind(), model->value("versions", json::array()));
  } else {
    printer.print_resource(model_kind(), *model);
  }
  return exit_code::k_success;
}

Result<int> run_model_download(Session& session, const ModelDownloadOptions& options) {
  const auto ref = parse_model_ref(options.ref).value();
  auto client = session.client();
  if (!client) return fail(client.error());
  auto version = (*client)->get_model_version(session.workspace(), ref.name,
                                              ref.version.empty() ? "latest" : ref.version);
  if (!version) return fail(version.error());
  const auto number = std::to_string(version->value("version", int64_t{0}));
  const auto files = version->value("files", json::array());
  const fs::path dest_dir = options.dest.empty() ? fs::path(ref.name) : fs::path(options.dest);
  auto downloaded = download_manifest(
      session.printer(), files, dest_dir,
      [&](const std::string& path, const fs::path& dest, const client::DownloadOptions& expected) {
        return (*client)->download_model_file(session.workspace(), ref.name, number, path, dest,
                                              expected);
      });
  if (!downloaded) return fail(downloaded.error());
  session.printer().message(fmt::format(
      "downloaded {} version {} ({} file{}, {}) to {}{}", ref.name, number, files.size(),
      files.size() == 1 ? "" : "s", format_bytes(json(downloaded->total_bytes)), dest_dir.string(),
      downloaded->kept == 0 ? std::string()
                            : fmt::format("; {} already there", downloaded->kept)));
  return exit_code::k_success;
}

Result<int> run_model_delete(Session& session, const ModelDeleteOptions& options) {
  const auto ref = parse_model_ref(options.ref).value();
  const auto what = ref.version.empty() ? fmt::format("every version of model {}", ref.name)
                                        : fmt::format("model {} version {}", ref.name, ref.version);
  if (!options.yes && !confirmed(session.printer(), fmt::format("delete {}?", what))) {
    return fail(ErrorCode::interrupted, "not deleted");
  }
  auto client = session.client();
  if (!client) return fail(client.error());
  if (auto deleted = (*client)->delete_model(session.workspace(), ref.name, ref.version);
      !deleted) {
    return fail(deleted.error());
  }
  session.printer().message(fmt::format("deleted {}", what));
  return exit_code::k_success;
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
  command->add_option("--run", options->run_id, "The Completed run the files come from")
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
