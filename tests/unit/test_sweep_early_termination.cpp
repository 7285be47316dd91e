// Early termination policies on known curves (early_termination.hpp).
#include <catch2/catch.hpp>

#include "trainctl/sweep/early_termination.hpp"

using namespace trainctl;
using sweep::Curve;

namespace {

Curve flat(double value, int steps) {
  Curve curve;
  for (int step = 0; step < steps; ++step) curve.emplace_back(step, value);
  return curve;
}

spec::Sweep with_policy(spec::TerminationPolicy policy, spec::Goal goal = spec::Goal::maximize) {
  spec::Sweep sweep;
  sweep.goal = goal;
  sweep.early_termination.policy = policy;
  sweep.early_termination.delay_evaluation = 3;
  sweep.early_termination.evaluation_interval = 2;
  return sweep;
}

}  // namespace

TEST_CASE("median stopping stops a trial whose best is below the others' median average",
          "[sweep][early]") {
  const auto sweep = with_policy(spec::TerminationPolicy::median_stopping);
  const std::vector<Curve> others{flat(0.9, 10), flat(0.8, 10)};
  CHECK(sweep::termination_step(sweep, flat(0.1, 6), others) == 5);  // steps 3, 5: judged at 5
  CHECK_FALSE(sweep::termination_step(sweep, flat(0.95, 6), others).has_value());
  CHECK_FALSE(sweep::termination_step(sweep, flat(0.1, 3), others).has_value());  // before the delay
  CHECK_FALSE(sweep::termination_step(sweep, flat(0.1, 6), {}).has_value());     // no one to compare
  CHECK_FALSE(sweep::termination_step(sweep, flat(0.1, 6), {flat(0.9, 10), flat(0.8, 2)}).has_value());  // one has not reached step 5
  const auto minimizing = with_policy(spec::TerminationPolicy::median_stopping, spec::Goal::minimize);
  CHECK(sweep::termination_step(minimizing, flat(0.95, 6), others) == 5);
}

TEST_CASE("bandit stops a trial beyond the slack from the best", "[sweep][early]") {
  auto sweep = with_policy(spec::TerminationPolicy::bandit);
  sweep.early_termination.slack_factor = 0.2;  // within 0.9 / 1.2 = 0.75 goes on
  CHECK_FALSE(sweep::termination_step(sweep, flat(0.8, 6), {flat(0.9, 10)}).has_value());
  CHECK(sweep::termination_step(sweep, flat(0.7, 6), {flat(0.9, 10)}) == 5);
  sweep.early_termination.slack_factor = 0;
  sweep.early_termination.slack_amount = 0.05;
  CHECK(sweep::termination_step(sweep, flat(0.8, 6), {flat(0.9, 10)}) == 5);
}

TEST_CASE("truncation selection stops the worst percent", "[sweep][early]") {
  auto sweep = with_policy(spec::TerminationPolicy::truncation_selection);
  sweep.early_termination.truncation_percentage = 50;
  const std::vector<Curve> others{flat(0.9, 10), flat(0.8, 10), flat(0.7, 10)};
  CHECK(sweep::termination_step(sweep, flat(0.1, 6), others) == 5);
  CHECK_FALSE(sweep::termination_step(sweep, flat(0.85, 6), others).has_value());
}
