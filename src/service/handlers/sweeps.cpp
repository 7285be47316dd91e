// Sweeps (docs/rest-api.md, Sweeps): start one from a payload with a sweep section, list them,
// show one with its trials ranked by the primary metric, cancel one.
#include <random>

#include "handlers.hpp"
#include "trainctl/api/metrics.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/service/sweeps/sweep_manager.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

using nlohmann::json;

json optional_time_json(int64_t unix_ms) {
  return unix_ms > 0 ? json(util::format_rfc3339(unix_ms)) : json(nullptr);
}

Result<SweepManager*> sweep_manager(const ServiceContext& context) {
  if (context.sweeps == nullptr) return fail(ErrorCode::unavailable, "this service runs no sweeps");
  return context.sweeps;
}

json trial_json(const TrialOutcome& outcome, const spec::Sweep& sweep) {
  const RunRecord& run = *outcome.run;
  json params = json::object();
  for (const auto& parameter : sweep.search_space) {
    if (run.params.contains(parameter.name)) params[parameter.name] = run.params[parameter.name];
  }
  return {{"trial", run.trial},
          {"run_id", run.id},
          {"status", api::to_string(run.status)},
          {"failure_reason", run.failure_reason},
          {"params", std::move(params)},
          {"objective", outcome.objective ? api::metric_value_json(*outcome.objective) : json(nullptr)}};
}

// The sweep as the API shows it; with `trials`, every trial ranked (the best first) and the best.
Result<json> sweep_json(const ServiceContext& context, const SweepRecord& record, bool with_trials) {
  auto spec = spec::job_spec_from_payload(record.payload);
  if (!spec || !spec->sweep) return fail(ErrorCode::internal, "sweep {} has a payload that no longer validates", record.id);
  const spec::Sweep& sweep = *spec->sweep;
  auto trials = context.store.sweep_trials(record.id);
  if (!trials) return fail(trials.error());
  int active = 0;
  for (const auto& trial : *trials) active += api::is_terminal(trial.status) ? 0 : 1;
  const auto ranked = rank_trials(sweep, *trials);
  json best = nullptr;
  for (const auto& outcome : ranked) {
    if (outcome.objective && outcome.run->status == api::RunStatus::Completed) {
      best = trial_json(outcome, sweep);
      break;
    }
  }
  json out{{"id", record.id},
           {"workspace", record.workspace},
           {"experiment", record.experiment},
           {"status", record.status},
           {"message", record.message},
           {"created_at", optional_time_json(record.created_at_ms)},
           {"ended_at", optional_time_json(record.ended_at_ms)},
           {"seed", record.seed},
           {"sampling", spec::to_string(sweep.sampling)},
           {"primary_metric", sweep.primary_metric},
           {"goal", spec::to_string(sweep.goal)},
           {"max_total_trials", spec::total_trials(sweep)},
           {"max_concurrent_trials", sweep.max_concurrent_trials},
           {"trials_started", trials->size()},
           {"trials_running", active},
           {"best", std::move(best)},
           {"sweep", record.payload.value("sweep", json::object())}};
  if (with_trials) {
    json list = json::array();
    for (const auto& outcome : ranked) list.push_back(trial_json(outcome, sweep));
    out["trials"] = std::move(list);
  }
  return out;
}

Result<Reply> create_sweep(const ServiceContext& context, const httplib::Request& request,
                           const std::string& text) {
  auto manager = sweep_manager(context);
  if (!manager) return fail(manager.error());
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto payload = parse_json_object(text);
  if (!payload) return fail(payload.error());
  auto checked = check_run_payload(context, *workspace, *payload);
  if (!checked) return fail(checked.error());
  if (!checked->spec.sweep) {
    return fail(Error{ErrorCode::invalid_spec, "the payload does not validate",
                      {field_problem("sweep", "is required: a sweep's payload has a sweep section "
                                              "(runs are POSTed to .../runs)")}});
  }
  // Every trial uses the dataset versions resolved now.
  spec::JobSpec spec = std::move(checked->spec);
  for (size_t i = 0; i < spec.inputs.size() && i < checked->inputs.size(); ++i) {
    spec.inputs[i].version = std::to_string(checked->inputs[i].version);
  }
  SweepRecord draft;
  draft.workspace = *workspace;
  draft.experiment = spec.experiment;
  draft.payload = spec::build_payload(spec, payload->at("snapshot_id").get<std::string>());
  draft.seed = spec.sweep->seed.value_or(std::random_device{}() & 0x7fffffff);
  draft.created_at_ms = util::now_unix_ms();
  auto sweep = (*manager)->create(draft);
  if (!sweep) return fail(sweep.error());
  auto body = sweep_json(context, *sweep, /*with_trials=*/true);
  if (!body) return fail(body.error());
  return Reply{201, std::move(*body), {}};
}

Result<Reply> list_sweeps(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto sweeps = context.store.list_sweeps(*workspace);
  if (!sweeps) return fail(sweeps.error());
  json items = json::array();
  for (const auto& sweep : *sweeps) {
    auto item = sweep_json(context, sweep, /*with_trials=*/false);
    if (!item) return fail(item.error());
    items.push_back(std::move(*item));
  }
  return Reply{200, {{"items", std::move(items)}}, {}};
}

Result<SweepRecord> routed_sweep(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = name_param(request, 1, "workspace");
  if (!workspace) return fail(workspace.error());
  auto id = name_param(request, 2, "sweep");
  if (!id) return fail(id.error());
  return context.store.get_sweep(*workspace, *id);
}

Result<Reply> get_sweep(const ServiceContext& context, const httplib::Request& request) {
  auto sweep = routed_sweep(context, request);
  if (!sweep) return fail(sweep.error());
  auto body = sweep_json(context, *sweep, /*with_trials=*/true);
  if (!body) return fail(body.error());
  return Reply{200, std::move(*body), {}};
}

Result<Reply> cancel_sweep(const ServiceContext& context, const httplib::Request& request) {
  auto manager = sweep_manager(context);
  if (!manager) return fail(manager.error());
  auto sweep = routed_sweep(context, request);
  if (!sweep) return fail(sweep.error());
  const bool running = sweep->status == "Running";
  auto canceled = (*manager)->cancel(sweep->workspace, sweep->id);
  if (!canceled) return fail(canceled.error());
  auto body = sweep_json(context, *canceled, /*with_trials=*/true);
  if (!body) return fail(body.error());
  return Reply{running ? 202 : 200, std::move(*body), {}};
}

}  // namespace

void install_sweep_routes(httplib::Server& server, const ServiceContext& context) {
  server.Post(workspace_route("/sweeps"),
              json_body_route(context, [&context](const httplib::Request& request, const std::string& text) {
                return create_sweep(context, request, text);
              }));
  server.Get(workspace_route("/sweeps"), json_route([&context](const httplib::Request& request) {
               return list_sweeps(context, request);
             }));
  server.Get(workspace_route("/sweeps/([^/]+)"), json_route([&context](const httplib::Request& request) {
               return get_sweep(context, request);
             }));
  server.Post(workspace_route("/sweeps/([^/]+)/cancel"),
              json_body_route(context, [&context](const httplib::Request& request, const std::string&) {
                return cancel_sweep(context, request);
              }));
}

}  // namespace trainctl::service::handlers
