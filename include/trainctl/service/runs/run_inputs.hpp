#pragma once
// A run's dataset inputs on disk: <run>/inputs/<name>/, filled when the run is prepared from the
// manifest of the dataset version it was resolved to at submit (docs/job-spec.md, Inputs).
#include <filesystem>
#include <nlohmann/json.hpp>

#include "trainctl/service/blob_store.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service {

// Creates `inputs_dir` (which must not exist) and one folder in it per input of `run`:
// mode mount -> materialize_snapshot (read-only hard links to the blobs, nothing copied);
// mode download -> copy_manifest_files (the run's own writable copies). On failure the error
// names the input and its dataset version (one deleted since submit is not_found).
Result<void> materialize_inputs(Store& store, const BlobStore& blobs, const RunRecord& run,
                                const std::filesystem::path& inputs_dir);

// Fills `dir` (which must not exist) with copies of a manifest's files
// [{"path","sha256",...}] taken from the blob store: regular files 0644 and directories 0755,
// whatever the manifest's modes, independent of the blobs.
Result<void> copy_manifest_files(const BlobStore& blobs, const nlohmann::json& files,
                                 const std::filesystem::path& dir);

}  // namespace trainctl::service
