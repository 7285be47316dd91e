#pragma once
// GET /v1/workspaces/{ws}/services/{name}/logs (docs/rest-api.md, Deployments): the replicas'
// log files as the NDJSON events of run logs, task = "replica-<index>".
#include <httplib.h>

#include "trainctl/service/http_api.hpp"

namespace trainctl::service::handlers {

void install_service_log_route(httplib::Server& server, const ServiceContext& context);

}  // namespace trainctl::service::handlers
