#pragma once
// Python environments for runs with estimator.pip_packages (docs/environments.md): one virtual
// environment per hash of (interpreter, its version, the packages, the package index
// configuration), built once under <home>/environments/<hash>/ and shared by every run that
// asks for the same thing. Builds of the same hash are never run twice at once: a second run
// asking while the first builds waits for that build and sees its log. A failed build leaves
// nothing behind that a later run could reuse; the next run asking builds again.
//
// pip is started with an argv (never a shell): `<venv>/bin/python -m pip install --isolated
// --no-input --disable-pip-version-check <index options> -- <packages>`; its environment is the
// service's allowlisted one (no PIP_* variable, no token). The venv is made with
// `<interpreter> -m venv --system-site-packages --without-pip`, so Debian's packages (numpy,
// torch, mpi4py) stay visible and pip comes from the interpreter's own installation.
#include <cstdint>
#include <filesystem>
#include <memory>
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

struct EnvironmentCacheOptions {
  std::filesystem::path root;  // <home>/environments
  PipIndexConfig index;
  // The environment pip and venv run with (the service's allowlisted variables).
  std::vector<std::pair<std::string, std::string>> base_env;
};

class EnvironmentCache {
 public:
  explicit EnvironmentCache(EnvironmentCacheOptions options);
  ~EnvironmentCache();
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
  // user naming the packages and the last lines of pip's output ("see the Preparing log").
  Result<std::filesystem::path> acquire(const EnvironmentRequest& request,
                                        const std::filesystem::path& log_file);

  // Builds finished since this cache was made (not cache hits): for tests and the benchmark.
  int64_t builds_started() const;

 private:
  struct State;
  std::unique_ptr<State> m_state;
};

}  // namespace trainctl::service
