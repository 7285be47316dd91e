#include "trainctl/sweep/early_termination.hpp"

#include <algorithm>
#include <cmath>

namespace trainctl::sweep {

namespace {

using spec::TerminationPolicy;

// The points of `curve` up to `step`.
std::vector<double> values_up_to(const Curve& curve, int64_t step) {
  std::vector<double> values;
  for (const auto& [at, value] : curve) {
    if (at <= step) values.push_back(value);
  }
  return values;
}

bool reached(const Curve& curve, int64_t step) {
  return std::any_of(curve.begin(), curve.end(), [&](const auto& point) { return point.first >= step; });
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (const double value : values) sum += value;
  return sum / static_cast<double>(values.size());
}

}  // namespace

std::optional<int64_t> termination_step(const spec::Sweep& sweep, const Curve& trial,
                                        const std::vector<Curve>& others) {
  const auto& policy = sweep.early_termination;
  if (policy.policy == TerminationPolicy::none || trial.empty()) return std::nullopt;
  // The last step logged that is an evaluation step.
  std::optional<int64_t> judged;
  for (const auto& [step, value] : trial) {
    if (step < policy.delay_evaluation) continue;
    if ((step - policy.delay_evaluation) % std::max(policy.evaluation_interval, 1) != 0) continue;
    if (!judged || step > *judged) judged = step;
  }
  if (!judged) return std::nullopt;
  const bool maximize = sweep.goal == spec::Goal::maximize;
  const auto worse = [&](double a, double b) { return maximize ? a < b : a > b; };
  const auto best_of = [&](const std::vector<double>& values) {
    return maximize ? *std::max_element(values.begin(), values.end())
                    : *std::min_element(values.begin(), values.end());
  };
  const auto mine = values_up_to(trial, *judged);
  const double current = mine.back();
  std::vector<std::vector<double>> compared;
  for (const auto& other : others) {
    if (!reached(other, *judged)) continue;
    auto values = values_up_to(other, *judged);
    if (!values.empty()) compared.push_back(std::move(values));
  }
  if (compared.empty()) return std::nullopt;

  bool stop = false;
  switch (policy.policy) {
    case TerminationPolicy::none: break;
    case TerminationPolicy::median_stopping: {
      if (compared.size() < 2) return std::nullopt;  // a median of one is that trial's curve
      std::vector<double> averages;
      for (const auto& values : compared) averages.push_back(mean(values));
      stop = worse(best_of(mine), median(averages));
      break;
    }
    case TerminationPolicy::bandit: {
      std::vector<double> bests;
      for (const auto& values : compared) bests.push_back(best_of(values));
      const double best = best_of(bests);
      double bound = best;
      if (policy.slack_factor > 0) {
        bound = maximize ? best / (1 + policy.slack_factor) : best * (1 + policy.slack_factor);
      } else {
        bound = maximize ? best - policy.slack_amount : best + policy.slack_amount;
      }
      stop = worse(current, bound);
      break;
    }
    case TerminationPolicy::truncation_selection: {
      std::vector<double> values{current};
      for (const auto& other : compared) values.push_back(other.back());
      std::sort(values.begin(), values.end(), [&](double a, double b) { return worse(a, b); });
      const auto cut = static_cast<size_t>(
          std::floor(static_cast<double>(values.size()) * policy.truncation_percentage / 100.0));
      stop = cut > 0 && !worse(values[cut - 1], current);  // current is among the `cut` worst
      break;
    }
  }
  return stop ? judged : std::nullopt;
}

}  // namespace trainctl::sweep
