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
//
// Who builds: a thread of the cache's own per build, never the thread of a run asking, so a run
// can stop waiting (canceled) while the build goes on for the others. Every caller of acquire()
// is a waiter of the build; when the last one stops waiting, the build is abandoned: pip's
// process group is killed, the directory removed, and the build ends as failed. A later
// request for the key waits until an abandoned build is gone, then starts a fresh one.
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
#include <thread>

#include "environments/line_process.hpp"
#include "trainctl/util/process.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/sha256.hpp"

namespace trainctl::service {

namespace fs = std::filesystem;

namespace {

using util::UniqueFd;
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
  return util::open_fd(path, O_WRONLY | O_CREAT | O_APPEND | extra_flags, 0644);
}

bool is_complete(const fs::path& env_dir) {
  std::error_code ec;
  return fs::exists(env_dir / k_complete_marker, ec);
}

// The interpreter's sys.version, which changes with every upgrade of the interpreter.
Result<std::string> interpreter_version(const fs::path& interpreter, const Env& env) {
  std::string output;
  environments::StopWhen stop_when;
  stop_when.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto end = environments::run_with_lines(
      {interpreter.string(), "-I", "-c", "import sys; print(sys.version)"}, env,
      [&output](std::string_view line) { output += line; }, stop_when);
  if (!end) return fail(end.error());
  if (end->reason == environments::ProgramEnd::Reason::timed_out) {
    return fail(ErrorCode::invalid_argument,
                "the interpreter {} did not print its version within 60 s",
                interpreter.string());
  }
  if (end->status != 0) {
    return fail(ErrorCode::invalid_argument, "the interpreter {} does not run (exit status {})",
                interpreter.string(), end->status);
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

// One build in progress: where its output goes, who waits for it, and its outcome once known.
// Every field but `abandoned` is guarded by State::mutex.
struct Build {
  UniqueFd key_log;                      // <root>/<key>.log
  std::map<uint64_t, UniqueFd> waiters;  // the log of every run waiting on it, by waiter
  std::deque<std::string> tail;          // its last lines, for the failure message
  std::optional<Result<fs::path>> outcome;
  // Set once no run waits any more: the build's thread kills pip and gives up.
  std::atomic<bool> abandoned{false};
};

// "1800 s (30 min)": a time limit as the user gave it, and readable.
std::string describe_limit(std::chrono::seconds limit) {
  const auto seconds = limit.count();
  if (seconds < 60) return fmt::format("{} s", seconds);
  if (seconds % 60 == 0) return fmt::format("{} s ({} min)", seconds, seconds / 60);
  return fmt::format("{} s (about {} min)", seconds, (seconds + 30) / 60);
}

}  // namespace

struct EnvironmentCache::State {
  EnvironmentCacheOptions options;
  std::mutex mutex;
  std::condition_variable_any finished;  // a build ended (outcome set, gone from `building`)
  // Guarded by `mutex`:
  std::map<std::string, std::shared_ptr<Build>> building;  // by key
  std::map<uint64_t, std::thread> threads;                 // the build threads, by id
  std::vector<uint64_t> ended_threads;                     // to join: their builds ended
  uint64_t next_id = 1;                                    // of threads and waiters
  std::atomic<int64_t> builds_started{0};

  fs::path env_dir(const std::string& key) const { return options.root / key; }
  fs::path key_log(const std::string& key) const { return options.root / (key + ".log"); }

  // Appends `text` to every log of `build`; a line of venv's or pip's output also goes to its
  // tail.
  void emit(Build& build, std::string_view text, bool is_output = false) {
    std::lock_guard lock(mutex);
    write_all(build.key_log.get(), text);
    for (const auto& [waiter, log] : build.waiters) write_all(log.get(), text);
    if (!is_output) return;
    build.tail.emplace_back(text);
    if (build.tail.size() > k_failure_lines) build.tail.pop_front();
  }

  // Runs one step of the build with its output going to the build's logs, stopped at
  // `deadline` or when the build is abandoned.
  Result<environments::ProgramEnd> run_step(Build& build, std::vector<std::string> argv,
                                            std::chrono::steady_clock::time_point deadline) {
    emit(build, fmt::format("$ {}\n", fmt::join(argv, " ")));
    environments::StopWhen stop_when;
    stop_when.deadline = deadline;
    stop_when.abandoned = &build.abandoned;
    return environments::run_with_lines(
        std::move(argv), options.base_env, [&](std::string_view line) { emit(build, line, true); },
        stop_when);
  }

  // The outcome of a step that did not exit on its own, or of one that failed; nullopt when
  // it succeeded.
  std::optional<Error> step_failure(const Build& build, const std::vector<std::string>& packages,
                                    const std::string& step, const environments::ProgramEnd& end) {
    using Reason = environments::ProgramEnd::Reason;
    if (end.reason == Reason::timed_out) {
      return Error{ErrorCode::timeout,
                   fmt::format("could not install the pip packages {}: the build did not finish "
                               "within trainctld's time limit of {}, so {} was stopped; raise the "
                               "limit with `trainctld --pip-timeout SECONDS`; see the Preparing log",
                               fmt::join(packages, ", "), describe_limit(options.build_timeout),
                               step)};
    }
    if (end.reason == Reason::abandoned) {
      return Error{ErrorCode::interrupted,
                   fmt::format("the build was stopped: no run waits for it any more ({} killed)",
                               step)};
    }
    if (end.status != 0) return build_failed(build, packages, step, end.status);
    return std::nullopt;
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

  // The two steps (venv, then pip) and the marker; the environment's interpreter. Both steps
  // together have options.build_timeout.
  Result<fs::path> install(Build& build, const fs::path& interpreter,
                           const std::vector<std::string>& packages, const fs::path& dir) {
    const auto deadline = std::chrono::steady_clock::now() + options.build_timeout;
    auto venv = run_step(build,
                         {interpreter.string(), "-m", "venv", "--system-site-packages",
                          "--without-pip", dir.string()},
                         deadline);
    if (!venv) return fail(venv.error());
    if (auto failed = step_failure(build, packages, "venv", *venv)) return fail(*failed);
    const fs::path python = dir / "bin" / "python";
    auto pip = run_step(build, pip_install_argv(python, options.index, packages), deadline);
    if (!pip) return fail(pip.error());
    if (auto failed = step_failure(build, packages, "pip", *pip)) return fail(*failed);
    if (auto marked = util::write_file_atomic(dir / k_complete_marker, "", 0644); !marked) {
      return fail(marked.error());
    }
    return python;
  }

  // Starts the build of `key` on a thread of its own; the caller then waits for it (wait_for).
  std::shared_ptr<Build> start_build(const Identity& identity,
                                     const std::vector<std::string>& packages) {
    auto key_log_fd = open_log(key_log(identity.key), O_TRUNC);
    auto build = std::make_shared<Build>();
    if (key_log_fd) build->key_log = std::move(*key_log_fd);
    building.emplace(identity.key, build);
    ++builds_started;
    const uint64_t id = next_id++;
    threads.emplace(id, std::thread([this, build, identity, packages, id] {
                      run_build(build, identity, packages, id);
                    }));
    return build;
  }

  // The body of a build thread: builds, records the outcome and wakes the waiters.
  void run_build(const std::shared_ptr<Build>& build, const Identity& identity,
                 const std::vector<std::string>& packages, uint64_t thread_id) {
    auto built = build_environment(*build, identity.interpreter, packages, identity.key);
    std::lock_guard lock(mutex);
    build->outcome = std::move(built);
    build->key_log.reset();
    build->waiters.clear();
    building.erase(identity.key);
    ended_threads.push_back(thread_id);
    finished.notify_all();
  }

  // Joins the threads of builds that ended. Called with `mutex` held.
  void join_ended_threads() {
    for (const uint64_t id : std::exchange(ended_threads, {})) {
      if (auto thread = threads.find(id); thread != threads.end()) {
        thread->second.join();  // it only has to return: its build is recorded
        threads.erase(thread);
      }
    }
  }

  // Waits, as a waiter of `build`, for its outcome; `log` gets what the build wrote so far
  // (when `catch_up`), then the rest. interrupted when `stop` is requested first: `log` gets
  // no more, and a build nobody waits for any more is abandoned.
  Result<fs::path> wait_for(std::unique_lock<std::mutex>& lock, const std::shared_ptr<Build>& build,
                            const std::string& key, UniqueFd log, bool catch_up,
                            const std::stop_token& stop) {
    if (catch_up) {
      if (auto so_far = util::read_file(key_log(key))) write_all(log.get(), *so_far);
    }
    const uint64_t waiter = next_id++;
    build->waiters.emplace(waiter, std::move(log));
    finished.wait(lock, stop, [&build] { return build->outcome.has_value(); });
    if (build->outcome) return *build->outcome;

    UniqueFd own_log = std::move(build->waiters.at(waiter));
    build->waiters.erase(waiter);
    if (build->waiters.empty()) {
      build->abandoned = true;
      write_all(build->key_log.get(), "no run waits for this build any more: stopping it\n");
      write_all(own_log.get(),
                "stopped waiting for the environment build; no other run waits for it, so it "
                "is stopped and nothing of it is kept\n");
    } else {
      write_all(own_log.get(),
                fmt::format("stopped waiting for the environment build; it goes on for the {} "
                            "other run(s) waiting for it\n",
                            build->waiters.size()));
    }
    return fail(ErrorCode::interrupted, "stopped waiting for the environment {}", key);
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

EnvironmentCache::~EnvironmentCache() {
  std::map<uint64_t, std::thread> threads;
  {
    std::lock_guard lock(m_state->mutex);
    for (auto& [key, build] : m_state->building) build->abandoned = true;
    threads.swap(m_state->threads);
  }
  m_state->finished.notify_all();
  for (auto& [id, thread] : threads) thread.join();
}

Result<std::string> EnvironmentCache::key(const EnvironmentRequest& request) {
  auto identity = m_state->identify(request);
  if (!identity) return fail(identity.error());
  return identity->key;
}

Result<fs::path> EnvironmentCache::acquire(const EnvironmentRequest& request,
                                           const fs::path& log_file, std::stop_token stop) {
  if (request.pip_packages.empty()) return fs::path(request.interpreter);
  const auto stopped = [&] {
    return fail(ErrorCode::interrupted, "stopped before the environment was ready");
  };
  if (stop.stop_requested()) return stopped();
  auto identity = m_state->identify(request);
  if (!identity) return fail(identity.error());
  const std::string& key = identity->key;
  auto log = open_log(log_file, 0);
  if (!log) return fail(log.error());
  State& state = *m_state;

  std::unique_lock lock(state.mutex);
  state.join_ended_threads();
  while (true) {
    if (is_complete(state.env_dir(key))) {
      write_all(log->get(), fmt::format("using the environment {} (already built)\n", key));
      return state.env_dir(key) / "bin" / "python";
    }
    const auto running = state.building.find(key);
    if (running == state.building.end()) break;
    const auto build = running->second;  // kept alive while this call waits
    if (!build->abandoned) {
      return state.wait_for(lock, build, key, std::move(*log), /*catch_up=*/true, stop);
    }
    // Being stopped for want of waiters: a fresh build starts once it is gone.
    if (!state.finished.wait(lock, stop, [&] { return !state.building.contains(key); })) {
      return stopped();
    }
  }
  auto build = state.start_build(*identity, sorted_packages(request.pip_packages));
  return state.wait_for(lock, build, key, std::move(*log), /*catch_up=*/false, stop);
}

int64_t EnvironmentCache::builds_started() const {
  return m_state->builds_started.load();
}

}  // namespace trainctl::service
