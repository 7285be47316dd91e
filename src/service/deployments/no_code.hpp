#pragma once
// No-code deployments (docs/deployments.md, No-code deployment): what the built-in scoring
// script serves for a model version, decided from the version's framework and files when the
// deployment is created or updated, so that a model it cannot serve is refused then (400), not
// when a replica starts.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "trainctl/service/blob_store.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::deployments {

// The file the built-in scoring script loads from the version `model` ("digits:3") of
// `framework`, whose `files` are [{"path", ...}] relative to the version:
//   sklearn  model.pkl, model.pickle or model.joblib at the top of the version, if it has one
//            of them; else the one file anywhere in it whose name ends in .pkl, .pickle or .joblib
//   pytorch  model.pt or model.pth at the top, if it has one of them; else the one file
//            anywhere in it whose name ends in .pt or .pth
// invalid_argument, saying what to do instead, for any other framework, or when the rule finds
// no file or several.
Result<std::string> no_code_model_file(std::string_view model, std::string_view framework,
                                       const nlohmann::json& files);

// Whether `file` is a TorchScript archive, as torch.jit.save writes: a zip archive with a member
// <folder>/constants.pkl. torch.save's archives (a state dict, a pickled module) have none, and
// its legacy format is no zip archive. io when the file cannot be read.
Result<bool> is_torchscript_archive(const std::filesystem::path& file);

// What a deployment without an entry script serves for `version`: its framework and the file
// no_code_model_file() finds, which for pytorch must be TorchScript. invalid_argument otherwise.
Result<NoCodeScoring> plan_no_code_scoring(const ModelVersionRecord& version,
                                           const BlobStore& blobs);

}  // namespace trainctl::service::deployments
