#include "trainctl/service/runs/run_inputs.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "trainctl/api/names.hpp"
#include "trainctl/service/runs/run_files.hpp"
#include "trainctl/util/fs.hpp"

namespace trainctl::service {

namespace fs = std::filesystem;

namespace {

constexpr unsigned k_copy_file_mode = 0644;
constexpr unsigned k_copy_dir_mode = 0755;

Result<void> copy_blob(const BlobStore& blobs, const std::string& sha256, const fs::path& target) {
  std::error_code ec;
  fs::copy_file(blobs.path_of(sha256), target, ec);
  if (ec) {
    const auto code =
        ec == std::errc::no_space_on_device ? ErrorCode::insufficient_storage : ErrorCode::io;
    return fail(code, "cannot copy {}: {}", target.string(), ec.message());
  }
  if (::chmod(target.c_str(), k_copy_file_mode) != 0) {
    return fail(ErrorCode::io, "cannot set the mode of {}: {}", target.string(),
                std::strerror(errno));
  }
  return {};
}

Result<void> materialize_input(Store& store, const BlobStore& blobs, const RunRecord& run,
                               const ResolvedInput& input, const fs::path& dir) {
  auto version = store.get_dataset_version(run.workspace, input.dataset, input.version);
  if (!version) return fail(version.error());
  if (input.mode == "download") return copy_manifest_files(blobs, version->files, dir);
  return materialize_snapshot(blobs, version->files, dir);
}

}  // namespace

Result<void> materialize_inputs(Store& store, const BlobStore& blobs, const RunRecord& run,
                                const fs::path& inputs_dir) {
  if (::mkdir(inputs_dir.c_str(), k_copy_dir_mode) != 0) {
    return fail(ErrorCode::io, "cannot create {}: {}", inputs_dir.string(), std::strerror(errno));
  }
  for (const ResolvedInput& input : run.inputs) {
    if (auto placed = materialize_input(store, blobs, run, input, inputs_dir / input.name);
        !placed) {
      return fail(placed.error().code, "cannot prepare input '{}' (dataset {} version {}, {}): {}",
                  input.name, input.dataset, input.version, input.mode, placed.error().message);
    }
  }
  return {};
}

Result<void> copy_manifest_files(const BlobStore& blobs, const nlohmann::json& files,
                                 const fs::path& dir) {
  if (::mkdir(dir.c_str(), k_copy_dir_mode) != 0) {
    return fail(ErrorCode::io, "cannot create {}: {}", dir.string(), std::strerror(errno));
  }
  for (const auto& file : files) {
    auto parts = api::split_relative_path(file.at("path").get<std::string>());
    if (!parts) return fail(parts.error());
    fs::path target = dir;
    for (const auto& part : *parts) target /= part;
    if (auto made = util::make_directories(target.parent_path(), k_copy_dir_mode); !made) {
      return made;
    }
    if (auto copied = copy_blob(blobs, file.at("sha256").get<std::string>(), target); !copied) {
      return copied;
    }
  }
  return {};
}

}  // namespace trainctl::service
