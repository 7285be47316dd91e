#pragma once
// The rules of a job spec beyond types (internal): the same for a YAML spec and for a payload.
#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trainctl/spec/job_spec.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::spec {

// The names of Backend's values, in the enum's order.
inline constexpr std::array<std::string_view, 4> k_backend_names{"none", "mpi", "parameter_server",
                                                                 "pytorch"};
// The names of SuccessPolicy's values, in the enum's order.
inline constexpr std::array<std::string_view, 2> k_success_policy_names{"chief", "all_workers"};

// The names of the sweep section's enums (sweep.hpp), in the enums' order.
inline constexpr std::array<std::string_view, 3> k_sampling_names{"grid", "random", "bayesian"};
inline constexpr std::array<std::string_view, 7> k_parameter_type_names{
    "choice", "uniform", "loguniform", "quniform", "qloguniform", "normal", "randint"};
inline constexpr std::array<std::string_view, 2> k_goal_names{"maximize", "minimize"};
inline constexpr std::array<std::string_view, 4> k_termination_policy_names{
    "none", "bandit", "median_stopping", "truncation_selection"};

// The value of `Enum` whose name in `names` (the enum's order) is exactly `text`.
template <typename Enum, size_t N>
std::optional<Enum> enum_from_name(std::string_view text,
                                   const std::array<std::string_view, N>& names) {
  const auto found = std::find(names.begin(), names.end(), text);
  if (found == names.end()) return std::nullopt;
  return static_cast<Enum>(found - names.begin());
}

// "'x' is not one of a, b, c", with " (did you mean 'b'?)" when one is close.
std::string not_one_of(std::string_view value, std::span<const std::string_view> choices);

// Every rule `spec` breaks: names, counts, paths, environment variable names, backend
// requirements, `${{inputs.NAME}}` naming an input the spec has. Each detail has its field path
// and no position.
std::vector<ErrorDetail> check_spec_rules(const JobSpec& spec);
// The rules of the sweep section (sweep_rules.cpp); none when the spec has no sweep.
std::vector<ErrorDetail> check_sweep_rules(const JobSpec& spec);
// conda_packages and use_gpu depend on the compute target: the service checks them at submit.

}  // namespace trainctl::spec
