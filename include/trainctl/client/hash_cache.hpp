#pragma once
// The hash cache of snapshot scans: relative path -> (size, mtime, inode, sha256), so a file whose
// stamp is unchanged is not read again. One cache file per source directory; it is only an
// optimisation, so losing or corrupting it costs a rehash and nothing else.
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>

#include "trainctl/util/error.hpp"

namespace trainctl::client {

// What identifies an unchanged file without reading it.
struct FileStamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  bool operator==(const FileStamp&) const = default;
};

class HashCache {
 public:
  // A file modified less than this before a scan started is not recorded: it could change again
  // within the file system's timestamp granularity and keep its stamp (git's "racy clean").
  static constexpr int64_t k_racy_window_ns = 2'000'000'000;

  // Reads `file` for a scan that started at `scan_start_ns` (Unix time). A missing, unreadable
  // or malformed cache file gives an empty cache.
  static HashCache load(const std::filesystem::path& file, int64_t scan_start_ns);

  // How many files the cache knows.
  size_t size() const { return m_entries.size(); }
  // The cached hash of `path`, or nullptr when the path is unknown or its stamp changed.
  const std::string* find(const std::string& path, const FileStamp& stamp) const;
  // Records the hash of `path` as seen by this scan; only recorded entries are saved.
  void record(const std::string& path, const FileStamp& stamp, const std::string& sha256);
  // Replaces `file` atomically with the recorded entries; does nothing when they are the
  // entries that were loaded.
  Result<void> save(const std::filesystem::path& file) const;

 private:
  struct Entry {
    FileStamp stamp;
    std::string sha256;
    bool recorded = false;  // seen by this scan, so saved
  };
  // The loaded entries and the recorded ones in one map: a resubmit of an unchanged tree records
  // what it loaded, and a second copy of 10,000 entries was 2 MB of fresh pages to fault in.
  using Entries = std::unordered_map<std::string, Entry>;

  explicit HashCache(int64_t scan_start_ns) : m_scan_start_ns(scan_start_ns) {}
  static Entries parse(std::string_view text);

  int64_t m_scan_start_ns = 0;
  Entries m_entries;
  size_t m_recorded = 0;  // entries with `recorded` set
  bool m_changed = false;  // an entry was added, replaced or dropped since the load
};

}  // namespace trainctl::client
