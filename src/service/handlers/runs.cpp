// Runs: submit (idempotent), list, show (with long-poll), cancel.
#include <charconv>

#include "handlers.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/service/compute_manager.hpp"
#include "trainctl/spec/job_spec.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

constexpr int k_default_wait_seconds = 30;
constexpr int k_max_wait_seconds = 60;
constexpr int k_max_page = 1000;

Result<int64_t> parse_integer(std::string_view text, std::string_view what, int64_t min, int64_t max) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return fail(ErrorCode::invalid_argument, "{} must be an integer from {} to {}", what, min, max);
  }
  return value;
}

Result<void> check_idempotency_key(const std::string& key) {
  const bool printable = std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (key.empty() || key.size() > 255 || !printable) {
    return fail(ErrorCode::invalid_argument, "Idempotency-Key must be 1-255 printable characters");
  }
  return {};
}

// The snapshot a payload names must exist; otherwise the payload is invalid.
Result<void> check_snapshot(const ServiceContext& context, const nlohmann::json& payload) {
  const auto it = payload.find("snapshot_id");
  const std::string id = it != payload.end() && it->is_string() ? it->get<std::string>() : "";
  if (api::is_sha256_hex(id) && context.store.get_snapshot(id)) return {};
  return fail(Error{ErrorCode::invalid_spec,
                    "the payload does not validate",
                    {field_problem("snapshot_id", "no such snapshot; upload it first")}});
}

// The node_count a payload asks for, when it is an integer (job_spec_from_payload judges the rest).
std::optional<int64_t> requested_node_count(const nlohmann::json& estimator) {
  const auto count = estimator.find("node_count");
  if (count == estimator.end() || !count->is_number_integer()) return std::nullopt;
  return count->get<int64_t>();
}

// The compute target a payload names ("local" when it names none); nullopt when that is not a
// valid name (the spec's rules report it).
std::optional<std::string> requested_compute(const nlohmann::json& payload) {
  const auto compute = payload.find("compute");
  if (compute == payload.end()) return std::string(k_local_compute);
  if (!compute->is_string() || !api::validate_name("compute", compute->get<std::string>())) {
    return std::nullopt;
  }
  return compute->get<std::string>();
}

// Why the target cannot take the run the payload describes: one problem per field, none when
// it can. Checked on the payload, so they are reported with the spec's own problems.
Result<std::vector<ErrorDetail>> compute_problems(const ServiceContext& context,
                                                  const std::string& workspace,
                                                  const nlohmann::json& payload) {
  const auto name = requested_compute(payload);
  if (!name) return std::vector<ErrorDetail>{};
  auto target = context.store.get_compute(workspace, *name);
  if (!target && target.error().code != ErrorCode::not_found) return fail(target.error());
  if (!target) {
    return std::vector{field_problem(
        "compute", fmt::format("no compute target '{}' in workspace '{}'; create it with "
                               "`trainctl compute create {} --type local`",
                               *name, workspace, *name))};
  }
  std::vector<ErrorDetail> problems;
  if (target->state == "Deleting") {
    problems.push_back(field_problem(
        "compute", fmt::format("compute target '{}' is being deleted; use another", *name)));
  } else if (target->state == "Failed") {
    problems.push_back(field_problem(
        "compute", fmt::format("compute target '{}' failed to provision: {}", *name, target->message)));
  }
  const auto estimator_it = payload.find("estimator");
  if (estimator_it == payload.end() || !estimator_it->is_object()) return problems;
  const auto& estimator = *estimator_it;
  if (const auto nodes = requested_node_count(estimator); nodes && *nodes > target->max_nodes) {
    problems.push_back(field_problem(
        "estimator.node_count",
        fmt::format("the compute target '{}' has {} node{}; node_count is {}", *name,
                    target->max_nodes, target->max_nodes == 1 ? "" : "s", *nodes)));
  }
  if (estimator.value("use_gpu", nlohmann::json(false)) == true && target->gpus_per_node == 0) {
    problems.push_back(field_problem(
        "estimator.use_gpu",
        fmt::format("compute target '{}' has no GPUs (gpus_per_node 0); set use_gpu: false or "
                    "use a target with GPUs",
                    *name)));
  }
  const auto conda = estimator.find("conda_packages");
  if (conda != estimator.end() && conda->is_array() && !conda->empty()) {
    problems.push_back(field_problem(
        "estimator.conda_packages",
        target->conda.empty()
            ? fmt::format("compute target '{}' has no conda; use pip_packages, or install conda "
                          "on the service's PATH and run `trainctl compute update {}`",
                          *name, *name)
            : std::string("conda environments are not supported by the local engine yet; use "
                          "pip_packages")));
  }
  return problems;
}

// The payload as a validated spec that its compute target can run. Every problem at once: the
// spec's rules, then what the target lacks.
Result<spec::JobSpec> validated_spec(const ServiceContext& context, const std::string& workspace,
                                     const nlohmann::json& payload) {
  auto spec = spec::job_spec_from_payload(payload);
  if (!spec && spec.error().code != ErrorCode::invalid_spec) return spec;
  auto target_problems = compute_problems(context, workspace, payload);
  if (!target_problems) return fail(target_problems.error());
  if (target_problems->empty()) return spec;
  std::vector<ErrorDetail> problems = spec ? std::vector<ErrorDetail>{} : spec.error().details;
  problems.insert(problems.end(), target_problems->begin(), target_problems->end());
  return fail(Error{ErrorCode::invalid_spec, "the payload does not validate", std::move(problems)});
}

// The store's number for an input's `version`: 0 for latest, else N; none when it can name no
// version (0, or beyond int64).
std::optional<int64_t> requested_version(const spec::Input& input) {
  if (input.version == "latest") return 0;
  auto number = parse_integer(input.version, "version", 1, INT64_MAX);
  return number ? std::optional(*number) : std::nullopt;
}

// Why `input` names nothing: no such dataset (inputs.<name>.dataset), or no such version of it
// (inputs.<name>.version); other store errors are returned as they are.
Result<ErrorDetail> unknown_input(const ServiceContext& context, const std::string& workspace,
                                  const spec::Input& input) {
  const std::string path = "inputs." + input.name;
  auto latest = context.store.get_dataset_version(workspace, input.dataset, 0);
  if (!latest && latest.error().code != ErrorCode::not_found) return fail(latest.error());
  if (!latest) {
    return field_problem(path + ".dataset",
                         fmt::format("no dataset '{}' in workspace {}; create it with trainctl "
                                     "dataset create",
                                     input.dataset, workspace));
  }
  return field_problem(path + ".version",
                       fmt::format("dataset '{}' has no version {}; the latest is {}",
                                   input.dataset, input.version, latest->version));
}

// Each input of `spec` at a fixed version, in spec order: `latest` is the latest version now.
// Every input that names no dataset version is reported at once (invalid_spec).
Result<std::vector<ResolvedInput>> resolve_inputs(const ServiceContext& context,
                                                  const std::string& workspace,
                                                  const spec::JobSpec& spec) {
  std::vector<ResolvedInput> resolved;
  std::vector<ErrorDetail> problems;
  for (const spec::Input& input : spec.inputs) {
    if (const auto number = requested_version(input)) {
      auto version = context.store.get_dataset_version(workspace, input.dataset, *number);
      if (version) {
        resolved.push_back({input.name, input.dataset, version->version, input.mode});
        continue;
      }
      if (version.error().code != ErrorCode::not_found) return fail(version.error());
    }
    auto problem = unknown_input(context, workspace, input);
    if (!problem) return fail(problem.error());
    problems.push_back(std::move(*problem));
  }
  if (!problems.empty()) {
    return fail(Error{ErrorCode::invalid_spec, "the payload does not validate", std::move(problems)});
  }
  return resolved;
}

}  // namespace

Result<CheckedPayload> check_run_payload(const ServiceContext& context,
                                         const std::string& workspace,
                                         const nlohmann::json& payload) {
  auto spec = validated_spec(context, workspace, payload);
  if (!spec) return fail(spec.error());
  if (auto snapshot = check_snapshot(context, payload); !snapshot) return fail(snapshot.error());
  auto inputs = resolve_inputs(context, workspace, *spec);
  if (!inputs) return fail(inputs.error());
  return CheckedPayload{std::move(*spec), std::move(*inputs)};
}

namespace {

// The reply to a submission: 201 with the new run, or 200 marked Idempotent-Replay with the run
// an earlier submission with the same key made.
Result<Reply> submitted_run_reply(const ServiceContext& context, const RunRecord& run,
                                  bool replayed) {
  auto body = run_json_with_timeline(context, run);
  if (!body) return fail(body.error());
  if (replayed) return Reply{200, std::move(*body), {{"Idempotent-Replay", "true"}}};
  return Reply{201, std::move(*body), {}};
}

Result<Reply> create_run(const ServiceContext& context, const httplib::Request& request,
                    const std::string& text) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  const std::string key = request.get_header_value("Idempotency-Key");
  if (request.has_header("Idempotency-Key")) {
    if (auto valid = check_idempotency_key(key); !valid) return fail(valid.error());
  }
  auto payload = parse_json_object(text);
  if (!payload) return fail(payload.error());
  const std::string request_hash = util::sha256_hex(payload->dump());
  // A retry replays its run before anything is checked again: what the first submission
  // resolved (its inputs' versions) may have changed since. The store decides again, atomically.
  if (!key.empty()) {
    auto earlier = context.store.find_idempotent_run(*workspace, key);
    if (!earlier) return fail(earlier.error());
    if (*earlier && (*earlier)->request_hash == request_hash) {
      return submitted_run_reply(context, **earlier, /*replayed=*/true);
    }
  }
  auto checked = check_run_payload(context, *workspace, *payload);
  if (!checked) return fail(checked.error());
  if (checked->spec.sweep) {
    return fail(ErrorCode::invalid_argument,
                "a payload with a sweep section starts a sweep: POST it to "
                "/v1/workspaces/{}/sweeps",
                *workspace);
  }
  const spec::JobSpec& spec = checked->spec;

  RunRecord draft;
  draft.workspace = *workspace;
  draft.experiment = spec.experiment;
  draft.name = spec.name;
  draft.compute = spec.compute;
  draft.priority = spec.priority;
  draft.snapshot_id = payload->at("snapshot_id").get<std::string>();
  draft.payload = spec::build_payload(spec, draft.snapshot_id);
  draft.idempotency_key = key;
  draft.request_hash = request_hash;
  draft.created_at_ms = util::now_unix_ms();
  draft.inputs = std::move(checked->inputs);
  for (const auto& [name, value] : spec::script_param_values(spec.estimator.script_params)) {
    draft.params[name] = value;
  }
  auto outcome = context.store.create_run(draft);
  if (!outcome) return fail(outcome.error());
  if (!outcome->replayed) context.runs.submit(outcome->run);
  return submitted_run_reply(context, outcome->run, outcome->replayed);
}

Result<RunQuery> run_query(const std::string& workspace, const httplib::Request& request) {
  RunQuery query;
  query.workspace = workspace;
  if (const auto experiment = request.get_param_value("experiment"); !experiment.empty()) {
    if (auto valid = api::validate_name("experiment", experiment); !valid) return fail(valid.error());
    query.experiment = experiment;
  }
  if (const auto compute = request.get_param_value("compute"); !compute.empty()) {
    if (auto valid = api::validate_name("compute", compute); !valid) return fail(valid.error());
    query.compute = compute;
  }
  const std::string statuses = request.get_param_value("status");
  for (size_t start = 0; !statuses.empty() && start <= statuses.size();) {
    const size_t comma = std::min(statuses.find(',', start), statuses.size());
    const std::string name = statuses.substr(start, comma - start);
    const auto status = api::parse_run_status(name);
    if (!status) return fail(ErrorCode::invalid_argument, "unknown run status '{}'", name);
    query.statuses.push_back(*status);
    start = comma + 1;
  }
  if (request.has_param("limit")) {
    auto limit = parse_integer(request.get_param_value("limit"), "limit", 1, k_max_page);
    if (!limit) return fail(limit.error());
    query.limit = static_cast<int>(*limit);
  }
  if (const auto token = request.get_param_value("page_token"); !token.empty()) {
    auto before = parse_integer(token, "page_token", 1, INT64_MAX);
    if (!before) return fail(ErrorCode::invalid_argument, "page_token is not one this service made");
    query.before_seq = *before;
  }
  return query;
}

Result<Reply> list_runs(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto query = run_query(*workspace, request);
  if (!query) return fail(query.error());
  auto page = context.store.list_runs(*query);
  if (!page) return fail(page.error());
  auto items = nlohmann::json::array();
  for (const auto& run : page->items) items.push_back(run_json(context, run));
  const nlohmann::json next = page->next_before_seq
                                  ? nlohmann::json(std::to_string(*page->next_before_seq))
                                  : nlohmann::json(nullptr);
  return Reply{200, {{"items", std::move(items)}, {"next_page_token", next}}, {}};
}

// ?wait=true&timeout=N: holds the request until the run is finished or N seconds passed.
Result<Reply> get_run(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = name_param(request, 1, "workspace");
  if (!workspace) return fail(workspace.error());
  auto id = name_param(request, 2, "run");
  if (!id) return fail(id.error());
  int64_t wait_seconds = 0;
  if (request.get_param_value("wait") == "true") {
    wait_seconds = k_default_wait_seconds;
    if (request.has_param("timeout")) {
      auto timeout = parse_integer(request.get_param_value("timeout"), "timeout", 0, k_max_wait_seconds);
      if (!timeout) return fail(timeout.error());
      wait_seconds = *timeout;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  while (true) {
    const uint64_t seen = context.runs.generation();
    auto run = context.store.get_run(*workspace, *id);
    if (!run) return fail(run.error());
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (api::is_terminal(run->status) || left.count() <= 0 || context.runs.stopping()) {
      auto body = run_json_with_timeline(context, *run);
      if (!body) return fail(body.error());
      return Reply{200, std::move(*body), {}};
    }
    context.runs.wait_for_change(seen, left);
  }
}

Result<Reply> cancel_run(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = name_param(request, 1, "workspace");
  if (!workspace) return fail(workspace.error());
  auto id = name_param(request, 2, "run");
  if (!id) return fail(id.error());
  auto outcome = context.runs.cancel(*workspace, *id);
  if (!outcome) return fail(outcome.error());
  auto body = run_json_with_timeline(context, outcome->run);
  if (!body) return fail(body.error());
  return Reply{outcome->changed ? 202 : 200, std::move(*body), {}};
}

}  // namespace

void install_run_routes(httplib::Server& server, const ServiceContext& context) {
  server.Post(workspace_route("/runs"), json_body_route(context, [&context](const httplib::Request& request, const std::string& text) {
                return create_run(context, request, text);
              }));
  server.Get(workspace_route("/runs"), json_route([&context](const httplib::Request& request) {
               return list_runs(context, request);
             }));
  server.Get(workspace_route("/runs/([^/]+)"),
             json_route([&context](const httplib::Request& request) {
               return get_run(context, request);
             }));
  server.Post(workspace_route("/runs/([^/]+)/cancel"),
              json_body_route(context, [&context](const httplib::Request& request, const std::string&) {
                return cancel_run(context, request);
              }));
}

}  // namespace trainctl::service::handlers
