#pragma once
// A SlurmClient for unit tests: answers what the test set (partitions, nodes per partition, or
// an error for either question) and records what it was asked.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "trainctl/service/slurm/slurm_client.hpp"

namespace trainctl::testing {

class FakeSlurmClient final : public service::slurm::SlurmClient {
 public:
  std::vector<service::slurm::Partition> partition_list;
  std::map<std::string, std::vector<service::slurm::Node>> nodes_by_partition;
  std::optional<Error> partitions_error;  // set: partitions() fails with it
  std::optional<Error> nodes_error;       // set: nodes() fails with it
  std::vector<std::string> asked;         // "partitions", "nodes PARTITION", in order
  std::vector<service::SlurmSettings> settings_seen;

  Result<std::vector<service::slurm::Partition>> partitions(const service::SlurmSettings& settings,
                                                            std::chrono::milliseconds) override {
    asked.emplace_back("partitions");
    settings_seen.push_back(settings);
    if (partitions_error) return std::unexpected(*partitions_error);
    return partition_list;
  }

  Result<std::vector<service::slurm::Node>> nodes(const service::SlurmSettings& settings,
                                                  const std::string& partition,
                                                  std::chrono::milliseconds) override {
    asked.push_back("nodes " + partition);
    settings_seen.push_back(settings);
    if (nodes_error) return std::unexpected(*nodes_error);
    const auto found = nodes_by_partition.find(partition);
    return found == nodes_by_partition.end() ? std::vector<service::slurm::Node>{} : found->second;
  }
};

}  // namespace trainctl::testing
