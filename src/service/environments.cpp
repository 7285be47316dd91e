// The environment cache (include/trainctl/service/environments.hpp).
//
// Where a build happens: in place, at <root>/<key>/, and the environment counts as built only
// once <root>/<key>/.complete exists (written last, atomically). A venv is not relocatable:
// pyvenv.cfg records the path it was made at, and pip writes that path into the shebang of
// every console script it installs (bin/<tool>), so building in a temporary directory and
// renaming it would leave scripts that point at a directory which no longer exists. A
// directory without the marker is the remains of a failed or interrupted build: it is removed
// when the cache is made (one trainctld per home, so no build is running then) and before a
// build of its key starts, so it is never used.
#include "trainctl/service/environments.hpp"

#include <fcntl.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "environments/line_process.hpp"
#include "trainctl/service/engines/child_process.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/sha256.hpp"

namespace trainctl::service {

namespace fs = std::filesystem;

namespace {

using engines::UniqueFd;
using Env = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view k_complete_marker = ".complete";
// How many of pip's last lines a failure message quotes.
constexpr size_t k_failure_lines = 3;

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a log that cannot be written does not stop the build
    data.remove_prefix(static_cast<size_t>(n));
  }
}

Result<UniqueFd> open_log(const fs::path& path, int extra_flags) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  return engines::open_fd(path, O_WRONLY | O_CREAT | O_APPEND | extra_flags, 0644);
}

bool is_complete(const fs::path& env_dir) {
  std::error_code ec;
  return fs::exists(env_dir / k_complete_marker, ec);
}

// The interpreter's sys.version, which changes with every upgrade of the interpreter.
Result<std::string> interpreter_version(const fs::path& interpreter, const Env& env) {
  std::string output;
  auto status = environments::run_with_lines(
      {interpreter.string(), "-I", "-c", "import sys; print(sys.version)"}, env,
      [&output](std::string_view line) { output += line; });
  if (!status) return fail(status.error());
  if (*status != 0) {
    return fail(ErrorCode::invalid_argument, "the interpreter {} does not run (exit status {})",
                interpreter.string(), *status);
  }
  return output;
}

std::vector<std::string> sorted_packages(std::vector<std::string> packages) {
  std::sort(packages.begin(), packages.end());
  packages.erase(std::unique(packages.begin(), packages.end()), packages.end());
  return packages;
}

std::vector<std::string> pip_install_argv(const fs::path& python, const PipIndexConfig& index,
                                          const std::vector<std::string>& packages) {
  std::vector<std::string> argv{python.string(),
                                "-m",
                                "pip",
                                "install",
                                "--isolated",
                                "--no-input",
                                "--disable-pip-version-check"};
  if (!index.index_url.empty()) argv.insert(argv.end(), {"--index-url", index.index_url});
  for (const auto& link : index.find_links) argv.insert(argv.end(), {"--find-links", link});
  if (index.no_index) argv.push_back("--no-index");
  argv.push_back("--");
  argv.insert(argv.end(), packages.begin(), packages.end());
  return argv;
}

struct Identity {
  fs::path interpreter;  // its real path
  std::string key;
};

// One build in progress: where its output goes, and its outcome once known.
struct Build {
  std::vector<UniqueFd> logs;    // <root>/<key>.log and the log of every run waiting on it
  std::deque<std::string> tail;  // its last lines, for the failure message
  std::optional<Result<fs::path>> outcome;
};

}  // namespace

struct EnvironmentCache::State {
  EnvironmentCacheOptions options;
  std::mutex mutex;
  std::condition_variable finished;
  std::map<std::string, std::shared_ptr<Build>> building;  // by key; guarded by `mutex`
  std::atomic<int64_t> builds_started{0};

  fs::path env_dir(const std::string& key) const { return options.root / key; }
  fs::path key_log(const std::string& key) const { return options.root / (key + ".log"); }

  // Appends `text` to every log of `build`; a line of venv's or pip's output also goes to its
  // tail.
  void emit(Build& build, std::string_view text, bool is_output = false) {
    std::lock_guard lock(mutex);
    for (const auto& log : build.logs) write_all(log.get(), text);
    if (!is_output) return;
    build.tail.emplace_back(text);
    if (build.tail.size() > k_failure_lines) build.tail.pop_front();
  }

  // Runs one step of the build with its output going to the build's logs; the exit status.
  Result<int> run_step(Build& build, std::vector<std::string> argv) {
    emit(build, fmt::format("$ {}\n", fmt::join(argv, " ")));
    return environments::run_with_lines(std::move(argv), options.base_env,
                                        [&](std::string_view line) { emit(build, line, true); });
  }

  // invalid_argument naming the packages and quoting the build's last lines, one line.
  Error build_failed(const Build& build, const std::vector<std::string>& packages,
                     const std::string& step, int status) {
    std::vector<std::string> tail;
    {
      std::lock_guard lock(mutex);
      for (std::string line : build.tail) {
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
          line.pop_back();
        if (!line.empty()) tail.push_back(std::move(line));
      }
    }
    return Error{ErrorCode::invalid_argument,
                 fmt::format("could not install the pip packages {} ({} exited with status {}): "
                             "{}; see the Preparing log",
                             fmt::join(packages, ", "), step, status, fmt::join(tail, " / "))};
  }

  // Makes the venv at <root>/<key>/ and installs the packages into it; the directory is
  // removed again unless everything succeeded.
  Result<fs::path> build_environment(Build& build, const fs::path& interpreter,
                                     const std::vector<std::string>& packages,
                                     const std::string& key) {
    const fs::path dir = env_dir(key);
    std::error_code ec;
    fs::remove_all(dir, ec);
    emit(build, fmt::format("building the environment {} for {}\n", key, fmt::join(packages, " ")));
    auto built = install(build, interpreter, packages, dir);
    if (!built) {
      fs::remove_all(dir, ec);
      emit(build, fmt::format("the environment was not built: {}\n", built.error().message));
      return built;
    }
    emit(build, "the environment is ready\n");
    return built;
  }

  // The two steps (venv, then pip) and the marker; the environment's interpreter.
  Result<fs::path> install(Build& build, const fs::path& interpreter,
                           const std::vector<std::string>& packages, const fs::path& dir) {
    auto venv = run_step(build, {interpreter.string(), "-m", "venv", "--system-site-packages",
                                 "--without-pip", dir.string()});
    if (!venv) return fail(venv.error());
    if (*venv != 0) return fail(build_failed(build, packages, "venv", *venv));
    const fs::path python = dir / "bin" / "python";
    auto pip = run_step(build, pip_install_argv(python, options.index, packages));
    if (!pip) return fail(pip.error());
    if (*pip != 0) return fail(build_failed(build, packages, "pip", *pip));
    if (auto marked = util::write_file_atomic(dir / k_complete_marker, "", 0644); !marked) {
      return fail(marked.error());
    }
    return python;
  }

  // Joins the build of `key` in progress: `log` gets what it wrote so far, then the rest.
  Result<fs::path> join(std::unique_lock<std::mutex>& lock, Build& build, const std::string& key,
                        UniqueFd log) {
    if (auto so_far = util::read_file(key_log(key))) write_all(log.get(), *so_far);
    build.logs.push_back(std::move(log));
    finished.wait(lock, [&build] { return build.outcome.has_value(); });
    return *build.outcome;
  }

  // The interpreter's real path and the cache key of `request`.
  Result<Identity> identify(const EnvironmentRequest& request) {
    std::error_code ec;
    fs::path interpreter = fs::canonical(request.interpreter, ec);
    if (ec) {
      return fail(ErrorCode::invalid_argument, "the interpreter {} cannot be found: {}",
                  request.interpreter, ec.message());
    }
    auto version = interpreter_version(interpreter, options.base_env);
    if (!version) return fail(version.error());
    const nlohmann::json identity{{"interpreter", interpreter.string()},
                                  {"version", *version},
                                  {"packages", sorted_packages(request.pip_packages)},
                                  {"index_url", options.index.index_url},
                                  {"find_links", options.index.find_links},
                                  {"no_index", options.index.no_index}};
    return Identity{std::move(interpreter), util::sha256_hex(identity.dump())};
  }

  // Removes what interrupted builds left: environment directories without the marker.
  void remove_incomplete() {
    std::error_code ec;
    for (fs::directory_iterator it(options.root, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_directory(ec) || is_complete(it->path())) continue;
      spdlog::info("removing the incomplete environment {}", it->path().string());
      fs::remove_all(it->path(), ec);
    }
  }
};

EnvironmentCache::EnvironmentCache(EnvironmentCacheOptions options)
    : m_state(std::make_unique<State>()) {
  m_state->options = std::move(options);
  if (auto made = util::make_directories(m_state->options.root, 0700); !made) {
    spdlog::warn("{}", made.error().message);
  }
  m_state->remove_incomplete();
}

EnvironmentCache::~EnvironmentCache() = default;

Result<std::string> EnvironmentCache::key(const EnvironmentRequest& request) {
  auto identity = m_state->identify(request);
  if (!identity) return fail(identity.error());
  return identity->key;
}

Result<fs::path> EnvironmentCache::acquire(const EnvironmentRequest& request,
                                           const fs::path& log_file) {
  if (request.pip_packages.empty()) return fs::path(request.interpreter);
  auto identity = m_state->identify(request);
  if (!identity) return fail(identity.error());
  const std::string& key = identity->key;
  auto log = open_log(log_file, 0);
  if (!log) return fail(log.error());
  State& state = *m_state;

  std::unique_lock lock(state.mutex);
  if (is_complete(state.env_dir(key))) {
    write_all(log->get(), fmt::format("using the environment {} (already built)\n", key));
    return state.env_dir(key) / "bin" / "python";
  }
  if (auto running = state.building.find(key); running != state.building.end()) {
    const auto build = running->second;  // kept alive while this call waits
    return state.join(lock, *build, key, std::move(*log));
  }
  auto build_log = open_log(state.key_log(key), O_TRUNC);
  if (!build_log) return fail(build_log.error());
  auto build = std::make_shared<Build>();
  build->logs.push_back(std::move(*build_log));
  build->logs.push_back(std::move(*log));
  state.building.emplace(key, build);
  ++state.builds_started;
  lock.unlock();

  auto built = state.build_environment(*build, identity->interpreter,
                                       sorted_packages(request.pip_packages), key);
  lock.lock();
  build->outcome = built;
  build->logs.clear();
  state.building.erase(key);
  state.finished.notify_all();
  return built;
}

int64_t EnvironmentCache::builds_started() const {
  return m_state->builds_started.load();
}

}  // namespace trainctl::service
