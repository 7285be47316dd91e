#pragma once
// Early termination of a sweep's trials (docs/sweeps.md, Early termination): whether a trial,
// judged on its primary metric as logged, should stop, given the other trials' curves. Pure.
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "trainctl/spec/sweep.hpp"

namespace trainctl::sweep {

// A trial's primary metric: (step, value) in the order logged, NaN left out.
using Curve = std::vector<std::pair<int64_t, double>>;

// The step at which the sweep's policy stops `trial`, or nullopt to let it go on. The trial is
// judged at the last step it logged that is delay_evaluation or later and a multiple of
// evaluation_interval past it, against the other trials that logged that step or later:
//  - median_stopping: the trial's best value so far is worse than the median of the others'
//    running averages up to that step (once at least two others have reached it);
//  - bandit: its value at that step is worse than the best of the others' values up to it by more
//    than the slack (best / (1 + slack_factor), or best - slack_amount, when maximizing);
//  - truncation_selection: its value at that step is among the worst truncation_percentage
//    percent of all of them (itself included).
// "Worse" follows the sweep's goal. Never stops a trial with no other to compare with.
std::optional<int64_t> termination_step(const spec::Sweep& sweep, const Curve& trial,
                                        const std::vector<Curve>& others);

}  // namespace trainctl::sweep
