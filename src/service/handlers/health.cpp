#include "handlers.hpp"
#include "trainctl/service/openapi_document.hpp"
#include "trainctl/util/version.hpp"

namespace trainctl::service::handlers {

void install_health_routes(httplib::Server& server, const ServiceContext&) {
  server.Get("/v1/health", json_route([](const httplib::Request&) -> Result<Reply> {
               return Reply{200, {{"status", "ok"}, {"version", k_version}}, {}};
             }));
  server.Get("/v1/openapi.json", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::string(k_openapi_document), k_json_content_type);
  });
}

}  // namespace trainctl::service::handlers
