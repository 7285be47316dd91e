// Bayesian (TPE) against random sampling on known functions (bench/README.md, Sweeps): the best
// value found after 20 and 40 trials, over several seeds, the trials run one after the other.
//   build/ci/bench/bench_sweep_sampling [seeds]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "trainctl/sweep/samplers.hpp"

namespace {

using trainctl::spec::ParameterType;
using trainctl::spec::SearchParameter;
using trainctl::spec::Sweep;
namespace sweep = trainctl::sweep;

constexpr double k_pi = 3.14159265358979323846;

struct Problem {
  std::string name;
  Sweep sweep;
  std::function<double(const sweep::Point&)> objective;  // minimized
  double optimum;
};

SearchParameter range(std::string name, ParameterType type, double min, double max) {
  SearchParameter p;
  p.name = std::move(name);
  p.type = type;
  p.min = min;
  p.max = max;
  return p;
}

Sweep minimizing(std::vector<SearchParameter> space) {
  Sweep s;
  s.search_space = std::move(space);
  s.goal = trainctl::spec::Goal::minimize;
  s.primary_metric = "loss";
  s.max_total_trials = 40;
  return s;
}

double branin(const sweep::Point& x) {
  const double a = 1, b = 5.1 / (4 * k_pi * k_pi), c = 5 / k_pi, r = 6, s = 10, t = 1 / (8 * k_pi);
  return a * std::pow(x[1] - b * x[0] * x[0] + c * x[0] - r, 2) + s * (1 - t) * std::cos(x[0]) + s;
}

double hartmann3(const sweep::Point& x) {
  const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
  const double a[4][3] = {{3, 10, 30}, {0.1, 10, 35}, {3, 10, 30}, {0.1, 10, 35}};
  const double p[4][3] = {{0.3689, 0.1170, 0.2673}, {0.4699, 0.4387, 0.7470},
                          {0.1091, 0.8732, 0.5547}, {0.0381, 0.5743, 0.8828}};
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    double inner = 0;
    for (int j = 0; j < 3; ++j) inner += a[i][j] * std::pow(x[static_cast<size_t>(j)] - p[i][j], 2);
    sum += alpha[i] * std::exp(-inner);
  }
  return -sum;
}

// The SVM sweep as a known function: best at C = 10, gamma = 0.001, kernel rbf.
double svm_like(const sweep::Point& x) {
  return std::pow(std::log10(x[0]) - 1, 2) + std::pow(std::log10(x[1]) + 3, 2) + (x[2] == 1 ? 0.5 : 0);
}

std::vector<Problem> problems() {
  SearchParameter kernel;
  kernel.name = "--kernel";
  kernel.type = ParameterType::choice;
  kernel.values = {"rbf", "poly"};
  return {
      {"branin (2 uniform; min 0.3979)",
       minimizing({range("--x1", ParameterType::uniform, -5, 10),
                   range("--x2", ParameterType::uniform, 0, 15)}),
       branin, 0.397887},
      {"hartmann3 (3 uniform; min -3.8628)",
       minimizing({range("--x1", ParameterType::uniform, 0, 1), range("--x2", ParameterType::uniform, 0, 1),
                   range("--x3", ParameterType::uniform, 0, 1)}),
       hartmann3, -3.86278},
      {"svm-like (2 loguniform + choice; min 0)",
       minimizing({range("--C", ParameterType::loguniform, 0.01, 100),
                   range("--gamma", ParameterType::loguniform, 0.0001, 0.1), kernel}),
       svm_like, 0},
  };
}

// The best value after each trial of one sweep.
std::vector<double> best_so_far(const Problem& problem, trainctl::spec::Sampling sampling,
                                uint64_t seed, int trials) {
  Sweep s = problem.sweep;
  s.sampling = sampling;
  std::vector<sweep::FinishedTrial> finished;
  std::vector<double> best;
  for (int i = 0; i < trials; ++i) {
    const auto point = sweep::next_point(s, seed, i, finished);
    const double value = problem.objective(point);
    finished.push_back({point, value});
    best.push_back(best.empty() ? value : std::min(best.back(), value));
  }
  return best;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double mean(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

}  // namespace

int main(int argc, char** argv) {
  const int seeds = argc > 1 ? std::atoi(argv[1]) : 20;
  fmt::print("best value found (minimized), over {} seeds: median / mean; 'wins' = seeds where "
             "bayesian's best is lower than random's\n\n",
             seeds);
  fmt::print("{:<40} {:>8} {:>22} {:>22} {:>6}\n", "function", "trials", "random", "bayesian", "wins");
  for (const auto& problem : problems()) {
    for (const int trials : {20, 40}) {
      std::vector<double> random_best;
      std::vector<double> bayesian_best;
      int wins = 0;
      for (int seed = 1; seed <= seeds; ++seed) {
        const double r = best_so_far(problem, trainctl::spec::Sampling::random, seed, trials).back();
        const double b = best_so_far(problem, trainctl::spec::Sampling::bayesian, seed, trials).back();
        random_best.push_back(r);
        bayesian_best.push_back(b);
        wins += b < r;
      }
      fmt::print("{:<40} {:>8} {:>10.4f} / {:<9.4f} {:>10.4f} / {:<9.4f} {:>3}/{}\n", problem.name, trials,
                 median(random_best), mean(random_best), median(bayesian_best), mean(bayesian_best),
                 wins, seeds);
    }
  }
  return 0;
}
