#include "trainctl/cli/curl_handover.hpp"

#include <sys/auxv.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "trainctl/cli/debug_log.hpp"
#include "trainctl/client/api_client.hpp"
#include "trainctl/util/fs.hpp"

namespace trainctl::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* k_curl_build = "trainctl-curl";
constexpr const char* k_handed_over = "TRAINCTL_HANDED_OVER";

// This program's absolute path: /proc/self/exe, else the path it was started with (AT_EXECFN)
// made absolute against the current folder, which has not changed since the start. Never a guess:
// a wrong one would run whatever trainctl-curl some folder holds.
Result<fs::path> own_path() {
  std::error_code error;
  fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (!self.empty()) return self;
  const auto* started_as = reinterpret_cast<const char*>(::getauxval(AT_EXECFN));
  if (started_as != nullptr && std::strchr(started_as, '/') != nullptr) {
    std::error_code cwd_error;
    const fs::path absolute = fs::absolute(started_as, cwd_error);
    if (!cwd_error) return absolute.lexically_normal();
  }
  return fail(ErrorCode::internal,
              "this program's own path is unknown (/proc/self/exe: {}), so {} cannot be found "
              "next to it",
              error ? error.message() : "empty", k_curl_build);
}

}  // namespace

Result<fs::path> find_curl_build(const fs::path& self) {
  const fs::path beside = self.parent_path() / k_curl_build;
  if (util::is_executable_file(beside)) return beside;
  const fs::path installed =
      (self.parent_path() / TRAINCTL_LIBEXEC_FROM_BIN / k_curl_build).lexically_normal();
  if (util::is_executable_file(installed)) return installed;
  return fail(ErrorCode::internal,
              "this trainctl reaches such endpoints through {}, which is missing: it is neither "
              "{} nor {} (reinstall trainctl)",
              k_curl_build, beside.string(), installed.string());
}

Result<void> hand_over_if_curl_needed(std::string_view endpoint, char** argv) {
  if (client::has_curl_transport() || endpoint.empty() || !client::needs_curl(endpoint)) return {};
  // Set by the hand-over itself: a trainctl-curl that is this static program again (a copy or a
  // link) would otherwise exec itself for ever.
  if (std::getenv(k_handed_over) != nullptr) {
    return fail(ErrorCode::internal,
                "{} needs libcurl, but the {} this trainctl handed the command to is a static "
                "trainctl too (reinstall trainctl)",
                endpoint, k_curl_build);
  }
  auto self = own_path();
  if (!self) return fail(self.error().code, "{} needs libcurl: {}", endpoint, self.error().message);
  auto curl_build = find_curl_build(*self);
  if (!curl_build) {
    return fail(curl_build.error().code, "{} needs libcurl: {}", endpoint, curl_build.error().message);
  }
  debug_log("{} needs libcurl: handing the command to {}", endpoint, curl_build->string());
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ::setenv(k_handed_over, "1", 1);
  ::execv(curl_build->c_str(), argv);
  const int exec_errno = errno;
  ::unsetenv(k_handed_over);
  return fail(ErrorCode::internal, "cannot run {}: {}", curl_build->string(), std::strerror(exec_errno));
}

}  // namespace trainctl::cli
