#include "transfers.hpp"

#include <sys/stat.h>
#include <cerrno>
#include <cstring>
#include <unistd.h>

#include <iostream>

#include <fmt/format.h>

#include "trainctl/api/names.hpp"
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

bool confirmed(Printer& printer, std::string_view question) {
  if (::isatty(STDIN_FILENO) != 1 || ::isatty(STDERR_FILENO) != 1) return true;
  printer.prompt(fmt::format("{} [y/N] ", question));
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

Result<nlohmann::json> tags_of(const std::vector<std::string>& tags) {
  auto out = nlohmann::json::object();
  for (const auto& tag : tags) {
    const auto equals = tag.find('=');
    if (equals == std::string::npos || equals == 0) {
      return fail(ErrorCode::usage, "--tag {}: expected key=value", tag);
    }
    out[tag.substr(0, equals)] = tag.substr(equals + 1);
  }
  return out;
}

namespace {

// Whether `dest` already holds a file of this size and sha256 (a download done before).
bool already_downloaded(const std::filesystem::path& dest, uint64_t size,
                        const std::string& sha256) {
  struct stat info {};
  if (::stat(dest.c_str(), &info) != 0 || !S_ISREG(info.st_mode) ||
      static_cast<uint64_t>(info.st_size) != size) {
    return false;
  }
  const auto actual = util::sha256_file(dest);
  return actual && *actual == sha256;
}

}  // namespace

Result<std::filesystem::path> download_destination(const std::filesystem::path& dest_dir,
                                                   const std::string& relative_path) {
  auto parts = api::split_relative_path(relative_path);
  if (!parts) return fail(parts.error());
  if (auto made = util::make_directories(dest_dir); !made) return fail(made.error());
  std::filesystem::path at = dest_dir;
  for (size_t i = 0; i < parts->size(); ++i) {
    at /= (*parts)[i];
    const bool last = i + 1 == parts->size();
    struct stat info {};
    if (::lstat(at.c_str(), &info) != 0) {
      if (errno != ENOENT) {
        return fail(ErrorCode::io, "cannot inspect {}: {}", at.string(), std::strerror(errno));
      }
      if (!last && ::mkdir(at.c_str(), 0755) != 0 && errno != EEXIST) {
        return fail(ErrorCode::io, "cannot make {}: {}", at.string(), std::strerror(errno));
      }
      continue;
    }
    if (S_ISLNK(info.st_mode)) {
      return fail(ErrorCode::io,
                  "{} is a symbolic link; a download does not write through links in its "
                  "destination. Remove it, or choose another --dest",
                  at.string());
    }
    if (!last && !S_ISDIR(info.st_mode)) {
      return fail(ErrorCode::io, "{} is in the way: it is not a folder", at.string());
    }
  }
  return at;
}

Result<ManifestDownload> download_manifest(Printer& printer, const nlohmann::json& files,
                                           const std::filesystem::path& dest_dir,
                                           const FetchFile& fetch) {
  ManifestDownload done;
  for (const auto& file : files) done.total_bytes += file.value("size", uint64_t{0});
  FilesProgress progress(printer, "downloading", done.total_bytes);
  for (const auto& file : files) {
    const auto path = file.value("path", "");
    if (auto parts = api::split_relative_path(path); !parts) {
      return fail(ErrorCode::internal, "trainctld listed a file named {}: {}", path,
                  parts.error().message);
    }
    auto dest = download_destination(dest_dir, path);
    if (!dest) return fail(dest.error());
    const client::DownloadOptions expected{.size = file.value("size", uint64_t{0}),
                                           .sha256 = file.value("sha256", ""),
                                           .on_progress = progress.for_file()};
    if (already_downloaded(*dest, *expected.size, expected.sha256)) {
      ++done.kept;
    } else if (auto fetched = fetch(path, *dest, expected); !fetched) {
      return fail(fetched.error());
    }
    progress.file_done(*expected.size);
  }
  return done;
}

}  // namespace trainctl::cli
