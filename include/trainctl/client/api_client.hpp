#pragma once
// The typed client of the REST API (docs/rest-api.md). All HTTP goes through a Transport, so the
// client is unit-tested over a fake and integration-tested against a real trainctld.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/util/error.hpp"

namespace trainctl::client {

struct HttpResponse;

struct HttpRequest {
  std::string method;  // GET, POST, PUT, DELETE
  std::string target;  // path and query, e.g. "/v1/workspaces/default/runs?limit=10"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<std::filesystem::path> body_file;  // upload a file as the body instead
  int timeout_seconds = 0;                         // 0: the transport's default
  // stream() only: called once with the status and headers of a success reply (< 400) before
  // its body is delivered, so the receiver knows what the bytes are (a 206 range or the whole
  // content); returning false stops the transfer (ErrorCode::interrupted). Empty: not called.
  std::function<bool(const HttpResponse& head)> on_head = {};
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(std::string_view name) const;  // case-insensitive; "" when absent
};

// A side effect behind an interface (ninja's DiskInterface pattern). Failures to connect are
// ErrorCode::unavailable with a message naming the endpoint; HTTP error statuses are not
// failures at this layer.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Result<HttpResponse> send(const HttpRequest& request) = 0;
  // Delivers the body as it arrives; on_data returning false stops the transfer (then the result
  // is ErrorCode::interrupted). The returned response has status and headers but no body, except
  // for an error status (>= 400): that body is not delivered to on_data but returned whole.
  // Streams and file uploads have no total timeout, only a stall limit.
  virtual Result<HttpResponse> stream(const HttpRequest& request,
                                      const std::function<bool(std::string_view)>& on_data) = 0;
  virtual std::string endpoint() const = 0;
};

struct ClientOptions {
  std::string endpoint;  // http://127.0.0.1:PORT
  std::string token;
  int connect_timeout_ms = 2000;
  int timeout_seconds = 60;
  // Polled during every transfer, at least about once a second while no data moves; true aborts
  // the transfer with ErrorCode::interrupted (how Ctrl-C reaches a request). Empty: never aborts.
  std::function<bool()> should_abort = {};
};

// libcurl-backed transport (keep-alive on one handle; not for concurrent use). libcurl is loaded
// (dlopen) and initialised by the first request, not at program start; without libcurl.so.4 every
// request fails with ErrorCode::unavailable ("libcurl is not installed: apt-get install libcurl4").
// Defined by src/curl (the trainctl_curl objects), which the static `trainctl` does not hold: a
// static program cannot load a shared library. Its make_curl_transport
// (src/main/trainctl_without_curl.cpp) makes a transport whose every request fails saying so,
// and the CLI hands a command that needs libcurl to trainctl-curl before it starts
// (cli/curl_handover.hpp).
std::unique_ptr<Transport> make_curl_transport(const ClientOptions& options);

// Whether this program holds the libcurl transport (see make_curl_transport).
bool has_curl_transport();

// Whether make_transport needs libcurl for `endpoint`: any endpoint the loopback transport does
// not take (https, another host, credentials in the URL).
bool needs_curl(std::string_view endpoint);

// Plain HTTP/1.1 to a service on this machine's loopback (http://127.0.0.1:PORT,
// http://localhost:PORT, http://[::1]:PORT), without libcurl: a short command's start does not pay
// for loading it. Null for any other endpoint. Keep-alive on one connection; not for concurrent use.
std::unique_ptr<Transport> make_loopback_transport(const ClientOptions& options);

// The transport for `options.endpoint`: the loopback one when it can, libcurl otherwise (https,
// other hosts, proxies).
std::unique_ptr<Transport> make_transport(const ClientOptions& options);

// The transport for the local service's own endpoint (<home>/server.json): the loopback one for
// any IP literal, since trainctld may be bound to one of this machine's other addresses (`server
// start --bind`) and a proxy or a name lookup is never wanted for it; make_transport otherwise.
std::unique_ptr<Transport> make_local_service_transport(const ClientOptions& options);

// What a download is checked against before it replaces its destination, and who hears how far
// it got.
struct DownloadOptions {
  std::optional<uint64_t> size;  // the expected size; unset: the size the reply announces
  std::string sha256;            // the expected content hash (hex); empty: not checked
  // Called as bytes arrive with the bytes of the file present so far (a resumed download starts
  // at the bytes kept from before).
  std::function<void(uint64_t present)> on_progress = {};
};

struct RunListQuery {
  std::string experiment;
  std::string status;  // comma list
  int limit = 100;
  std::string page_token;
  // Each run as a summary (its own fields and queue; no payload, tasks, params, metrics or
  // attempts) rather than the whole run. A service that predates summaries sends whole runs.
  bool summary = false;
};

// What the reply to a submission carries: the whole run, or only its "id", "workspace" and
// "status" (the request says `Prefer: return=minimal`), all that `submit -o name`, --wait and
// --stream use; the service then neither builds nor sends the run's JSON.
enum class SubmitReply { run, minimal };

struct SubmitOutcome {
  nlohmann::json run;  // with SubmitReply::minimal: its id, workspace and status only
  bool replayed = false;
};

// What POST .../runs/batch did: every run of the batch in request order, and how many of them
// an earlier submission with the same key had made already.
struct BatchSubmitOutcome {
  nlohmann::json runs = nlohmann::json::array();
  size_t created = 0;
  size_t replayed = 0;
};

struct LogQuery {
  std::string task;    // empty: every task
  std::string offset;  // "" | "123" | "main:123,worker-0:5"
  bool follow = false;
  int attempt = 0;     // the attempt whose logs to read (following: from); 0: the current one
};

// Which series of a run's metric to read (docs/rest-api.md, Run metrics).
struct MetricSeriesQuery {
  std::string name;     // the metric
  std::string task;     // empty: every task
  int attempt = 0;      // 0: every attempt
  int max_points = 0;   // per series; more are downsampled by the service; 0: its default
};

// What PUT services/{name} did.
struct DeploymentOutcome {
  nlohmann::json deployment;
  bool created = false;  // 201: a new deployment (its "scoring_key" is in `deployment`)
};

class ApiClient {
 public:
  ApiClient(std::unique_ptr<Transport> transport, std::string token);

  // Every call maps an error reply to its Error (code from the body's error.code, message and
  // details) and a transport failure to ErrorCode::unavailable.
  Result<nlohmann::json> health();
  Result<nlohmann::json> create_workspace(const std::string& name, const std::string& description);
  Result<nlohmann::json> list_workspaces();
  Result<nlohmann::json> get_workspace(const std::string& name);
  Result<void> delete_workspace(const std::string& name);

  Result<std::vector<std::string>> missing_blobs(const std::string& workspace,
                                                 const std::vector<std::string>& hashes);
  Result<void> upload_blob(const std::string& workspace, const std::string& sha256,
                           const std::filesystem::path& file);
  // `files`: the manifest's array of {"path", "sha256", "size", "mode"} (SnapshotScan::manifest()).
  Result<nlohmann::json> create_snapshot(const std::string& workspace, const nlohmann::json& files);

  Result<SubmitOutcome> create_run(const std::string& workspace, const nlohmann::json& payload,
                                   const std::string& idempotency_key,
                                   SubmitReply reply = SubmitReply::run);
  // Submits every payload in one request, all or none; item i's key is derived from
  // `batch_key` (api::batch_item_idempotency_key). Problems name their item "runs[i]".
  Result<BatchSubmitOutcome> create_run_batch(const std::string& workspace,
                                              const nlohmann::json& payloads,
                                              const std::string& batch_key);
  Result<nlohmann::json> list_runs(const std::string& workspace, const RunListQuery& query);
  Result<nlohmann::json> get_run(const std::string& workspace, const std::string& run_id,
                                 int wait_seconds = 0);
  Result<nlohmann::json> cancel_run(const std::string& workspace, const std::string& run_id);
  // Calls on_event for each NDJSON event, as it arrives; on_event returning false stops
  // (ErrorCode::interrupted).
  Result<void> stream_logs(const std::string& workspace, const std::string& run_id,
                           const LogQuery& query,
                           const std::function<bool(const nlohmann::json&)>& on_event);
  // ---- Sweeps (docs/sweeps.md; src/client/api_client_sweeps.cpp) ----
  // POSTs a payload with a sweep section; returns the new sweep.
  Result<nlohmann::json> create_sweep(const std::string& workspace, const nlohmann::json& payload);
  Result<nlohmann::json> list_sweeps(const std::string& workspace);
  // The sweep with its trials, the best first, and "best".
  Result<nlohmann::json> get_sweep(const std::string& workspace, const std::string& id);
  Result<nlohmann::json> cancel_sweep(const std::string& workspace, const std::string& id);

  // ---- Metrics (docs/metrics.md; src/client/api_client_metrics.cpp) ----
  // {"metrics" (summary by name), "params", "tags", "series", "rejected"} of a run.
  Result<nlohmann::json> get_run_metrics(const std::string& workspace, const std::string& run_id);
  // {"name", "series": [{"attempt", "task", "count", "downsampled", "points"}]}.
  Result<nlohmann::json> get_metric_series(const std::string& workspace, const std::string& run_id,
                                           const MetricSeriesQuery& query);
  // The run's points (of metric `name`; every metric when empty) as "point" events, then with
  // `follow` the new ones as they are recorded, until an "end" event; as stream_logs.
  Result<void> stream_metric_points(const std::string& workspace, const std::string& run_id,
                                    const std::string& name, bool follow,
                                    const std::function<bool(const nlohmann::json&)>& on_event);
  Result<nlohmann::json> list_run_files(const std::string& workspace, const std::string& run_id);
  // Writes the file to `<dest>.partial`, renamed onto `dest` once complete and verified (size,
  // and sha256 when given): `dest` never holds a partial file. A transfer that breaks off keeps
  // `<dest>.partial`, and the next download to `dest` resumes it with a Range request (a 200
  // reply to that request restarts from zero). A failed verification or an error reply removes
  // the partial file; `dest` is untouched on every failure.
  Result<void> download_run_file(const std::string& workspace, const std::string& run_id,
                                 const std::string& path, const std::filesystem::path& dest,
                                 const DownloadOptions& options = {});

  // Datasets (docs/rest-api.md, Datasets). `body` is the POST body: {"name", "description",
  // "tags", "create_new_version", and "files" (a manifest whose blobs were uploaded) or "urls"}.
  Result<nlohmann::json> create_dataset(const std::string& workspace, const nlohmann::json& body);
  Result<nlohmann::json> list_datasets(const std::string& workspace);
  Result<nlohmann::json> get_dataset(const std::string& workspace, const std::string& name);
  // `version`: a number or "latest".
  Result<nlohmann::json> get_dataset_version(const std::string& workspace, const std::string& name,
                                             const std::string& version);
  // `version`: a number, or "" for every version.
  Result<void> delete_dataset(const std::string& workspace, const std::string& name,
                              const std::string& version);
  // As download_run_file, for one file of a dataset version.
  Result<void> download_dataset_file(const std::string& workspace, const std::string& name,
                                     const std::string& version, const std::string& path,
                                     const std::filesystem::path& dest,
                                     const DownloadOptions& options = {});

  // ---- Models (docs/models.md; src/client/api_client_models.cpp) ----
  // `body` is the POST body of docs/rest-api.md, Models: {"name", "run_id", "path", "framework",
  // "framework_version", "cpu", "memory_gb", "description", "tags"}; returns the new version.
  Result<nlohmann::json> register_model(const std::string& workspace, const nlohmann::json& body);
  Result<nlohmann::json> list_models(const std::string& workspace);
  // The model's versions (without files).
  Result<nlohmann::json> get_model(const std::string& workspace, const std::string& name);
  // `version`: a number or "latest"; the version with its lineage and files.
  Result<nlohmann::json> get_model_version(const std::string& workspace, const std::string& name,
                                           const std::string& version);
  // `version`: a number, or "" for every version.
  Result<void> delete_model(const std::string& workspace, const std::string& name,
                            const std::string& version);
  // As download_run_file, for one file of a model version.
  Result<void> download_model_file(const std::string& workspace, const std::string& name,
                                   const std::string& version, const std::string& path,
                                   const std::filesystem::path& dest,
                                   const DownloadOptions& options = {});

  // ---- Computes (docs/computes.md; src/client/api_client_computes.cpp) ----
  // `body`: {"type", "max_nodes", "cpus_per_node", "gpus_per_node", "python"}. Creates the
  // target (`create_only`: conflict when it exists) or replaces its configuration; returns it,
  // Creating until provisioned.
  Result<nlohmann::json> put_compute(const std::string& workspace, const std::string& name,
                                     const nlohmann::json& body, bool create_only);
  Result<nlohmann::json> list_computes(const std::string& workspace);
  Result<nlohmann::json> get_compute(const std::string& workspace, const std::string& name);
  // nullopt when the target is gone; with `force`, the Deleting target while its runs end.
  Result<std::optional<nlohmann::json>> delete_compute(const std::string& workspace,
                                                       const std::string& name, bool force);

  // ---- Deployments (docs/deployments.md; src/client/api_client_services.cpp) ----
  // `body` is the PUT body of docs/rest-api.md, Deployments: {"models": [{"name", "version"}],
  // "entry_script", "snapshot_id", "replicas", "cpu", "memory_gb", "environment_variables", ...}.
  // Creates or updates (rolling) the deployment; `created` tells which. A new deployment's
  // resource holds its "scoring_key", shown once.
  Result<DeploymentOutcome> put_deployment(const std::string& workspace, const std::string& name,
                                           const nlohmann::json& body);
  Result<nlohmann::json> list_deployments(const std::string& workspace);
  Result<nlohmann::json> get_deployment(const std::string& workspace, const std::string& name);
  Result<void> delete_deployment(const std::string& workspace, const std::string& name);
  // The deployment's scoring key (the service token authorizes this route).
  Result<std::string> get_deployment_key(const std::string& workspace, const std::string& name);
  // A new scoring key for the deployment (the old one stops working at once); returns it.
  Result<std::string> regenerate_deployment_key(const std::string& workspace,
                                                const std::string& name);
  // As stream_logs, for the replicas' logs: their tasks are "replica-N", and query.task
  // "replica-N" selects replica N.
  Result<void> stream_deployment_logs(const std::string& workspace, const std::string& name,
                                      const LogQuery& query,
                                      const std::function<bool(const nlohmann::json&)>& on_event);
  // POSTs `body` (JSON text, sent as is) to the deployment's score route with `scoring_key` as
  // the bearer instead of the service token; returns run()'s JSON. run() raising is an error
  // with its message (code internal, from the reply's "scoring_failed"); no ready replica is
  // ErrorCode::unavailable.
  Result<nlohmann::json> score(const std::string& workspace, const std::string& name,
                               const std::string& scoring_key, std::string body);

  // A one-time login code for the web UI: {"code", "expires_at", "login_path"} (POST /v1/ui/codes).
  Result<nlohmann::json> create_ui_login_code();

  Transport& transport() { return *m_transport; }

 private:
  // A request carrying the token (never logged) and accepting `accept`.
  HttpRequest make_request(std::string method, std::string target,
                           std::string_view accept = "application/json") const;
  HttpRequest make_json_request(std::string method, std::string target,
                                const nlohmann::json& body) const;
  // Sends; an error status becomes the Error its body describes.
  Result<HttpResponse> exchange(const HttpRequest& request);
  Result<nlohmann::json> exchange_json(const HttpRequest& request);
  // Streams an NDJSON reply, calling on_event with each event as it arrives; on_event returning
  // false stops (ErrorCode::interrupted); a line that is not a JSON object is ErrorCode::internal.
  Result<void> stream_ndjson(const HttpRequest& request,
                             const std::function<bool(const nlohmann::json&)>& on_event);
  // The resumable download behind download_run_file and download_dataset_file.
  Result<void> download(const HttpRequest& request, const std::filesystem::path& dest,
                        const DownloadOptions& options);

  std::unique_ptr<Transport> m_transport;
  std::string m_token;
};

}  // namespace trainctl::client
