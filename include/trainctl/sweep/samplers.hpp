#pragma once
// The samplers of a sweep (docs/sweeps.md, Sampling): which script params each trial runs with.
// Pure and seeded: the same sweep, seed and history give the same points.
//  - grid: trial i is the i-th point of the grid (the last parameter varies fastest);
//  - random: each parameter drawn from its distribution;
//  - bayesian: the Tree-structured Parzen Estimator (Bergstra et al., NeurIPS 2011), after
//    k_startup_trials random ones: the finished trials are split into the best quarter and the
//    rest, each parameter's values in either are modelled by a Parzen estimator (a mixture of
//    Gaussians around them, truncated to the range, with the prior as one more component; for a
//    choice, smoothed counts), and of 24 candidates drawn from the good model the one with the
//    greatest ratio good / rest is taken.
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "trainctl/spec/sweep.hpp"

namespace trainctl::sweep {

// A point of the search space: per parameter (in search-space order) a number; a choice's is the
// index of its value; a randint's, quniform's and qloguniform's are already whole / multiples of q.
using Point = std::vector<double>;

// A trial that ended with a value of the primary metric.
struct FinishedTrial {
  Point point;
  double objective = 0;
};

// The random trials a Bayesian sweep makes before it models the results.
inline constexpr int k_startup_trials = 10;

Point grid_point(const spec::Sweep& sweep, int64_t index);
Point random_point(const spec::Sweep& sweep, std::mt19937_64& rng);
// The TPE's next point given the finished trials (random while there are fewer than 2).
Point tpe_point(const spec::Sweep& sweep, const std::vector<FinishedTrial>& finished,
                std::mt19937_64& rng);

// The point of trial `index` (0-based) of the sweep: by its sampling, with a generator seeded by
// (seed, index), so that a trial's point does not depend on how many points were drawn before.
Point next_point(const spec::Sweep& sweep, uint64_t seed, int64_t index,
                 const std::vector<FinishedTrial>& finished);

// The point as script params: name and value text, in search-space order.
std::vector<std::pair<std::string, std::string>> script_values(const spec::Sweep& sweep,
                                                               const Point& point);

}  // namespace trainctl::sweep
