#include "trainctl/cli/resources.hpp"

namespace trainctl::cli {

const ResourceKind& run_kind() {
  static const ResourceKind kind{
      .name = "run",
      .columns = {{.header = "ID", .pointer = "/id"},
                  {.header = "EXPERIMENT", .pointer = "/experiment"},
                  {.header = "NAME", .pointer = "/name", .wide_only = true},
                  {.header = "STATUS", .pointer = "/status", .style = CellStyle::status},
                  {.header = "CREATED", .pointer = "/created_at", .format = format_time},
                  {.header = "DURATION", .pointer = "/duration_ms", .format = format_duration},
                  {.header = "EXIT", .pointer = "/exit_code"},
                  {.header = "COMPUTE", .pointer = "/compute", .wide_only = true},
                  {.header = "FAILURE", .pointer = "/failure_reason", .wide_only = true}},
      .name_pointer = "/id"};
  return kind;
}

const ResourceKind& workspace_kind() {
  static const ResourceKind kind{
      .name = "workspace",
      .columns = {{.header = "NAME", .pointer = "/name"},
                  {.header = "RUNS", .pointer = "/run_count"},
                  {.header = "CREATED", .pointer = "/created_at", .format = format_time},
                  {.header = "DESCRIPTION", .pointer = "/description", .wide_only = true}},
      .name_pointer = "/name"};
  return kind;
}

const ResourceKind& run_file_kind() {
  static const ResourceKind kind{
      .name = "file",
      .columns = {{.header = "PATH", .pointer = "/path"},
                  {.header = "SIZE", .pointer = "/size", .format = format_bytes}},
      .name_pointer = "/path"};
  return kind;
}

const ResourceKind& dataset_kind() {
  static const ResourceKind kind{
      .name = "dataset",
      .columns = {{.header = "NAME", .pointer = "/name"},
                  {.header = "LATEST", .pointer = "/latest_version"},
                  {.header = "VERSIONS", .pointer = "/version_count"},
                  {.header = "UPDATED", .pointer = "/updated_at", .format = format_time},
                  {.header = "DESCRIPTION", .pointer = "/description", .wide_only = true}},
      .name_pointer = "/name"};
  return kind;
}

const ResourceKind& dataset_version_kind() {
  static const ResourceKind kind{
      .name = "dataset version",
      .columns = {{.header = "VERSION", .pointer = "/version"},
                  {.header = "FILES", .pointer = "/file_count"},
                  {.header = "SIZE", .pointer = "/total_size", .format = format_bytes},
                  {.header = "SOURCE", .pointer = "/source"},
                  {.header = "CREATED", .pointer = "/created_at", .format = format_time},
                  {.header = "DESCRIPTION", .pointer = "/description", .wide_only = true},
                  {.header = "CONTENT HASH", .pointer = "/content_hash", .wide_only = true}},
      .name_pointer = "/name"};
  return kind;
}

const ResourceKind& model_kind() {
  static const ResourceKind kind{
      .name = "model",
      .columns = {{.header = "NAME", .pointer = "/name"},
                  {.header = "LATEST", .pointer = "/latest_version"},
                  {.header = "VERSIONS", .pointer = "/version_count"},
                  {.header = "FRAMEWORK", .pointer = "/framework"},
                  {.header = "UPDATED", .pointer = "/updated_at", .format = format_time},
                  {.header = "DESCRIPTION", .pointer = "/description", .wide_only = true}},
      .name_pointer = "/name"};
  return kind;
}

const ResourceKind& model_version_kind() {
  static const ResourceKind kind{
      .name = "model version",
      .columns = {{.header = "VERSION", .pointer = "/version"},
                  {.header = "FRAMEWORK", .pointer = "/framework"},
                  {.header = "RUN", .pointer = "/run_id"},
                  {.header = "FILES", .pointer = "/file_count"},
                  {.header = "SIZE", .pointer = "/total_size", .format = format_bytes},
                  {.header = "CREATED", .pointer = "/created_at", .format = format_time},
                  {.header = "EXPERIMENT", .pointer = "/experiment", .wide_only = true},
                  {.header = "DESCRIPTION", .pointer = "/description", .wide_only = true}},
      .name_pointer = "/name"};
  return kind;
}

const ResourceKind& sweep_kind() {
  static const ResourceKind kind{
      .name = "sweep",
      .columns = {{.header = "ID", .pointer = "/id"},
                  {.header = "EXPERIMENT", .pointer = "/experiment"},
                  {.header = "STATUS", .pointer = "/status", .style = CellStyle::status},
                  {.header = "SAMPLING", .pointer = "/sampling"},
                  {.header = "TRIALS", .pointer = "/trials_started"},
                  {.header = "OF", .pointer = "/max_total_trials"},
                  {.header = "BEST RUN", .pointer = "/best/run_id"},
                  {.header = "BEST", .pointer = "/best/objective"},
                  {.header = "CREATED", .pointer = "/created_at", .format = format_time},
                  {.header = "METRIC", .pointer = "/primary_metric", .wide_only = true},
                  {.header = "GOAL", .pointer = "/goal", .wide_only = true},
                  {.header = "RUNNING", .pointer = "/trials_running", .wide_only = true},
                  {.header = "AT ONCE", .pointer = "/max_concurrent_trials", .wide_only = true},
                  {.header = "ENDED", .pointer = "/ended_at", .wide_only = true, .format = format_time},
                  {.header = "MESSAGE", .pointer = "/message", .wide_only = true}},
      .name_pointer = "/id"};
  return kind;
}

}  // namespace trainctl::cli
