// The metrics part of the ApiClient (docs/rest-api.md, Run metrics).
#include "api_client_paths.hpp"
#include "trainctl/client/api_client.hpp"

namespace trainctl::client {

namespace {

using detail::percent_encode;
using detail::query_string;
using detail::workspace_path;

std::string metrics_path(const std::string& workspace, const std::string& run_id) {
  return workspace_path(workspace) + "/runs/" + percent_encode(run_id) + "/metrics";
}

}  // namespace

Result<nlohmann::json> ApiClient::get_run_metrics(const std::string& workspace,
                                                  const std::string& run_id) {
  return exchange_json(make_request("GET", metrics_path(workspace, run_id)));
}

Result<nlohmann::json> ApiClient::get_metric_series(const std::string& workspace,
                                                    const std::string& run_id,
                                                    const MetricSeriesQuery& query) {
  return exchange_json(make_request(
      "GET", metrics_path(workspace, run_id) + "/series" +
                 query_string({{"name", query.name},
                               {"task", query.task},
                               {"attempt", query.attempt > 0 ? std::to_string(query.attempt) : ""},
                               {"max_points", query.max_points > 0
                                                  ? std::to_string(query.max_points)
                                                  : ""}})));
}

Result<void> ApiClient::stream_metric_points(
    const std::string& workspace, const std::string& run_id, const std::string& name,
    bool follow, const std::function<bool(const nlohmann::json&)>& on_event) {
  const auto points = make_request(
      "GET",
      metrics_path(workspace, run_id) + "/points" +
          query_string({{"name", name}, {"follow", follow ? "true" : ""}}),
      "application/x-ndjson");
  return stream_ndjson(points, on_event);
}

}  // namespace trainctl::client
