// The sweep section: names of its enums, grids, and its rules (docs/sweeps.md).
#include "trainctl/spec/sweep.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <set>

#include "problems.hpp"
#include "spec_rules.hpp"
#include "trainctl/api/metrics.hpp"

namespace trainctl::spec {

namespace {

// A quniform's grid may have at most this many values.
constexpr double k_max_grid_values = k_max_sweep_trials;

bool is_continuous(ParameterType type) {
  return type == ParameterType::uniform || type == ParameterType::loguniform ||
         type == ParameterType::qloguniform || type == ParameterType::normal;
}


void check_parameter(const SearchParameter& parameter, Problems& problems) {
  const std::string path = "sweep.search_space." + parameter.name;
  if (auto valid = api::validate_param_name("search space parameter", parameter.name); !valid) {
    problems.add(path, valid.error().message);
  }
  switch (parameter.type) {
    case ParameterType::choice:
      if (parameter.values.empty()) {
        problems.add(path + ".values", "a choice needs a list of values, e.g. values: [rbf, poly]");
      }
      if (std::set(parameter.values.begin(), parameter.values.end()).size() != parameter.values.size()) {
        problems.add(path + ".values", "lists a value twice");
      }
      return;
    case ParameterType::normal:
      if (!(parameter.sigma > 0)) problems.add(path + ".sigma", "a normal needs sigma > 0");
      return;
    case ParameterType::uniform:
    case ParameterType::loguniform:
    case ParameterType::quniform:
    case ParameterType::qloguniform:
    case ParameterType::randint:
      break;
  }
  if (!(parameter.min < parameter.max)) {
    problems.add(path + ".max", fmt::format("must be greater than min ({}), not {}",
                                            parameter.min, parameter.max));
  }
  if ((parameter.type == ParameterType::loguniform || parameter.type == ParameterType::qloguniform) &&
      !(parameter.min > 0)) {
    problems.add(path + ".min", "a log-scale range needs min > 0");
  }
  if ((parameter.type == ParameterType::quniform || parameter.type == ParameterType::qloguniform) &&
      !(parameter.q > 0)) {
    problems.add(path + ".q", "needs q > 0: values are multiples of q");
  }
  if (parameter.type == ParameterType::randint &&
      (parameter.min != std::floor(parameter.min) || parameter.max != std::floor(parameter.max))) {
    problems.add(path, "a randint's min and max are whole numbers");
  }
  if (parameter.type == ParameterType::quniform && parameter.q > 0 &&
      (parameter.max - parameter.min) / parameter.q >= k_max_grid_values) {
    problems.add(path + ".q", fmt::format("makes more than {} values; use a larger q",
                                          k_max_sweep_trials));
  }
}

void check_limits(const Sweep& sweep, Problems& problems) {
  const auto grid = grid_size(sweep);
  if (sweep.sampling == Sampling::grid && !grid) {
    std::vector<std::string> continuous;
    for (const auto& parameter : sweep.search_space) {
      if (is_continuous(parameter.type)) continuous.push_back(parameter.name);
    }
    problems.add("sweep.sampling",
                 continuous.empty()
                     ? fmt::format("the grid has more than {} points", k_max_sweep_trials)
                     : fmt::format("grid sampling needs discrete parameters (choice, randint, "
                                   "quniform); {} {} continuous: use random or bayesian sampling",
                                   fmt::join(continuous, ", "), continuous.size() == 1 ? "is" : "are"));
  }
  if (sweep.sampling != Sampling::grid && sweep.max_total_trials == 0) {
    problems.add("sweep.limits.max_total_trials",
                 fmt::format("is required for {} sampling (1-{})", to_string(sweep.sampling),
                             k_max_sweep_trials));
  }
  if (sweep.max_total_trials < 0 || sweep.max_total_trials > k_max_sweep_trials) {
    problems.add("sweep.limits.max_total_trials",
                 fmt::format("must be within 1-{}, not {}", k_max_sweep_trials, sweep.max_total_trials));
  } else if (sweep.sampling == Sampling::grid && grid && sweep.max_total_trials > *grid) {
    problems.add("sweep.limits.max_total_trials",
                 fmt::format("is {}, but the grid has {} points; leave it out to run every point",
                             sweep.max_total_trials, *grid));
  }
  const int total = total_trials(sweep);
  if (sweep.max_concurrent_trials < 1 || (total > 0 && sweep.max_concurrent_trials > total)) {
    problems.add("sweep.limits.max_concurrent_trials",
                 fmt::format("must be within 1-{} (the trials), not {}", std::max(total, 1),
                             sweep.max_concurrent_trials));
  }
}

void check_early_termination(const EarlyTermination& early, Problems& problems) {
  const std::string path = "sweep.early_termination";
  if (early.evaluation_interval < 1) {
    problems.add(path + ".evaluation_interval",
                 fmt::format("must be at least 1, not {}", early.evaluation_interval));
  }
  if (early.delay_evaluation < 0) {
    problems.add(path + ".delay_evaluation",
                 fmt::format("must be at least 0, not {}", early.delay_evaluation));
  }
  const bool factor = early.slack_factor != 0;
  const bool amount = early.slack_amount != 0;
  if (early.policy == TerminationPolicy::bandit) {
    if (factor == amount) {
      problems.add(path, "the bandit policy needs one of slack_factor and slack_amount");
    }
    if (early.slack_factor < 0 || early.slack_amount < 0) {
      problems.add(path, "slack_factor and slack_amount are at least 0");
    }
  } else if (factor || amount) {
    problems.add(path, "slack_factor and slack_amount belong to the bandit policy");
  }
  if (early.policy == TerminationPolicy::truncation_selection) {
    if (early.truncation_percentage < 1 || early.truncation_percentage > 99) {
      problems.add(path + ".truncation_percentage",
                   fmt::format("must be within 1-99, not {}", early.truncation_percentage));
    }
  } else if (early.truncation_percentage != 0) {
    problems.add(path + ".truncation_percentage", "belongs to the truncation_selection policy");
  }
}

}  // namespace

std::string_view to_string(Sampling sampling) {
  return k_sampling_names[static_cast<size_t>(sampling)];
}
std::string_view to_string(ParameterType type) {
  return k_parameter_type_names[static_cast<size_t>(type)];
}
std::string_view to_string(Goal goal) { return k_goal_names[static_cast<size_t>(goal)]; }
std::string_view to_string(TerminationPolicy policy) {
  return k_termination_policy_names[static_cast<size_t>(policy)];
}

std::string parameter_text(double value) {
  if (value == std::floor(value) && std::abs(value) < 1e15) {
    return fmt::format("{}", static_cast<int64_t>(value));
  }
  return fmt::format("{:.12g}", value);  // 12 digits: 0.1 * 3 is "0.3"
}

nlohmann::json sweep_to_json(const Sweep& sweep) {
  nlohmann::json space = nlohmann::json::object();
  for (const auto& parameter : sweep.search_space) {
    nlohmann::json entry{{"type", to_string(parameter.type)}};
    switch (parameter.type) {
      case ParameterType::choice: entry["values"] = parameter.values; break;
      case ParameterType::normal:
        entry["mu"] = parameter.mu;
        entry["sigma"] = parameter.sigma;
        break;
      case ParameterType::quniform:
      case ParameterType::qloguniform: entry["q"] = parameter.q; [[fallthrough]];
      case ParameterType::uniform:
      case ParameterType::loguniform:
      case ParameterType::randint:
        entry["min"] = parameter.min;
        entry["max"] = parameter.max;
        break;
    }
    space[parameter.name] = std::move(entry);
  }
  const auto& early = sweep.early_termination;
  nlohmann::json termination{{"policy", to_string(early.policy)},
                             {"evaluation_interval", early.evaluation_interval},
                             {"delay_evaluation", early.delay_evaluation}};
  if (early.slack_factor != 0) termination["slack_factor"] = early.slack_factor;
  if (early.slack_amount != 0) termination["slack_amount"] = early.slack_amount;
  if (early.truncation_percentage != 0) termination["truncation_percentage"] = early.truncation_percentage;
  nlohmann::json out{{"sampling", to_string(sweep.sampling)},
                     {"search_space", std::move(space)},
                     {"objective", {{"primary_metric", sweep.primary_metric}, {"goal", to_string(sweep.goal)}}},
                     {"limits",
                      {{"max_total_trials", sweep.max_total_trials},
                       {"max_concurrent_trials", sweep.max_concurrent_trials},
                       {"max_duration_seconds", sweep.max_duration_seconds}}},
                     {"early_termination", std::move(termination)}};
  if (sweep.seed) out["seed"] = *sweep.seed;
  return out;
}

std::optional<std::vector<std::string>> grid_values(const SearchParameter& parameter) {
  switch (parameter.type) {
    case ParameterType::choice: return parameter.values;
    case ParameterType::randint: {
      if (!(parameter.min <= parameter.max) || parameter.max - parameter.min >= k_max_grid_values) {
        return std::nullopt;
      }
      std::vector<std::string> values;
      for (double value = parameter.min; value <= parameter.max; ++value) {
        values.push_back(parameter_text(value));
      }
      return values;
    }
    case ParameterType::quniform: {
      if (!(parameter.q > 0) || !(parameter.min <= parameter.max) ||
          (parameter.max - parameter.min) / parameter.q >= k_max_grid_values) {
        return std::nullopt;
      }
      std::vector<std::string> values;
      const auto first = static_cast<int64_t>(std::ceil(parameter.min / parameter.q - 1e-9));
      const auto last = static_cast<int64_t>(std::floor(parameter.max / parameter.q + 1e-9));
      for (int64_t k = first; k <= last; ++k) {
        values.push_back(parameter_text(static_cast<double>(k) * parameter.q));
      }
      return values;
    }
    case ParameterType::uniform:
    case ParameterType::loguniform:
    case ParameterType::qloguniform:
    case ParameterType::normal: return std::nullopt;
  }
  return std::nullopt;
}

std::optional<int64_t> grid_size(const Sweep& sweep) {
  if (sweep.search_space.empty()) return std::nullopt;
  int64_t size = 1;
  for (const auto& parameter : sweep.search_space) {
    const auto values = grid_values(parameter);
    if (!values || values->empty()) return std::nullopt;
    size *= static_cast<int64_t>(values->size());
    if (size > k_max_sweep_trials) return std::nullopt;
  }
  return size;
}

int total_trials(const Sweep& sweep) {
  if (sweep.max_total_trials > 0 || sweep.sampling != Sampling::grid) return sweep.max_total_trials;
  return static_cast<int>(grid_size(sweep).value_or(0));
}

std::vector<ErrorDetail> check_sweep_rules(const JobSpec& spec) {
  if (!spec.sweep) return {};
  const Sweep& sweep = *spec.sweep;
  Problems problems;
  if (sweep.search_space.empty()) {
    problems.add("sweep.search_space",
                 "is required: the script params to search, e.g. --lr: {type: loguniform, min: "
                 "0.0001, max: 0.1}");
  }
  std::set<std::string> names;
  for (const auto& parameter : sweep.search_space) {
    check_parameter(parameter, problems);
    names.insert(parameter.name);
  }
  if (sweep.primary_metric.empty()) {
    problems.add("sweep.objective.primary_metric",
                 "is required: the metric the trials log (trainctl.log_metric) and the sweep "
                 "optimizes, e.g. accuracy");
  } else if (auto valid = api::validate_metric_name(sweep.primary_metric); !valid) {
    problems.add("sweep.objective.primary_metric", valid.error().message);
  }
  check_limits(sweep, problems);
  check_early_termination(sweep.early_termination, problems);
  if (sweep.max_duration_seconds < 0) {
    problems.add("sweep.limits.max_duration", "must be at least 0");
  }
  return problems.take();
}

}  // namespace trainctl::spec
