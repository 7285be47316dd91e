#pragma once
// The static `trainctl` holds no libcurl: a static program loads no shared library, and being
// static is what makes its start cheap (bench/README.md, "Why trainctl is a static program").
// A command whose endpoint needs libcurl (https, another host) is handed, before it reads or
// sends anything, to trainctl-curl: the same program linked dynamically, which loads libcurl on
// its first request. The hand-over is an exec, so the command keeps its process, arguments,
// environment and open files: a spec on standard input is read once, by trainctl-curl, and its
// exit status is the command's.
#include <filesystem>
#include <string_view>

#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// Where trainctl-curl is for the program at `self`: next to it (a build tree), else in
// ../libexec/trainctl (an installation: `cmake --install`, the Debian package). Fails with
// ErrorCode::not_found naming both places.
Result<std::filesystem::path> find_curl_build(const std::filesystem::path& self);

// When this program has no libcurl transport and `endpoint` needs one, replaces the process with
// trainctl-curl running `argv`; otherwise does nothing. Returns an error only when it cannot
// (no trainctl-curl, or it does not run).
Result<void> hand_over_if_curl_needed(std::string_view endpoint, char** argv);

}  // namespace trainctl::cli
