#include "trainctl/spec/job_spec.hpp"

#include <iterator>

#include <fmt/format.h>

#include "overrides.hpp"
#include "problems.hpp"
#include "spec_reader.hpp"
#include "spec_rules.hpp"
#include "task_slots.hpp"
#include "trainctl/spec/yaml_document.hpp"

namespace trainctl::spec {

namespace {

// A JSON value as a document tree: strings are quoted scalars, numbers and booleans plain ones,
// so the reader applies to both the same type rules. Positions are unknown.
DocumentNode document_from_json(const nlohmann::json& json) {
  DocumentNode node;
  if (json.is_object()) {
    node.kind = DocumentNode::Kind::mapping;
    for (const auto& [key, value] : json.items()) {
      node.entries.emplace_back(DocumentNode::scalar(key, true), document_from_json(value));
    }
  } else if (json.is_array()) {
    node.kind = DocumentNode::Kind::sequence;
    for (const auto& item : json) node.items.push_back(document_from_json(item));
  } else if (json.is_string()) {
    node = DocumentNode::scalar(json.get<std::string>(), true);
  } else if (!json.is_null()) {
    node = DocumentNode::scalar(json.dump(), false);
  }
  return node;
}

nlohmann::json pairs_to_object(const auto& pairs) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [key, value] : pairs) object[key] = value;
  return object;
}

}  // namespace

std::string_view to_string(Backend backend) {
  return k_backend_names[static_cast<size_t>(backend)];
}

std::optional<Backend> parse_backend(std::string_view text) {
  return enum_from_name<Backend>(text, k_backend_names);
}

std::string_view to_string(SuccessPolicy policy) {
  return k_success_policy_names[static_cast<size_t>(policy)];
}

std::optional<SuccessPolicy> parse_success_policy(std::string_view text) {
  return enum_from_name<SuccessPolicy>(text, k_success_policy_names);
}

std::vector<std::string> task_names(const JobSpec& spec) {
  std::vector<std::string> names;
  for (const TaskSlot& slot : task_slots(spec)) names.push_back(slot.name());
  if (spec.estimator.distributed.backend == Backend::mpi && !names.empty()) {
    names.emplace_back(k_launcher_task);
  }
  return names;
}

Result<JobSpec> parse_job_spec(std::string_view yaml_text, const ParseOptions& options) {
  YamlLimits limits;
  limits.max_bytes = options.max_spec_bytes;
  auto root = parse_yaml_document(yaml_text, options.file_name, limits);
  if (!root) return fail(std::move(root.error()));
  return job_spec_from_document(std::move(*root), options.overrides);
}

Result<JobSpec> job_spec_from_document(DocumentNode document,
                                       const std::vector<std::string>& overrides) {
  std::vector<ErrorDetail> problems = apply_overrides(document, overrides, YamlLimits{});
  SpecReading reading = read_job_spec(document, SpecSource::yaml);
  problems.insert(problems.end(), std::make_move_iterator(reading.problems.begin()),
                  std::make_move_iterator(reading.problems.end()));
  if (!problems.empty()) return invalid_spec(std::move(problems));
  return std::move(reading.spec);
}

nlohmann::json build_payload(const JobSpec& spec, const std::string& snapshot_id) {
  const Estimator& estimator = spec.estimator;
  const DistributedTraining& distributed = estimator.distributed;
  nlohmann::json payload = {
      {"experiment", spec.experiment},
      {"name", spec.name},
      {"compute", spec.compute},
      {"priority", spec.priority},
      {"snapshot_id", snapshot_id},
      {"estimator",
       {{"framework", estimator.framework},
        {"framework_version", estimator.framework_version},
        {"entry_script", estimator.entry_script},
        {"script_params", estimator.script_params},
        {"pip_packages", estimator.pip_packages},
        {"conda_packages", estimator.conda_packages},
        {"use_gpu", estimator.use_gpu},
        {"node_count", estimator.node_count},
        {"process_count_per_node", estimator.process_count_per_node},
        {"distributed_training",
         {{"backend", to_string(distributed.backend)},
          {"worker_count", distributed.worker_count},
          {"parameter_server_count", distributed.parameter_server_count},
          {"chief", distributed.chief},
          {"evaluator", distributed.evaluator},
          {"success_policy", to_string(distributed.success_policy)}}}}},
      {"environment_variables", pairs_to_object(spec.environment_variables)},
      {"limits",
       {{"max_run_duration_seconds", spec.limits.max_run_duration_seconds},
        {"max_retries", spec.limits.max_retries},
        {"retry_on_exit_codes", spec.limits.retry_on_exit_codes}}},
      {"tags", pairs_to_object(spec.tags)},
  };
  if (!spec.inputs.empty()) {
    nlohmann::json inputs = nlohmann::json::object();
    for (const Input& input : spec.inputs) {
      inputs[input.name] = {
          {"dataset", input.dataset}, {"version", input.version}, {"mode", input.mode}};
    }
    payload["inputs"] = std::move(inputs);
  }
  if (spec.sweep) payload["sweep"] = sweep_to_json(*spec.sweep);
  return payload;
}

Result<JobSpec> job_spec_from_payload(const nlohmann::json& payload) {
  SpecReading reading = read_job_spec(document_from_json(payload), SpecSource::payload);
  if (!reading.problems.empty()) return invalid_spec(std::move(reading.problems));
  return std::move(reading.spec);
}

namespace {

// "--lr" or "-v", but not "-1" or "-.5", which are values.
bool is_flag(std::string_view argument) {
  if (argument.size() < 2 || argument.front() != '-') return false;
  const char next = argument[1];
  return !(next >= '0' && next <= '9') && next != '.';
}

}  // namespace

std::vector<std::pair<std::string, std::string>> script_param_values(
    const std::vector<std::string>& script_params) {
  std::vector<std::pair<std::string, std::string>> values;
  for (size_t i = 0; i < script_params.size(); ++i) {
    const std::string& argument = script_params[i];
    if (!is_flag(argument)) {
      values.emplace_back(fmt::format("arg{}", i), argument);
      continue;
    }
    const bool has_value = i + 1 < script_params.size() && !is_flag(script_params[i + 1]);
    values.emplace_back(argument, has_value ? script_params[++i] : std::string());
  }
  return values;
}

}  // namespace trainctl::spec
