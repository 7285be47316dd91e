// Compute targets (docs/rest-api.md, Compute targets; docs/computes.md, docs/slurm.md): create
// or update (PUT), list, show with what the target holds now (and, for type slurm, its nodes as
// Slurm sees them), delete (draining with ?force=true).
#include <algorithm>

#include "compute_config.hpp"
#include "handlers.hpp"
#include "trainctl/service/compute_manager.hpp"
#include "trainctl/service/runs/run_manager.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::service::handlers {

namespace {

// ---- the resource -----------------------------------------------------------------------------

nlohmann::json usage_json(const ComputeRecord& record, const ComputeUsage& usage) {
  return {{"busy_nodes", usage.busy_nodes},
          {"free_nodes", std::max(0, record.max_nodes - usage.busy_nodes)},
          {"active_runs", usage.active_runs},
          {"queued_runs", usage.queued_runs}};
}

nlohmann::json compute_json(const ServiceContext& context, const ComputeRecord& record) {
  nlohmann::json compute{
      {"name", record.name},
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
  if (record.type == k_slurm_compute_type) {
    compute["slurm"] = {{"partition", record.slurm.partition},
                        {"account", record.slurm.account},
                        {"qos", record.slurm.qos},
                        {"slurm_conf", record.slurm.conf}};
  }
  return compute;
}

// Adds what Slurm says now of a slurm target's partition: `nodes`, or `nodes_error` saying why
// Slurm could not tell (the target is shown either way).
void add_slurm_nodes(ComputeManager& manager, const ComputeRecord& record,
                     nlohmann::json& compute) {
  auto partition = manager.slurm_partition(record);
  if (!partition) {
    compute["nodes_error"] = partition.error().message;
    return;
  }
  auto nodes = nlohmann::json::array();
  for (const auto& node : partition->nodes) {
    nodes.push_back(
        {{"name", node.name}, {"state", node.state}, {"cpus", node.cpus}, {"gres", node.gres}});
  }
  compute["nodes_partition"] = partition->partition.name;
  compute["nodes"] = std::move(nodes);
}

Result<ComputeManager*> compute_manager(const ServiceContext& context) {
  if (context.computes == nullptr) {
    return fail(ErrorCode::internal, "this service does not manage compute targets");
  }
  return context.computes;
}

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
  auto parsed = compute_config(*body, std::move(config));
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
  auto compute = compute_json(context, *record);
  if (record->type == k_slurm_compute_type && context.computes != nullptr) {
    add_slurm_nodes(*context.computes, *record, compute);
  }
  return Reply{200, std::move(compute), {}};
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
