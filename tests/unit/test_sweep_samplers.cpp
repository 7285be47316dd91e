// The samplers of sweeps (samplers.hpp): grid enumerates exactly; random and Bayesian respect
// bounds, types and the seed; the Bayesian sampler learns.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "trainctl/sweep/samplers.hpp"

using namespace trainctl;
using spec::ParameterType;
using spec::SearchParameter;

namespace {

SearchParameter parameter(std::string name, ParameterType type, double min, double max,
                          double q = 0) {
  SearchParameter p;
  p.name = std::move(name);
  p.type = type;
  p.min = min;
  p.max = max;
  p.q = q;
  return p;
}

SearchParameter choice(std::string name, std::vector<std::string> values) {
  SearchParameter p;
  p.name = std::move(name);
  p.type = ParameterType::choice;
  p.values = std::move(values);
  return p;
}

spec::Sweep mixed_sweep(spec::Sampling sampling) {
  spec::Sweep sweep;
  sweep.sampling = sampling;
  sweep.search_space = {parameter("--C", ParameterType::loguniform, 0.01, 100),
                        parameter("--depth", ParameterType::randint, 1, 6),
                        parameter("--lr", ParameterType::quniform, 0.1, 0.9, 0.2),
                        parameter("--m", ParameterType::qloguniform, 1, 1000, 10),
                        choice("--kernel", {"rbf", "poly", "linear"})};
  sweep.primary_metric = "accuracy";
  sweep.max_total_trials = 60;
  return sweep;
}

// Every point stays in its parameter's range and type.
void check_in_space(const spec::Sweep& sweep, const sweep::Point& point) {
  REQUIRE(point.size() == 5);
  CHECK(point[0] >= 0.01);
  CHECK(point[0] <= 100);
  CHECK(point[1] == std::round(point[1]));
  CHECK(point[1] >= 1);
  CHECK(point[1] <= 6);
  const double steps = point[2] / 0.2;
  CHECK(std::abs(steps - std::round(steps)) < 1e-9);
  CHECK(point[2] >= 0.2 - 1e-9);  // the multiples of 0.2 in [0.1, 0.9]
  CHECK(point[2] <= 0.8 + 1e-9);
  CHECK(std::fmod(point[3], 10) == 0);
  CHECK(point[3] >= 10);
  CHECK(point[3] <= 1000);
  CHECK(std::set<double>{0, 1, 2}.contains(point[4]));
  const auto values = sweep::script_values(sweep, point);
  CHECK(values[4].second == sweep.search_space[4].values[static_cast<size_t>(point[4])]);
}

}  // namespace

TEST_CASE("a grid sweep enumerates every point exactly once", "[sweep][grid]") {
  spec::Sweep sweep;
  sweep.sampling = spec::Sampling::grid;
  sweep.search_space = {choice("--kernel", {"rbf", "poly"}),
                        parameter("--depth", ParameterType::randint, 1, 3),
                        parameter("--lr", ParameterType::quniform, 0.1, 0.3, 0.1)};
  REQUIRE(spec::grid_size(sweep) == 18);
  std::set<std::vector<std::pair<std::string, std::string>>> seen;
  for (int64_t i = 0; i < 18; ++i) {
    seen.insert(sweep::script_values(sweep, sweep::next_point(sweep, 1, i, {})));
  }
  CHECK(seen.size() == 18);
  CHECK(sweep::script_values(sweep, sweep::next_point(sweep, 1, 0, {})) ==
        std::vector<std::pair<std::string, std::string>>{{"--kernel", "rbf"}, {"--depth", "1"}, {"--lr", "0.1"}});
  CHECK(sweep::script_values(sweep, sweep::next_point(sweep, 1, 17, {})) ==
        std::vector<std::pair<std::string, std::string>>{{"--kernel", "poly"}, {"--depth", "3"}, {"--lr", "0.3"}});
}

TEST_CASE("random points respect bounds and types, and the seed", "[sweep][random]") {
  const auto sweep = mixed_sweep(spec::Sampling::random);
  std::set<double> kernels;
  for (int64_t i = 0; i < 200; ++i) {
    const auto point = sweep::next_point(sweep, 42, i, {});
    check_in_space(sweep, point);
    kernels.insert(point[4]);
  }
  CHECK(kernels.size() == 3);
  CHECK(sweep::next_point(sweep, 42, 5, {}) == sweep::next_point(sweep, 42, 5, {}));
  CHECK(sweep::next_point(sweep, 42, 5, {}) != sweep::next_point(sweep, 43, 5, {}));
  CHECK(sweep::next_point(sweep, 42, 5, {}) != sweep::next_point(sweep, 42, 6, {}));
}

TEST_CASE("Bayesian points respect bounds and types, and the seed", "[sweep][bayesian]") {
  const auto sweep = mixed_sweep(spec::Sampling::bayesian);
  std::vector<sweep::FinishedTrial> finished;
  for (int64_t i = 0; i < 40; ++i) {
    const auto point = sweep::next_point(sweep, 9, i, finished);
    check_in_space(sweep, point);
    finished.push_back({point, -std::abs(std::log10(point[0]) - 1) + point[4]});
  }
  CHECK(sweep::next_point(sweep, 9, 40, finished) == sweep::next_point(sweep, 9, 40, finished));
}

TEST_CASE("the Bayesian sampler concentrates where the objective is best", "[sweep][bayesian]") {
  // Minimize (log10 C - 1)^2 over C in [0.01, 100]: the best C is 10.
  spec::Sweep sweep;
  sweep.sampling = spec::Sampling::bayesian;
  sweep.goal = spec::Goal::minimize;
  sweep.search_space = {parameter("--C", ParameterType::loguniform, 0.01, 100)};
  sweep.max_total_trials = 60;
  std::vector<sweep::FinishedTrial> finished;
  for (int64_t i = 0; i < 60; ++i) {
    const auto point = sweep::next_point(sweep, 3, i, finished);
    finished.push_back({point, std::pow(std::log10(point[0]) - 1, 2)});
  }
  // Of the last 20 trials (all modelled), most are within a factor 2 of the best C.
  int near = 0;
  for (size_t i = 40; i < 60; ++i) near += std::abs(std::log10(finished[i].point[0]) - 1) < 0.3;
  CHECK(near >= 14);
}
