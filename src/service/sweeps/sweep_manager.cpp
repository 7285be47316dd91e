#include "trainctl/service/sweeps/sweep_manager.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "trainctl/api/metrics.hpp"
#include "trainctl/spec/job_spec.hpp"
#include "trainctl/sweep/early_termination.hpp"
#include "trainctl/sweep/samplers.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service {

namespace {

using nlohmann::json;

bool is_flag(std::string_view argument) {
  return argument.size() >= 2 && argument.front() == '-' &&
         !(argument[1] >= '0' && argument[1] <= '9') && argument[1] != '.';
}

std::optional<double> objective_of(const spec::Sweep& sweep, const RunRecord& run) {
  const auto summary = run.metrics.find(sweep.primary_metric);
  if (summary == run.metrics.end() || !summary->is_object()) return std::nullopt;
  const auto value = api::metric_value_from_json(summary->value("last", json()));
  if (!value || std::isnan(*value)) return std::nullopt;
  return value;
}

// The point a trial ran, read back from its script_params.
std::optional<sweep::Point> point_of(const spec::Sweep& sweep, const RunRecord& run) {
  const auto estimator = run.payload.find("estimator");
  if (estimator == run.payload.end()) return std::nullopt;
  const auto params = spec::script_param_values(
      estimator->value("script_params", std::vector<std::string>{}));
  sweep::Point point;
  for (const auto& parameter : sweep.search_space) {
    const auto found = std::find_if(params.rbegin(), params.rend(),
                                    [&](const auto& param) { return param.first == parameter.name; });
    if (found == params.rend()) return std::nullopt;
    if (parameter.type == spec::ParameterType::choice) {
      const auto at = std::find(parameter.values.begin(), parameter.values.end(), found->second);
      if (at == parameter.values.end()) return std::nullopt;
      point.push_back(static_cast<double>(at - parameter.values.begin()));
    } else {
      try {
        point.push_back(std::stod(found->second));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return point;
}

// The inputs of a trial: the sweep's, at the versions they were resolved to when it was made.
Result<std::vector<ResolvedInput>> trial_inputs(Store& store, const std::string& workspace,
                                                const spec::JobSpec& spec) {
  std::vector<ResolvedInput> inputs;
  for (const auto& input : spec.inputs) {
    int64_t number = 0;
    try {
      number = std::stoll(input.version);
    } catch (const std::exception&) {
      number = 0;
    }
    auto version = store.get_dataset_version(workspace, input.dataset, number);
    if (!version) return fail(version.error());
    inputs.push_back({input.name, input.dataset, version->version, input.mode});
  }
  return inputs;
}

// The trial's primary metric as logged by its latest attempt's first task.
sweep::Curve curve_of(Store& store, const spec::Sweep& sweep, const RunRecord& run) {
  auto series = store.metric_series(run.id, sweep.primary_metric);
  if (!series || series->empty()) return {};
  const auto chosen = std::max_element(series->begin(), series->end(), [](const auto& a, const auto& b) {
    return std::pair(a.attempt, b.task) < std::pair(b.attempt, a.task);
  });
  auto points = store.metric_points(chosen->id, 0, 1'000'000);
  if (!points) return {};
  sweep::Curve curve;
  for (const auto& point : *points) {
    if (!std::isnan(point.value)) curve.emplace_back(point.step, point.value);
  }
  return curve;
}

}  // namespace

std::vector<std::string> with_script_values(
    std::vector<std::string> script_params,
    const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [name, value] : values) {
    const auto flag = std::find(script_params.begin(), script_params.end(), name);
    if (flag == script_params.end()) {
      script_params.push_back(name);
      script_params.push_back(value);
    } else if (flag + 1 != script_params.end() && !is_flag(*(flag + 1))) {
      *(flag + 1) = value;
    } else {
      script_params.insert(flag + 1, value);
    }
  }
  return script_params;
}

std::vector<TrialOutcome> rank_trials(const spec::Sweep& sweep, const std::vector<RunRecord>& trials) {
  std::vector<TrialOutcome> outcomes;
  for (const auto& trial : trials) outcomes.push_back({&trial, objective_of(sweep, trial)});
  const bool maximize = sweep.goal == spec::Goal::maximize;
  std::stable_sort(outcomes.begin(), outcomes.end(), [&](const auto& a, const auto& b) {
    if (a.objective.has_value() != b.objective.has_value()) return a.objective.has_value();
    if (!a.objective) return false;
    return maximize ? *a.objective > *b.objective : *a.objective < *b.objective;
  });
  return outcomes;
}

SweepManager::SweepManager(Store& store, RunManager& runs, SweepManagerOptions options)
    : m_store(store), m_runs(runs), m_options(options) {}

SweepManager::~SweepManager() { stop(); }

void SweepManager::start() {
  m_thread = std::thread([this] { loop(); });
}

void SweepManager::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wakeup.notify_all();
  if (m_thread.joinable()) m_thread.join();  // within one interval
}

void SweepManager::loop() {
  while (true) {
    const uint64_t seen = m_runs.generation();
    {
      std::lock_guard lock(m_mutex);
      if (m_stopping) return;
    }
    auto sweeps = m_store.list_active_sweeps();
    if (!sweeps) {
      spdlog::warn("sweeps: cannot list them: {}", sweeps.error().message);
    } else {
      for (const auto& sweep : *sweeps) {
        std::lock_guard advancing(m_advance_mutex);
        advance(sweep);
      }
    }
    if (sweeps && sweeps->empty()) {
      // No sweep runs, so no run change concerns one (every submission and every pass moves the
      // run manager's generation): sleep until a sweep is made, or for the interval.
      std::unique_lock lock(m_mutex);
      m_wakeup.wait_for(lock, m_options.interval, [this] { return m_stopping || m_sweep_made; });
      m_sweep_made = false;
      continue;
    }
    // A trial that changed status (the run manager's generation moves) is looked at at once.
    m_runs.wait_for_change(seen, m_options.interval);
  }
}

Result<SweepRecord> SweepManager::create(const SweepRecord& draft) {
  auto sweep = m_store.create_sweep(draft);
  if (!sweep) return sweep;
  {
    std::lock_guard advancing(m_advance_mutex);
    advance(*sweep);  // its first trials start now
  }
  {
    std::lock_guard lock(m_mutex);
    m_sweep_made = true;  // the loop follows its trials from now on
  }
  m_wakeup.notify_all();
  return sweep;
}

Result<SweepRecord> SweepManager::cancel(const std::string& workspace, const std::string& id) {
  std::lock_guard advancing(m_advance_mutex);
  auto sweep = m_store.get_sweep(workspace, id);
  if (!sweep || sweep->status != "Running") return sweep;
  auto ended = m_store.end_sweep(id, "Canceled", "canceled");
  if (!ended) return ended;
  auto trials = m_store.sweep_trials(id);
  if (!trials) return fail(trials.error());
  for (const auto& trial : *trials) {
    if (api::is_terminal(trial.status)) continue;
    if (auto canceled = m_runs.cancel(workspace, trial.id); !canceled) {
      spdlog::warn("sweep {}: cannot cancel trial {}: {}", id, trial.id, canceled.error().message);
    }
  }
  return ended;
}

int SweepManager::stop_trials_behind(const SweepRecord& record, const spec::Sweep& sweep,
                                     const std::vector<RunRecord>& trials) {
  std::vector<sweep::Curve> curves;
  for (const auto& trial : trials) curves.push_back(curve_of(m_store, sweep, trial));
  int stopped = 0;
  for (size_t i = 0; i < trials.size(); ++i) {
    if (trials[i].status != api::RunStatus::Running) continue;
    std::vector<sweep::Curve> others;
    for (size_t j = 0; j < trials.size(); ++j) {
      if (j != i) others.push_back(curves[j]);
    }
    const auto step = sweep::termination_step(sweep, curves[i], others);
    if (!step) continue;
    spdlog::info("sweep {}: early termination of trial {} ({}) at step {}", record.id,
                 trials[i].trial, trials[i].id, *step);
    auto canceled = m_runs.cancel(record.workspace, trials[i].id, "early termination");
    if (canceled && canceled->changed) ++stopped;
  }
  return stopped;
}

void SweepManager::advance(const SweepRecord& record) {
  auto spec = spec::job_spec_from_payload(record.payload);
  if (!spec || !spec->sweep) {
    (void)m_store.end_sweep(record.id, "Canceled",
                            "its stored payload no longer validates: " +
                                (spec ? std::string("it has no sweep") : spec.error().message));
    return;
  }
  const spec::Sweep& sweep = *spec->sweep;
  auto trials = m_store.sweep_trials(record.id);
  if (!trials) return;
  int active = 0;
  std::vector<sweep::FinishedTrial> finished;
  for (const auto& trial : *trials) {
    if (!api::is_terminal(trial.status)) {
      ++active;
      continue;
    }
    const auto objective = objective_of(sweep, trial);
    const auto point = point_of(sweep, trial);
    if (objective && point) finished.push_back({*point, *objective});
  }
  if (sweep.early_termination.policy != spec::TerminationPolicy::none) {
    active -= stop_trials_behind(record, sweep, *trials);
  }
  const int total = spec::total_trials(sweep);
  const bool expired = sweep.max_duration_seconds > 0 &&
                       util::now_unix_ms() - record.created_at_ms > sweep.max_duration_seconds * 1000;
  auto started = static_cast<int>(trials->size());
  json template_payload = record.payload;
  template_payload.erase("sweep");
  while (!expired && active < sweep.max_concurrent_trials && started < total) {
    const auto point = sweep::next_point(sweep, record.seed, started, finished);
    spec::JobSpec trial_spec = *spec;
    trial_spec.sweep.reset();
    trial_spec.estimator.script_params =
        with_script_values(trial_spec.estimator.script_params, sweep::script_values(sweep, point));
    auto inputs = trial_inputs(m_store, record.workspace, trial_spec);
    if (!inputs) {
      (void)m_store.end_sweep(record.id, "Canceled",
                              "cannot start trial " + std::to_string(started) + ": " +
                                  inputs.error().message);
      return;
    }
    RunRecord draft;
    draft.workspace = record.workspace;
    draft.experiment = trial_spec.experiment;
    draft.name = fmt::format("{} trial {}", record.id, started);
    draft.compute = trial_spec.compute;
    draft.priority = trial_spec.priority;
    draft.snapshot_id = template_payload.value("snapshot_id", "");
    draft.payload = spec::build_payload(trial_spec, draft.snapshot_id);
    draft.request_hash = util::sha256_hex(draft.payload.dump());
    draft.created_at_ms = util::now_unix_ms();
    draft.inputs = std::move(*inputs);
    draft.sweep_id = record.id;
    draft.trial = started;
    for (const auto& [name, value] : spec::script_param_values(trial_spec.estimator.script_params)) {
      draft.params[name] = value;
    }
    auto created = m_store.create_run(draft);
    if (!created) {
      // conflict: another pass made this trial (the store is the judge); look again next pass.
      if (created.error().code != ErrorCode::conflict) {
        spdlog::warn("sweep {}: cannot start trial {}: {}", record.id, started,
                     created.error().message);
      }
      return;
    }
    m_runs.submit(created->run);
    spdlog::info("sweep {}: trial {} is run {}", record.id, started, created->run.id);
    ++started;
    ++active;
  }
  if (active > 0 || (started < total && !expired)) return;
  const auto ranked = rank_trials(sweep, *trials);
  std::string message = fmt::format("{} trial{}", started, started == 1 ? "" : "s");
  if (expired && started < total) message += fmt::format(" of {} (max_duration reached)", total);
  if (!ranked.empty() && ranked.front().objective) {
    message += fmt::format("; best: {} ({} {})", ranked.front().run->id, sweep.primary_metric,
                           *ranked.front().objective);
  }
  (void)m_store.end_sweep(record.id, "Completed", message);
}

}  // namespace trainctl::service
