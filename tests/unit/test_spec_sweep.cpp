// The sweep section of a job spec: read, checked with every problem at once (docs/sweeps.md).
#include <catch2/catch.hpp>

#include <string>

#include "trainctl/spec/job_spec.hpp"

using trainctl::ErrorCode;
using trainctl::spec::Goal;
using trainctl::spec::grid_size;
using trainctl::spec::grid_values;
using trainctl::spec::ParameterType;
using trainctl::spec::parse_job_spec;
using trainctl::spec::Sampling;
using trainctl::spec::TerminationPolicy;

namespace {

std::string spec_with_sweep(const std::string& sweep) {
  return "experiment: svm\nestimator: {entry_script: train.py}\nsweep:\n" + sweep;
}

// Every problem's "path: message", one per line.
std::string problems_of(const std::string& yaml) {
  const auto parsed = parse_job_spec(yaml);
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error().code == ErrorCode::invalid_spec);
  std::string text;
  for (const auto& detail : parsed.error().details) text += detail.path + ": " + detail.message + "\n";
  return text;
}

}  // namespace

TEST_CASE("the issue's Bayesian sweep reads as written", "[spec][sweep]") {
  const auto parsed = parse_job_spec(spec_with_sweep(
      "  sampling: bayesian\n"
      "  search_space:\n"
      "    --C:     {type: loguniform, min: 0.01, max: 100}\n"
      "    --gamma: {type: loguniform, min: 0.0001, max: 0.1}\n"
      "    --kernel: {type: choice, values: [rbf, poly]}\n"
      "  objective: {primary_metric: accuracy, goal: maximize}\n"
      "  limits: {max_total_trials: 40, max_concurrent_trials: 4, max_duration: 30m}\n"
      "  early_termination: {policy: median_stopping, evaluation_interval: 1, delay_evaluation: 5}\n"
      "  seed: 7\n"));
  REQUIRE(parsed.has_value());
  REQUIRE(parsed->sweep.has_value());
  const auto& sweep = *parsed->sweep;
  CHECK(sweep.sampling == Sampling::bayesian);
  REQUIRE(sweep.search_space.size() == 3);
  CHECK(sweep.search_space[0].name == "--C");
  CHECK(sweep.search_space[0].type == ParameterType::loguniform);
  CHECK(sweep.search_space[1].min == 0.0001);
  CHECK(sweep.search_space[2].values == std::vector<std::string>{"rbf", "poly"});
  CHECK(sweep.primary_metric == "accuracy");
  CHECK(sweep.goal == Goal::maximize);
  CHECK(sweep.max_total_trials == 40);
  CHECK(sweep.max_concurrent_trials == 4);
  CHECK(sweep.max_duration_seconds == 1800);
  CHECK(sweep.early_termination.policy == TerminationPolicy::median_stopping);
  CHECK(sweep.early_termination.delay_evaluation == 5);
  CHECK(sweep.seed == 7u);
  CHECK_FALSE(grid_size(sweep).has_value());
}

TEST_CASE("a grid counts its points", "[spec][sweep]") {
  const auto parsed = parse_job_spec(spec_with_sweep(
      "  sampling: grid\n"
      "  search_space:\n"
      "    --kernel: {type: choice, values: [rbf, poly, linear]}\n"
      "    --depth: {type: randint, min: 2, max: 5}\n"
      "    --lr: {type: quniform, min: 0.1, max: 0.5, q: 0.1}\n"
      "  objective: {primary_metric: accuracy}\n"));
  REQUIRE(parsed.has_value());
  const auto& sweep = *parsed->sweep;
  CHECK(grid_values(sweep.search_space[1]) == std::vector<std::string>{"2", "3", "4", "5"});
  CHECK(grid_values(sweep.search_space[2])->size() == 5);
  CHECK(grid_size(sweep) == 3 * 4 * 5);
  CHECK(trainctl::spec::total_trials(sweep) == 60);
}

TEST_CASE("every problem of a sweep is reported at once, at its field", "[spec][sweep]") {
  const auto problems = problems_of(spec_with_sweep(
      "  sampling: grid\n"
      "  search_space:\n"
      "    --lr: {type: loguniform, min: 0, max: 1}\n"
      "    --x: {type: uniform, min: 2, max: 1}\n"
      "    --k: {type: choice, values: []}\n"
      "    --m: {typo: choice}\n"
      "  objective: {primary_metric: 'top 1', goal: maximise}\n"
      "  limits: {max_concurrent_trials: 0}\n"
      "  early_termination: {policy: bandit, truncation_percentage: 10}\n"));
  INFO(problems);
  for (const char* expected : {
           "sweep.search_space.--lr.min: a log-scale range needs min > 0",
           "sweep.search_space.--x.max: must be greater than min (2), not 1",
           "sweep.search_space.--k.values: a choice needs a list of values",
           "sweep.search_space.--m.typo: unknown key 'typo'; did you mean 'type'?",
           "sweep.search_space.--m.type: is required",
           "sweep.objective.primary_metric: metric name 'top 1' is not valid",
           "sweep.objective.goal: 'maximise' is not one of maximize, minimize",
           "sweep.sampling: grid sampling needs discrete parameters",
           "sweep.limits.max_concurrent_trials: must be within",
           "sweep.early_termination: the bandit policy needs one of slack_factor and slack_amount",
           "sweep.early_termination.truncation_percentage: belongs to the truncation_selection policy",
       }) {
    CHECK_THAT(problems, Catch::Contains(expected));
  }
}

TEST_CASE("random and Bayesian sweeps need a number of trials", "[spec][sweep]") {
  CHECK_THAT(problems_of(spec_with_sweep("  sampling: random\n"
                                         "  search_space: {--lr: {type: uniform, min: 0, max: 1}}\n"
                                         "  objective: {primary_metric: loss, goal: minimize}\n")),
             Catch::Contains("sweep.limits.max_total_trials: is required for random sampling"));
  CHECK_THAT(problems_of(spec_with_sweep("  sampling: grid\n"
                                         "  search_space: {--k: {type: choice, values: [a, b]}}\n"
                                         "  objective: {primary_metric: loss}\n"
                                         "  limits: {max_total_trials: 3}\n")),
             Catch::Contains("is 3, but the grid has 2 points"));
}
