// `trainctl compute create|list|show|update|delete` (docs/cli.md, docs/computes.md).
#include <chrono>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "command_table.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/cli/commands/compute.hpp"

namespace trainctl::cli {

using nlohmann::json;

namespace {

// How often --wait asks the service how a target is doing.
constexpr auto k_wait_poll = std::chrono::milliseconds(200);
constexpr std::string_view k_slurm = "slurm";

struct ComputeNameOptions {
  std::string name;
};

struct ComputeDeleteOptions {
  std::string name;
  bool force = false;
  bool wait = false;
};

Result<void> validate(const ComputeNameOptions&) { return {}; }
Result<void> validate(const ComputeDeleteOptions&) { return {}; }

// ---- printing -----------------------------------------------------------------------------------

std::string usage_of(const json& compute, const char* key) {
  return format_field(compute.value("usage", json::object()), key);
}

// "busy/max" of a whole compute resource.
std::string format_nodes(const json& compute) {
  return fmt::format("{}/{}", usage_of(compute, "busy_nodes"), format_field(compute, "max_nodes"));
}

const ResourceKind& compute_kind() {
  static const ResourceKind kind{
      .name = "compute",
      .columns = {{.header = "NAME", .pointer = "/name"},
                  {.header = "TYPE", .pointer = "/type"},
                  {.header = "STATE", .pointer = "/state"},
                  {.header = "NODES", .pointer = "", .format = format_nodes},
                  {.header = "GPUS/NODE", .pointer = "/gpus_per_node"},
                  {.header = "QUEUED", .pointer = "/usage/queued_runs"},
                  {.header = "CPUS/NODE", .pointer = "/cpus_per_node", .wide_only = true},
                  {.header = "PYTHON", .pointer = "/python", .wide_only = true},
                  {.header = "MESSAGE", .pointer = "/message", .wide_only = true}},
      .name_pointer = "/name"};
  return kind;
}

// ---- waiting ------------------------------------------------------------------------------------

// The target once it is no longer Creating; Ctrl-C stops waiting (ErrorCode::interrupted).
Result<json> wait_until_provisioned(client::ApiClient& client, const std::string& workspace,
                                    const std::string& name) {
  InterruptScope interrupts;
  while (true) {
    auto compute = client.get_compute(workspace, name);
    if (!compute || compute->value("state", "") != "Creating") return compute;
    if (InterruptScope::interrupted()) return fail(ErrorCode::interrupted, "stopped waiting");
    std::this_thread::sleep_for(k_wait_poll);
  }
}

Result<void> wait_until_gone(client::ApiClient& client, const std::string& workspace,
                             const std::string& name) {
  InterruptScope interrupts;
  while (true) {
    auto compute = client.get_compute(workspace, name);
    if (!compute && compute.error().code == ErrorCode::not_found) return {};
    if (!compute) return fail(compute.error());
    if (InterruptScope::interrupted()) return fail(ErrorCode::interrupted, "stopped waiting");
    std::this_thread::sleep_for(k_wait_poll);
  }
}

// ---- create and update --------------------------------------------------------------------------

// Prints what create or update did; with --wait, after provisioning ended (Failed: exit 1).
Result<int> report_put(Session& session, client::ApiClient& client, const json& stored,
                       const ComputeConfigOptions& options, std::string_view done) {
  auto& printer = session.printer();
  json compute = stored;
  if (options.wait) {
    auto provisioned = wait_until_provisioned(client, session.workspace(), options.name);
    if (!provisioned) return fail(provisioned.error());
    compute = std::move(*provisioned);
  }
  const auto state = compute.value("state", "");
  if (!printer.for_people()) {
    printer.print_resource(compute_kind(), compute);
  } else if (state == "Creating") {
    printer.message(fmt::format(
        "compute target {} {}; provisioning (see `trainctl compute show {}`, or use --wait)",
        options.name, done, options.name));
  } else if (state == "Succeeded") {
    printer.message(fmt::format("compute target {} {} and ready: {}", options.name, done,
                                compute.value("message", "")));
  }
  if (state != "Failed") return exit_code::k_success;
  printer.error(Error(ErrorCode::invalid_argument,
                      fmt::format("compute target {} failed to provision: {}", options.name,
                                  compute.value("message", ""))));
  return exit_code::k_error;
}

Result<int> run_compute_create(Session& session, const ComputeConfigOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto created = (*client)->put_compute(session.workspace(), options.name,
                                        compute_body(options, json::object()), true);
  if (!created) return fail(created.error());
  return report_put(session, **client, *created, options, "created");
}

Result<int> run_compute_update(Session& session, const ComputeConfigOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto current = (*client)->get_compute(session.workspace(), options.name);
  if (!current) return fail(current.error());
  auto updated = (*client)->put_compute(session.workspace(), options.name,
                                        compute_body(options, *current), false);
  if (!updated) return fail(updated.error());
  return report_put(session, **client, *updated, options, "updated");
}

// ---- list, show, delete -------------------------------------------------------------------------

Result<int> run_compute_list(Session& session) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto computes = (*client)->list_computes(session.workspace());
  if (!computes) return fail(computes.error());
  session.printer().print_list(compute_kind(), computes->value("items", json::array()));
  return exit_code::k_success;
}

Result<int> run_compute_show(Session& session, const ComputeNameOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto compute = (*client)->get_compute(session.workspace(), options.name);
  if (!compute) return fail(compute.error());
  session.printer().print_description(compute_kind(), *compute, describe_compute(*compute));
  return exit_code::k_success;
}

Result<int> run_compute_delete(Session& session, const ComputeDeleteOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto draining = (*client)->delete_compute(session.workspace(), options.name, options.force);
  if (!draining) return fail(draining.error());
  auto& printer = session.printer();
  if (*draining && options.wait) {
    printer.notice(fmt::format("canceling the runs of compute target {}...", options.name));
    if (auto gone = wait_until_gone(**client, session.workspace(), options.name); !gone) {
      return fail(gone.error());
    }
  }
  if (*draining && !options.wait) {
    printer.message(fmt::format(
        "compute target {} is being deleted: its runs are canceled, then it is removed",
        options.name));
  } else {
    printer.message(fmt::format("deleted compute target {}", options.name));
  }
  return exit_code::k_success;
}

// The configuration flags of create and update.
void add_config_options(CLI::App* command, ComputeConfigOptions& options) {
  command->add_option("NAME", options.name, "Compute target name")->required();
  command->add_option("--type", options.type,
                      "local: virtual nodes on trainctld's host; slurm: the nodes of a Slurm "
                      "partition");
  command->add_option("--max-nodes", options.max_nodes,
                      "The most nodes a run may take (1-1024): local, virtual nodes taken all at "
                      "once; slurm, the partition must have that many usable nodes");
  command->add_option("--cpus-per-node", options.cpus_per_node,
                      "local: CPUs of each node (0: all of the host's); slurm: not set, Slurm "
                      "knows");
  command->add_option("--gpus-per-node", options.gpus_per_node,
                      "GPUs of each node (0-64); local: given to its tasks through "
                      "CUDA_VISIBLE_DEVICES; slurm: nodes need that many GPUs in their GRES");
  command->add_option("--python", options.python,
                      "Interpreter of its runs, an absolute path (\"\": the service's --python); "
                      "slurm: on the nodes");
  command->add_option("--partition", options.partition,
                      "slurm: the partition of its runs (\"\": Slurm's default partition)")
      ->group("Slurm");
  command->add_option("--account", options.account,
                      "slurm: the account its jobs are charged to (\"\": the user's default)")
      ->group("Slurm");
  command->add_option("--qos", options.qos, "slurm: the QOS of its jobs (\"\": the default)")
      ->group("Slurm");
  command->add_option("--slurm-conf", options.slurm_conf,
                      "slurm: the cluster's slurm.conf on trainctld's host, an absolute path "
                      "(\"\": Slurm's own lookup, SLURM_CONF or /etc/slurm/slurm.conf)")
      ->group("Slurm");
  command->add_flag("--wait", options.wait,
                    "Wait until provisioned; exit 1 with the reason when it Failed");
}

}  // namespace

// ---- usage checks and the body ------------------------------------------------------------------

Result<void> validate(const ComputeConfigOptions& options) {
  for (const auto& [flag, path] :
       {std::pair{"--python", &options.python}, std::pair{"--slurm-conf", &options.slurm_conf}}) {
    if (*path && !(*path)->empty() && !(*path)->starts_with('/')) {
      return fail(ErrorCode::usage, "{} {}: an absolute path is required", flag, **path);
    }
  }
  struct SlurmFlag {
    std::string_view flag;
    std::string_view field;  // for the name rule; empty: not a Slurm name
    const std::optional<std::string>* value;
  };
  const SlurmFlag slurm_flags[] = {{"--partition", "partition", &options.partition},
                                   {"--account", "account", &options.account},
                                   {"--qos", "QOS", &options.qos},
                                   {"--slurm-conf", "", &options.slurm_conf}};
  for (const auto& [flag, field, value] : slurm_flags) {
    if (!*value) continue;
    if (!options.type.empty() && options.type != k_slurm) {
      return fail(ErrorCode::usage, "{} is for compute targets of --type slurm", flag);
    }
    if (field.empty()) continue;
    if (auto valid = api::validate_slurm_name(field, **value); !valid) {
      return fail(ErrorCode::usage, "{} {}: {}", flag, **value, valid.error().message);
    }
  }
  if (options.type == k_slurm && options.cpus_per_node) {
    return fail(ErrorCode::usage,
                "--cpus-per-node is not set for --type slurm: Slurm knows the CPUs of its nodes");
  }
  return {};
}

json compute_body(const ComputeConfigOptions& options, const json& current) {
  json body{{"type", current.value("type", "local")},
            {"max_nodes", current.value("max_nodes", 1)},
            {"cpus_per_node", current.value("cpus_per_node", 0)},
            {"gpus_per_node", current.value("gpus_per_node", 0)},
            {"python", current.value("python", "")}};
  if (const auto slurm = current.value("slurm", json::object()); !slurm.empty()) {
    body["partition"] = slurm.value("partition", "");
    body["account"] = slurm.value("account", "");
    body["qos"] = slurm.value("qos", "");
    body["slurm_conf"] = slurm.value("slurm_conf", "");
  }
  if (!options.type.empty()) body["type"] = options.type;
  if (options.max_nodes) body["max_nodes"] = *options.max_nodes;
  if (options.cpus_per_node) body["cpus_per_node"] = *options.cpus_per_node;
  if (options.gpus_per_node) body["gpus_per_node"] = *options.gpus_per_node;
  if (options.python) body["python"] = *options.python;
  if (options.partition) body["partition"] = *options.partition;
  if (options.account) body["account"] = *options.account;
  if (options.qos) body["qos"] = *options.qos;
  if (options.slurm_conf) body["slurm_conf"] = *options.slurm_conf;
  return body;
}

// ---- show ---------------------------------------------------------------------------------------

namespace {

// A Slurm setting for people: its value, or what Slurm picks when it is empty.
std::string slurm_setting(const json& slurm, const char* key, std::string_view when_empty) {
  const auto value = slurm.value(key, "");
  return value.empty() ? std::string(when_empty) : value;
}

Description describe_local(const json& compute) {
  const auto cpus = compute.value("cpus_per_node", 0);
  return Description{
      .fields = {{"Name", format_field(compute, "name")},
                 {"Type", format_field(compute, "type")},
                 {"State", format_field(compute, "state")},
                 {"Message", format_field(compute, "message")},
                 {"Nodes", format_nodes(compute) + " busy"},
                 {"Free nodes", usage_of(compute, "free_nodes")},
                 {"CPUs per node", cpus == 0 ? "all of the host's" : std::to_string(cpus)},
                 {"GPUs per node", format_field(compute, "gpus_per_node")},
                 {"Python", compute.value("python", "").empty() ? "the service's --python"
                                                                : format_field(compute, "python")},
                 {"Conda", format_field(compute, "conda")},
                 {"Active runs", usage_of(compute, "active_runs")},
                 {"Queued runs", usage_of(compute, "queued_runs")},
                 {"Created", format_time(compute.value("created_at", json()))},
                 {"Updated", format_time(compute.value("updated_at", json()))}},
      .sections = {}};
}

// "Slurm's default", with its name when Slurm said which it is.
std::string default_partition(const json& compute) {
  const auto name = compute.value("nodes_partition", "");
  return name.empty() ? "Slurm's default" : fmt::format("Slurm's default ({})", name);
}

Description describe_slurm(const json& compute) {
  const auto slurm = compute.value("slurm", json::object());
  Description description{
      .fields = {{"Name", format_field(compute, "name")},
                 {"Type", format_field(compute, "type")},
                 {"State", format_field(compute, "state")},
                 {"Message", format_field(compute, "message")},
                 {"Partition", slurm_setting(slurm, "partition", default_partition(compute))},
                 {"Account", slurm_setting(slurm, "account", "the user's default")},
                 {"QOS", slurm_setting(slurm, "qos", "the default")},
                 {"slurm.conf", slurm_setting(slurm, "slurm_conf",
                                              "Slurm's own lookup (SLURM_CONF, /etc/slurm)")},
                 {"Max nodes", format_field(compute, "max_nodes") + " per run"},
                 {"GPUs per node", format_field(compute, "gpus_per_node")},
                 {"Python", compute.value("python", "").empty() ? "the Slurm engine's choice"
                                                                : format_field(compute, "python")},
                 {"Active runs", usage_of(compute, "active_runs")},
                 {"Queued runs", usage_of(compute, "queued_runs")},
                 {"Created", format_time(compute.value("created_at", json()))},
                 {"Updated", format_time(compute.value("updated_at", json()))}},
      .sections = {}};
  if (compute.contains("nodes_error")) {
    description.fields.emplace_back("Nodes", "unknown: " + format_field(compute, "nodes_error"));
    return description;
  }
  const auto nodes = compute.value("nodes", json::array());
  Description::Section section{
      .title = fmt::format("Nodes of partition {}", compute.value("nodes_partition", "")),
      .headers = {"NAME", "STATE", "CPUS", "GRES"},
      .rows = {}};
  for (const auto& node : nodes) {
    section.rows.push_back({format_field(node, "name"), format_field(node, "state"),
                            format_field(node, "cpus"), format_field(node, "gres")});
  }
  description.sections.push_back(std::move(section));
  return description;
}

}  // namespace

Description describe_compute(const json& compute) {
  if (compute.value("type", "") == k_slurm) return describe_slurm(compute);
  return describe_local(compute);
}

void add_compute_commands(CLI::App& app, Action& selected) {
  auto* group = app.add_subcommand("compute", "Create, list, show, update and delete compute targets");
  group->require_subcommand(1);
  group->footer(R"(
Every workspace has the target 'local', which specs use unless they name another.

Examples:
  trainctl compute create cpu4 --type local --max-nodes 4 --wait
  trainctl compute create gpu --max-nodes 2 --gpus-per-node 1 --python /opt/py311/bin/python3
  trainctl compute create hpc --type slurm --partition debug --max-nodes 3 \
      --slurm-conf /etc/slurm/slurm.conf --wait
  trainctl compute show hpc              # for slurm: the partition's nodes and their states
  trainctl compute list
  trainctl compute update local --max-nodes 2
  trainctl compute delete cpu4 --force --wait)");

  auto create_options = std::make_shared<ComputeConfigOptions>();
  auto* create = group->add_subcommand("create", "Create a compute target (Creating until provisioned)");
  add_config_options(create, *create_options);
  on_parsed(create, selected, create_options, run_compute_create);

  auto* list = group->add_subcommand("list", "List compute targets with their busy nodes and queues");
  list->alias("ls");
  on_parsed(list, selected, run_compute_list);

  auto show_options = std::make_shared<ComputeNameOptions>();
  auto* show = group->add_subcommand("show", "Show a compute target and what it holds now");
  show->add_option("NAME", show_options->name, "Compute target name")->required();
  on_parsed(show, selected, show_options, run_compute_show);

  auto update_options = std::make_shared<ComputeConfigOptions>();
  auto* update = group->add_subcommand(
      "update", "Change a compute target's configuration (the flags given); it is provisioned again");
  add_config_options(update, *update_options);
  on_parsed(update, selected, update_options, run_compute_update);

  auto delete_options = std::make_shared<ComputeDeleteOptions>();
  auto* remove = group->add_subcommand(
      "delete", "Delete a compute target; refused while runs use it, unless --force cancels them");
  remove->add_option("NAME", delete_options->name, "Compute target name")->required();
  remove->add_flag("--force", delete_options->force,
                   "Cancel its queued and running runs, then delete it once they have ended");
  remove->add_flag("--wait", delete_options->wait, "With --force: wait until it is gone");
  on_parsed(remove, selected, delete_options, run_compute_delete);
}

}  // namespace trainctl::cli
