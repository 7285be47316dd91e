// Compute targets (docs/rest-api.md, Compute targets; docs/computes.md): create or update
// (PUT), list, show with what the target holds now, delete (draining with ?force=true).
#include <algorithm>
#include <set>

#include "handlers.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/service/compute_manager.hpp"
#include "trainctl/service/run_manager.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

constexpr size_t k_max_python_path = 4096;

// ---- the resource -----------------------------------------------------------------------------

nlohmann::json usage_json(const ComputeRecord& record, const ComputeUsage& usage) {
  return {{"busy_nodes", usage.busy_nodes},
          {"free_nodes", std::max(0, record.max_nodes - usage.busy_nodes)},
          {"active_runs", usage.active_runs},
          {"queued_runs", usage.queued_runs}};
}

nlohmann::json compute_json(const ServiceContext& context, const ComputeRecord& record) {
  return {{"name", record.name},
          {"type", record.type},
          {"max_nodes", record.max_nodes},
          {"cpus_per_node", record.cpus_per_node},
          {"gpus_per_node", record.gpus_per_node},
          {"python", record.python},
          {"conda", record.conda},
          {"state", record.state},
          {"message", record.message},
          {"usage", usage_json(record, context.runs.compute_usage(record.workspace, record.name))},
          {"created_at", util::format_rfc3339(record.created_at_ms)},
          {"updated_at", util::format_rfc3339(record.updated_at_ms)}};
}

Result<ComputeManager*> compute_manager(const ServiceContext& context) {
  if (context.computes == nullptr) {
    return fail(ErrorCode::internal, "this service does not manage compute targets");
  }
  return context.computes;
}

// ---- PUT computes/{name}: the body --------------------------------------------------------------

// The configuration a body describes, with every problem at once (invalid_spec: 422).
class ComputeBody {
 public:
  explicit ComputeBody(const nlohmann::json& body) : m_body(body) {}

  Result<ComputeRecord> parse(ComputeRecord record) {
    for (const auto& [key, value] : m_body.items()) {
      if (!k_fields.contains(key)) problem(key, "unknown field");
    }
    record.type = type();
    record.max_nodes = integer("max_nodes", 1, 1, k_max_compute_nodes);
    record.cpus_per_node = integer("cpus_per_node", 0, 0, k_max_cpus_per_node);
    record.gpus_per_node = integer("gpus_per_node", 0, 0, k_max_gpus_per_node);
    record.python = python();
    if (m_problems.empty()) return record;
    return fail(Error{ErrorCode::invalid_spec, "the compute target does not validate",
                      std::move(m_problems)});
  }

 private:
  inline static const std::set<std::string> k_fields{"type", "max_nodes", "cpus_per_node",
                                                     "gpus_per_node", "python"};

  void problem(const std::string& path, std::string message) {
    m_problems.push_back(field_problem(path, std::move(message)));
  }

  std::string type() {
    const auto value = m_body.find("type");
    if (value == m_body.end()) return "local";
    if (!value->is_string()) {
      problem("type", "a string is required: local");
      return {};
    }
    const auto type = value->get<std::string>();
    if (type == "slurm" || type == "kubernetes") {
      problem("type", fmt::format("compute type '{}' is not supported by this version yet; use local",
                                  type));
    } else if (type != "local") {
      problem("type", "unknown compute type; the supported one is local");
    }
    return type;
  }

  int integer(const std::string& field, int fallback, int min, int max) {
    const auto value = m_body.find(field);
    if (value == m_body.end()) return fallback;
    if (!value->is_number_integer() || value->get<int64_t>() < min || value->get<int64_t>() > max) {
      problem(field, fmt::format("an integer from {} to {} is required", min, max));
      return fallback;
    }
    return value->get<int>();
  }

  std::string python() {
    const auto value = m_body.find("python");
    if (value == m_body.end()) return {};
    const bool valid_text = value->is_string() && value->get<std::string>().size() <= k_max_python_path;
    const std::string path = valid_text ? value->get<std::string>() : "";
    const bool printable = std::ranges::all_of(
        path, [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
    if (!valid_text || !printable || (!path.empty() && !path.starts_with('/'))) {
      problem("python", "an absolute path to an interpreter is required (or \"\" for the "
                        "service's --python)");
      return {};
    }
    return path;
  }

  const nlohmann::json& m_body;
  std::vector<ErrorDetail> m_problems;
};

// ---- routes -----------------------------------------------------------------------------------

struct ComputeRef {
  std::string workspace;
  std::string name;
};

Result<ComputeRef> routed_compute(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto name = name_param(request, 2, "compute target");
  if (!name) return fail(name.error());
  return ComputeRef{std::move(*workspace), std::move(*name)};
}

// If-None-Match: * makes the PUT a create only (409 when the target exists).
Result<Reply> put_compute(const ServiceContext& context, const httplib::Request& request,
                          const std::string& text) {
  auto manager = compute_manager(context);
  if (!manager) return fail(manager.error());
  auto ref = routed_compute(context, request);
  if (!ref) return fail(ref.error());
  auto body = parse_json_object(text);
  if (!body) return fail(body.error());
  ComputeRecord config;
  config.workspace = ref->workspace;
  config.name = ref->name;
  auto parsed = ComputeBody(*body).parse(std::move(config));
  if (!parsed) return fail(parsed.error());
  const bool create_only = request.get_header_value("If-None-Match") == "*";
  auto stored = (*manager)->put(*parsed, create_only);
  if (!stored) return fail(stored.error());
  const auto& [record, created] = *stored;
  return Reply{created ? 201 : 200, compute_json(context, record), {}};
}

Result<Reply> list_computes(const ServiceContext& context, const httplib::Request& request) {
  auto workspace = existing_workspace(context, request);
  if (!workspace) return fail(workspace.error());
  auto computes = context.store.list_computes(*workspace);
  if (!computes) return fail(computes.error());
  auto items = nlohmann::json::array();
  for (const auto& record : *computes) items.push_back(compute_json(context, record));
  return Reply{200, {{"items", std::move(items)}}, {}};
}

Result<Reply> show_compute(const ServiceContext& context, const httplib::Request& request) {
  auto ref = routed_compute(context, request);
  if (!ref) return fail(ref.error());
  auto record = context.store.get_compute(ref->workspace, ref->name);
  if (!record) return fail(record.error());
  return Reply{200, compute_json(context, *record), {}};
}

// 204 when deleted now; 202 with the Deleting target while its runs are being canceled.
Result<Reply> delete_compute(const ServiceContext& context, const httplib::Request& request) {
  auto manager = compute_manager(context);
  if (!manager) return fail(manager.error());
  auto ref = routed_compute(context, request);
  if (!ref) return fail(ref.error());
  const std::string force = request.get_param_value("force");
  if (force != "" && force != "true" && force != "false") {
    return fail(ErrorCode::invalid_argument, "force must be true or false");
  }
  auto draining = (*manager)->remove(ref->workspace, ref->name, force == "true");
  if (!draining) return fail(draining.error());
  if (!*draining) return Reply{204, {}, {}};
  return Reply{202, compute_json(context, **draining), {}};
}

}  // namespace

void install_compute_routes(httplib::Server& server, const ServiceContext& context) {
  const auto computes = workspace_route("/computes");
  const auto compute = workspace_route("/computes/([^/]+)");
  server.Put(compute, json_body_route(context, [&context](const httplib::Request& request,
                                                          const std::string& text) {
               return put_compute(context, request, text);
             }));
  server.Get(computes, json_route([&context](const httplib::Request& request) {
               return list_computes(context, request);
             }));
  server.Get(compute, json_route([&context](const httplib::Request& request) {
               return show_compute(context, request);
             }));
  server.Delete(compute, json_route([&context](const httplib::Request& request) {
                  return delete_compute(context, request);
                }));
}

}  // namespace trainctl::service::handlers
