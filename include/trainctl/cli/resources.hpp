#pragma once
// The resource kinds the CLI prints: their table columns and -o name field.
#include "trainctl/cli/printer.hpp"

namespace trainctl::cli {

const ResourceKind& run_kind();        // ID EXPERIMENT STATUS ... ; name: id
const ResourceKind& workspace_kind();  // NAME RUNS CREATED ; name: name
const ResourceKind& run_file_kind();   // PATH SIZE ; name: path
const ResourceKind& dataset_kind();          // NAME LATEST VERSIONS UPDATED ; name: name
const ResourceKind& dataset_version_kind();  // VERSION FILES SIZE SOURCE CREATED ; name: name
const ResourceKind& model_kind();          // NAME LATEST VERSIONS FRAMEWORK UPDATED ; name: name
const ResourceKind& model_version_kind();
const ResourceKind& sweep_kind();  // ID EXPERIMENT STATUS SAMPLING TRIALS OF BEST... ; name: id  // VERSION FRAMEWORK RUN FILES SIZE CREATED ; name: name

}  // namespace trainctl::cli
