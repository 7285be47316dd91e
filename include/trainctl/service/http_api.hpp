#pragma once
// The REST API of docs/rest-api.md on a cpp-httplib server: the middleware (Host check, bearer
// auth, encoded-traversal check, Content-Type and size caps) and every route.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <httplib.h>

#include "trainctl/service/blob_store.hpp"
#include "trainctl/service/runs/run_manager.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/service/url_fetcher.hpp"

namespace trainctl::service {

class ComputeManager;     // compute_manager.hpp
class DeploymentManager;  // deployments.hpp
class MetricsIngester;    // metrics/metrics_ingester.hpp
class SweepManager;       // sweeps/sweep_manager.hpp

struct ApiConfig {
  std::string token;  // the bearer token every route but GET /v1/health requires
  bool require_auth = true;
  int port = 0;                            // the bound port, for the Host check
  std::vector<std::string> allowed_hosts;  // host names accepted in Host besides loopback names
  size_t max_json_bytes = 8u << 20;
  uint64_t max_blob_bytes = 10ull << 30;
  size_t max_missing_hashes = 100'000;
  size_t max_batch_runs = 1000;  // runs in one POST .../runs/batch
  std::chrono::milliseconds heartbeat_interval{5000};
};

struct ServiceContext {
  ApiConfig config;
  Store& store;
  BlobStore& blobs;
  RunManager& runs;
  // What dataset URLs may reach and how large they may be (--allow-url-network, --max-url-bytes).
  UrlPolicy url_policy{};
  // Provisioning and deletion of compute targets; null in tests that do not need it.
  ComputeManager* computes = nullptr;
  // The replica processes of deployments and the scoring route's dispatch.
  DeploymentManager* deployments = nullptr;
  // Says when new metric points are recorded (the live stream waits on it); null: the stream
  // looks again about every 250 ms.
  MetricsIngester* metrics = nullptr;
  // Runs sweeps; null: the sweep routes answer 503.
  SweepManager* sweeps = nullptr;
};

// Installs the middleware and every route. `context` must outlive `server`.
void install_api(httplib::Server& server, const ServiceContext& context);

}  // namespace trainctl::service
