#pragma once
// Python environments for runs with estimator.pip_packages (docs/environments.md): one virtual
// environment per hash of (interpreter, its version, the packages, the package index
// configuration), built once under <home>/environments/<hash>/ and shared by every run that
// asks for the same thing. Builds of the same hash are never run twice at once: a second run
// asking while the first builds waits for that build and sees its log. A failed build leaves
// nothing behind that a later run could reuse; the next run asking builds again.
//
// A build has a time limit (trainctld --pip-timeout); past it pip's whole process group is
// killed and the build fails. A run that stops waiting (canceled) leaves a shared build going
// for the runs still waiting on it; once no run waits, the build is stopped the same way.
//
// pip is started with an argv (never a shell): `<venv>/bin/python -m pip install --isolated
// --no-input --disable-pip-version-check <index options> -- <packages>`; its environment is the
// service's allowlisted one (no PIP_* variable, no token). The venv is made with
// `<interpreter> -m venv --system-site-packages --without-pip`, so Debian's packages (numpy,
// torch, mpi4py) stay visible and pip comes from the interpreter's own installation.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::service {

// Where pip looks for packages: trainctld's --pip-index-url, --pip-find-links (repeatable) and
// --pip-no-index. This machine has no package index; tests use --pip-no-index with a local
// --pip-find-links directory of wheels they make themselves.
struct PipIndexConfig {
  std::string index_url;                // empty: pip's default
  std::vector<std::string> find_links;  // directories or URLs
  bool no_index = false;
};

struct EnvironmentRequest {
  std::string interpreter;                // absolute, e.g. /usr/bin/python3
  std::vector<std::string> pip_packages;  // validated requirement strings (spec rules)
};

// trainctld's --pip-timeout when not given: 30 minutes.
inline constexpr std::chrono::seconds k_default_build_timeout{1800};

struct EnvironmentCacheOptions {
  std::filesystem::path root;  // <home>/environments
  PipIndexConfig index;
  // The environment pip and venv run with (the service's allowlisted variables).
  std::vector<std::pair<std::string, std::string>> base_env;
  // How long one build (venv, then pip) may take before it is stopped and fails.
  std::chrono::seconds build_timeout{k_default_build_timeout};
};

class EnvironmentCache {
 public:
  explicit EnvironmentCache(EnvironmentCacheOptions options);
  ~EnvironmentCache();  // stops every build still going (pip killed) and waits for it
  EnvironmentCache(const EnvironmentCache&) = delete;
  EnvironmentCache& operator=(const EnvironmentCache&) = delete;

  // The cache key: hex sha256 over the interpreter's real path, its version, the sorted
  // packages and the index configuration. Fails when the interpreter cannot be run.
  Result<std::string> key(const EnvironmentRequest& request);

  // The interpreter of the environment for `request` (<root>/<key>/bin/python), building it
  // first when it is not built yet. The build's output (venv, then pip) is appended to
  // `log_file` as it is produced, and so is everything a concurrent build of the same key had
  // written before this call joined it. An empty package list returns request.interpreter and
  // builds nothing. A failed build returns ErrorCode::invalid_argument with a message for the
  // user naming the packages and the last lines of pip's output ("see the Preparing log"); a
  // build stopped at the time limit returns ErrorCode::timeout saying how to raise the limit.
  //
  // When `stop` is requested (the run was canceled, the service stops) the call returns at
  // once with ErrorCode::interrupted and `log_file` gets no more of the build. The build goes
  // on while another call waits for it; when none does any more, pip is killed and nothing of
  // the build is kept.
  Result<std::filesystem::path> acquire(const EnvironmentRequest& request,
                                        const std::filesystem::path& log_file,
                                        std::stop_token stop = {});

  // Builds finished since this cache was made (not cache hits): for tests and the benchmark.
  int64_t builds_started() const;

 private:
  struct State;
  std::unique_ptr<State> m_state;
};

}  // namespace trainctl::service
