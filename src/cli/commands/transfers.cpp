#include "transfers.hpp"

#include <fmt/format.h>

#include "trainctl/util/fs.hpp"
#include "trainctl/util/sha256.hpp"

namespace trainctl::cli {

std::filesystem::path hash_cache_file(Session& session, const std::filesystem::path& source) {
  const auto dir = session.config().cache_dir / "hashes";
  if (auto made = util::make_directories(dir, 0700); !made) {
    session.printer().warning(fmt::format("no hash cache: {}", made.error().message));
    return {};
  }
  return dir / util::sha256_hex(source.string());
}

FilesProgress::FilesProgress(Printer& printer, std::string label, uint64_t total_bytes)
    : m_printer(printer), m_label(std::move(label)), m_total(total_bytes) {}

FilesProgress::~FilesProgress() { m_printer.end_progress(); }

std::function<void(uint64_t)> FilesProgress::for_file() {
  return [this](uint64_t present) { m_printer.progress(m_label, m_done + present, m_total); };
}

void FilesProgress::file_done(uint64_t size) {
  m_done += size;
  m_printer.progress(m_label, m_done, m_total);
}

}  // namespace trainctl::cli
