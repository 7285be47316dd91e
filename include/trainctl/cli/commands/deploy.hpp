#pragma once
// `trainctl deploy create|list|show|logs|update|delete|regenerate-key|invoke`
// (docs/deployments.md).
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// What create and update may set; unset fields keep the service's default (create) or the
// deployment's current value (update).
struct DeploymentFields {
  std::vector<std::string> models;  // NAME, NAME:VERSION or NAME@latest (NAME alone: latest)
  std::string entry_script;         // relative to source_dir
  std::string source_dir;           // empty: "." when a snapshot is uploaded
  std::optional<int> replicas;
  std::optional<double> cpu;
  std::optional<double> memory_gb;
  std::vector<std::string> env;  // "NAME=value"
  std::string description;
  bool wait = false;    // until Healthy
  std::string timeout;  // with wait: a duration ("90s", "15m"); empty: 10m
};

struct DeployCreateOptions {
  std::string name;
  DeploymentFields fields;
};

struct DeployUpdateOptions {
  std::string name;
  DeploymentFields fields;
};

struct DeployShowOptions {
  std::string name;
  bool show_key = false;  // also fetch and print the scoring key
};

struct DeployLogsOptions {
  std::string name;
  std::optional<int> replica;  // empty: every replica, merged
  bool follow = false;
};

struct DeployDeleteOptions {
  std::string name;
  bool yes = false;  // no question on a terminal
};

struct DeployKeyOptions {
  std::string name;
};

struct DeployInvokeOptions {
  std::string name;
  std::string data;  // JSON text, "@FILE", or "@-" for stdin
};

// Usage checks, before anything is sent: a valid deployment name; model references that parse;
// --replicas >= 1, --cpu and --memory-gb > 0; --env NAME=value with a valid variable name;
// --timeout parses. create needs --model, and --entry-script with --source-dir (without both it
// is a no-code deployment); update needs something to change.
Result<void> validate(const DeployCreateOptions& options);
Result<void> validate(const DeployUpdateOptions& options);
Result<void> validate(const DeployShowOptions& options);
Result<void> validate(const DeployLogsOptions& options);
Result<void> validate(const DeployDeleteOptions& options);
Result<void> validate(const DeployKeyOptions& options);
// --data is given, and inline data is JSON.
Result<void> validate(const DeployInvokeOptions& options);

// The "models" of a PUT body for --model references: [{"name", "version": N | "latest"}].
// ErrorCode::usage for a reference that does not parse.
Result<nlohmann::json> models_of(const std::vector<std::string>& refs);

// The PUT body of `deploy update` before the given fields are applied: every field of the PUT
// body (a PUT replaces them all) as `current` (the GET of deployment `name`) has it. A field the
// GET lacks (or has as null) that the update does not set whole (--env only adds to the
// variables; tags are never set) is ErrorCode::internal: sending the body without it would reset
// it, so nothing is sent. entry_script and snapshot_id are null in a no-code deployment and sent
// back null, so it stays one.
Result<nlohmann::json> update_body(const std::string& name, const nlohmann::json& current,
                                   const DeploymentFields& fields);

// How deployments print: NAME STATE READY MODELS UPDATED (wide: ENTRY SCRIPT, REVISION, CPU,
// MEMORY GB, MESSAGE); -o name: the name.
const ResourceKind& deployment_kind();

// What `deploy show` prints for people: the fields, then one row per replica. `endpoint` (the
// service's URL) completes the scoring URL.
Description describe_deployment(const nlohmann::json& deployment, const std::string& endpoint);

// Uploads the source directory as a snapshot (after checking that the entry script is a file
// in it), creates the deployment and, with --wait, waits for it to be Healthy.
// Exit 3 when it ends Failed (with the message and a hint to read `deploy logs`).
Result<int> run_deploy_create(Session& session, const DeployCreateOptions& options);
Result<int> run_deploy_list(Session& session);
Result<int> run_deploy_show(Session& session, const DeployShowOptions& options);
// Following goes on until Ctrl-C or the deployment is deleted.
Result<int> run_deploy_logs(Session& session, const DeployLogsOptions& options);
// GET, keep every field (update_body), merge the given fields (a new snapshot when --source-dir
// or --entry-script is given; --model replaces the model list; --env adds to the variables), PUT
// (a rolling update).
Result<int> run_deploy_update(Session& session, const DeployUpdateOptions& options);
// Gives the deployment a new scoring key (the old one stops working) and prints it: for people
// "new scoring key of deployment NAME: KEY"; -o json|yaml {"name", "scoring_key"}.
Result<int> run_deploy_regenerate_key(Session& session, const DeployKeyOptions& options);
// On a terminal without --yes, asks first.
Result<int> run_deploy_delete(Session& session, const DeployDeleteOptions& options);
// Fetches the scoring key (keys route), POSTs the data to the score route, prints run()'s JSON.
Result<int> run_deploy_invoke(Session& session, const DeployInvokeOptions& options);

}  // namespace trainctl::cli
