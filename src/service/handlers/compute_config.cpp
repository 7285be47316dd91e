#include "compute_config.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "handlers.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/service/compute_manager.hpp"

namespace trainctl::service::handlers {

namespace {

constexpr size_t k_max_path = 4096;

class ComputeBody {
 public:
  explicit ComputeBody(const nlohmann::json& body) : m_body(body) {}

  Result<ComputeRecord> parse(ComputeRecord record) {
    for (const auto& [key, value] : m_body.items()) {
      if (!k_fields.contains(key)) problem(key, "unknown field");
    }
    record.type = type();
    const bool slurm = record.type == k_slurm_compute_type;
    record.max_nodes = integer("max_nodes", 1, 1, k_max_compute_nodes);
    record.cpus_per_node = integer("cpus_per_node", 0, 0, k_max_cpus_per_node);
    record.gpus_per_node = integer("gpus_per_node", 0, 0, k_max_gpus_per_node);
    record.python = absolute_path(
        "python", slurm ? "an absolute path to the interpreter on the nodes is required (or \"\" "
                          "for the Slurm engine's choice)"
                        : "an absolute path to an interpreter is required (or \"\" for the "
                          "service's --python)");
    record.slurm.partition = slurm_name("partition");
    record.slurm.account = slurm_name("account");
    record.slurm.qos = slurm_name("qos");
    record.slurm.conf = absolute_path(
        "slurm_conf",
        "an absolute path to the cluster's slurm.conf is required (or \"\" for Slurm's own "
        "lookup: trainctld's SLURM_CONF, else /etc/slurm/slurm.conf)");
    if (slurm && record.cpus_per_node != 0) {
      problem("cpus_per_node",
              "Slurm knows the CPUs of its nodes (`trainctl compute show` lists them); leave "
              "cpus_per_node out for a target of type slurm");
    }
    if (record.type == "local") refuse_slurm_settings(record.slurm);
    if (m_problems.empty()) return record;
    return fail(Error{ErrorCode::invalid_spec, "the compute target does not validate",
                      std::move(m_problems)});
  }

 private:
  inline static const std::set<std::string> k_fields{"type",          "max_nodes", "cpus_per_node",
                                                     "gpus_per_node", "python",    "partition",
                                                     "account",       "qos",       "slurm_conf"};

  void problem(const std::string& path, std::string message) {
    m_problems.push_back(field_problem(path, std::move(message)));
  }

  std::string type() {
    const auto value = m_body.find("type");
    if (value == m_body.end()) return "local";
    if (!value->is_string()) {
      problem("type", "a string is required: local or slurm");
      return {};
    }
    const auto type = value->get<std::string>();
    if (type == "kubernetes") {
      problem("type",
              "compute type 'kubernetes' is not supported by this version yet; use local "
              "or slurm");
    } else if (type != "local" && type != k_slurm_compute_type) {
      problem("type", "unknown compute type; the supported ones are local and slurm");
    }
    return type;
  }

  int integer(const std::string& field, int fallback, int min, int max) {
    const auto value = m_body.find(field);
    if (value == m_body.end()) return fallback;
    if (!value->is_number_integer() || value->get<int64_t>() < min || value->get<int64_t>() > max) {
      problem(field, fmt::format("an integer from {} to {} is required", min, max));
      return fallback;
    }
    return value->get<int>();
  }

  // An absolute path of printable characters, or "" (also when left out).
  std::string absolute_path(const std::string& field, std::string_view message) {
    const auto value = m_body.find(field);
    if (value == m_body.end()) return {};
    const bool valid_text = value->is_string() && value->get<std::string>().size() <= k_max_path;
    const std::string path = valid_text ? value->get<std::string>() : "";
    const bool printable = std::ranges::all_of(
        path, [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
    if (!valid_text || !printable || (!path.empty() && !path.starts_with('/'))) {
      problem(field, std::string(message));
      return {};
    }
    return path;
  }

  std::string slurm_name(const std::string& field) {
    const auto value = m_body.find(field);
    if (value == m_body.end()) return {};
    if (!value->is_string()) {
      problem(field, "a string is required (\"\" for Slurm's default)");
      return {};
    }
    const auto name = value->get<std::string>();
    if (auto valid = api::validate_slurm_name(field, name); !valid) {
      problem(field, valid.error().message);
      return {};
    }
    return name;
  }

  void refuse_slurm_settings(const SlurmSettings& settings) {
    const std::pair<const char*, const std::string*> fields[] = {{"partition", &settings.partition},
                                                                 {"account", &settings.account},
                                                                 {"qos", &settings.qos},
                                                                 {"slurm_conf", &settings.conf}};
    for (const auto& [field, value] : fields) {
      if (!value->empty()) problem(field, "only compute targets of type slurm have it");
    }
  }

  const nlohmann::json& m_body;
  std::vector<ErrorDetail> m_problems;
};

}  // namespace

Result<ComputeRecord> compute_config(const nlohmann::json& body, ComputeRecord record) {
  return ComputeBody(body).parse(std::move(record));
}

}  // namespace trainctl::service::handlers
