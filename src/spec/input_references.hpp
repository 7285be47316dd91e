#pragma once
// `${{inputs.NAME}}` in script_params and environment_variables values (internal): checked by the
// spec's rules, replaced by the input's path in the run when the launch plan is built.
#include <string>
#include <string_view>
#include <vector>

#include "trainctl/spec/job_spec.hpp"

namespace trainctl::spec {

// What is wrong with the `${{...}}` expressions of `value`, one message each: an expression left
// open, one other than `inputs.NAME`, or a NAME that is not one of `inputs`. Empty when every
// expression names an input (or there is none).
std::vector<std::string> input_reference_problems(std::string_view value,
                                                  const std::vector<Input>& inputs);

// `value` with every `${{inputs.NAME}}` replaced by `<inputs_dir>/NAME`. Expects a value that
// input_reference_problems accepts; anything else is left as written.
std::string substitute_input_paths(std::string_view value, std::string_view inputs_dir);

// The variable that tells every process of a run where input `name` is: TRAINCTL_INPUT_ and the
// name upper-cased, with every character that is not a letter or a digit made '_'.
std::string input_variable_name(std::string_view name);

}  // namespace trainctl::spec
