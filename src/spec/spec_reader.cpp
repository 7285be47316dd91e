#include "spec_reader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <system_error>

#include <fmt/ranges.h>

#include "problems.hpp"
#include "spec_rules.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/util/strings.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::spec {

namespace {

using namespace std::string_view_literals;
using Keys = std::span<const std::string_view>;

constexpr std::array k_yaml_top_keys{"experiment"sv, "name"sv,   "compute"sv,
                                     "priority"sv,   "estimator"sv,  "inputs"sv,
                                     "environment_variables"sv, "limits"sv, "tags"sv,
                                     "sweep"sv};
constexpr std::array k_payload_top_keys{"experiment"sv,
                                        "name"sv,
                                        "compute"sv,
                                        "priority"sv,
                                        "snapshot_id"sv,
                                        "estimator"sv,
                                        "inputs"sv,
                                        "environment_variables"sv,
                                        "limits"sv,
                                        "tags"sv,
                                        "sweep"sv};
constexpr std::array k_yaml_estimator_keys{
    "framework"sv,     "framework_version"sv,      "source_directory"sv,    "entry_script"sv,
    "script_params"sv, "pip_packages"sv,           "conda_packages"sv,      "use_gpu"sv,
    "node_count"sv,    "process_count_per_node"sv, "distributed_training"sv};
constexpr std::array k_payload_estimator_keys{"framework"sv,
                                              "framework_version"sv,
                                              "entry_script"sv,
                                              "script_params"sv,
                                              "pip_packages"sv,
                                              "conda_packages"sv,
                                              "use_gpu"sv,
                                              "node_count"sv,
                                              "process_count_per_node"sv,
                                              "distributed_training"sv};
constexpr std::array k_distributed_keys{"backend"sv, "worker_count"sv, "parameter_server_count"sv,
                                        "chief"sv,   "evaluator"sv,    "success_policy"sv};
constexpr std::array k_yaml_limits_keys{"max_run_duration"sv, "max_retries"sv,
                                        "retry_on_exit_codes"sv};
constexpr std::array k_payload_limits_keys{"max_run_duration_seconds"sv, "max_retries"sv,
                                           "retry_on_exit_codes"sv};
constexpr std::array k_input_keys{"dataset"sv, "version"sv, "mode"sv};
constexpr std::array k_sweep_keys{"sampling"sv,   "search_space"sv,      "objective"sv,
                                  "limits"sv,     "early_termination"sv, "seed"sv};
constexpr std::array k_sweep_objective_keys{"primary_metric"sv, "goal"sv};
constexpr std::array k_yaml_sweep_limits_keys{"max_total_trials"sv, "max_concurrent_trials"sv,
                                              "max_duration"sv};
constexpr std::array k_payload_sweep_limits_keys{"max_total_trials"sv, "max_concurrent_trials"sv,
                                                 "max_duration_seconds"sv};
constexpr std::array k_early_termination_keys{"policy"sv,       "evaluation_interval"sv,
                                              "delay_evaluation"sv, "slack_factor"sv,
                                              "slack_amount"sv,  "truncation_percentage"sv};
constexpr std::array k_parameter_keys{"type"sv, "values"sv, "min"sv, "max"sv,
                                      "q"sv,    "mu"sv,     "sigma"sv};

std::string join_path(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
}

// "a.b[2]" -> "a.b" -> "a" -> "": the enclosing field's path, always shorter than `path` (a key
// may itself hold ']' or '.': "tags.l]" -> "tags").
std::string_view parent_path(std::string_view path) {
  const size_t dot = path.rfind('.');
  const size_t bracket = path.rfind('[');
  if (path.ends_with(']') && bracket != std::string_view::npos &&
      (dot == std::string_view::npos || bracket > dot)) {
    return path.substr(0, bracket);
  }
  return dot == std::string_view::npos ? std::string_view() : path.substr(0, dot);
}

// How a wrong value looks in a message: "the string \"2\"", "'two'", "a list", "a mapping".
std::string describe(const DocumentNode& node) {
  switch (node.kind) {
    case DocumentNode::Kind::null: return "empty";
    case DocumentNode::Kind::sequence: return "a list";
    case DocumentNode::Kind::mapping: return "a mapping";
    case DocumentNode::Kind::scalar: break;
  }
  return node.quoted ? fmt::format("the string \"{}\"", node.text) : fmt::format("'{}'", node.text);
}

// Reads one document tree into a JobSpec, recording problems and the mark of every field read.
class SpecReader {
  // A mapping's known fields by key, and the mapping's path.
  struct Fields {
    std::string path;
    std::map<std::string_view, const DocumentNode*> nodes;
  };

 public:
  explicit SpecReader(SpecSource source) : m_source(source) {}

  SpecReading read(const DocumentNode& root) {
    SpecReading reading;
    if (!root.is_mapping()) {
      problem(root.mark, "", "a job spec is a mapping of keys such as experiment and estimator");
      reading.problems = std::move(m_problems);
      return reading;
    }
    m_marks[""] = root.mark;
    read_top(root, reading.spec);
    add_located(check_spec_rules(reading.spec));
    reading.problems = std::move(m_problems);
    return reading;
  }

 private:
  bool yaml() const { return m_source == SpecSource::yaml; }

  // ---- the sections -------------------------------------------------------------------------

  void read_top(const DocumentNode& root, JobSpec& spec) {
    const auto fields =
        known_fields(root, "", yaml() ? Keys(k_yaml_top_keys) : Keys(k_payload_top_keys));
    read_field(fields, "experiment", spec.experiment, &SpecReader::read_string);
    read_field(fields, "name", spec.name, &SpecReader::read_string);
    read_field(fields, "compute", spec.compute, &SpecReader::read_string);
    read_field(fields, "priority", spec.priority, &SpecReader::read_int);
    if (!yaml()) read_snapshot_id(fields);
    if (const auto* estimator = section(fields, "estimator")) {
      read_estimator(*estimator, spec.estimator);
    }
    read_field(fields, "inputs", spec.inputs, &SpecReader::read_inputs);
    read_field(fields, "environment_variables", spec.environment_variables,
               &SpecReader::read_string_pairs);
    std::vector<std::pair<std::string, std::string>> tags;
    read_field(fields, "tags", tags, &SpecReader::read_string_pairs);
    spec.tags.insert(tags.begin(), tags.end());
    if (const auto* limits = section(fields, "limits")) read_limits(*limits, spec.limits);
    if (const auto* sweep = section(fields, "sweep")) read_sweep(*sweep, spec.sweep.emplace());
  }

  // ---- the sweep section (docs/sweeps.md) ----------------------------------------------------

  void read_sweep(const DocumentNode& node, Sweep& sweep) {
    const auto fields = known_fields(node, "sweep", k_sweep_keys);
    read_field(fields, "sampling", sweep.sampling, &SpecReader::read_sampling);
    read_field(fields, "search_space", sweep.search_space, &SpecReader::read_search_space);
    if (const auto* objective = section(fields, "objective")) {
      const auto objective_fields = known_fields(*objective, "sweep.objective", k_sweep_objective_keys);
      read_field(objective_fields, "primary_metric", sweep.primary_metric, &SpecReader::read_string);
      read_field(objective_fields, "goal", sweep.goal, &SpecReader::read_goal);
    }
    if (const auto* limits = section(fields, "limits")) {
      const auto limit_fields =
          known_fields(*limits, "sweep.limits",
                       yaml() ? Keys(k_yaml_sweep_limits_keys) : Keys(k_payload_sweep_limits_keys));
      read_field(limit_fields, "max_total_trials", sweep.max_total_trials, &SpecReader::read_int);
      read_field(limit_fields, "max_concurrent_trials", sweep.max_concurrent_trials,
                 &SpecReader::read_int);
      if (yaml()) {
        read_field(limit_fields, "max_duration", sweep.max_duration_seconds,
                   &SpecReader::read_duration);
      } else {
        read_field(limit_fields, "max_duration_seconds", sweep.max_duration_seconds,
                   &SpecReader::read_seconds);
      }
    }
    if (const auto* early = section(fields, "early_termination")) {
      auto& termination = sweep.early_termination;
      const auto early_fields = known_fields(*early, "sweep.early_termination", k_early_termination_keys);
      read_field(early_fields, "policy", termination.policy, &SpecReader::read_termination_policy);
      read_field(early_fields, "evaluation_interval", termination.evaluation_interval,
                 &SpecReader::read_int);
      read_field(early_fields, "delay_evaluation", termination.delay_evaluation, &SpecReader::read_int);
      read_field(early_fields, "slack_factor", termination.slack_factor, &SpecReader::read_number);
      read_field(early_fields, "slack_amount", termination.slack_amount, &SpecReader::read_number);
      read_field(early_fields, "truncation_percentage", termination.truncation_percentage,
                 &SpecReader::read_int);
    }
    std::optional<int64_t> seed;
    read_field(fields, "seed", seed, &SpecReader::read_optional_seed);
    if (seed) sweep.seed = static_cast<uint64_t>(*seed);
  }

  std::optional<std::optional<int64_t>> read_optional_seed(const DocumentNode& node,
                                                           const std::string& path) {
    const auto value = read_integer(node, path);
    if (!value) return std::nullopt;
    if (*value < 0) {
      problem(node.mark, path, fmt::format("must be at least 0, not {}", *value));
      return std::nullopt;
    }
    return std::optional<int64_t>(*value);
  }

  std::optional<Sampling> read_sampling(const DocumentNode& node, const std::string& path) {
    return read_named<Sampling>(node, path, k_sampling_names);
  }
  std::optional<Goal> read_goal(const DocumentNode& node, const std::string& path) {
    return read_named<Goal>(node, path, k_goal_names);
  }
  std::optional<TerminationPolicy> read_termination_policy(const DocumentNode& node,
                                                           const std::string& path) {
    return read_named<TerminationPolicy>(node, path, k_termination_policy_names);
  }
  std::optional<ParameterType> read_parameter_type(const DocumentNode& node, const std::string& path) {
    return read_named<ParameterType>(node, path, k_parameter_type_names);
  }

  // A number written plainly (1, 0.5, 1e-3); not a quoted string, not NaN or an infinity.
  std::optional<double> read_number(const DocumentNode& node, const std::string& path) {
    if (!node.is_scalar() || node.quoted || node.text.empty()) return wrong(node, path, "a number");
    double value = 0;
    const char* end = node.text.data() + node.text.size();
    const auto [stop, error] = std::from_chars(node.text.data(), end, value);
    if (stop != end || error != std::errc() || !std::isfinite(value)) {
      return wrong(node, path, "a number");
    }
    return value;
  }

  // {name: {type: ..., ...}} in spec order.
  std::optional<std::vector<SearchParameter>> read_search_space(const DocumentNode& node,
                                                                const std::string& path) {
    if (!node.is_mapping()) {
      return wrong(node, path, "a mapping of script params to {type: ..., ...}");
    }
    std::vector<SearchParameter> space;
    for (const auto& [key, value] : node.entries) {
      const std::string parameter_path = join_path(path, key.text);
      m_marks[parameter_path] = key.mark;
      if (!value.is_mapping()) {
        wrong(value, parameter_path, "a mapping such as {type: loguniform, min: 0.01, max: 100}");
        continue;
      }
      SearchParameter parameter;
      parameter.name = key.text;
      const auto fields = known_fields(value, parameter_path, k_parameter_keys);
      if (!fields.nodes.contains("type")) {
        problem(key.mark, join_path(parameter_path, "type"),
                fmt::format("is required: one of {}", fmt::join(k_parameter_type_names, ", ")));
      }
      read_field(fields, "type", parameter.type, &SpecReader::read_parameter_type);
      read_field(fields, "values", parameter.values, &SpecReader::read_string_list);
      read_field(fields, "min", parameter.min, &SpecReader::read_number);
      read_field(fields, "max", parameter.max, &SpecReader::read_number);
      read_field(fields, "q", parameter.q, &SpecReader::read_number);
      read_field(fields, "mu", parameter.mu, &SpecReader::read_number);
      read_field(fields, "sigma", parameter.sigma, &SpecReader::read_number);
      space.push_back(std::move(parameter));
    }
    return space;
  }

  void read_estimator(const DocumentNode& node, Estimator& estimator) {
    const auto fields = known_fields(
        node, "estimator", yaml() ? Keys(k_yaml_estimator_keys) : Keys(k_payload_estimator_keys));
    read_field(fields, "framework", estimator.framework, &SpecReader::read_string);
    read_field(fields, "framework_version", estimator.framework_version, &SpecReader::read_string);
    read_field(fields, "source_directory", estimator.source_directory, &SpecReader::read_string);
    read_field(fields, "entry_script", estimator.entry_script, &SpecReader::read_string);
    read_field(fields, "script_params", estimator.script_params,
               yaml() ? &SpecReader::read_script_params : &SpecReader::read_string_list);
    read_field(fields, "pip_packages", estimator.pip_packages, &SpecReader::read_string_list);
    read_field(fields, "conda_packages", estimator.conda_packages, &SpecReader::read_string_list);
    read_field(fields, "use_gpu", estimator.use_gpu, &SpecReader::read_bool);
    read_field(fields, "node_count", estimator.node_count, &SpecReader::read_int);
    read_field(fields, "process_count_per_node", estimator.process_count_per_node,
               &SpecReader::read_int);
    if (const auto* distributed = section(fields, "distributed_training")) {
      read_distributed(*distributed, estimator.distributed);
    }
  }

  void read_distributed(const DocumentNode& node, DistributedTraining& distributed) {
    const auto fields = known_fields(node, "estimator.distributed_training", k_distributed_keys);
    read_field(fields, "backend", distributed.backend, &SpecReader::read_backend);
    read_field(fields, "worker_count", distributed.worker_count, &SpecReader::read_int);
    read_field(fields, "parameter_server_count", distributed.parameter_server_count,
               &SpecReader::read_int);
    read_field(fields, "chief", distributed.chief, &SpecReader::read_bool);
    read_field(fields, "evaluator", distributed.evaluator, &SpecReader::read_bool);
    read_field(fields, "success_policy", distributed.success_policy,
               &SpecReader::read_success_policy);
  }

  void read_limits(const DocumentNode& node, Limits& limits) {
    const auto fields = known_fields(
        node, "limits", yaml() ? Keys(k_yaml_limits_keys) : Keys(k_payload_limits_keys));
    if (yaml()) {
      read_field(fields, "max_run_duration", limits.max_run_duration_seconds,
                 &SpecReader::read_duration);
    } else {
      read_field(fields, "max_run_duration_seconds", limits.max_run_duration_seconds,
                 &SpecReader::read_seconds);
    }
    read_field(fields, "max_retries", limits.max_retries, &SpecReader::read_int);
    read_field(fields, "retry_on_exit_codes", limits.retry_on_exit_codes,
               &SpecReader::read_int_list);
  }

  void read_snapshot_id(const Fields& fields) {
    std::string snapshot_id;
    read_field(fields, "snapshot_id", snapshot_id, &SpecReader::read_string);
    if (!api::is_sha256_hex(snapshot_id) && !m_failed.contains("snapshot_id")) {
      problem(m_marks[""], "snapshot_id", "is required: the id (SHA-256) of an uploaded snapshot");
    }
  }

  // ---- fields -------------------------------------------------------------------------------

  // The mapping's fields by key; reports unknown keys, with the nearest known one.
  Fields known_fields(const DocumentNode& mapping, const std::string& path, Keys known) {
    Fields fields;
    fields.path = path;
    for (const auto& [key, value] : mapping.entries) {
      const auto match = std::find(known.begin(), known.end(), key.text);
      if (match != known.end()) {
        fields.nodes.emplace(*match, &value);
        m_marks[join_path(path, key.text)] = value.is_null() ? key.mark : value.mark;
        continue;
      }
      std::string message = fmt::format("unknown key '{}'", key.text);
      if (const auto suggestion = util::closest_match(key.text, known)) {
        message += fmt::format("; did you mean '{}'?", *suggestion);
      }
      problem(key.mark, join_path(path, key.text), std::move(message));
    }
    return fields;
  }

  // Reads fields[key] with `reader` into `target`; an absent or null field keeps the default.
  template <typename T>
  void read_field(const Fields& fields, std::string_view key, T& target,
                  std::optional<T> (SpecReader::*reader)(const DocumentNode&, const std::string&)) {
    const auto found = fields.nodes.find(key);
    if (found == fields.nodes.end() || found->second->is_null()) return;
    if (auto value = (this->*reader)(*found->second, join_path(fields.path, key))) {
      target = std::move(*value);
    }
  }

  // A nested section that must be a mapping, or nullptr (absent, null, or reported).
  const DocumentNode* section(const Fields& fields, std::string_view key) {
    const auto found = fields.nodes.find(key);
    if (found == fields.nodes.end() || found->second->is_null()) return nullptr;
    if (!found->second->is_mapping()) {
      wrong(*found->second, join_path(fields.path, key), "a mapping");
      return nullptr;
    }
    return found->second;
  }

  // ---- values -------------------------------------------------------------------------------

  std::optional<std::string> read_string(const DocumentNode& node, const std::string& path) {
    if (node.is_scalar()) return node.text;
    return wrong(node, path, "a string");
  }

  std::optional<int> read_int(const DocumentNode& node, const std::string& path) {
    const auto value = read_integer(node, path);
    if (!value) return std::nullopt;
    if (*value < std::numeric_limits<int>::min() || *value > std::numeric_limits<int>::max()) {
      problem(node.mark, path, fmt::format("{} is out of range", *value));
      return std::nullopt;
    }
    return static_cast<int>(*value);
  }

  std::optional<int64_t> read_seconds(const DocumentNode& node, const std::string& path) {
    const auto value = read_integer(node, path);
    if (value && *value < 0) {
      problem(node.mark, path, fmt::format("must be at least 0, not {}", *value));
      return std::nullopt;
    }
    return value ? checked_run_duration(node, path, *value) : std::nullopt;
  }

  // A time limit no longer than k_max_run_duration_seconds.
  std::optional<int64_t> checked_run_duration(const DocumentNode& node, const std::string& path,
                                              int64_t seconds) {
    if (seconds <= k_max_run_duration_seconds) return seconds;
    problem(node.mark, path,
            fmt::format("must be at most {} seconds ({}d), not {}", k_max_run_duration_seconds,
                        k_max_run_duration_seconds / 86400, seconds));
    return std::nullopt;
  }

  // A plain decimal integer that fits in 64 bits; one that does not is out of range, never
  // wrapped or read as 0.
  std::optional<int64_t> read_integer(const DocumentNode& node, const std::string& path) {
    if (!node.is_scalar() || node.quoted || node.text.empty()) {
      return wrong(node, path, "an integer");
    }
    int64_t value = 0;
    const char* end = node.text.data() + node.text.size();
    const auto [stop, error] = std::from_chars(node.text.data(), end, value);
    if (stop != end) return wrong(node, path, "an integer");
    if (error == std::errc::result_out_of_range) {
      problem(node.mark, path, fmt::format("{} is out of range", node.text));
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> read_bool(const DocumentNode& node, const std::string& path) {
    if (node.is_scalar() && !node.quoted) {
      if (node.text == "true" || node.text == "True" || node.text == "TRUE") return true;
      if (node.text == "false" || node.text == "False" || node.text == "FALSE") return false;
    }
    return wrong(node, path, "true or false");
  }

  std::optional<int64_t> read_duration(const DocumentNode& node, const std::string& path) {
    if (!node.is_scalar()) return wrong(node, path, "a duration such as 90m or 2h");
    const auto duration = util::parse_duration(node.text);
    if (!duration) {
      problem(node.mark, path, duration.error().message);
      return std::nullopt;
    }
    return checked_run_duration(node, path, duration->count());
  }

  std::optional<Backend> read_backend(const DocumentNode& node, const std::string& path) {
    return read_named<Backend>(node, path, k_backend_names);
  }

  std::optional<SuccessPolicy> read_success_policy(const DocumentNode& node,
                                                   const std::string& path) {
    return read_named<SuccessPolicy>(node, path, k_success_policy_names);
  }

  // A value of `Enum` written by its name, one of `names`; else the names, with a suggestion.
  template <typename Enum, size_t N>
  std::optional<Enum> read_named(const DocumentNode& node, const std::string& path,
                                 const std::array<std::string_view, N>& names) {
    const auto text = read_string(node, path);
    if (!text) return std::nullopt;
    if (const auto value = enum_from_name<Enum>(*text, names)) return value;
    problem(node.mark, path, not_one_of(*text, names));
    return std::nullopt;
  }

  std::optional<std::vector<std::string>> read_string_list(const DocumentNode& node,
                                                           const std::string& path) {
    if (!node.is_sequence()) return wrong(node, path, "a list of strings");
    std::vector<std::string> values;
    bool ok = true;
    for (size_t i = 0; i < node.items.size(); ++i) {
      const std::string item_path = fmt::format("{}[{}]", path, i);
      m_marks[item_path] = node.items[i].mark;
      const auto value = read_string(node.items[i], item_path);
      if (value) values.push_back(*value);
      ok = ok && value;
    }
    if (!ok) return std::nullopt;
    return values;
  }

  std::optional<std::vector<int>> read_int_list(const DocumentNode& node, const std::string& path) {
    if (!node.is_sequence()) return wrong(node, path, "a list of integers");
    std::vector<int> values;
    bool ok = true;
    for (size_t i = 0; i < node.items.size(); ++i) {
      const std::string item_path = fmt::format("{}[{}]", path, i);
      m_marks[item_path] = node.items[i].mark;
      const auto value = read_int(node.items[i], item_path);
      if (value) values.push_back(*value);
      ok = ok && value;
    }
    if (!ok) return std::nullopt;
    return values;
  }

  // script_params as a list of arguments, or as a mapping `--flag: value` kept in order, where
  // an empty value stands for the flag alone. Each argument's position is recorded under its
  // index in the argv ("estimator.script_params[1]"), where the rules report it.
  std::optional<std::vector<std::string>> read_script_params(const DocumentNode& node,
                                                             const std::string& path) {
    if (!node.is_mapping()) return read_string_list(node, path);
    std::vector<std::string> argv;
    bool ok = true;
    const auto add_argument = [&](const DocumentNode& argument) {
      m_marks[fmt::format("{}[{}]", path, argv.size())] = argument.mark;
      argv.push_back(argument.text);
    };
    for (const auto& [flag, value] : node.entries) {
      add_argument(flag);
      if (value.is_null()) continue;
      const auto text = read_string(value, join_path(path, flag.text));
      if (text) add_argument(value);
      ok = ok && text;
    }
    if (!ok) return std::nullopt;
    return argv;
  }

  // A mapping of names to scalar values, in order (environment_variables, tags).
  std::optional<std::vector<std::pair<std::string, std::string>>> read_string_pairs(
      const DocumentNode& node, const std::string& path) {
    if (!node.is_mapping()) return wrong(node, path, "a mapping of names to values");
    std::vector<std::pair<std::string, std::string>> pairs;
    bool ok = true;
    for (const auto& [key, value] : node.entries) {
      const std::string entry_path = join_path(path, key.text);
      m_marks[entry_path] = key.mark;
      std::optional<std::string> text;
      if (value.is_null()) {
        problem(key.mark, entry_path, "needs a value; write \"\" for an empty one");
      } else {
        text = read_string(value, entry_path);
      }
      if (text) pairs.emplace_back(key.text, *text);
      ok = ok && text;
    }
    if (!ok) return std::nullopt;
    return pairs;
  }

  std::optional<std::vector<Input>> read_inputs(const DocumentNode& node, const std::string& path) {
    if (!node.is_mapping()) return wrong(node, path, "a mapping of input names to datasets");
    std::vector<Input> inputs;
    for (const auto& [key, value] : node.entries) {
      const std::string input_path = join_path(path, key.text);
      m_marks[input_path] = key.mark;
      if (!value.is_mapping()) {
        wrong(value, input_path,
              "a mapping such as {dataset: mnist, version: latest, mode: mount}");
        continue;
      }
      Input input;
      input.name = key.text;
      const auto fields = known_fields(value, input_path, k_input_keys);
      read_field(fields, "dataset", input.dataset, &SpecReader::read_string);
      read_field(fields, "version", input.version, &SpecReader::read_string);
      read_field(fields, "mode", input.mode, &SpecReader::read_string);
      inputs.push_back(std::move(input));
    }
    return inputs;
  }

  // ---- problems -----------------------------------------------------------------------------

  std::nullopt_t wrong(const DocumentNode& node, const std::string& path,
                       std::string_view expected) {
    problem(node.mark, path, fmt::format("must be {}, not {}", expected, describe(node)));
    return std::nullopt;
  }

  void problem(const SourceMark& mark, std::string path, std::string message) {
    m_failed.insert(path);
    m_problems.push_back(detail_at(mark, std::move(path), std::move(message)));
  }

  // Adds the rules' problems at the marks of their fields (or of the nearest enclosing field),
  // leaving out fields whose value was already reported as wrong.
  void add_located(std::vector<ErrorDetail> details) {
    for (ErrorDetail& detail : details) {
      if (already_failed(detail.path)) continue;
      const SourceMark& mark = nearest_mark(detail.path);
      detail.file = mark.file;
      detail.line = mark.line;
      detail.column = mark.column;
      m_problems.push_back(std::move(detail));
    }
  }

  bool already_failed(std::string_view path) const {
    for (; !path.empty(); path = parent_path(path)) {
      if (m_failed.contains(std::string(path))) return true;
    }
    return false;
  }

  const SourceMark& nearest_mark(std::string_view path) {
    for (; !path.empty(); path = parent_path(path)) {
      if (const auto found = m_marks.find(std::string(path)); found != m_marks.end())
        return found->second;
    }
    return m_marks[""];
  }

  SpecSource m_source;
  std::vector<ErrorDetail> m_problems;
  std::set<std::string> m_failed;             // paths reported as wrong
  std::map<std::string, SourceMark> m_marks;  // where each field read was written
};

}  // namespace

SpecReading read_job_spec(const DocumentNode& root, SpecSource source) {
  return SpecReader(source).read(root);
}

}  // namespace trainctl::spec
