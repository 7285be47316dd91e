#include "trainctl/service/slurm/slurm_target.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainctl/service/slurm/sinfo.hpp"
#include "trainctl/util/strings.hpp"

namespace trainctl::service::slurm {

namespace {

// How many nodes that do not count a message names before it says how many more there are.
constexpr size_t k_max_named_nodes = 5;

std::string plural(size_t count, std::string_view word) {
  return fmt::format("{} {}{}", count, word, count == 1 ? "" : "s");
}

std::string partition_names(const std::vector<Partition>& partitions) {
  if (partitions.empty()) return "none";
  std::vector<std::string> names;
  for (const auto& partition : partitions) names.push_back(partition.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

// Where the Slurm commands look for the cluster, for messages.
std::string conf_hint(const SlurmSettings& settings) {
  if (settings.conf.empty()) {
    return "slurm_conf is empty, so Slurm finds its own: trainctld's SLURM_CONF, else "
           "/etc/slurm/slurm.conf";
  }
  return fmt::format("slurm_conf is {}", settings.conf);
}

Error cannot_ask(const ComputeRecord& target, const Error& why) {
  if (why.code == ErrorCode::not_found) return Error{ErrorCode::unavailable, why.message};
  return Error{ErrorCode::unavailable,
               fmt::format("Slurm does not answer: {}; check that trainctld's host reaches the "
                           "controller and that {}",
                           why.message, conf_hint(target.slurm))};
}

Result<Partition> chosen_partition(const ComputeRecord& target,
                                   const std::vector<Partition>& partitions) {
  const std::string& wanted = target.slurm.partition;
  if (wanted.empty()) {
    const auto found = std::ranges::find_if(partitions, &Partition::is_default);
    if (found != partitions.end()) return *found;
    return fail(ErrorCode::not_found,
                "Slurm has no default partition; name one with `trainctl compute update {} "
                "--partition NAME` (partitions: {})",
                target.name, partition_names(partitions));
  }
  const auto found = std::ranges::find(partitions, wanted, &Partition::name);
  if (found != partitions.end()) return *found;
  std::vector<std::string_view> names;
  for (const auto& partition : partitions) names.push_back(partition.name);
  const auto near = util::closest_match(wanted, names);
  return fail(ErrorCode::not_found,
              "partition '{}' not found; partitions: {}{}{}{}; choose one with `trainctl compute "
              "update {} --partition NAME`",
              wanted, partition_names(partitions), near ? " (did you mean '" : "",
              near ? *near : "", near ? "'?)" : "", target.name);
}

// "n3 (down), n2 (drain), and 4 more"
std::string named_nodes(const std::vector<std::string>& descriptions) {
  const auto shown_count = std::min(descriptions.size(), k_max_named_nodes);
  const std::vector<std::string> shown(descriptions.begin(),
                                       descriptions.begin() + static_cast<ptrdiff_t>(shown_count));
  std::string text = fmt::format("{}", fmt::join(shown, ", "));
  if (descriptions.size() > shown.size()) {
    text += fmt::format(", and {} more", descriptions.size() - shown.size());
  }
  return text;
}

}  // namespace

bool node_counts(std::string_view state) {
  static constexpr std::array<std::string_view, 5> k_counted{"idle", "mix", "alloc", "comp",
                                                             "plnd"};
  static constexpr std::string_view k_flags = "*~#!%$@^-";
  const auto flags_at = state.find_first_of(k_flags);
  const std::string_view base = state.substr(0, flags_at);
  const std::string_view flags =
      flags_at == std::string_view::npos ? std::string_view() : state.substr(flags_at);
  if (flags.find_first_of("*$") != std::string_view::npos) return false;
  return std::ranges::find(k_counted, base) != k_counted.end();
}

Result<TargetPartition> target_partition(const ComputeRecord& target, SlurmClient& client,
                                         std::chrono::milliseconds timeout) {
  auto partitions = client.partitions(target.slurm, timeout);
  if (!partitions) return fail(cannot_ask(target, partitions.error()));
  auto partition = chosen_partition(target, *partitions);
  if (!partition) return fail(partition.error());
  auto nodes = client.nodes(target.slurm, partition->name, timeout);
  if (!nodes) return fail(cannot_ask(target, nodes.error()));
  return TargetPartition{std::move(*partition), std::move(*nodes)};
}

Provisioning provision_slurm_target(const ComputeRecord& target, SlurmClient& client,
                                    std::chrono::milliseconds timeout) {
  auto found = target_partition(target, client, timeout);
  if (!found) return {"Failed", found.error().message};
  const auto& [partition, nodes] = *found;
  const std::string label =
      partition.name + (target.slurm.partition.empty() ? " (Slurm's default)" : "");
  if (partition.availability != "up") {
    return {"Failed",
            fmt::format("partition {} is {} in Slurm, so its jobs would not start; once an "
                        "administrator sets it up (scontrol update partitionname={} state=up), "
                        "run `trainctl compute update {}`",
                        label, partition.availability, partition.name, target.name)};
  }

  const int gpus = target.gpus_per_node;
  std::vector<std::string> not_counted;
  bool some_down = false;       // nodes not counted for their state
  bool some_lack_gpus = false;  // nodes not counted for their GPUs
  size_t counted = 0;
  int cpus = 0;
  for (const auto& node : nodes) {
    if (!node_counts(node.state)) {
      some_down = true;
      not_counted.push_back(fmt::format("{} ({})", node.name, node.state));
    } else if (gpus > 0 && gpus_of(node.gres) < gpus) {
      some_lack_gpus = true;
      const auto has = static_cast<size_t>(gpus_of(node.gres));
      not_counted.push_back(
          fmt::format("{} ({})", node.name, has == 0 ? "no GPU" : plural(has, "GPU")));
    } else {
      ++counted;
      cpus += node.cpus;
    }
  }
  const std::string with_gpus =
      gpus > 0 ? fmt::format(" with {} each", plural(static_cast<size_t>(gpus), "GPU")) : "";
  if (counted >= static_cast<size_t>(target.max_nodes)) {
    return {"Succeeded", fmt::format("partition {}: {} of {} usable{}, {}", label, counted,
                                     plural(nodes.size(), "node"), with_gpus,
                                     plural(static_cast<size_t>(cpus), "CPU"))};
  }
  std::string message =
      not_counted.empty()
          ? fmt::format("partition {} has {}, max_nodes is {}", label, plural(nodes.size(), "node"),
                        target.max_nodes)
          : fmt::format("partition {} has {} of {} usable{}, max_nodes is {} (not counted: {})",
                        label, counted, plural(nodes.size(), "node"), with_gpus, target.max_nodes,
                        named_nodes(not_counted));
  std::vector<std::string> remedies;
  if (counted > 0) {
    remedies.push_back(fmt::format("lower it with `trainctl compute update {} --max-nodes {}`",
                                   target.name, counted));
  }
  if (some_down) {
    remedies.push_back(
        fmt::format("bring the nodes back, then run `trainctl compute update {}`", target.name));
  }
  if (some_lack_gpus) {
    remedies.push_back("lower --gpus-per-node, or choose a partition with GPUs with --partition");
  }
  if (not_counted.empty()) remedies.emplace_back("choose a larger partition with --partition");
  message += fmt::format("; {}", fmt::join(remedies, "; or "));
  return {"Failed", std::move(message)};
}

}  // namespace trainctl::service::slurm
