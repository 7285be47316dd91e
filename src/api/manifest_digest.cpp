#include "trainctl/api/manifest_digest.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "trainctl/util/sha256.hpp"

namespace trainctl::api {

namespace {

// Whether nlohmann::json::dump would write `text` between quotes unchanged: printable ASCII
// without '"' or '\\'. Other strings take the library's own escaping.
bool is_plain(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

void append_string(std::string& out, std::string_view text) {
  if (!is_plain(text)) {
    out += nlohmann::json(std::string(text)).dump(-1, ' ', false,
                                                   nlohmann::json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += text;
  out += '"';
}

void append_number(std::string& out, uint64_t value) {
  char digits[24];
  const auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

}  // namespace

namespace {

// Writes the canonical form of `entries` into `out` and through `flush(out)`, called whenever
// `out` holds at least `chunk` bytes (and once at the end); `flush` empties it.
template <typename Flush>
void write_canonical_manifest(std::span<const ManifestEntry> entries, std::string& out,
                              size_t chunk, Flush flush) {
  out += '[';
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& entry = entries[i];
    if (i > 0) out += ',';
    out += "{\"mode\":";
    append_number(out, entry.mode);
    out += ",\"path\":";
    append_string(out, entry.path);
    out += ",\"sha256\":";
    append_string(out, entry.sha256);
    out += ",\"size\":";
    append_number(out, entry.size);
    out += '}';
    if (out.size() >= chunk) flush(out);
  }
  out += ']';
  flush(out);
}

}  // namespace

std::string canonical_manifest(std::span<const ManifestEntry> entries) {
  std::string manifest;
  manifest.reserve(entries.size() * 140 + 2);
  write_canonical_manifest(entries, manifest, std::string::npos, [](std::string&) {});
  return manifest;
}

// Hashed as it is written, 32 KB at a time: the whole form of a 10,000-file manifest is 1.4 MB
// that a resubmit would otherwise allocate and fault in only to hash it.
std::string manifest_digest(std::span<const ManifestEntry> entries) {
  constexpr size_t k_chunk = size_t{32} << 10;
  util::Sha256 hasher;
  std::string buffer;
  buffer.reserve(k_chunk + 4096);
  write_canonical_manifest(entries, buffer, k_chunk, [&](std::string& out) {
    hasher.update(out);
    out.clear();
  });
  return hasher.hex_digest();
}

}  // namespace trainctl::api
