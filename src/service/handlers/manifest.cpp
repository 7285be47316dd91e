#include "manifest.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include <map>
#include <set>
#include <vector>

#include "handlers.hpp"
#include "trainctl/api/manifest_digest.hpp"
#include "trainctl/api/names.hpp"
#include "trainctl/util/sha256.hpp"

namespace trainctl::service::handlers {

namespace {

constexpr size_t k_max_missing_named = 20;

// One manifest entry, checked; returned with exactly the canonical fields.
Result<nlohmann::json> checked_entry(const nlohmann::json& entry, size_t index,
                                     std::string_view what) {
  const std::string where = fmt::format("files[{}]", index);
  auto invalid = [&](std::string_view field, std::string message) {
    const std::string path = field.empty() ? where : fmt::format("{}.{}", where, field);
    return fail(Error{ErrorCode::invalid_argument,
                      fmt::format("the {} manifest is invalid", what),
                      {field_problem(path, std::move(message))}});
  };
  if (!entry.is_object()) return invalid("", "must be an object");
  const auto path = entry.find("path");
  if (path == entry.end() || !path->is_string()) return invalid("path", "a string is required");
  auto parts = api::split_relative_path(path->get<std::string>());
  if (!parts) return invalid("path", parts.error().message);
  const auto sha256 = entry.find("sha256");
  if (sha256 == entry.end() || !sha256->is_string() ||
      !api::is_sha256_hex(sha256->get<std::string>())) {
    return invalid("sha256", "64 lower-case hex digits are required");
  }
  const auto size = entry.find("size");
  if (size == entry.end() || !size->is_number_unsigned()) {
    return invalid("size", "a non-negative integer is required");
  }
  const auto mode = entry.find("mode");
  if (mode == entry.end() || !mode->is_number_unsigned() || mode->get<uint64_t>() > 0777) {
    return invalid("mode", "permission bits (0 to 0777) are required");
  }
  return nlohmann::json{{"path", path->get<std::string>()},
                        {"sha256", *sha256},
                        {"size", size->get<uint64_t>()},
                        {"mode", mode->get<uint64_t>()}};
}

}  // namespace

Result<nlohmann::json> checked_manifest(const nlohmann::json& files, std::string_view what) {
  if (!files.is_array()) {
    return fail(ErrorCode::invalid_argument, "the {}'s files must be an array", what);
  }
  std::map<std::string, nlohmann::json> by_path;
  for (size_t i = 0; i < files.size(); ++i) {
    auto entry = checked_entry(files[i], i, what);
    if (!entry) return fail(entry.error());
    const std::string path = entry->at("path");
    if (!by_path.emplace(path, std::move(*entry)).second) {
      return fail(ErrorCode::invalid_argument, "the {} lists {} twice", what, path);
    }
  }
  for (auto it = by_path.begin(); it != by_path.end(); ++it) {
    const auto next = std::next(it);
    if (next != by_path.end() && next->first.starts_with(it->first + "/")) {
      return fail(ErrorCode::invalid_argument, "{} is both a file and a directory", it->first);
    }
  }
  auto sorted = nlohmann::json::array();
  for (auto& [path, entry] : by_path) sorted.push_back(std::move(entry));
  return sorted;
}

std::string manifest_hash(const nlohmann::json& files) {
  std::vector<api::ManifestEntry> entries;
  entries.reserve(files.size());
  for (const auto& file : files) {
    entries.push_back(api::ManifestEntry{.path = file.at("path").get_ref<const std::string&>(),
                                         .sha256 = file.at("sha256").get_ref<const std::string&>(),
                                         .size = file.at("size").get<uint64_t>(),
                                         .mode = file.at("mode").get<unsigned>()});
  }
  return api::manifest_digest(entries);
}

int64_t manifest_total_size(const nlohmann::json& files) {
  int64_t total = 0;
  for (const auto& file : files) total += file.at("size").get<int64_t>();
  return total;
}

Result<void> require_uploaded_blobs(Store& store, const nlohmann::json& files) {
  std::set<std::string> hashes;
  for (const auto& file : files) hashes.insert(file.at("sha256").get<std::string>());
  auto missing = store.missing_blobs({hashes.begin(), hashes.end()});
  if (!missing) return fail(missing.error());
  if (missing->empty()) return {};
  Error error{
      ErrorCode::invalid_argument,
      fmt::format("{} blob(s) are not uploaded; upload the missing blobs first", missing->size())};
  for (size_t i = 0; i < std::min(missing->size(), k_max_missing_named); ++i) {
    error.details.push_back(field_problem((*missing)[i], "blob is missing"));
  }
  return fail(std::move(error));
}

Result<std::vector<std::string>> absent_blobs(Store& store, const BlobStore& blobs,
                                              const std::vector<std::string>& hashes) {
  auto missing = store.missing_blobs(hashes);
  if (!missing) return fail(missing.error());
  std::ranges::sort(*missing);
  std::vector<std::string> stored;
  stored.reserve(hashes.size());
  std::ranges::copy_if(hashes, std::back_inserter(stored), [&](const std::string& hash) {
    return !std::ranges::binary_search(*missing, hash);
  });
  std::vector<std::string> absent = std::move(*missing);
  std::ranges::move(blobs.not_intact(stored), std::back_inserter(absent));
  return absent;
}

Result<FileReply> open_manifest_file(const BlobStore& blobs, const nlohmann::json& files,
                                     const std::string& path, std::string_view owner) {
  if (auto valid = api::split_relative_path(path); !valid) return fail(valid.error());
  const auto file = std::find_if(files.begin(), files.end(), [&](const nlohmann::json& entry) {
    return entry.at("path") == path;
  });
  if (file == files.end()) return fail(ErrorCode::not_found, "{} has no file {}", owner, path);
  const auto blob = blobs.path_of(file->at("sha256").get<std::string>());
  util::UniqueFd fd(::open(blob.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat info {};
  if (!fd || ::fstat(fd.get(), &info) != 0) {
    return fail(ErrorCode::internal, "cannot read blob {}: {}", blob.string(),
                std::strerror(errno));
  }
  return FileReply{.fd = std::move(fd), .size = static_cast<uint64_t>(info.st_size)};
}

}  // namespace trainctl::service::handlers
