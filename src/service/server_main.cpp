// trainctld: options, the start sequence (lock, token, store, bind, server.json, recovery), and a
// clean stop on SIGTERM/SIGINT. Runs keep going under their supervisors across restarts.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <regex>
#include <thread>

#include <CLI/CLI.hpp>
#include <sstream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "trainctl/cli/man_page.hpp"
#include "trainctl/config/config.hpp"
#include "trainctl/service/blob_store.hpp"
#include "trainctl/service/server_config.hpp"
#include "trainctl/service/compute_manager.hpp"
#include "trainctl/service/deployments.hpp"
#include "trainctl/service/engine.hpp"
#include "trainctl/service/engines/slurm_engine.hpp"
#include "trainctl/service/environments.hpp"
#include "trainctl/service/http_api.hpp"
#include "trainctl/service/metrics/metrics_ingester.hpp"
#include "trainctl/service/runs/run_files.hpp"
#include "trainctl/service/runs/run_manager.hpp"
#include "trainctl/service/server.hpp"
#include "trainctl/service/store.hpp"
#include "trainctl/service/sweeps/sweep_manager.hpp"
#include "trainctl/service/task_queue.hpp"
#include "trainctl/service/http_server.hpp"
#include "trainctl/service/url_fetcher.hpp"
#include "trainctl/spec/job_spec.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/random.hpp"
#include "trainctl/util/time.hpp"
#include "trainctl/util/version.hpp"

namespace trainctl::service {

namespace fs = std::filesystem;

namespace {

constexpr int k_exit_already_running = exit_code::k_conflict;

struct ServerOptions {
  fs::path home;
  fs::path config_file;   // the config file read ("" none)
  bool write_config = false;  // --write-config: save the options into the config file and exit
  nlohmann::json effective;   // every option's value, for server.json
  std::string bind = "127.0.0.1";
  int port = 0;
  std::vector<std::string> allowed_hosts;
  std::string advertise_url;  // how Slurm nodes reach this service; "" : no Slurm runs
  bool no_auth = false;
  std::string python;
  std::string log_level = "info";
  int64_t grace_seconds = 10;
  int local_max_nodes = 8;
  bool local_max_nodes_given = false;  // --local-max-nodes was on the command line
  std::optional<int> host_gpus;
  UrlPolicy url_policy;
  PipIndexConfig pip_index;
  int64_t pip_timeout_seconds = k_default_build_timeout.count();
};

constexpr std::string_view k_config_file = "trainctld.yaml";

// The value of `--name VALUE` or `--name=VALUE` in argv, before the full parse (the default
// config file lives in the home); "" when not given.
std::string prescan(int argc, char** argv, std::string_view name) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == name && i + 1 < argc) return argv[i + 1];
    if (arg.starts_with(name) && arg.size() > name.size() && arg[name.size()] == '=') {
      return std::string(arg.substr(name.size() + 1));
    }
  }
  return {};
}

std::string default_python() { return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3"; }

const CLI::Option* local_max_nodes(const CLI::App& app) {
  return app.get_option_no_throw("--local-max-nodes");
}

// --write-config: the options of the config file read and of the command line (which win) into
// <home>/trainctld.yaml, without --home (that file is found through its home) and --config.
int save_config(const CLI::App& app, const fs::path& file) {
  std::string text = fmt::format("# trainctld options (trainctld --help); written by trainctld --write-config\n");
  std::string body = app.config_to_str();
  // --home is configurable (a file given with --config may choose the home) but not saved: the
  // file is found through the home.
  std::string kept;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("home:")) kept += line + "\n";
  }
  if (kept == "{}\n") kept.clear();
  if (auto made = util::make_directories(file.parent_path(), 0700); !made) {
    spdlog::error("{}", made.error().message);
    return exit_code::k_error;
  }
  if (auto written = util::write_file_atomic(file, text + kept, 0600); !written) {
    spdlog::error("{}", written.error().message);
    return exit_code::k_error;
  }
  spdlog::info("saved the options in {}", file.string());
  return exit_code::k_success;
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address.starts_with("127.");
}

constexpr std::string_view k_description = R"(The trainctl REST service.

Every option can also be set in a YAML config file, <home>/trainctld.yaml or the file
--config names, as "option: value" (the long name without its dashes; a list for the
repeatable ones). An option on the command line wins over the file.)";

constexpr std::string_view k_footer = R"(Example <home>/trainctld.yaml:
  bind: 127.0.0.1
  port: 8080
  allow-url-network: [127.0.0.0/8]
  pip-find-links: [/srv/wheels]
  host-gpus: 2

`trainctl server start --port 8080 ...` saves its options there (trainctld --write-config),
so the local service the CLI starts next runs with them.)";

// The options of trainctld, bound to `options`; `config_file`: the default config file.
void add_options(CLI::App& app, ServerOptions& options, const fs::path& config_file) {
  app.add_option("--home", options.home,
                 "State directory (default: as trainctl resolves it: $TRAINCTL_HOME, the CLI's "
                 "config files' home, else $XDG_DATA_HOME/trainctl)");
  app.add_option("--bind", options.bind, "Address to listen on")->capture_default_str();
  app.add_option("--port", options.port,
                 "Port to listen on; 0: the port this home was served on last when it is free "
                 "(a restarted service keeps its address), else a free one")
      ->capture_default_str();
  app.add_option("--allowed-host", options.allowed_hosts, "Another host name accepted in the Host header");
  app.add_option("--advertise-url", options.advertise_url,
                 "The address compute nodes reach this service at, e.g. http://10.0.0.5:8080 "
                 "(without a port: the port it listens on); needed by runs on Slurm targets");
  app.add_flag("--no-auth", options.no_auth, "Serve without a token (loopback binds only)");
  app.add_option("--python", options.python, "Interpreter for .py entry scripts")->capture_default_str();
  app.add_option("--log-level", options.log_level, "trace|debug|info|warn|error")->capture_default_str();
  app.add_option("--local-max-nodes", options.local_max_nodes,
                 "Virtual nodes of the 'local' compute target each new workspace gets; when "
                 "given, also of the default workspace's at start")
      ->check(CLI::Range(1, k_max_compute_nodes))
      ->capture_default_str();
  app.add_option("--host-gpus", options.host_gpus,
                 "GPUs this host offers to compute targets (default: the NVIDIA devices in /dev)")
      ->check(CLI::Range(0, k_max_compute_nodes * k_max_gpus_per_node));
  app.add_option("--allow-url-network", options.url_policy.allowed_networks,
                 "A network (CIDR) dataset URLs may reach although refused by default, e.g. "
                 "127.0.0.0/8 (repeatable)");
  app.add_option("--max-url-bytes", options.url_policy.max_file_bytes,
                 "The largest file a dataset URL may download")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--pip-index-url", options.pip_index.index_url,
                 "The package index pip installs a run's pip_packages from (default: pip's own)");
  app.add_option("--pip-find-links", options.pip_index.find_links,
                 "A directory (or URL) of wheels pip also looks in (repeatable)");
  app.add_flag("--pip-no-index", options.pip_index.no_index,
               "pip uses no package index, only the --pip-find-links locations");
  app.add_option("--pip-timeout", options.pip_timeout_seconds,
                 "Seconds one environment build (venv and pip install) may take before pip is "
                 "killed and the run fails")
      ->check(CLI::Range(int64_t{1}, int64_t{7 * 24 * 3600}))
      ->capture_default_str();
  app.add_option("--grace-seconds", options.grace_seconds, "SIGTERM to SIGKILL delay on cancel")
      ->group("")  // hidden: tests shorten it
      ->capture_default_str();
  app.set_config("--config", config_file.string(),
                 "YAML config file of these options (default <home>/trainctld.yaml; need not exist)");
  app.add_flag("--write-config", options.write_config,
               "Save the options given, with those of the config file read, into "
               "<home>/trainctld.yaml, and exit")
      ->configurable(false);
  app.set_version_flag("--version", std::string(k_version));
  app.config_formatter(std::make_shared<YamlConfig>(configurable_names(app)));
}

// Parses argv; nullopt with `exit_code` set when the process should exit (help, bad usage, man
// page, --write-config).
std::optional<ServerOptions> parse_options(int argc, char** argv, int& exit_code) {
  ServerOptions options;
  options.python = default_python();
  if (auto home = prescan(argc, argv, "--home"); !home.empty()) {
    options.home = home;
  } else {
    auto resolved = config::resolve_home(config::process_sources());
    if (!resolved) {
      spdlog::error("{}", resolved.error().message);
      exit_code = exit_code::k_usage;
      return std::nullopt;
    }
    options.home = *resolved;
  }
  CLI::App app{std::string(k_description), "trainctld"};
  app.footer(std::string(k_footer));
  add_options(app, options, options.home / k_config_file);
  bool man = false;
  app.add_flag("--man-page", man, "Print this help as a man page")->group("")->configurable(false);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // CLI11's own codes (105 for a failed check, ...) become the documented usage exit code.
    exit_code = app.exit(error) == 0 ? exit_code::k_success : exit_code::k_usage;
    return std::nullopt;
  }
  if (man) {
    std::fputs(cli::man_page(app, fmt::format("trainctl {}", k_version)).c_str(), stdout);
    exit_code = exit_code::k_success;
    return std::nullopt;
  }
  const auto* config = app.get_config_ptr();
  if (config != nullptr && config->count() > 0) options.config_file = config->as<std::string>();
  if (options.config_file.empty()) options.config_file = options.home / k_config_file;
  options.local_max_nodes_given = local_max_nodes(app)->count() > 0;
  if (options.no_auth && !is_loopback(options.bind)) {
    spdlog::error("refusing to serve {} without auth: --no-auth is allowed on a loopback address only",
                  options.bind);
    exit_code = exit_code::k_usage;
    return std::nullopt;
  }
  if (auto valid = validate_url_policy(options.url_policy); !valid) {
    spdlog::error("{}", valid.error().message);
    exit_code = exit_code::k_usage;
    return std::nullopt;
  }
  if (options.write_config) {
    exit_code = save_config(app, options.home / k_config_file);
    return std::nullopt;
  }
  options.effective = effective_options(app);
  return options;
}

// An exclusive lock on <home>/trainctld.lock, held for the life of the process. It is a POSIX
// record lock, owned by this process alone: a child forked to start a supervisor does not share
// it (an flock would be shared until the child's exec, so a kill -9 at that instant would leave
// the home locked). conflict when another instance holds it.
Result<UniqueFd> take_lock(const fs::path& home) {
  const fs::path path = home / "trainctld.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (fd.get() < 0) return fail(ErrorCode::io, "cannot open {}", path.string());
  struct flock whole_file {};
  whole_file.l_type = F_WRLCK;
  whole_file.l_whence = SEEK_SET;
  if (::fcntl(fd.get(), F_SETLK, &whole_file) != 0) {
    return fail(ErrorCode::conflict, "another trainctld is already running with home {}", home.string());
  }
  return fd;
}

// The pid <home>/server.json names; nullopt when there is none or it is unreadable.
std::optional<pid_t> server_file_pid(const fs::path& home) {
  auto text = util::read_file(home / "server.json", 64 * 1024);
  if (!text) return std::nullopt;
  const auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("pid") || !json["pid"].is_number_integer()) return std::nullopt;
  return json["pid"].get<pid_t>();
}

// Another live trainctld that <home>/server.json names (a lock file deleted by hand lets a second
// instance take a new lock: the server file still tells). nullopt when none.
std::optional<pid_t> running_instance(const fs::path& home) {
  const auto pid = server_file_pid(home);
  if (!pid || *pid == ::getpid() || *pid <= 0) return std::nullopt;
  std::error_code error;
  const auto exe = fs::read_symlink(fmt::format("/proc/{}/exe", *pid), error);
  const auto self = fs::read_symlink("/proc/self/exe", error);
  if (exe.empty() || exe.filename() != self.filename()) return std::nullopt;
  return pid;
}

// The token in <home>/token, made at first start; mode 0600 (owner only), also when an earlier
// start or a user left it readable by others.
Result<std::string> ensure_token(const fs::path& home) {
  const fs::path path = home / "token";
  if (::chmod(path.c_str(), 0600) != 0 && errno != ENOENT) {
    return fail(ErrorCode::io, "cannot make {} mode 0600: {}", path.string(), std::strerror(errno));
  }
  if (auto existing = util::read_file(path, 4096)) {
    std::string token = *existing;
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    if (!token.empty()) return token;
  }
  std::string token = util::random_hex(32);
  if (auto written = util::write_file_atomic(path, token + "\n", 0600); !written) return fail(written.error());
  return token;
}

// --advertise-url with the listening port when it names none; empty when not given.
struct AdvertisedUrl {
  std::string url;
  std::string host;  // as the Host header of the nodes' requests names it
};

Result<AdvertisedUrl> advertised_url(const std::string& given, int port) {
  if (given.empty()) return AdvertisedUrl{};
  static const std::regex k_url(R"(http://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:([0-9]{1,5}))?/?)");
  std::smatch parts;
  if (!std::regex_match(given, parts, k_url)) {
    return fail(ErrorCode::usage, "--advertise-url must be http://HOST[:PORT], not '{}'", given);
  }
  const std::string host = parts[1];
  const std::string with_port = parts[3].matched ? std::string(parts[3]) : std::to_string(port);
  return AdvertisedUrl{fmt::format("http://{}:{}", host, with_port), host};
}

std::string endpoint_host(const std::string& bind) {
  if (bind == "0.0.0.0") return "127.0.0.1";
  if (bind == "::") return "[::1]";
  if (bind.find(':') != std::string::npos) return "[" + bind + "]";
  return bind;
}

// <home>/last_port: the port the home was served on last. Kept at stop, so that a service started
// again with --port 0 comes back at the same address, and followers (logs -f, run wait) reconnect.
constexpr std::string_view k_last_port_file = "last_port";

std::optional<int> read_last_port(const fs::path& home) {
  const auto text = util::read_file(home / k_last_port_file, 16);
  if (!text) return std::nullopt;
  int port = 0;
  const auto* begin = text->data();
  const auto* end = begin + text->size();
  const auto [parsed_end, error] = std::from_chars(begin, end, port);
  if (error != std::errc() || port <= 0 || port > 65535) return std::nullopt;
  (void)parsed_end;
  return port;
}

Result<void> write_server_file(const ServerOptions& options, int port) {
  const fs::path& home = options.home;
  std::error_code ignored;
  const bool config_read = fs::is_regular_file(options.config_file, ignored);
  const nlohmann::json info{{"endpoint", fmt::format("http://{}:{}", endpoint_host(options.bind), port)},
                            {"pid", ::getpid()},
                            {"version", k_version},
                            {"started_at", util::format_rfc3339(util::now_unix_ms())},
                            {"config_file", config_read ? options.config_file.string() : ""},
                            {"config", options.effective}};
  return util::write_file_atomic(home / "server.json", info.dump() + "\n", 0644);
}

// SIGTERM/SIGINT write to a pipe that a thread waits on; the handlers are reset in any child
// at exec. SIGPIPE is caught (not ignored) for the same reason: writes to a closed socket fail
// with EPIPE, and run processes still get the default disposition.
int g_stop_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int) {
  const char byte = 1;
  [[maybe_unused]] const auto written = ::write(g_stop_pipe[1], &byte, 1);
}
extern "C" void on_sigpipe(int) {}

void install_signal_handlers() {
  if (::pipe2(g_stop_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  action.sa_handler = on_sigpipe;
  ::sigaction(SIGPIPE, &action, nullptr);
}

void wait_for_stop_signal() {
  char byte = 0;
  while (::read(g_stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
}

void reusable_cloexec_socket(socket_t sock) {
  int yes = 1;
  ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  ::fcntl(sock, F_SETFD, FD_CLOEXEC);
}

// The default workspace's "local" target exists; an explicit --local-max-nodes sizes it.
Result<void> ensure_default_local_compute(Store& store, const ServerOptions& options) {
  const std::string workspace = "default";
  const std::string name(k_local_compute);
  if (auto ensured = store.ensure_local_compute(workspace, options.local_max_nodes); !ensured) {
    return ensured;
  }
  if (!options.local_max_nodes_given) return {};
  auto local = store.get_compute(workspace, name);
  if (!local) return fail(local.error());
  if (local->max_nodes == options.local_max_nodes) return {};
  local->max_nodes = options.local_max_nodes;
  if (auto stored = store.put_compute(*local, true); !stored) return fail(stored.error());
  return {};
}

Result<void> make_home(const fs::path& home) {
  for (const auto& dir : {home, home / "blobs", home / "tmp", home / "runs"}) {
    if (auto made = util::make_directories(dir, 0700); !made) return made;
  }
  return {};
}

// The database of `home` is there unless it was lost: refused when trainctl.db is missing or
// empty while <home>/runs holds run directories, since starting would make an empty service that
// knows none of those runs. A new home (no run directory yet) passes.
Result<void> require_database_of_runs(const fs::path& home) {
  const auto db = home / "trainctl.db";
  std::error_code ec;
  const bool missing = !fs::exists(db, ec);
  if (!missing && fs::file_size(db, ec) > 0) return {};
  size_t run_dirs = 0;
  for (fs::directory_iterator entry(home / "runs", ec), end; !ec && entry != end; entry.increment(ec)) {
    if (entry->is_directory(ec)) ++run_dirs;
  }
  if (run_dirs == 0) return {};
  return fail(ErrorCode::conflict,
              "{} is {} but {} holds {} run directories: the database was lost or truncated, and "
              "starting would show none of those runs. Restore trainctl.db (with trainctl.db-wal, "
              "if there is one) from a backup; or, to start with an empty database, first move "
              "the runs aside: mv {} {}.orphaned",
              db.string(), missing ? "missing" : "empty", (home / "runs").string(), run_dirs,
              (home / "runs").string(), (home / "runs").string());
}

// What to do about a database SQLite cannot read.
std::string database_advice(const fs::path& home, const std::string& message) {
  if (message.find("not a database") == std::string::npos &&
      message.find("malformed") == std::string::npos && message.find("corrupt") == std::string::npos) {
    return message;
  }
  return fmt::format("{}: {} is corrupt. Stop here: restore it from a backup (with its -wal file), "
                     "or try `sqlite3 {} .recover`; the run directories under {} are kept",
                     message, (home / "trainctl.db").string(), (home / "trainctl.db").string(),
                     (home / "runs").string());
}

int serve(const ServerOptions& options) {
  const fs::path& home = options.home;
  if (auto made = make_home(home); !made) {
    spdlog::error("{}", made.error().message);
    return exit_code::k_error;
  }
  auto lock = take_lock(home);
  if (lock) {
    if (auto other = running_instance(home)) {
      lock = fail(ErrorCode::conflict,
                  "another trainctld (pid {}) serves home {} (its trainctld.lock was removed); "
                  "stop it first",
                  *other, home.string());
    }
  }
  if (!lock) {
    spdlog::error("{}", lock.error().message);
    return lock.error().code == ErrorCode::conflict ? k_exit_already_running : exit_code::k_error;
  }
  auto token = ensure_token(home);
  StoreOptions store_options;
  store_options.local_max_nodes = options.local_max_nodes;
  if (auto kept = require_database_of_runs(home); !kept) {
    spdlog::error("{}", kept.error().message);
    return exit_code::k_error;
  }
  auto store = Store::open(home / "trainctl.db", store_options);
  if (!token || !store) {
    spdlog::error("{}", !token ? token.error().message : database_advice(home, store.error().message));
    return exit_code::k_error;
  }
  if (auto ensured = (*store)->ensure_workspace("default"); !ensured) {
    spdlog::error("{}", ensured.error().message);
    return exit_code::k_error;
  }
  if (auto ensured = ensure_default_local_compute(**store, options); !ensured) {
    spdlog::error("{}", ensured.error().message);
    return exit_code::k_error;
  }
  BlobStore blobs(home / "blobs", home / "tmp");
  if (auto cleaned = blobs.remove_stale_temp_files(); !cleaned) {
    spdlog::warn("{}", cleaned.error().message);
  }
  // ---- compute targets (ComputeManager) and environments (EnvironmentCache) ----
  auto host_probe = make_host_probe({.python_timeout = std::chrono::seconds(10),
                                     .gpus = options.host_gpus,
                                     .env = allowlisted_environment()});
  auto slurm_client = slurm::make_slurm_cli({.env = allowlisted_environment()});
  EnvironmentCache environments({home / "environments", options.pip_index, allowlisted_environment(),
                                 std::chrono::seconds(options.pip_timeout_seconds)});
  // ---- deployments (DeploymentManager) ----
  DeploymentManagerOptions deployment_options;
  deployment_options.services_dir = home / "services";
  deployment_options.interpreter = options.python;
  deployment_options.base_env = allowlisted_environment();
  DeploymentManager deployments(**store, blobs, std::move(deployment_options));

  // trainctld itself supervises each run (`supervise`) and wraps each MPI rank (`rank`).
  const fs::path self = fs::read_symlink("/proc/self/exe");
  auto engine = make_local_engine({self});
  RunManagerOptions run_options;
  run_options.runs_dir = home / "runs";
  run_options.interpreter = options.python;
  run_options.base_env = allowlisted_environment();
  run_options.grace_seconds = options.grace_seconds;
  run_options.rank_wrapper = self;
  run_options.environments = &environments;
  run_options.pip_index = options.pip_index;
  MetricsIngester metrics(**store, {.runs_dir = home / "runs"});
  run_options.metrics = &metrics;
  Engines engines;  // the Slurm engine joins once the port is known (below)
  engines.add(std::string(k_local_type), *engine);
  RunManager runs(**store, blobs, engines, std::move(run_options));
  ComputeManager computes(**store, runs, *host_probe, *slurm_client, options.python);
  SweepManager sweeps(**store, runs);

  HttpServer server;
  int listening_socket = -1;
  server.set_socket_options([&listening_socket](socket_t sock) {
    reusable_cloexec_socket(sock);
    listening_socket = sock;
  });
  server.set_keep_alive_max_count(100000);
  // Replies are written as headers then body; with Nagle's algorithm the body waits for the
  // client's delayed ACK (40 ms), which made every request with a body cost ~40 ms.
  server.set_tcp_nodelay(true);
  ApiConfig config;
  config.token = *token;
  config.require_auth = !options.no_auth;
  config.allowed_hosts = options.allowed_hosts;
  if (options.bind != "127.0.0.1" && options.bind != "localhost") config.allowed_hosts.push_back(options.bind);
  server.set_payload_max_length(config.max_blob_bytes);

  if (options.port != 0) {
    config.port = server.bind_to_port(options.bind, options.port) ? options.port : -1;
  } else if (const auto last = read_last_port(home); last && server.bind_to_port(options.bind, *last)) {
    config.port = *last;
  } else {
    config.port = server.bind_to_any_port(options.bind);
  }
  if (config.port <= 0) {
    spdlog::error("cannot listen on {}:{}", options.bind, options.port);
    return exit_code::k_error;
  }
  // cpp-httplib listens with a backlog of 5; a burst of clients (followers reconnecting) needs more.
  ::listen(listening_socket, SOMAXCONN);
  auto advertised = advertised_url(options.advertise_url, config.port);
  if (!advertised) {
    spdlog::error("{}", advertised.error().message);
    return exit_code::k_usage;
  }
  if (!advertised->host.empty()) config.allowed_hosts.push_back(advertised->host);
  auto slurm_engine = make_slurm_engine({.advertise_url = advertised->url, .agent_program = self});
  engines.add("slurm", *slurm_engine);
  ServiceContext context{config, **store, blobs, runs, options.url_policy};
  context.deployments = &deployments;
  context.computes = &computes;
  context.metrics = &metrics;
  context.sweeps = &sweeps;
  install_api(server, context);
  install_signal_handlers();
  if (auto written = write_server_file(options, config.port); !written) {
    spdlog::error("{}", written.error().message);
    return exit_code::k_error;
  }
  metrics.start();
  if (auto kept = util::write_file_atomic(home / k_last_port_file, fmt::format("{}\n", config.port), 0644);
      !kept) {
    spdlog::warn("{}", kept.error().message);
  }
  runs.start();
  if (auto started = deployments.start(); !started) {
    spdlog::error("deployments: {}", started.error().message);
    return exit_code::k_error;
  }
  computes.start();
  sweeps.start();
  std::thread stopper([&] {
    wait_for_stop_signal();
    spdlog::info("stopping");
    sweeps.stop();
    computes.stop();
    runs.stop();
    metrics.stop();
    server.stop();
    deployments.stop();
  });
  spdlog::info("trainctld {} listening on {}:{} (home {})", k_version, options.bind, config.port,
               home.string());
  server.listen_after_bind();
  server.close_connections();
  on_stop_signal(0);  // lets the stopper finish if listening ended on its own
  stopper.join();
  std::error_code ec;
  if (server_file_pid(home) == ::getpid()) fs::remove(home / "server.json", ec);  // never another's
  return exit_code::k_success;
}

}  // namespace

int run_server_main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("trainctld"));
  int exit_code = exit_code::k_success;
  const auto options = parse_options(argc, argv, exit_code);
  if (!options) return exit_code;
  spdlog::set_level(spdlog::level::from_str(options->log_level));
  try {
    return serve(*options);
  } catch (const std::exception& error) {
    spdlog::error("trainctld: {}", error.what());
    return exit_code::k_error;
  }
}

}  // namespace trainctl::service
