#include "trainctl/client/hash_cache.hpp"

#include <charconv>

#include "trainctl/util/fs.hpp"

namespace trainctl::client {

namespace {

// File format: this header line, then one "sha256 size mtime_ns inode path" line per file.
// Paths holding a newline are not cached.
constexpr std::string_view k_header = "trainctl-hash-cache 1\n";
constexpr size_t k_sha256_hex_size = 64;
constexpr size_t k_max_cache_size = 256u << 20;

// Parses the next space-terminated number of `line`, advancing it.
template <typename Number>
bool take_number(std::string_view& line, Number& value) {
  const auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), value);
  if (error != std::errc() || end == line.data() + line.size() || *end != ' ') return false;
  line.remove_prefix(static_cast<size_t>(end - line.data()) + 1);
  return true;
}

}  // namespace

HashCache::Entries HashCache::parse(std::string_view text) {
  Entries entries;
  if (!text.starts_with(k_header)) return entries;
  text.remove_prefix(k_header.size());
  while (!text.empty()) {
    const auto newline = text.find('\n');
    if (newline == std::string_view::npos) return {};  // truncated: distrust all of it
    auto line = text.substr(0, newline);
    text.remove_prefix(newline + 1);
    if (line.size() <= k_sha256_hex_size || line[k_sha256_hex_size] != ' ') return {};
    Entry entry{.stamp = {},
                .sha256 = std::string(line.substr(0, k_sha256_hex_size)),
                .recorded = false};
    line.remove_prefix(k_sha256_hex_size + 1);
    if (!take_number(line, entry.stamp.size) || !take_number(line, entry.stamp.mtime_ns) ||
        !take_number(line, entry.stamp.inode) || line.empty()) {
      return {};
    }
    entries.insert_or_assign(std::string(line), std::move(entry));
  }
  return entries;
}

HashCache HashCache::load(const std::filesystem::path& file, int64_t scan_start_ns) {
  HashCache cache(scan_start_ns);
  if (auto text = util::read_file(file, k_max_cache_size)) cache.m_entries = parse(*text);
  return cache;
}

const std::string* HashCache::find(const std::string& path, const FileStamp& stamp) const {
  const auto it = m_entries.find(path);
  if (it == m_entries.end() || it->second.stamp != stamp) return nullptr;
  return &it->second.sha256;
}

void HashCache::record(const std::string& path, const FileStamp& stamp, const std::string& sha256) {
  if (stamp.mtime_ns > m_scan_start_ns - k_racy_window_ns || path.find('\n') != std::string::npos) {
    // Not trusted this time: whatever the cache held for the path is not saved either.
    if (const auto it = m_entries.find(path); it != m_entries.end()) {
      if (it->second.recorded) --m_recorded;
      m_entries.erase(it);
      m_changed = true;
    }
    return;
  }
  auto [it, added] = m_entries.try_emplace(path);
  Entry& entry = it->second;
  if (added || entry.stamp != stamp || entry.sha256 != sha256) {
    entry.stamp = stamp;
    entry.sha256 = sha256;
    m_changed = true;
  }
  if (!entry.recorded) {
    entry.recorded = true;
    ++m_recorded;
  }
}

Result<void> HashCache::save(const std::filesystem::path& file) const {
  // Unchanged: every loaded entry recorded again as it was, nothing added.
  if (!m_changed && m_recorded == m_entries.size()) return {};
  std::string text(k_header);
  text.reserve(m_recorded * 128);
  for (const auto& [path, entry] : m_entries) {
    if (!entry.recorded) continue;  // a file this scan did not see (deleted, or now ignored)
    text += fmt::format("{} {} {} {} {}\n", entry.sha256, entry.stamp.size, entry.stamp.mtime_ns,
                        entry.stamp.inode, path);
  }
  std::error_code error;
  if (!file.parent_path().empty()) std::filesystem::create_directories(file.parent_path(), error);
  if (error) {
    return fail(ErrorCode::io, "cannot create directory {}: {}", file.parent_path().string(),
                error.message());
  }
  return util::write_file_atomic(file, text, 0600);
}

}  // namespace trainctl::client
