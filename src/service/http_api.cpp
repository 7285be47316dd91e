#include "trainctl/service/http_api.hpp"

#include "handlers/handlers.hpp"
#include "handlers/ui.hpp"

namespace trainctl::service {

void install_api(httplib::Server& server, const ServiceContext& context) {
  auto ui_sessions = std::make_shared<handlers::UiSessions>();
  handlers::install_middleware(server, context, ui_sessions);
  handlers::install_health_routes(server, context);
  handlers::install_workspace_routes(server, context);
  handlers::install_blob_routes(server, context);
  handlers::install_run_routes(server, context);
  handlers::install_log_routes(server, context);
  handlers::install_metric_routes(server, context);
  handlers::install_sweep_routes(server, context);
  handlers::install_file_routes(server, context);
  handlers::install_dataset_routes(server, context);
  handlers::install_compute_routes(server, context);
  handlers::install_model_routes(server, context);
  handlers::install_service_routes(server, context);
  handlers::install_agent_routes(server, context);
  handlers::install_ui_routes(server, context, ui_sessions);
  handlers::install_fallback_routes(server);
}

}  // namespace trainctl::service
