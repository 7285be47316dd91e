// Routes of the services resource, i.e. deployments (docs/rest-api.md, Deployments;
// docs/deployments.md): create or update, list, show, keys, delete, logs and scoring. The
// scoring route's key is checked by the middleware (middleware.cpp).
#include <map>
#include <regex>
#include <set>

#include "handlers.hpp"
#include "service_logs.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/service/deployments.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

constexpr int k_max_replicas = 16;

// ---- the request body -----------------------------------------------------------------------

// Reads the PUT body's fields into a draft, collecting every problem (422 with all of them).
class DeploymentBody {
 public:
  explicit DeploymentBody(const nlohmann::json& body) : m_body(body) {}

  Result<DeploymentRecord> parse(std::string workspace, std::string name) {
    static const std::set<std::string> k_fields{
        "models",    "entry_script", "snapshot_id",           "replicas",    "cpu",
        "memory_gb", "description",  "environment_variables", "tags"};
    for (const auto& [key, value] : m_body.items()) {
      if (!k_fields.contains(key)) problem(key, "unknown field");
    }
    DeploymentRecord draft;
    draft.workspace = std::move(workspace);
    draft.name = std::move(name);
    draft.models = models();
    draft.entry_script = entry_script();
    draft.snapshot_id = optional_text("snapshot_id");
    if (!draft.snapshot_id.empty() && !api::is_sha256_hex(draft.snapshot_id)) {
      problem("snapshot_id", "must be the sha256 (64 lower-case hex digits) of an uploaded snapshot");
    }
    if (draft.entry_script.empty() != draft.snapshot_id.empty()) {
      problem(draft.entry_script.empty() ? "entry_script" : "snapshot_id",
              "entry_script and snapshot_id go together: give both, or neither for a no-code "
              "deployment (the built-in scoring script serves the model)");
    }
    draft.replicas = replicas();
    draft.cpu = amount("cpu");
    draft.memory_gb = amount("memory_gb");
    draft.description = text("description", false);
    draft.environment_variables = string_map("environment_variables", true);
    draft.tags = string_map("tags", false);
    if (!m_problems.empty()) {
      return fail(Error{ErrorCode::invalid_spec,
                        fmt::format("the deployment has {} invalid field{}: {}", m_problems.size(),
                                    m_problems.size() == 1 ? "" : "s", m_problems.front().to_string()),
                        m_problems});
    }
    return draft;
  }

 private:
  void problem(std::string path, std::string message) {
    m_problems.push_back(field_problem(std::move(path), std::move(message)));
  }

  std::vector<DeploymentModel> models() {
    const auto found = m_body.find("models");
    if (found == m_body.end() || !found->is_array() || found->empty()) {
      problem("models", "must be a non-empty array of {\"name\", \"version\"}");
      return {};
    }
    std::vector<DeploymentModel> models;
    std::map<std::string, std::string> variables;  // model directory variable -> model name
    for (size_t i = 0; i < found->size(); ++i) {
      const auto& item = (*found)[i];
      const std::string path = fmt::format("models[{}]", i);
      if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) {
        problem(path, "must be {\"name\": \"<model>\", \"version\": <number> | \"latest\"}");
        continue;
      }
      DeploymentModel model{item["name"].get<std::string>(), 0};
      if (auto valid = api::validate_name("model", model.name); !valid) {
        problem(path + ".name", valid.error().message);
      } else if (const auto [other, added] =
                     variables.try_emplace(model_directory_variable(model.name), model.name);
                 !added) {
        problem(path + ".name",
                other->second == model.name
                    ? fmt::format("model {} is in the deployment already: a deployment uses one "
                                  "version of each model",
                                  model.name)
                    : fmt::format("models {} and {} would share the variable {}: a deployment "
                                  "cannot use both",
                                  other->second, model.name, other->first));
      }
      const auto version = item.value("version", nlohmann::json("latest"));
      if (version.is_number_integer() && version.get<int64_t>() >= 1) {
        model.version = version.get<int64_t>();
      } else if (version != "latest") {
        problem(path + ".version", "must be a version number from 1, or \"latest\"");
      }
      models.push_back(std::move(model));
    }
    return models;
  }

  std::string text(const std::string& key, bool required) {
    const auto found = m_body.find(key);
    if (found == m_body.end()) {
      if (required) problem(key, "is required");
      return "";
    }
    if (!found->is_string()) {
      problem(key, "must be a string");
      return "";
    }
    return found->get<std::string>();
  }

  // A string, or "" when the field is absent or null.
  std::string optional_text(const std::string& key) {
    const auto found = m_body.find(key);
    if (found == m_body.end() || found->is_null()) return "";
    if (!found->is_string() || found->get_ref<const std::string&>().empty()) {
      problem(key, "must be a non-empty string, or null");
      return "";
    }
    return found->get<std::string>();
  }

  std::string entry_script() {
    std::string script = optional_text("entry_script");
    if (!script.empty() && !api::split_relative_path(script)) {
      problem("entry_script", "must be a relative path inside the source directory");
    }
    return script;
  }

  int replicas() {
    const auto value = m_body.value("replicas", nlohmann::json(1));
    if (!value.is_number_integer() || value.get<int64_t>() < 1 ||
        value.get<int64_t>() > k_max_replicas) {
      problem("replicas", fmt::format("must be a whole number from 1 to {}", k_max_replicas));
      return 1;
    }
    return value.get<int>();
  }

  double amount(const std::string& key) {
    const auto value = m_body.value(key, nlohmann::json(0));
    if (!value.is_number() || value.get<double>() < 0) {
      problem(key, "must be a number, 0 or more");
      return 0;
    }
    return value.get<double>();
  }

  // An object of strings; for the replicas' environment, each name a variable name and each
  // value one an environment can carry.
  nlohmann::json string_map(const std::string& key, bool environment) {
    static const std::regex k_variable("[A-Za-z_][A-Za-z0-9_]*");
    const auto value = m_body.value(key, nlohmann::json::object());
    if (!value.is_object()) {
      problem(key, "must be an object of strings");
      return nlohmann::json::object();
    }
    for (const auto& [name, item] : value.items()) {
      const std::string path = key + "." + name;
      if (!item.is_string()) {
        problem(path, "must be a string");
      } else if (auto whole = api::validate_process_string(item.get<std::string>());
                 environment && !whole) {
        problem(path, whole.error().message);
      }
      if (environment && !std::regex_match(name, k_variable)) {
        problem(path, "is not a valid environment variable name");
      }
    }
    return value;
  }

  const nlohmann::json& m_body;
  std::vector<ErrorDetail> m_problems;
};

// ---- the resource ---------------------------------------------------------------------------

nlohmann::json deployment_json(const DeploymentRecord& record, const DeploymentStatus& status) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& model : record.models) {
    models.push_back({{"name", model.name}, {"version", model.version}});
  }
  nlohmann::json replicas = nlohmann::json::array();
  for (const auto& replica : status.replicas) {
    replicas.push_back({{"index", replica.index},
                        {"state", replica.state},
                        {"pid", replica.pid},
                        {"restarts", replica.restarts},
                        {"message", replica.message}});
  }
  const auto or_null = [](const std::string& text) {
    return text.empty() ? nlohmann::json() : nlohmann::json(text);
  };
  nlohmann::json no_code = nullptr;
  if (record.no_code) {
    no_code = {{"framework", record.no_code->framework},
               {"model_file", record.no_code->model_file}};
  }
  return {{"name", record.name},
          {"state", status.state},
          {"message", status.message},
          {"models", models},
          {"entry_script", or_null(record.entry_script)},
          {"snapshot_id", or_null(record.snapshot_id)},
          {"no_code", no_code},
          {"replicas", record.replicas},
          {"replica_status", replicas},
          {"cpu", record.cpu},
          {"memory_gb", record.memory_gb},
          {"environment_variables", record.environment_variables},
          {"description", record.description},
          {"tags", record.tags},
          {"scoring_path",
           fmt::format("/v1/workspaces/{}/services/{}/score", record.workspace, record.name)},
          {"revision", record.revision},
          {"created_at", util::format_rfc3339(record.created_at_ms)},
          {"updated_at", util::format_rfc3339(record.updated_at_ms)}};
}

struct Routed {
  std::string workspace;
  std::string name;
};

// The workspace (match 1, known to exist) and the deployment name (match 2).
Result<Routed> routed_deployment(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto name = name_param(request, 2, "deployment");
  if (!name) return fail(name.error());
  return Routed{std::move(*workspace), std::move(*name)};
}

Result<Reply> put_deployment(const ServiceContext& context, const httplib::Request& request,
                             const std::string& body) {
  auto routed = routed_deployment(context, request);
  if (!routed) return fail(routed.error());
  auto json = parse_json_object(body);
  if (!json) return fail(json.error());
  auto draft = DeploymentBody(*json).parse(routed->workspace, routed->name);
  if (!draft) return fail(draft.error());
  auto applied = context.deployments->apply(std::move(*draft));
  if (!applied) return fail(applied.error());
  auto out = deployment_json(applied->record,
                             context.deployments->status(routed->workspace, routed->name));
  if (!applied->created) return Reply{200, out, {}};
  out["scoring_key"] = applied->scoring_key;
  const std::string location =
      fmt::format("/v1/workspaces/{}/services/{}", routed->workspace, routed->name);
  return Reply{201, out, {{"Location", location}}};
}

Result<Reply> get_deployment(const ServiceContext& context, const httplib::Request& request) {
  auto routed = routed_deployment(context, request);
  if (!routed) return fail(routed.error());
  auto record = context.store.get_deployment(routed->workspace, routed->name);
  if (!record) return fail(record.error());
  return Reply{200, deployment_json(*record, context.deployments->status(routed->workspace, routed->name)), {}};
}

Result<Reply> list_deployments(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto records = context.store.list_deployments(*workspace);
  if (!records) return fail(records.error());
  nlohmann::json items = nlohmann::json::array();
  for (const auto& record : *records) {
    items.push_back(deployment_json(record, context.deployments->status(*workspace, record.name)));
  }
  return Reply{200, {{"items", items}}, {}};
}

Result<Reply> delete_deployment(const ServiceContext& context, const httplib::Request& request) {
  auto routed = routed_deployment(context, request);
  if (!routed) return fail(routed.error());
  if (auto removed = context.deployments->remove(routed->workspace, routed->name); !removed) {
    return fail(removed.error());
  }
  return Reply{204, nullptr, {}};
}

Result<Reply> get_keys(const ServiceContext& context, const httplib::Request& request) {
  auto routed = routed_deployment(context, request);
  if (!routed) return fail(routed.error());
  auto key = context.deployments->scoring_key(routed->workspace, routed->name);
  if (!key) return fail(key.error());
  return Reply{200, {{"primary_key", *key}}, {{"Cache-Control", "no-store"}}};
}

Result<Reply> regenerate_keys(const ServiceContext& context, const httplib::Request& request) {
  auto routed = routed_deployment(context, request);
  if (!routed) return fail(routed.error());
  auto key = context.deployments->regenerate_scoring_key(routed->workspace, routed->name);
  if (!key) return fail(key.error());
  return Reply{200, {{"primary_key", *key}}, {{"Cache-Control", "no-store"}}};
}

// Scoring: bad or too deeply nested JSON is a 400 before any replica sees it; run() raising
// BadRequest a 400 and anything else a 500, with the message; no ready replica is a 503 with
// Retry-After.
Result<Reply> score(const ServiceContext& context, const httplib::Request& request,
                    const std::string& body) {
  auto routed = routed_deployment(context, request);
  if (!routed) return fail(routed.error());
  if (auto parsed = parse_json_body(body); !parsed) return fail(parsed.error());
  auto reply = context.deployments->score(routed->workspace, routed->name, body);
  if (!reply) {
    if (reply.error().code != ErrorCode::unavailable) return fail(reply.error());
    return Reply{503,
                 {{"error", {{"code", "unavailable"}, {"message", reply.error().message}}}},
                 {{"Retry-After", "1"}}};
  }
  if (!reply->ok && reply->bad_request) {
    return Reply{
        400,
        {{"error",
          {{"code", error_code_name(ErrorCode::invalid_argument)}, {"message", reply->message}}}},
        {}};
  }
  if (!reply->ok) {
    return Reply{500, {{"error", {{"code", "scoring_failed"}, {"message", reply->message}}}}, {}};
  }
  return Reply{200, nlohmann::json::parse(reply->result_json), {}};
}

// Every route answers 503 when the service runs without deployments (tests that leave them out).
JsonHandler with_deployments(const ServiceContext& context, JsonHandler handler) {
  return [&context, handler = std::move(handler)](const httplib::Request& request) -> Result<Reply> {
    if (!context.deployments) return fail(ErrorCode::unavailable, "deployments are not enabled");
    return handler(request);
  };
}

JsonBodyHandler with_deployments(const ServiceContext& context, JsonBodyHandler handler) {
  return [&context, handler = std::move(handler)](const httplib::Request& request,
                                                  const std::string& body) -> Result<Reply> {
    if (!context.deployments) return fail(ErrorCode::unavailable, "deployments are not enabled");
    return handler(request, body);
  };
}

}  // namespace

void install_service_routes(httplib::Server& server, const ServiceContext& context) {
  const auto bind = [&context](auto function) {
    return with_deployments(context, JsonHandler([&context, function](const httplib::Request& r) {
                              return function(context, r);
                            }));
  };
  const auto bind_body = [&context](auto function) {
    return with_deployments(
        context, JsonBodyHandler([&context, function](const httplib::Request& r, const std::string& b) {
          return function(context, r, b);
        }));
  };
  server.Get(workspace_route("/services"), json_route(bind(list_deployments)));
  server.Put(workspace_route("/services/([^/]+)"),
             json_body_route(context, bind_body(put_deployment)));
  server.Get(workspace_route("/services/([^/]+)"), json_route(bind(get_deployment)));
  server.Delete(workspace_route("/services/([^/]+)"), json_route(bind(delete_deployment)));
  server.Get(workspace_route("/services/([^/]+)/keys"), json_route(bind(get_keys)));
  server.Post(workspace_route("/services/([^/]+)/keys/regenerate"),
              json_body_route(context, bind_body([](const ServiceContext& c,
                                                    const httplib::Request& r, const std::string&) {
                return regenerate_keys(c, r);
              })));
  server.Post(workspace_route("/services/([^/]+)/score"),
              json_body_route(context, bind_body(score)));
  install_service_log_route(server, context);
}

}  // namespace trainctl::service::handlers
