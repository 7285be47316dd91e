#pragma once
// Shared by the route files: replies, JSON bodies, path parameters and the per-group installers.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "trainctl/service/http_api.hpp"
#include "trainctl/spec/job_spec.hpp"
#include "trainctl/util/error.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service::handlers {

struct Reply {
  int status = 200;
  nlohmann::json body;  // not sent with 204
  std::vector<std::pair<std::string, std::string>> headers;
};

// A problem with one field of a request.
ErrorDetail field_problem(std::string path, std::string message);

// The type of every JSON reply. With its charset stated, cpp-httplib leaves the reply as it is:
// it compresses a reply of type exactly "application/json" with brotli at its slowest quality
// whenever the client accepts br, as every browser does, which took over a second for 100 KB.
inline constexpr const char* k_json_content_type = "application/json; charset=utf-8";

// {"error": {"code", "message", "details"}} with the status of the error's code.
void send_error(httplib::Response& response, const Error& error);
void send_json(httplib::Response& response, int status, const nlohmann::json& body);

// A route whose handler returns its reply or an Error.
using JsonHandler = std::function<Result<Reply>(const httplib::Request&)>;
httplib::Server::Handler json_route(JsonHandler handler);

// A POST/PUT route with a JSON body. The body is read by the route: one over the JSON cap (known
// from Content-Length before reading, or counted as the bytes arrive) is drained without being
// kept and answered with 413, so the connection stays usable.
using JsonBodyHandler = std::function<Result<Reply>(const httplib::Request&, const std::string& body)>;
httplib::Server::HandlerWithContentReader json_body_route(const ServiceContext& context,
                                                          JsonBodyHandler handler);

// A file a route answers with: an open descriptor and the file's size.
struct FileReply {
  util::UniqueFd fd;
  uint64_t size = 0;
};
// A GET route that answers with a file's bytes (application/octet-stream, Content-Length,
// Accept-Ranges: bytes) or an Error. The route owns Range handling (cpp-httplib 0.11 would slice
// error bodies and overrun the file on an end past its size): one satisfiable range is answered
// 206 with Content-Range, an unsatisfiable one 416 with "Content-Range: bytes */<size>", several
// ranges with the whole file (200).
using FileHandler = std::function<Result<FileReply>(const httplib::Request&)>;
httplib::Server::Handler file_route(FileHandler handler);

// The most levels of arrays and objects a JSON request body may nest, as many as a job spec in
// YAML may. Code that walks a JSON value (dump, copy, the spec reader) recurses once per level.
inline constexpr int k_max_json_depth = 64;

// The one way a request body is read as JSON: refused with invalid_argument, before it is
// parsed, when it nests deeper than k_max_json_depth, and when it is not valid JSON.
Result<nlohmann::json> parse_json_body(std::string_view body);
// parse_json_body, and invalid_argument unless the body is a JSON object.
Result<nlohmann::json> parse_json_object(std::string_view body);
// Path parameter `index` of the route, validated as a resource name of `kind`.
Result<std::string> name_param(const httplib::Request& request, size_t index, std::string_view kind);
// The workspace parameter (match 1), validated and known to exist (not_found otherwise).
Result<std::string> existing_workspace(const ServiceContext& context,
                                       const httplib::Request& request);

// Whether a run's JSON says where it stands in its queue while Queued. Replies to submissions
// leave it out (`queue` is null): the scheduler places the run just after, and working places out
// for every run created would cost each submission a pass over its target's queue.
enum class QueuePlace { shown, left_out };
// A run as the API shows it, with its place in the queue while Queued; the timeline is
// included when `events` is given.
nlohmann::json run_json(const ServiceContext& context, const RunRecord& run,
                        const std::vector<RunEvent>* events = nullptr,
                        QueuePlace place = QueuePlace::shown);
// A run as GET .../runs?view=summary lists it: exactly the fields of run_json that the summary
// holds (the same values), the queue included.
nlohmann::json run_summary_json(const ServiceContext& context, const RunSummary& run,
                                QueuePlace place = QueuePlace::shown);
// A run payload that passed every check of POST .../runs: the spec's rules and what its compute
// target cannot do (invalid_spec with every problem), its snapshot, and its inputs, each resolved
// to a fixed dataset version.
struct CheckedPayload {
  spec::JobSpec spec;
  std::vector<ResolvedInput> inputs;
};
Result<CheckedPayload> check_run_payload(const ServiceContext& context, const std::string& workspace,
                                         const nlohmann::json& payload);

// The run's tags: the spec's, then those its tasks set (trainctl.set_tag), which win.
nlohmann::json run_tags(const RunRecord& run);
// The run with its timeline, as shown by create, show and cancel.
Result<nlohmann::json> run_json_with_timeline(const ServiceContext& context, const RunRecord& run,
                                              QueuePlace place = QueuePlace::shown);

class UiSessions;  // ui_sessions.hpp
void install_middleware(httplib::Server& server, const ServiceContext& context,
                        std::shared_ptr<UiSessions> sessions);
void install_health_routes(httplib::Server& server, const ServiceContext& context);
void install_workspace_routes(httplib::Server& server, const ServiceContext& context);
void install_blob_routes(httplib::Server& server, const ServiceContext& context);
void install_run_routes(httplib::Server& server, const ServiceContext& context);
void install_log_routes(httplib::Server& server, const ServiceContext& context);
void install_metric_routes(httplib::Server& server, const ServiceContext& context);
void install_sweep_routes(httplib::Server& server, const ServiceContext& context);
void install_file_routes(httplib::Server& server, const ServiceContext& context);
void install_dataset_routes(httplib::Server& server, const ServiceContext& context);
void install_compute_routes(httplib::Server& server, const ServiceContext& context);
void install_model_routes(httplib::Server& server, const ServiceContext& context);
void install_service_routes(httplib::Server& server, const ServiceContext& context);
// The run channel of remote node agents: /v1/agent/runs/{id}/... (handlers/agent.cpp).
void install_agent_routes(httplib::Server& server, const ServiceContext& context);
bool is_agent_route(std::string_view path);
// Whether `authorization` holds the credential of the run the agent route `path` names.
bool agent_credential_matches(const ServiceContext& context, std::string_view path,
                              std::string_view authorization);
// 404 for a POST or PUT to no route, without reading its body; installed after every route.
void install_fallback_routes(httplib::Server& server);

// The route pattern of a workspace's sub-resource: "/v1/workspaces/([^/]+)" + suffix.
std::string workspace_route(std::string_view suffix);

}  // namespace trainctl::service::handlers
