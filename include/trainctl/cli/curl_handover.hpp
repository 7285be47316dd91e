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

// Where trainctl-curl is for the program at `self`: next to it (a build tree), else in the
// installation's libexec folder for trainctl (../libexec/trainctl from bin/ by default: the
// relative path between CMAKE_INSTALL_BINDIR and CMAKE_INSTALL_LIBEXECDIR, fixed at configure
// time). Fails with ErrorCode::internal (exit 1) naming both places.
Result<std::filesystem::path> find_curl_build(const std::filesystem::path& self);

// When this program has no libcurl transport and `endpoint` needs one, replaces the process with
// trainctl-curl running `argv`, marked with TRAINCTL_HANDED_OVER in its environment; otherwise
// does nothing. Returns an error only when it cannot: no trainctl-curl, one that does not run, or
// one that is a static trainctl itself (the mark is set already), which would exec for ever.
Result<void> hand_over_if_curl_needed(std::string_view endpoint, char** argv);

}  // namespace trainctl::cli
