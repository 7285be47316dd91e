#pragma once
// The `sweep:` section of a job spec (docs/sweeps.md): a hyperparameter search whose trials are
// runs of the spec with some script params set by a sampler. Read and validated with the rest of
// the spec (job_spec.hpp); sampled by sweep/.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace trainctl::spec {

enum class Sampling { grid, random, bayesian };
std::string_view to_string(Sampling sampling);

// How a parameter's values are drawn (docs/sweeps.md, Search space).
enum class ParameterType {
  choice,       // one of `values` (text)
  uniform,      // a number in [min, max]
  loguniform,   // a number in [min, max] whose logarithm is uniform; min > 0
  quniform,     // round(uniform(min, max) / q) * q
  qloguniform,  // round(loguniform(min, max) / q) * q
  normal,       // a number from N(mu, sigma)
  randint,      // a whole number in [min, max], both included
};
std::string_view to_string(ParameterType type);

struct SearchParameter {
  std::string name;                 // the script param it sets: "--C"
  ParameterType type = ParameterType::choice;
  std::vector<std::string> values;  // choice
  double min = 0;                   // uniform, loguniform, quniform, qloguniform, randint
  double max = 0;
  double q = 0;                     // quniform, qloguniform
  double mu = 0;                    // normal
  double sigma = 0;
};

enum class Goal { maximize, minimize };
std::string_view to_string(Goal goal);

enum class TerminationPolicy { none, bandit, median_stopping, truncation_selection };
std::string_view to_string(TerminationPolicy policy);

// When a trial's primary metric says it will not catch up (docs/sweeps.md, Early termination),
// evaluated at every `evaluation_interval`-th step from `delay_evaluation` on.
struct EarlyTermination {
  TerminationPolicy policy = TerminationPolicy::none;
  int evaluation_interval = 1;
  int delay_evaluation = 0;
  double slack_factor = 0;        // bandit: one of slack_factor, slack_amount
  double slack_amount = 0;
  int truncation_percentage = 0;  // truncation_selection: 1-99
};

struct Sweep {
  Sampling sampling = Sampling::random;
  std::vector<SearchParameter> search_space;  // in spec order
  std::string primary_metric;
  Goal goal = Goal::maximize;
  int max_total_trials = 0;       // grid: 0 means every point of the grid
  int max_concurrent_trials = 1;
  int64_t max_duration_seconds = 0;  // 0: no limit
  EarlyTermination early_termination;
  std::optional<uint64_t> seed;   // the same seed samples the same trials (docs/sweeps.md)
};

// The most trials one sweep may have.
inline constexpr int k_max_sweep_trials = 10'000;

// The values a grid takes of a parameter, as the script receives them: a choice's values; every
// whole number of a randint; every multiple of q in [min, max] of a quniform. nullopt for the
// continuous types (uniform, loguniform, qloguniform, normal), which a grid cannot enumerate.
std::optional<std::vector<std::string>> grid_values(const SearchParameter& parameter);

// The number of points of the sweep's grid (the product of grid_values' sizes); nullopt when a
// parameter has no grid values or the product passes k_max_sweep_trials.
std::optional<int64_t> grid_size(const Sweep& sweep);

// How many trials the sweep makes: max_total_trials, or for a grid without it, every point.
int total_trials(const Sweep& sweep);

// The section as the payload carries it (docs/rest-api.md, Sweeps): as in YAML, with
// limits.max_duration_seconds for max_duration.
nlohmann::json sweep_to_json(const Sweep& sweep);

// A number as a script param's text: integers without a decimal point ("3"), others with up to
// 12 significant digits ("0.001", "1e-05", and "0.3" for 0.1 * 3).
std::string parameter_text(double value);

}  // namespace trainctl::spec
