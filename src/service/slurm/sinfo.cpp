#include "trainctl/service/slurm/sinfo.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include <fmt/format.h>

#include "trainctl/util/strings.hpp"

namespace trainctl::service::slurm {

namespace {

// sinfo's -o fields: %P partition ('*' after the default one), %a its availability, %N node
// name, %t short node state, %c CPUs, %G generic resources.
constexpr std::string_view k_partition_format = "%P|%a";
constexpr std::string_view k_node_format = "%N|%t|%c|%G";
constexpr std::string_view k_conf_variable = "SLURM_CONF";
// What sinfo prints for a node without generic resources.
constexpr std::string_view k_no_gres = "(null)";

// The non-empty lines of `output`, without their line ends.
std::vector<std::string_view> lines_of(std::string_view output) {
  std::vector<std::string_view> lines;
  for (auto line : util::split(output, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::unexpected<Error> unexpected_line(std::string_view line, std::string_view expected) {
  constexpr size_t k_max_quoted = 200;
  return fail(ErrorCode::invalid_argument, "unexpected output from sinfo: '{}' (expected {})",
              line.substr(0, k_max_quoted), expected);
}

std::optional<int> parse_count(std::string_view text) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

// The comma-separated entries of a GRES string; commas inside parentheses ("(S:0,2)") are part
// of their entry.
std::vector<std::string_view> gres_entries(std::string_view gres) {
  std::vector<std::string_view> entries;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= gres.size(); ++i) {
    if (i == gres.size() || (gres[i] == ',' && depth == 0)) {
      if (i > start) entries.push_back(gres.substr(start, i - start));
      start = i + 1;
    } else if (gres[i] == '(') {
      ++depth;
    } else if (gres[i] == ')' && depth > 0) {
      --depth;
    }
  }
  return entries;
}

}  // namespace

std::vector<std::string> partitions_command(const std::string& sinfo) {
  return {sinfo, "--noheader", "--all", "--format=" + std::string(k_partition_format)};
}

std::vector<std::string> nodes_command(const std::string& sinfo, const std::string& partition) {
  // Not --all: sinfo refuses it with --partition, which shows a hidden partition anyway.
  return {sinfo, "--noheader", "--Node", "--partition=" + partition,
          "--format=" + std::string(k_node_format)};
}

Environment command_environment(const Environment& base, const SlurmSettings& settings) {
  Environment env;
  for (const auto& [name, value] : base) {
    if (name != k_conf_variable || settings.conf.empty()) env.emplace_back(name, value);
  }
  if (!settings.conf.empty()) env.emplace_back(std::string(k_conf_variable), settings.conf);
  return env;
}

Result<std::vector<Partition>> parse_partitions(std::string_view output) {
  std::vector<Partition> partitions;
  std::set<std::string, std::less<>> seen;
  for (const auto line : lines_of(output)) {
    const auto fields = util::split(line, '|');
    if (fields.size() != 2 || fields[0].empty() || fields[0] == "*" || fields[1].empty()) {
      return unexpected_line(line, "PARTITION|AVAILABILITY");
    }
    std::string_view name = fields[0];
    const bool is_default = name.ends_with('*');
    if (is_default) name.remove_suffix(1);
    if (!seen.insert(std::string(name)).second) continue;
    partitions.push_back({std::string(name), is_default, std::string(fields[1])});
  }
  return partitions;
}

Result<std::vector<Node>> parse_nodes(std::string_view output) {
  std::vector<Node> nodes;
  std::set<std::string, std::less<>> seen;
  for (const auto line : lines_of(output)) {
    const auto fields = util::split(line, '|');
    const auto cpus = fields.size() == 4 ? parse_count(fields[2]) : std::nullopt;
    if (!cpus || fields[0].empty() || fields[1].empty()) {
      return unexpected_line(line, "NODE|STATE|CPUS|GRES");
    }
    if (!seen.insert(std::string(fields[0])).second) continue;
    const std::string_view gres = fields[3] == k_no_gres ? std::string_view() : fields[3];
    nodes.push_back({std::string(fields[0]), std::string(fields[1]), *cpus, std::string(gres)});
  }
  return nodes;
}

int gpus_of(std::string_view gres) {
  int gpus = 0;
  for (auto entry : gres_entries(gres)) {
    entry = entry.substr(0, entry.find('('));
    const auto parts = util::split(entry, ':');
    if (parts.front() != "gpu") continue;
    if (parts.size() == 1) {
      gpus += 1;  // "gpu" alone is one
      continue;
    }
    // gpu:COUNT or gpu:TYPE:COUNT; a type without a count ("gpu:a100") is one.
    const auto count = parse_count(parts.back());
    gpus += count ? *count : 1;
  }
  return gpus;
}

}  // namespace trainctl::service::slurm
