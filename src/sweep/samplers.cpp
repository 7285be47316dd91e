#include "trainctl/sweep/samplers.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace trainctl::sweep {

namespace {

using spec::ParameterType;
using spec::SearchParameter;

constexpr int k_candidates = 24;
constexpr double k_good_fraction = 0.25;
constexpr int k_most_good = 25;
constexpr double k_pi = 3.14159265358979323846;

bool is_log(ParameterType type) {
  return type == ParameterType::loguniform || type == ParameterType::qloguniform;
}

// The range a parameter is modelled on: log-scale for log types; a randint's widened by half a
// step each side, so that its ends are as likely as the whole numbers inside.
std::pair<double, double> model_range(const SearchParameter& parameter) {
  switch (parameter.type) {
    case ParameterType::loguniform:
    case ParameterType::qloguniform: return {std::log(parameter.min), std::log(parameter.max)};
    case ParameterType::randint: return {parameter.min - 0.5, parameter.max + 0.5};
    case ParameterType::normal:
      return {parameter.mu - 4 * parameter.sigma, parameter.mu + 4 * parameter.sigma};
    case ParameterType::uniform:
    case ParameterType::quniform:
    case ParameterType::choice: break;
  }
  return {parameter.min, parameter.max};
}

// A modelled value (model_range's scale) as the parameter's value: back from log scale,
// rounded to a whole number or a multiple of q, inside the range.
double from_model(const SearchParameter& parameter, double x) {
  switch (parameter.type) {
    case ParameterType::uniform: return std::clamp(x, parameter.min, parameter.max);
    case ParameterType::loguniform: return std::clamp(std::exp(x), parameter.min, parameter.max);
    case ParameterType::normal: return x;
    case ParameterType::randint: return std::clamp(std::round(x), parameter.min, parameter.max);
    case ParameterType::quniform:
    case ParameterType::qloguniform: {
      const double value = parameter.type == ParameterType::qloguniform ? std::exp(x) : x;
      const double low = std::ceil(parameter.min / parameter.q - 1e-9) * parameter.q;
      const double high = std::floor(parameter.max / parameter.q + 1e-9) * parameter.q;
      return std::clamp(std::round(value / parameter.q) * parameter.q, low, high);
    }
    case ParameterType::choice: break;
  }
  return x;
}

double to_model(const SearchParameter& parameter, double value) {
  return is_log(parameter.type) ? std::log(value) : value;
}

double draw(const SearchParameter& parameter, std::mt19937_64& rng) {
  if (parameter.type == ParameterType::choice) {
    return static_cast<double>(
        std::uniform_int_distribution<size_t>(0, parameter.values.size() - 1)(rng));
  }
  if (parameter.type == ParameterType::normal) {
    return std::normal_distribution<double>(parameter.mu, parameter.sigma)(rng);
  }
  const auto [low, high] = model_range(parameter);
  return from_model(parameter, std::uniform_real_distribution<double>(low, high)(rng));
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// A mixture of Gaussians on [low, high] (each truncated to it), equally weighted: one around
// each observation and the prior. The width of each is the
// larger gap to its neighbours, kept between range / min(100, n + 1) and the range.
class ParzenEstimator {
 public:
  ParzenEstimator(std::vector<double> observations, double low, double high, double prior_mu,
                  double prior_sigma)
      : m_low(low), m_high(high) {
    const double range = high - low;
    m_mus = std::move(observations);
    std::vector<double> sorted = m_mus;
    std::sort(sorted.begin(), sorted.end());
    const double smallest = range / std::min(100.0, static_cast<double>(m_mus.size()) + 1);
    for (const double mu : m_mus) {
      const auto at = std::lower_bound(sorted.begin(), sorted.end(), mu);
      const double left = at == sorted.begin() ? mu - low : mu - *(at - 1);
      const auto next = std::upper_bound(sorted.begin(), sorted.end(), mu);
      const double right = next == sorted.end() ? high - mu : *next - mu;
      m_sigmas.push_back(std::clamp(std::max(left, right), smallest, range));
    }
    m_mus.push_back(prior_mu);
    m_sigmas.push_back(prior_sigma);
  }

  double sample(std::mt19937_64& rng) const {
    const size_t component = std::uniform_int_distribution<size_t>(0, m_mus.size() - 1)(rng);
    std::normal_distribution<double> normal(m_mus[component], m_sigmas[component]);
    for (int attempt = 0; attempt < 100; ++attempt) {
      const double x = normal(rng);
      if (x >= m_low && x <= m_high) return x;
    }
    return std::clamp(m_mus[component], m_low, m_high);
  }

  double log_density(double x) const {
    double density = 0;
    for (size_t i = 0; i < m_mus.size(); ++i) {
      const double sigma = m_sigmas[i];
      const double z = (x - m_mus[i]) / sigma;
      const double mass =
          normal_cdf((m_high - m_mus[i]) / sigma) - normal_cdf((m_low - m_mus[i]) / sigma);
      density += std::exp(-0.5 * z * z) / (sigma * std::sqrt(2 * k_pi) * std::max(mass, 1e-12));
    }
    return std::log(std::max(density / static_cast<double>(m_mus.size()), 1e-300));
  }

 private:
  double m_low;
  double m_high;
  std::vector<double> m_mus;
  std::vector<double> m_sigmas;
};

// Weights of a choice's values: 1 (the prior) + how often each was taken.
std::vector<double> choice_weights(size_t count, const std::vector<double>& taken) {
  std::vector<double> weights(count, 1.0);
  for (const double index : taken) weights[static_cast<size_t>(index)] += 1.0;
  return weights;
}

double tpe_choice(const SearchParameter& parameter, const std::vector<double>& good,
                  const std::vector<double>& bad, std::mt19937_64& rng) {
  const auto good_weights = choice_weights(parameter.values.size(), good);
  const auto bad_weights = choice_weights(parameter.values.size(), bad);
  const double good_total = static_cast<double>(parameter.values.size() + good.size());
  const double bad_total = static_cast<double>(parameter.values.size() + bad.size());
  std::discrete_distribution<size_t> from_good(good_weights.begin(), good_weights.end());
  size_t best = from_good(rng);
  double best_score = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < k_candidates; ++i) {
    const size_t candidate = from_good(rng);
    const double score = std::log(good_weights[candidate] / good_total) -
                         std::log(bad_weights[candidate] / bad_total);
    if (score > best_score) {
      best_score = score;
      best = candidate;
    }
  }
  return static_cast<double>(best);
}

double tpe_number(const SearchParameter& parameter, const std::vector<double>& good,
                  const std::vector<double>& bad, std::mt19937_64& rng) {
  const auto [low, high] = model_range(parameter);
  // The prior: the parameter's own normal, or one as wide as the range, centred on it.
  const bool normal = parameter.type == ParameterType::normal;
  const double prior_mu = normal ? parameter.mu : (low + high) / 2;
  const double prior_sigma = normal ? parameter.sigma : high - low;
  const auto model = [&](const std::vector<double>& values) {
    std::vector<double> modelled;
    for (const double value : values) modelled.push_back(std::clamp(to_model(parameter, value), low, high));
    return ParzenEstimator(std::move(modelled), low, high, prior_mu, prior_sigma);
  };
  const ParzenEstimator good_model = model(good);
  const ParzenEstimator bad_model = model(bad);
  double best = good_model.sample(rng);
  double best_score = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < k_candidates; ++i) {
    const double candidate = good_model.sample(rng);
    const double score = good_model.log_density(candidate) - bad_model.log_density(candidate);
    if (score > best_score) {
      best_score = score;
      best = candidate;
    }
  }
  return from_model(parameter, best);
}

}  // namespace

Point grid_point(const spec::Sweep& sweep, int64_t index) {
  Point point(sweep.search_space.size());
  for (size_t i = sweep.search_space.size(); i-- > 0;) {
    const auto& parameter = sweep.search_space[i];
    const auto values = spec::grid_values(parameter).value_or(std::vector<std::string>{});
    const auto count = static_cast<int64_t>(std::max<size_t>(values.size(), 1));
    const int64_t position = index % count;
    index /= count;
    point[i] = parameter.type == ParameterType::choice ? static_cast<double>(position)
                                                       : std::stod(values[static_cast<size_t>(position)]);
  }
  return point;
}

Point random_point(const spec::Sweep& sweep, std::mt19937_64& rng) {
  Point point;
  for (const auto& parameter : sweep.search_space) point.push_back(draw(parameter, rng));
  return point;
}

Point tpe_point(const spec::Sweep& sweep, const std::vector<FinishedTrial>& finished,
                std::mt19937_64& rng) {
  if (finished.size() < 2) return random_point(sweep, rng);
  std::vector<const FinishedTrial*> ranked;
  for (const auto& trial : finished) ranked.push_back(&trial);
  const bool maximize = sweep.goal == spec::Goal::maximize;
  std::stable_sort(ranked.begin(), ranked.end(), [&](const auto* a, const auto* b) {
    return maximize ? a->objective > b->objective : a->objective < b->objective;
  });
  const auto good_count = static_cast<size_t>(std::clamp<double>(
      std::ceil(k_good_fraction * static_cast<double>(ranked.size())), 1, k_most_good));
  Point point;
  for (size_t i = 0; i < sweep.search_space.size(); ++i) {
    std::vector<double> good;
    std::vector<double> bad;
    for (size_t rank = 0; rank < ranked.size(); ++rank) {
      (rank < good_count ? good : bad).push_back(ranked[rank]->point[i]);
    }
    const auto& parameter = sweep.search_space[i];
    point.push_back(parameter.type == ParameterType::choice ? tpe_choice(parameter, good, bad, rng)
                                                            : tpe_number(parameter, good, bad, rng));
  }
  return point;
}

Point next_point(const spec::Sweep& sweep, uint64_t seed, int64_t index,
                 const std::vector<FinishedTrial>& finished) {
  std::seed_seq seeds{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                      static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32)};
  std::mt19937_64 rng(seeds);
  switch (sweep.sampling) {
    case spec::Sampling::grid: return grid_point(sweep, index);
    case spec::Sampling::random: return random_point(sweep, rng);
    case spec::Sampling::bayesian:
      return index < k_startup_trials ? random_point(sweep, rng) : tpe_point(sweep, finished, rng);
  }
  return random_point(sweep, rng);
}

std::vector<std::pair<std::string, std::string>> script_values(const spec::Sweep& sweep,
                                                               const Point& point) {
  std::vector<std::pair<std::string, std::string>> values;
  for (size_t i = 0; i < sweep.search_space.size() && i < point.size(); ++i) {
    const auto& parameter = sweep.search_space[i];
    values.emplace_back(parameter.name,
                        parameter.type == ParameterType::choice
                            ? parameter.values.at(static_cast<size_t>(point[i]))
                            : spec::parameter_text(point[i]));
  }
  return values;
}

}  // namespace trainctl::sweep
