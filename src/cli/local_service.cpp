#include "trainctl/cli/local_service.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainctl/client/api_client.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/process.hpp"

namespace trainctl::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto k_poll_interval = std::chrono::milliseconds(20);
constexpr size_t k_log_tail_bytes = 2000;

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// Whether `pid` is alive and runs trainctld (guards against a recycled pid).
bool is_trainctld(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  auto cmdline = util::read_file(fs::path("/proc") / std::to_string(pid) / "cmdline", 4096);
  if (!cmdline) return true;  // no /proc: trust the record
  const auto argv0 = fs::path(cmdline->substr(0, cmdline->find('\0')));
  return argv0.filename().string().starts_with("trainctld");
}

std::string log_tail(const fs::path& log_file) {
  auto text = util::read_file(log_file);
  if (!text || text->empty()) return "(the log is empty)";
  const auto start = text->size() > k_log_tail_bytes ? text->size() - k_log_tail_bytes : 0;
  return trim(text->substr(start));
}

// Starts trainctld in a new session with its output appended to <home>/trainctld.log.
Result<pid_t> spawn_service(const fs::path& binary, const fs::path& home) {
  if (auto made = util::make_directories(home, 0700); !made) return fail(made.error());
  const auto log = util::open_fd(home / "trainctld.log", O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (!log) return fail(log.error());
  std::vector<std::string> environment;
  for (char** variable = environ; *variable != nullptr; ++variable) environment.emplace_back(*variable);
  // No --port: the home's trainctld.yaml may choose one; without it trainctld's default (0, the
  // home's last port when free) keeps a restarted service at its address.
  return util::start_process({
      .argv = {binary.string(), "--home", home.string()},
      .environment = std::move(environment),
      .stdout_fd = log->get(),
      .placement = util::Placement::own_session,  // its exit status tells why a start failed
  });
}

}  // namespace

Result<ServerRecord> read_server_record(const fs::path& home) {
  const auto file = home / "server.json";
  auto text = util::read_file(file, 64u << 10);
  if (!text) return fail(text.error());
  try {
    const auto json = nlohmann::json::parse(*text);
    return ServerRecord{.endpoint = json.at("endpoint").get<std::string>(),
                        .pid = json.at("pid").get<pid_t>(),
                        .version = json.value("version", ""),
                        .started_at = json.value("started_at", ""),
                        .config_file = json.value("config_file", ""),
                        .config = json.value("config", nlohmann::json::object())};
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::io, "malformed {}: {}", file.string(), e.what());
  }
}

bool answers_health(const std::string& endpoint) {
  client::ClientOptions options{
      .endpoint = endpoint, .token = {}, .connect_timeout_ms = 1000, .timeout_seconds = 2};
  client::ApiClient client(client::make_local_service_transport(options), {});
  return client.health().has_value();
}

Result<ServerRecord> running_service(const fs::path& home) {
  auto record = read_server_record(home);
  if (record && is_trainctld(record->pid)) return record;
  return fail(ErrorCode::unavailable, "trainctld is not running (home {})", home.string());
}

Result<std::string> read_token(const fs::path& home) {
  auto text = util::read_file(home / "token", 4096);
  if (!text) {
    if (text.error().code == ErrorCode::not_found) return std::string();
    return fail(text.error());
  }
  return trim(std::move(*text));
}

Result<fs::path> find_server_binary(const config::Config& config) {
  if (!config.server_binary.empty()) {
    if (util::is_executable_file(config.server_binary)) return config.server_binary;
    return fail(ErrorCode::not_found, "server_binary {} is not an executable file",
                config.server_binary.string());
  }
  std::error_code ignored;
  const auto self = fs::read_symlink("/proc/self/exe", ignored);
  if (!self.empty() && util::is_executable_file(self.parent_path() / "trainctld")) {
    return self.parent_path() / "trainctld";
  }
  const char* path = std::getenv("PATH");
  if (auto found = util::find_in_path("trainctld", path != nullptr ? path : ""); !found.empty()) {
    return found;
  }
  return fail(ErrorCode::not_found,
              "cannot find trainctld next to trainctl or on PATH; set server_binary in the config");
}

Result<void> save_service_options(const config::Config& config, const std::vector<std::string>& args) {
  auto binary = find_server_binary(config);
  if (!binary) return fail(binary.error());
  std::vector<std::string> command{binary->string(), "--home", config.home.string(), "--write-config"};
  command.insert(command.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : command) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int output[2];
  if (::pipe2(output, O_CLOEXEC) != 0) return fail(ErrorCode::io, "cannot run {}: pipe failed", binary->string());
  const pid_t pid = ::fork();
  if (pid < 0) return fail(ErrorCode::io, "cannot run {}: fork failed", binary->string());
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ::dup2(null, STDIN_FILENO);
    ::dup2(output[1], STDOUT_FILENO);
    ::dup2(output[1], STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(output[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t got; (got = ::read(output[0], buffer, sizeof buffer)) != 0;) {
    if (got < 0) {
      if (errno == EINTR) continue;
      break;
    }
    text.append(buffer, static_cast<size_t>(got));
  }
  ::close(output[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  // trainctld's message, without its log prefix ("[2026-...] [trainctld] [error] ").
  std::string message = trim(text);
  if (const auto bracket = message.rfind("] "); message.starts_with("[") && bracket != std::string::npos) {
    message = message.substr(bracket + 2);
  }
  return fail(WIFEXITED(status) && WEXITSTATUS(status) == exit_code::k_usage ? ErrorCode::usage
                                                                            : ErrorCode::internal,
              "trainctld refused the options: {}", message.empty() ? "(no message)" : message);
}

Result<StartedService> ensure_service(const config::Config& config, int timeout_ms) {
  if (auto record = running_service(config.home)) return StartedService{*record, false};
  auto binary = find_server_binary(config);
  if (!binary) return fail(binary.error());
  auto child = spawn_service(*binary, config.home);
  if (!child) return fail(child.error());

  const auto log_file = config.home / "trainctld.log";
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  bool child_running = true;
  while (Clock::now() < deadline) {
    int status = 0;
    if (child_running && ::waitpid(*child, &status, WNOHANG) == *child) {
      child_running = false;
      // Exit 9 (conflict): another trainctld holds the home's lock and is starting; wait for it.
      if (!WIFEXITED(status) || WEXITSTATUS(status) != exit_code::k_conflict) {
        return fail(ErrorCode::unavailable, "trainctld exited at start; end of {}:\n{}",
                    log_file.string(), log_tail(log_file));
      }
    }
    // Another CLI's service may have won the home's lock: whoever answers is the service.
    if (auto record = running_service(config.home)) {
      return StartedService{*record, record->pid == *child};
    }
    std::this_thread::sleep_for(k_poll_interval);
  }
  if (child_running) ::kill(*child, SIGTERM);
  return fail(ErrorCode::unavailable, "trainctld did not answer within {} s; end of {}:\n{}",
              timeout_ms / 1000, log_file.string(), log_tail(log_file));
}

Result<std::optional<pid_t>> stop_service(const fs::path& home, int timeout_ms) {
  auto record = read_server_record(home);
  if (!record) {
    if (record.error().code == ErrorCode::not_found) return std::optional<pid_t>();
    return fail(record.error());
  }
  const pid_t pid = record->pid;
  if (!is_trainctld(pid)) return std::optional<pid_t>();
  if (::kill(pid, SIGTERM) != 0) {
    return fail(ErrorCode::io, "cannot stop trainctld (pid {}): permission denied", pid);
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (is_trainctld(pid)) {
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      break;
    }
    std::this_thread::sleep_for(k_poll_interval);
  }
  return std::optional<pid_t>(pid);
}

}  // namespace trainctl::cli
