// Runs: submit (idempotent), a batch of them in one request, list, show (with long-poll), cancel.
#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <vector>

#include "handlers.hpp"
#include "manifest.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/service/compute_manager.hpp"
#include "trainctl/spec/job_spec.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/strings.hpp"
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

// The Idempotency-Key header of `request`, validated by the one rule; empty when absent.
Result<std::string> idempotency_key_of(const httplib::Request& request) {
  if (!request.has_header("Idempotency-Key")) return std::string();
  std::string key = request.get_header_value("Idempotency-Key");
  if (auto valid = api::validate_idempotency_key(key); !valid) {
    return fail(ErrorCode::invalid_argument, "Idempotency-Key: {}", valid.error().message);
  }
  return key;
}

// What checking run payloads reads from the store, each thing read once per request: the runs
// of a batch name the same compute target, snapshot and dataset versions again and again.
class PayloadLookups {
 public:
  PayloadLookups(const ServiceContext& context, std::string workspace)
      : m_context(context), m_workspace(std::move(workspace)) {}

  const std::string& workspace() const { return m_workspace; }

  Result<ComputeRecord> compute(const std::string& name) {
    auto [it, added] = m_computes.try_emplace(name);
    if (added) it->second = m_context.store.get_compute(m_workspace, name);
    return it->second;
  }

  bool snapshot_exists(const std::string& id) {
    auto [it, added] = m_snapshots.try_emplace(id, false);
    if (added) it->second = static_cast<bool>(m_context.store.get_snapshot(id));
    return it->second;
  }

  // Counts snapshot `id` as existing (it is stored with the run that names it).
  void add_snapshot(const std::string& id) { m_snapshots.insert_or_assign(id, true); }

  // The number of version `version` of the dataset (0: the latest); not_found when none.
  Result<int64_t> dataset_version(const std::string& dataset, int64_t version) {
    auto [it, added] = m_versions.try_emplace({dataset, version});
    if (added) {
      auto record = m_context.store.get_dataset_version(m_workspace, dataset, version);
      it->second = record ? Result<int64_t>(record->version) : fail(record.error());
    }
    return it->second;
  }

 private:
  const ServiceContext& m_context;
  std::string m_workspace;
  std::map<std::string, Result<ComputeRecord>> m_computes;
  std::map<std::string, bool> m_snapshots;
  std::map<std::pair<std::string, int64_t>, Result<int64_t>> m_versions;
};

// The snapshot a payload names must exist; otherwise the payload is invalid.
Result<void> check_snapshot(PayloadLookups& lookups, const nlohmann::json& payload) {
  const auto it = payload.find("snapshot_id");
  const std::string id = it != payload.end() && it->is_string() ? it->get<std::string>() : "";
  if (api::is_sha256_hex(id) && lookups.snapshot_exists(id)) return {};
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
Result<std::vector<ErrorDetail>> compute_problems(PayloadLookups& lookups,
                                                  const nlohmann::json& payload) {
  const auto name = requested_compute(payload);
  if (!name) return std::vector<ErrorDetail>{};
  const std::string& workspace = lookups.workspace();
  auto target = lookups.compute(*name);
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
Result<spec::JobSpec> validated_spec(PayloadLookups& lookups, const nlohmann::json& payload) {
  auto spec = spec::job_spec_from_payload(payload);
  if (!spec && spec.error().code != ErrorCode::invalid_spec) return spec;
  auto target_problems = compute_problems(lookups, payload);
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
Result<ErrorDetail> unknown_input(PayloadLookups& lookups, const spec::Input& input) {
  const std::string path = "inputs." + input.name;
  const std::string& workspace = lookups.workspace();
  auto latest = lookups.dataset_version(input.dataset, 0);
  if (!latest && latest.error().code != ErrorCode::not_found) return fail(latest.error());
  if (!latest) {
    return field_problem(path + ".dataset",
                         fmt::format("no dataset '{}' in workspace {}; create it with trainctl "
                                     "dataset create",
                                     input.dataset, workspace));
  }
  return field_problem(path + ".version",
                       fmt::format("dataset '{}' has no version {}; the latest is {}",
                                   input.dataset, input.version, *latest));
}

// Each input of `spec` at a fixed version, in spec order: `latest` is the latest version now.
// Every input that names no dataset version is reported at once (invalid_spec).
Result<std::vector<ResolvedInput>> resolve_inputs(PayloadLookups& lookups,
                                                  const spec::JobSpec& spec) {
  std::vector<ResolvedInput> resolved;
  std::vector<ErrorDetail> problems;
  for (const spec::Input& input : spec.inputs) {
    if (const auto number = requested_version(input)) {
      auto version = lookups.dataset_version(input.dataset, *number);
      if (version) {
        resolved.push_back({input.name, input.dataset, *version, input.mode});
        continue;
      }
      if (version.error().code != ErrorCode::not_found) return fail(version.error());
    }
    auto problem = unknown_input(lookups, input);
    if (!problem) return fail(problem.error());
    problems.push_back(std::move(*problem));
  }
  if (!problems.empty()) {
    return fail(Error{ErrorCode::invalid_spec, "the payload does not validate", std::move(problems)});
  }
  return resolved;
}

Result<CheckedPayload> check_payload(PayloadLookups& lookups, const nlohmann::json& payload) {
  auto spec = validated_spec(lookups, payload);
  if (!spec) return fail(spec.error());
  if (auto snapshot = check_snapshot(lookups, payload); !snapshot) return fail(snapshot.error());
  auto inputs = resolve_inputs(lookups, *spec);
  if (!inputs) return fail(inputs.error());
  return CheckedPayload{std::move(*spec), std::move(*inputs)};
}

}  // namespace

Result<CheckedPayload> check_run_payload(const ServiceContext& context,
                                         const std::string& workspace,
                                         const nlohmann::json& payload) {
  PayloadLookups lookups(context, workspace);
  return check_payload(lookups, payload);
}

namespace {

// The snapshot a submission carries inline, {"snapshot": {"id": D}} or {"snapshot": {"id": D,
// "files": [...]}} beside the payload's fields: its id, and its checked manifest when sent.
struct InlineSnapshot {
  std::string id;
  std::optional<nlohmann::json> files;  // checked, in path order
};

Error snapshot_problem(std::string path, std::string message) {
  return Error{ErrorCode::invalid_argument, "the inline snapshot is invalid",
               {field_problem(std::move(path), std::move(message))}};
}

// Takes "snapshot" out of `payload` and names it in "snapshot_id", so that the payload reads (and
// hashes, for idempotency) as one that names its snapshot by id: a submission whose files had to
// be sent is the same request as the one that named the snapshot only. nullopt without one.
Result<std::optional<InlineSnapshot>> take_inline_snapshot(nlohmann::json& payload) {
  const auto it = payload.find("snapshot");
  if (it == payload.end()) return std::nullopt;
  if (!it->is_object()) return fail(snapshot_problem("snapshot", "must be an object"));
  InlineSnapshot snapshot;
  if (const auto files = it->find("files"); files != it->end()) {
    auto checked = checked_manifest(*files, "snapshot");
    if (!checked) return fail(checked.error());
    snapshot.id = manifest_hash(*checked);
    snapshot.files = std::move(*checked);
  }
  if (const auto id = it->find("id"); id != it->end()) {
    if (!id->is_string() || !api::is_sha256_hex(id->get<std::string>())) {
      return fail(snapshot_problem("snapshot.id", "64 lower-case hex digits are required"));
    }
    if (!snapshot.id.empty() && snapshot.id != id->get<std::string>()) {
      return fail(snapshot_problem(
          "snapshot.id", fmt::format("the files' digest is {}, not the id given", snapshot.id)));
    }
    snapshot.id = id->get<std::string>();
  }
  if (snapshot.id.empty()) {
    return fail(snapshot_problem("snapshot", "\"id\" or \"files\" (or both) is required"));
  }
  if (const auto named = payload.find("snapshot_id");
      named != payload.end() && *named != snapshot.id) {
    return fail(snapshot_problem("snapshot_id", "differs from the inline snapshot's id"));
  }
  payload.erase("snapshot");
  payload["snapshot_id"] = snapshot.id;
  return snapshot;
}

// content_missing naming each blob of `absent` (its sha256 as the detail's path).
Error blobs_absent(const std::vector<std::string>& absent) {
  Error error{ErrorCode::content_missing,
              fmt::format("{} blob(s) of the snapshot are not uploaded; upload them and send the "
                          "request again",
                          absent.size())};
  for (const auto& hash : absent) error.details.push_back(field_problem(hash, "blob is missing"));
  return error;
}

std::vector<std::string> distinct_hashes(const nlohmann::json& files) {
  std::vector<std::string> hashes;
  hashes.reserve(files.size());
  for (const auto& file : files) hashes.push_back(file.at("sha256").get<std::string>());
  std::ranges::sort(hashes);
  hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
  return hashes;
}

// The snapshot record to store with the run: nullopt when the workspace has submitted the
// snapshot before. content_missing (409) when the service cannot make the run: an id alone that
// this workspace never submitted (detail "snapshot.files": send them), or blobs of the snapshot
// that are not uploaded or whose files are lost (one detail per blob, its path the blob's
// sha256). A snapshot another workspace made is not reused from its id alone: its files must be
// sent (and their blobs exist).
Result<std::optional<SnapshotRecord>> inline_snapshot_record(const ServiceContext& context,
                                                             const std::string& workspace,
                                                             InlineSnapshot snapshot) {
  if (!snapshot.files) {
    auto known = context.store.workspace_has_snapshot(workspace, snapshot.id);
    if (!known) return fail(known.error());
    if (!*known) {
      return fail(Error{
          ErrorCode::content_missing,
          fmt::format("workspace '{}' has no snapshot {}; send its files", workspace, snapshot.id),
          {field_problem("snapshot.files", "required: the snapshot is not known here")}});
    }
    // Its blobs have rows (they were checked when it was made, and rows are never deleted);
    // their files are checked again, so that one lost since is uploaded again.
    auto hashes = context.store.snapshot_blob_hashes(snapshot.id);
    if (!hashes) return fail(hashes.error());
    const auto lost = context.blobs.not_intact(*hashes);
    if (!lost.empty()) return fail(blobs_absent(lost));
    return std::nullopt;
  }
  auto absent =
      absent_blobs(context.store, context.blobs, distinct_hashes(*snapshot.files));
  if (!absent) return fail(absent.error());
  if (!absent->empty()) return fail(blobs_absent(*absent));
  SnapshotRecord record;
  record.id = snapshot.id;
  record.file_count = static_cast<int64_t>(snapshot.files->size());
  record.total_size = manifest_total_size(*snapshot.files);
  record.files = std::move(*snapshot.files);
  return record;
}

}  // namespace

namespace {

// Whether the request asks for a minimal reply: a `Prefer` header with return=minimal (RFC 7240).
bool prefers_minimal_reply(const httplib::Request& request) {
  const std::string prefer = request.get_header_value("Prefer");
  return std::ranges::any_of(util::split(prefer, ','), [](std::string_view preference) {
    return util::equals_ignore_case(util::trimmed(preference), "return=minimal");
  });
}

// The reply to a submission: 201 with the new run, or 200 marked Idempotent-Replay with the run
// an earlier submission with the same key made. A minimal reply has the run's id, workspace and
// status only, and says Preference-Applied.
Result<Reply> submitted_run_reply(const ServiceContext& context, const RunRecord& run,
                                  bool replayed, bool minimal) {
  Reply reply{replayed ? 200 : 201, nlohmann::json(), {}};
  if (minimal) {
    reply.body = {{"id", run.id}, {"workspace", run.workspace}, {"status", api::to_string(run.status)}};
    reply.headers.emplace_back("Preference-Applied", "return=minimal");
  } else {
    auto body = run_json_with_timeline(context, run, QueuePlace::left_out);
    if (!body) return fail(body.error());
    reply.body = std::move(*body);
  }
  if (replayed) reply.headers.emplace_back("Idempotent-Replay", "true");
  return reply;
}

Error sweep_refused(const std::string& workspace) {
  return Error{ErrorCode::invalid_argument,
               fmt::format("a payload with a sweep section starts a sweep: POST it to "
                           "/v1/workspaces/{}/sweeps",
                           workspace)};
}

// The run a checked payload makes, as the store takes it.
RunRecord run_draft(const std::string& workspace, const nlohmann::json& payload,
                    CheckedPayload checked, const std::string& key,
                    const std::string& request_hash) {
  const spec::JobSpec& spec = checked.spec;
  RunRecord draft;
  draft.workspace = workspace;
  draft.experiment = spec.experiment;
  draft.name = spec.name;
  draft.compute = spec.compute;
  draft.priority = spec.priority;
  draft.snapshot_id = payload.at("snapshot_id").get<std::string>();
  draft.payload = spec::build_payload(spec, draft.snapshot_id);
  draft.idempotency_key = key;
  draft.request_hash = request_hash;
  draft.created_at_ms = util::now_unix_ms();
  draft.inputs = std::move(checked.inputs);
  for (const auto& [name, value] : spec::script_param_values(spec.estimator.script_params)) {
    draft.params[name] = value;
  }
  return draft;
}

Result<Reply> create_run(const ServiceContext& context, const httplib::Request& request,
                    const std::string& text) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto idempotency_key = idempotency_key_of(request);
  if (!idempotency_key) return fail(idempotency_key.error());
  const std::string& key = *idempotency_key;
  const bool minimal = prefers_minimal_reply(request);
  auto payload = parse_json_object(text);
  if (!payload) return fail(payload.error());
  auto inline_snapshot = take_inline_snapshot(*payload);
  if (!inline_snapshot) return fail(inline_snapshot.error());
  const std::string request_hash = util::sha256_hex(payload->dump());
  // A retry replays its run before anything is checked again: what the first submission
  // resolved (its inputs' versions) may have changed since. The store decides again, atomically.
  if (!key.empty()) {
    auto earlier = context.store.find_idempotent_run(*workspace, key);
    if (!earlier) return fail(earlier.error());
    if (*earlier && (*earlier)->request_hash == request_hash) {
      return submitted_run_reply(context, **earlier, /*replayed=*/true, minimal);
    }
  }
  PayloadLookups lookups(context, *workspace);
  std::optional<SnapshotRecord> new_snapshot;
  if (*inline_snapshot) {
    const std::string id = (*inline_snapshot)->id;
    auto record = inline_snapshot_record(context, *workspace, std::move(**inline_snapshot));
    if (!record) return fail(record.error());
    new_snapshot = std::move(*record);
    // Known to the workspace, or stored with the run in its transaction.
    lookups.add_snapshot(id);
  }
  auto checked = check_payload(lookups, *payload);
  if (!checked) return fail(checked.error());
  if (checked->spec.sweep) return fail(sweep_refused(*workspace));
  const RunRecord draft = run_draft(*workspace, *payload, std::move(*checked), key, request_hash);
  auto outcome = new_snapshot ? context.store.create_run_with_snapshot(draft, *new_snapshot)
                              : context.store.create_run(draft);
  if (!outcome) return fail(outcome.error());
  if (!outcome->replayed) context.runs.submit(outcome->run);
  return submitted_run_reply(context, outcome->run, outcome->replayed, minimal);
}

// `detail` of item `index` of a batch: its path starts with "runs[index]".
ErrorDetail item_detail(size_t index, ErrorDetail detail) {
  detail.path = detail.path.empty() ? fmt::format("runs[{}]", index)
                                    : fmt::format("runs[{}].{}", index, detail.path);
  return detail;
}

// The payloads of a batch body {"runs": [payload, ...]}: 1 to max_batch_runs objects.
Result<std::vector<nlohmann::json>> batch_payloads(const ServiceContext& context,
                                                   nlohmann::json body) {
  const auto runs = body.find("runs");
  if (runs == body.end() || !runs->is_array() || runs->empty()) {
    return fail(ErrorCode::invalid_argument,
                "the body must be {{\"runs\": [payload, ...]}} with at least one payload");
  }
  if (runs->size() > context.config.max_batch_runs) {
    return fail(ErrorCode::invalid_argument,
                "a batch holds at most {} runs and this one has {}; submit it in several batches",
                context.config.max_batch_runs, runs->size());
  }
  std::vector<nlohmann::json> payloads;
  payloads.reserve(runs->size());
  std::vector<ErrorDetail> problems;
  for (size_t i = 0; i < runs->size(); ++i) {
    if (!(*runs)[i].is_object()) {
      problems.push_back(field_problem(fmt::format("runs[{}]", i), "must be a run payload (an object)"));
    }
    payloads.push_back(std::move((*runs)[i]));
  }
  if (!problems.empty()) {
    return fail(Error{ErrorCode::invalid_argument, "the batch has items that are not payloads",
                      std::move(problems)});
  }
  return payloads;
}

// POST .../runs/batch: every run of the batch, or none. Item i's idempotency key is derived
// from the request's key (api::batch_item_idempotency_key), so each item replays or is made
// on its own: a retried batch makes only the runs it lacks.
Result<Reply> create_run_batch(const ServiceContext& context, const httplib::Request& request,
                               const std::string& text) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto batch_key = idempotency_key_of(request);
  if (!batch_key) return fail(batch_key.error());
  auto body = parse_json_object(text);
  if (!body) return fail(body.error());
  auto payloads = batch_payloads(context, std::move(*body));
  if (!payloads) return fail(payloads.error());

  PayloadLookups lookups(context, *workspace);
  std::vector<RunRecord> drafts(payloads->size());
  std::vector<ErrorDetail> problems;
  size_t invalid = 0;
  for (size_t i = 0; i < payloads->size(); ++i) {
    const nlohmann::json& payload = (*payloads)[i];
    RunRecord& draft = drafts[i];
    draft.workspace = *workspace;
    draft.request_hash = util::sha256_hex(payload.dump());
    if (!batch_key->empty()) {
      draft.idempotency_key = api::batch_item_idempotency_key(*batch_key, i);
      // An item made before is replayed unchecked, as a single retried submission is; the
      // store replays it again, atomically, from the key and hash alone.
      auto earlier = context.store.find_idempotent_run(*workspace, draft.idempotency_key);
      if (!earlier) return fail(earlier.error());
      if (*earlier && (*earlier)->request_hash == draft.request_hash) continue;
      if (*earlier) {
        return fail(ErrorCode::conflict,
                    "runs[{}]: idempotency key '{}' was already used for a different request "
                    "(run {})",
                    i, draft.idempotency_key, (*earlier)->id);
      }
    }
    auto checked = check_payload(lookups, payload);
    if (!checked && checked.error().code != ErrorCode::invalid_spec) {
      Error error = std::move(checked.error());
      error.message = fmt::format("runs[{}]: {}", i, error.message);
      return fail(std::move(error));
    }
    if (checked && checked->spec.sweep) {
      ++invalid;
      problems.push_back(field_problem(fmt::format("runs[{}].sweep", i), sweep_refused(*workspace).message));
      continue;
    }
    if (!checked) {
      ++invalid;
      for (auto& detail : checked.error().details) problems.push_back(item_detail(i, std::move(detail)));
      continue;
    }
    draft = run_draft(*workspace, payload, std::move(*checked), draft.idempotency_key,
                      draft.request_hash);
  }
  if (!problems.empty()) {
    return fail(Error{ErrorCode::invalid_spec,
                      fmt::format("{} of the {} runs of the batch {} not validate; no run was made",
                                  invalid, payloads->size(), invalid == 1 ? "does" : "do"),
                      std::move(problems)});
  }

  auto outcomes = context.store.create_runs(drafts);
  if (!outcomes) return fail(outcomes.error());
  auto items = nlohmann::json::array();
  size_t replayed = 0;
  for (const auto& outcome : *outcomes) {
    if (outcome.replayed) {
      ++replayed;
    } else {
      context.runs.submit(outcome.run);
    }
    items.push_back(run_json(context, outcome.run, nullptr, QueuePlace::left_out));
  }
  const size_t created = outcomes->size() - replayed;
  nlohmann::json reply{{"items", std::move(items)}, {"created", created}, {"replayed", replayed}};
  if (created == 0) return Reply{200, std::move(reply), {{"Idempotent-Replay", "true"}}};
  return Reply{201, std::move(reply), {}};
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

// ?view=: how much of each run a list shows.
enum class RunView { full, summary };

Result<RunView> run_view(const httplib::Request& request) {
  if (!request.has_param("view")) return RunView::full;
  const std::string view = request.get_param_value("view");
  if (view == "full") return RunView::full;
  if (view == "summary") return RunView::summary;
  return fail(ErrorCode::invalid_argument, "view must be 'full' or 'summary'");
}

// The reply of a list: its items, and the token of the next page (null on the last).
template <typename Page, typename ToJson>
Reply run_page_reply(const Page& page, ToJson to_json) {
  auto items = nlohmann::json::array();
  for (const auto& run : page.items) items.push_back(to_json(run));
  const nlohmann::json next = page.next_before_seq
                                  ? nlohmann::json(std::to_string(*page.next_before_seq))
                                  : nlohmann::json(nullptr);
  return Reply{200, {{"items", std::move(items)}, {"next_page_token", next}}, {}};
}

Result<Reply> list_runs(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto query = run_query(*workspace, request);
  if (!query) return fail(query.error());
  auto view = run_view(request);
  if (!view) return fail(view.error());
  if (*view == RunView::summary) {
    auto page = context.store.list_run_summaries(*query);
    if (!page) return fail(page.error());
    return run_page_reply(*page, [&](const RunSummary& run) { return run_summary_json(context, run); });
  }
  auto page = context.store.list_runs(*query);
  if (!page) return fail(page.error());
  return run_page_reply(*page, [&](const RunRecord& run) { return run_json(context, run); });
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
  server.Post(workspace_route("/runs/batch"),
              json_body_route(context, [&context](const httplib::Request& request,
                                                  const std::string& text) {
                return create_run_batch(context, request, text);
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
