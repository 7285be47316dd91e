#include "spec_rules.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <string_view>

#include "input_references.hpp"
#include "problems.hpp"
#include "task_slots.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/util/strings.hpp"

namespace trainctl::spec {

namespace {

using namespace std::string_view_literals;

constexpr std::array k_frameworks{"tensorflow"sv, "pytorch"sv, "generic"sv};
constexpr std::array k_input_modes{"mount"sv, "download"sv};
constexpr std::string_view k_reserved_env_prefix = "TRAINCTL_";


bool is_env_name(std::string_view name) {
  const auto is_alpha = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  return !name.empty() && is_alpha(name[0]) && std::all_of(name.begin(), name.end(), [&](char c) {
    return is_alpha(c) || (c >= '0' && c <= '9');
  });
}

// A package requirement such as "scikit-learn" or "numpy>=1.24": never an option ("-i x") nor
// anything a shell would interpret.
bool is_package_requirement(std::string_view text) {
  constexpr std::string_view k_allowed_after_first = "._-[],<>=!~*+";
  const auto is_alnum = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  return !text.empty() && is_alnum(text[0]) && std::all_of(text.begin(), text.end(), [&](char c) {
    return is_alnum(c) || k_allowed_after_first.find(c) != std::string_view::npos;
  });
}

bool is_version(std::string_view text) {
  return text == "latest" || (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
           return c >= '0' && c <= '9';
         }));
}

void check_names(const JobSpec& spec, Problems& problems) {
  problems.add_if_failed("experiment", api::validate_name("experiment", spec.experiment));
  if (!spec.name.empty()) problems.add_if_failed("name", api::validate_name("run", spec.name));
  problems.add_if_failed("compute", api::validate_name("compute", spec.compute));
  for (const auto& [key, value] : spec.tags) {
    problems.add_if_failed("tags." + key, api::validate_name("tag", key));
  }
}

void check_packages(std::string_view path, const std::vector<std::string>& packages,
                    Problems& problems) {
  for (size_t i = 0; i < packages.size(); ++i) {
    if (!is_package_requirement(packages[i])) {
      problems.add(
          fmt::format("{}[{}]", path, i),
          fmt::format("'{}' is not a package name (such as numpy or numpy>=1.24)", packages[i]));
    }
  }
}

// priority and the retry budget (limits.max_retries, limits.retry_on_exit_codes).
void check_scheduling(const JobSpec& spec, Problems& problems) {
  if (spec.priority < k_min_priority || spec.priority > k_max_priority) {
    problems.add("priority", fmt::format("must be between {} and {} (higher starts first), not {}",
                                         k_min_priority, k_max_priority, spec.priority));
  }
  const Limits& limits = spec.limits;
  if (limits.max_retries < 0 || limits.max_retries > k_max_retries) {
    problems.add("limits.max_retries", fmt::format("must be between 0 and {}, not {}",
                                                   k_max_retries, limits.max_retries));
  }
  for (size_t i = 0; i < limits.retry_on_exit_codes.size(); ++i) {
    const int code = limits.retry_on_exit_codes[i];
    if (code < 1 || code > 255) {
      problems.add(fmt::format("limits.retry_on_exit_codes[{}]", i),
                   fmt::format("must be an exit code from 1 to 255, not {}", code));
    }
  }
  if (!limits.retry_on_exit_codes.empty() && limits.max_retries == 0) {
    problems.add("limits.retry_on_exit_codes",
                 "has no effect with max_retries: 0; set limits.max_retries to the retries allowed");
  }
}

void check_estimator(const Estimator& estimator, Problems& problems) {
  if (std::find(k_frameworks.begin(), k_frameworks.end(), estimator.framework) ==
      k_frameworks.end()) {
    problems.add("estimator.framework", not_one_of(estimator.framework, k_frameworks));
  }
  if (estimator.source_directory.empty()) {
    problems.add("estimator.source_directory", "must not be empty; use . for the spec's folder");
  }
  if (estimator.entry_script.empty()) {
    problems.add("estimator.entry_script",
                 "is required: the script to run, relative to source_directory");
  } else if (auto parts = api::split_relative_path(estimator.entry_script); !parts) {
    problems.add("estimator.entry_script",
                 fmt::format("must be a path inside source_directory: {}", parts.error().message));
  }
  check_packages("estimator.pip_packages", estimator.pip_packages, problems);
  check_packages("estimator.conda_packages", estimator.conda_packages, problems);
  problems.at_least("estimator.node_count", estimator.node_count, 1);
  problems.at_least("estimator.process_count_per_node", estimator.process_count_per_node, 1);
}

// "estimator.distributed_training.<field>".
std::string distributed_path(std::string_view field) {
  return fmt::format("estimator.distributed_training.{}", field);
}

// Without a backend a run is one process.
void check_single_process(const Estimator& estimator, Problems& problems) {
  const auto one_process_only = [&](std::string_view field, int value) {
    if (value <= 1) return;
    problems.add(fmt::format("estimator.{}", field),
                 fmt::format("is {}, but a run without a distributed_training backend is one "
                             "process: pick backend mpi, parameter_server or pytorch",
                             value));
  };
  one_process_only("node_count", estimator.node_count);
  one_process_only("process_count_per_node", estimator.process_count_per_node);
}

// TensorFlow needs at least one worker and one ps (RELIABILITY 5); each task is one process.
void check_parameter_server(const Estimator& estimator, Problems& problems) {
  const DistributedTraining& distributed = estimator.distributed;
  problems.at_least(distributed_path("worker_count"), distributed.worker_count, 1);
  problems.at_least(distributed_path("parameter_server_count"), distributed.parameter_server_count,
                    1);
  if (estimator.process_count_per_node > 1) {
    problems.add("estimator.process_count_per_node",
                 fmt::format("must be 1 with backend parameter_server, not {}: it is for mpi and "
                             "pytorch; use worker_count and parameter_server_count",
                             estimator.process_count_per_node));
  }
}

// The parameter_server fields other backends refuse when set to anything but their defaults.
void check_parameter_server_fields_unused(const DistributedTraining& distributed,
                                          Problems& problems) {
  const auto only_for_parameter_server = [&](std::string_view field) {
    problems.add(distributed_path(field),
                 fmt::format("is only used with backend parameter_server, not {}",
                             to_string(distributed.backend)));
  };
  problems.at_least(distributed_path("worker_count"), distributed.worker_count, 0);
  problems.at_least(distributed_path("parameter_server_count"), distributed.parameter_server_count,
                    0);
  if (distributed.worker_count > 0) only_for_parameter_server("worker_count");
  if (distributed.parameter_server_count > 0) only_for_parameter_server("parameter_server_count");
  if (!distributed.chief) only_for_parameter_server("chief");
  if (distributed.evaluator) only_for_parameter_server("evaluator");
  if (distributed.success_policy != SuccessPolicy::chief) {
    only_for_parameter_server("success_policy");
  }
}

// A run has at most k_max_tasks_per_run tasks; the problem is reported at the larger count.
void check_task_count(const JobSpec& spec, Problems& problems) {
  const int64_t count = task_count(spec);
  if (count <= k_max_tasks_per_run) return;
  const Estimator& estimator = spec.estimator;
  const DistributedTraining& distributed = estimator.distributed;
  if (distributed.backend == Backend::parameter_server) {
    problems.add(
        distributed.worker_count >= distributed.parameter_server_count
            ? distributed_path("worker_count")
            : distributed_path("parameter_server_count"),
        fmt::format("makes {} tasks with the chief, ps and evaluator; a run has at most {}", count,
                    k_max_tasks_per_run));
    return;
  }
  if (estimator.node_count < 1 || estimator.process_count_per_node < 1) return;  // reported
  problems.add(estimator.node_count >= estimator.process_count_per_node
                   ? "estimator.node_count"
                   : "estimator.process_count_per_node",
               fmt::format("node_count x process_count_per_node makes {} ranks; a run has at "
                           "most {} tasks",
                           count, k_max_tasks_per_run));
}

void check_distributed(const JobSpec& spec, Problems& problems) {
  const Estimator& estimator = spec.estimator;
  switch (estimator.distributed.backend) {
    case Backend::none: check_single_process(estimator, problems); break;
    case Backend::parameter_server: check_parameter_server(estimator, problems); break;
    case Backend::mpi:
    case Backend::pytorch: break;  // node_count and process_count_per_node are at least 1
  }
  if (estimator.distributed.backend != Backend::parameter_server) {
    check_parameter_server_fields_unused(estimator.distributed, problems);
  }
  check_task_count(spec, problems);
}

void check_inputs(const std::vector<Input>& inputs, Problems& problems) {
  std::map<std::string, std::string_view> variables;  // TRAINCTL_INPUT_<NAME> -> input name
  for (const Input& input : inputs) {
    const std::string path = "inputs." + input.name;
    problems.add_if_failed(path, api::validate_name("input", input.name));
    const auto [taken, fresh] = variables.emplace(input_variable_name(input.name), input.name);
    if (!fresh) {
      problems.add(path, fmt::format("gets the same variable {} as input '{}': rename one of them",
                                     taken->first, taken->second));
    }
    problems.add_if_failed(path + ".dataset", api::validate_name("dataset", input.dataset));
    if (!is_version(input.version)) {
      problems.add(path + ".version",
                   fmt::format("'{}' is not latest or a version number", input.version));
    }
    if (std::find(k_input_modes.begin(), k_input_modes.end(), input.mode) == k_input_modes.end()) {
      problems.add(path + ".mode", not_one_of(input.mode, k_input_modes));
    }
  }
}

// Every `${{...}}` in script_params and environment_variables values names an input.
void check_input_references(const JobSpec& spec, Problems& problems) {
  const auto check = [&](const std::string& path, std::string_view value) {
    for (std::string& message : input_reference_problems(value, spec.inputs)) {
      problems.add(path, std::move(message));
    }
  };
  const auto& params = spec.estimator.script_params;
  for (size_t i = 0; i < params.size(); ++i) {
    check(fmt::format("estimator.script_params[{}]", i), params[i]);
  }
  for (const auto& [name, value] : spec.environment_variables) {
    check("environment_variables." + name, value);
  }
}

void check_environment(const JobSpec& spec, Problems& problems) {
  for (const auto& [name, value] : spec.environment_variables) {
    const std::string path = "environment_variables." + name;
    if (!is_env_name(name)) {
      problems.add(
          path, "is not a variable name: use letters, digits and '_', not starting with a digit");
    } else if (name.starts_with(k_reserved_env_prefix)) {
      problems.add(path, fmt::format("names starting with {} are reserved for trainctl",
                                     k_reserved_env_prefix));
    } else {
      problems.add_if_failed(path, api::validate_process_string(value));
    }
  }
}

// Every argument reaches the entry script's argv whole.
void check_script_params(const Estimator& estimator, Problems& problems) {
  for (size_t i = 0; i < estimator.script_params.size(); ++i) {
    problems.add_if_failed(fmt::format("estimator.script_params[{}]", i),
                           api::validate_process_string(estimator.script_params[i]));
  }
}

}  // namespace

std::string not_one_of(std::string_view value, std::span<const std::string_view> choices) {
  std::string message = fmt::format("'{}' is not one of {}", value, fmt::join(choices, ", "));
  if (const auto suggestion = util::closest_match(value, choices)) {
    message += fmt::format(" (did you mean '{}'?)", *suggestion);
  }
  return message;
}

std::vector<ErrorDetail> check_spec_rules(const JobSpec& spec) {
  Problems problems;
  check_names(spec, problems);
  check_estimator(spec.estimator, problems);
  check_script_params(spec.estimator, problems);
  check_distributed(spec, problems);
  check_inputs(spec.inputs, problems);
  check_input_references(spec, problems);
  check_environment(spec, problems);
  check_scheduling(spec, problems);
  auto details = problems.take();
  auto sweep = check_sweep_rules(spec);
  details.insert(details.end(), sweep.begin(), sweep.end());
  return details;
}


}  // namespace trainctl::spec
