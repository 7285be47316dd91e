#pragma once
// The local trainctld of $TRAINCTL_HOME (the embedded default: no endpoint configured): found through
// <home>/server.json, started detached when none answers, stopped by its recorded pid.
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/config/config.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// <home>/server.json as the service writes it after binding.
struct ServerRecord {
  std::string endpoint;  // "http://127.0.0.1:PORT"
  pid_t pid = 0;
  std::string version;
  std::string started_at;  // RFC 3339
  std::string config_file;  // the trainctld.yaml it read; "" none
  nlohmann::json config;    // every trainctld option's value it runs with (an object)
};

// ErrorCode::not_found when the file does not exist; io for an unreadable or malformed one.
Result<ServerRecord> read_server_record(const std::filesystem::path& home);

// Whether `endpoint` answers GET /v1/health within about a second.
bool answers_health(const std::string& endpoint);

// The recorded service when its process is alive and is a trainctld (checked in /proc, without
// a network round trip: every command calls this); ErrorCode::unavailable naming the home
// otherwise. A live but hung service shows up as the command's own request failing.
Result<ServerRecord> running_service(const std::filesystem::path& home);

// <home>/token, without surrounding white space; empty when the file does not exist.
Result<std::string> read_token(const std::filesystem::path& home);

// Which trainctld to start: `server_binary` when configured, else the trainctld next to this
// executable, else the first on PATH. ErrorCode::not_found when there is none.
Result<std::filesystem::path> find_server_binary(const config::Config& config);

struct StartedService {
  ServerRecord record;
  bool started = false;  // false: one was running already (or another CLI started it meanwhile)
};

// Checks trainctld options (e.g. {"--port", "8080"}) as trainctld does at start and saves them,
// with those already saved, in <home>/trainctld.yaml, which every start of the local service
// reads (`trainctld --home <home> --write-config ARGS`). ErrorCode::usage with trainctld's own
// message when it refuses them.
Result<void> save_service_options(const config::Config& config, const std::vector<std::string>& args);

// Returns the running service, or starts `trainctld --home <home>` in its own session
// (stdout/stderr appended to <home>/trainctld.log) and waits until server.json names an endpoint
// that answers health. Safe when several CLIs call it at once (the service locks its home; the
// others' trainctld exits 9 and they wait for the winner's server.json). ErrorCode::unavailable,
// quoting the end of the log, when trainctld exits otherwise or nothing answers within
// `timeout_ms`.
Result<StartedService> ensure_service(const config::Config& config, int timeout_ms = 10'000);

// SIGTERMs the recorded trainctld and waits until it is gone (SIGKILL after `timeout_ms`).
// Returns the pid stopped, or std::nullopt when none was running.
Result<std::optional<pid_t>> stop_service(const std::filesystem::path& home,
                                          int timeout_ms = 10'000);

}  // namespace trainctl::cli
