#pragma once
// The identity of a file manifest (a snapshot's id, a dataset version's content hash), computed the
// same way by the client and the service: the SHA-256 of its canonical JSON form.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace trainctl::api {

// One file of a manifest.
struct ManifestEntry {
  std::string_view path;  // relative, '/'-separated
  std::string_view sha256;
  uint64_t size = 0;
  unsigned mode = 0644;
};

// The canonical form of a manifest whose entries are in byte order of path, no path twice: the
// compact JSON array [{"mode":M,"path":P,"sha256":S,"size":N}, ...] (keys in that order, strings
// escaped as nlohmann::json::dump escapes them).
std::string canonical_manifest(std::span<const ManifestEntry> entries);

// sha256 (hex) of canonical_manifest(entries).
std::string manifest_digest(std::span<const ManifestEntry> entries);

}  // namespace trainctl::api
