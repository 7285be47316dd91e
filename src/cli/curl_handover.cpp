#include "trainctl/cli/curl_handover.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "trainctl/cli/debug_log.hpp"
#include "trainctl/client/api_client.hpp"
#include "trainctl/util/fs.hpp"

namespace trainctl::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* k_curl_build = "trainctl-curl";

}  // namespace

Result<fs::path> find_curl_build(const fs::path& self) {
  const fs::path beside = self.parent_path() / k_curl_build;
  if (util::is_executable_file(beside)) return beside;
  const fs::path installed = self.parent_path().parent_path() / "libexec" / "trainctl" / k_curl_build;
  if (util::is_executable_file(installed)) return installed;
  return fail(ErrorCode::not_found,
              "this trainctl reaches services other than a local one through {}, which is "
              "missing: it is neither {} nor {} (reinstall trainctl)",
              k_curl_build, beside.string(), installed.lexically_normal().string());
}

Result<void> hand_over_if_curl_needed(std::string_view endpoint, char** argv) {
  if (client::has_curl_transport() || endpoint.empty() || !client::needs_curl(endpoint)) return {};
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (self.empty()) {
    // Never a relative guess: that would run whatever trainctl-curl the current folder holds.
    return fail(ErrorCode::internal, "{} needs libcurl, through trainctl-curl next to this program, "
                "but this program's own path is unknown (/proc/self/exe: {})",
                endpoint, error ? error.message() : "empty");
  }
  auto curl_build = find_curl_build(self);
  if (!curl_build) {
    return fail(curl_build.error().code, "{} needs libcurl: {}", endpoint, curl_build.error().message);
  }
  debug_log("{} needs libcurl: handing the command to {}", endpoint, curl_build->string());
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ::execv(curl_build->c_str(), argv);
  return fail(ErrorCode::internal, "cannot run {}: {}", curl_build->string(), std::strerror(errno));
}

}  // namespace trainctl::cli
