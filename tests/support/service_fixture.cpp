#include "support/service_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/core.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace trainctl::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto k_start_timeout = std::chrono::seconds(15);
constexpr auto k_stop_timeout = std::chrono::seconds(10);

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Waits for `pid` for at most `timeout`; returns its wait status, or nullopt if it still runs.
std::optional<int> wait_for(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0 && errno != EINTR) return 0;  // not our child any more
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int exit_code_of_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Owns a NUL-terminated argv/envp built before fork(), so the child only calls exec.
struct CStrings {
  std::vector<std::string> storage;
  std::vector<char*> pointers;
  explicit CStrings(std::vector<std::string> strings) : storage(std::move(strings)) {
    for (auto& s : storage) pointers.push_back(s.data());
    pointers.push_back(nullptr);
  }
};

std::vector<std::string> merged_environment(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const auto eq = text.find('=');
    if (eq != std::string::npos) env[text.substr(0, eq)] = text.substr(eq + 1);
  }
  for (const auto& [name, value] : overrides) env[name] = value;
  std::vector<std::string> out;
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

// The test process writes to sockets the service may close (413, dropped followers): a failed
// write must be an error, not SIGPIPE. Children get the default disposition back before exec.
void ignore_sigpipe() {
  static const bool ignored = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)ignored;
}

void make_tree_writable(const fs::path& root) {
  std::error_code ec;
  ::chmod(root.c_str(), 0700);
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
  }
}

}  // namespace

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = fmt::format("{}/trainctl-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(fmt::format("mkdtemp failed: {}", std::strerror(errno)));
  }
  m_path = pattern;
}

TempDir::~TempDir() {
  make_tree_writable(m_path);
  std::error_code ec;
  fs::remove_all(m_path, ec);
}

ServiceFixture::ServiceFixture(std::vector<std::string> extra_args)
    : m_extra_args(std::move(extra_args)) {
  start();
}

ServiceFixture::~ServiceFixture() {
  stop();
  kill_processes_of_home(home());  // runs a test left going outlive the service by design
}

std::string ServiceFixture::endpoint() const { return fmt::format("http://127.0.0.1:{}", m_port); }

void ServiceFixture::start(bool same_port) {
  const fs::path server_json = home() / "server.json";
  std::error_code ec;
  fs::remove(server_json, ec);

  const std::string port = same_port && m_port > 0 ? std::to_string(m_port) : "0";
  std::vector<std::string> args{TRAINCTLD_BINARY, "--home", home().string(), "--port", port};
  args.insert(args.end(), m_extra_args.begin(), m_extra_args.end());
  CStrings argv(args);
  const std::string log_path = (home() / "trainctld.log").string();

  m_pid = ::fork();
  if (m_pid < 0) throw std::runtime_error("fork failed");
  if (m_pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
    }
    ::execv(argv.pointers[0], argv.pointers.data());
    ::_exit(127);
  }

  const auto deadline = Clock::now() + k_start_timeout;
  while (Clock::now() < deadline) {
    if (auto status = wait_for(m_pid, std::chrono::milliseconds(20))) {
      m_pid = -1;
      throw std::runtime_error(fmt::format("trainctld exited with {} at start:\n{}",
                                           exit_code_of_status(*status), slurp(log_path)));
    }
    const auto parsed = nlohmann::json::parse(slurp(server_json), nullptr, false);
    if (parsed.is_discarded() || parsed.value("pid", 0) != m_pid) continue;
    const std::string endpoint_url = parsed.value("endpoint", "");
    m_port = std::stoi(endpoint_url.substr(endpoint_url.rfind(':') + 1));
    httplib::Client client("127.0.0.1", m_port);
    client.set_connection_timeout(std::chrono::seconds(1));
    if (auto health = client.Get("/v1/health"); health && health->status == 200) {
      m_token = slurp(home() / "token");
      while (!m_token.empty() && std::isspace(static_cast<unsigned char>(m_token.back()))) {
        m_token.pop_back();
      }
      return;
    }
  }
  ::kill(m_pid, SIGKILL);
  wait_for(m_pid, k_stop_timeout);
  m_pid = -1;
  throw std::runtime_error(fmt::format("trainctld did not become healthy:\n{}", slurp(log_path)));
}

void ServiceFixture::kill9() {
  if (m_pid <= 0) return;
  ::kill(m_pid, SIGKILL);
  wait_for(m_pid, k_stop_timeout);
  m_pid = -1;
}

void ServiceFixture::stop() {
  if (m_pid <= 0) return;
  ::kill(m_pid, SIGTERM);
  if (!wait_for(m_pid, k_stop_timeout)) {
    ::kill(m_pid, SIGKILL);
    wait_for(m_pid, k_stop_timeout);
  }
  m_pid = -1;
}

int connect_and_send(int port, const std::string& text) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  if (!text.empty()) (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  return fd;
}

CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::pair<std::string, std::string>>& env,
                          const fs::path& cwd, const std::string& input, int timeout_seconds) {
  ignore_sigpipe();
  CStrings args(argv);
  CStrings envp(merged_environment(env));
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(in_pipe[0], STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
    ::execvpe(args.pointers[0], args.pointers.data(), envp.pointers.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  CommandResult result;
  size_t input_written = 0;
  int stdin_fd = in_pipe[1];
  if (input.empty()) {
    ::close(stdin_fd);
    stdin_fd = -1;
  } else {
    ::fcntl(stdin_fd, F_SETFL, O_NONBLOCK);
  }
  int open_outputs = 2;
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_seconds);
  bool timed_out = false;
  while (open_outputs > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[3] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}, {stdin_fd, POLLOUT, 0}};
    if (::poll(fds, stdin_fd >= 0 ? 3 : 2, static_cast<int>(left.count())) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buffer[65536];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        (i == 0 ? out_pipe[0] : err_pipe[0]) = -1;
        --open_outputs;
      }
    }
    if (stdin_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t n = ::write(stdin_fd, input.data() + input_written, input.size() - input_written);
      if (n > 0) input_written += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) input_written = input.size();
      if (input_written == input.size()) {
        ::close(stdin_fd);
        stdin_fd = -1;
      }
    }
  }
  for (int fd : {out_pipe[0], err_pipe[0], stdin_fd}) {
    if (fd >= 0) ::close(fd);
  }
  if (timed_out) {
    ::kill(pid, SIGKILL);
    wait_for(pid, k_stop_timeout);
    result.exit_code = -1;
    return result;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = exit_code_of_status(status);
  return result;
}

RawResponse http_request(const ServiceFixture& service, const std::string& method,
                         const std::string& target, const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         bool with_token, const std::string& content_type) {
  ignore_sigpipe();
  httplib::Client client("127.0.0.1", service.port());
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(120));
  client.set_write_timeout(std::chrono::seconds(60));
  httplib::Headers request_headers;
  for (const auto& [name, value] : headers) request_headers.emplace(name, value);
  if (with_token) request_headers.emplace("Authorization", "Bearer " + service.token());

  httplib::Request request;
  request.method = method;
  request.path = target;
  request.headers = std::move(request_headers);
  if (!body.empty() || method == "POST" || method == "PUT") {
    request.body = body;
    request.set_header("Content-Type", content_type);
  }
  const auto response = client.send(request);
  RawResponse out;
  if (!response) {
    out.body = httplib::to_string(response.error());
    return out;
  }
  out.status = response->status;
  out.body = response->body;
  for (const auto& [name, value] : response->headers) out.headers.emplace_back(name, value);
  return out;
}

bool process_is_alive(pid_t pid) {
  const std::string stat = slurp(fs::path("/proc") / std::to_string(pid) / "stat");
  const auto end_of_name = stat.rfind(')');
  if (end_of_name == std::string::npos || end_of_name + 2 >= stat.size()) return false;
  const char state = stat[end_of_name + 2];
  return state != 'Z' && state != 'X';
}

namespace {

// The live processes one of whose NUL-separated /proc/<pid>/`file` entries `matches`.
std::vector<pid_t> processes_with_entry(const char* file,
                                        const std::function<bool(const std::string&)>& matches) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& process : fs::directory_iterator("/proc", ec)) {
    const std::string name = process.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::istringstream entries(slurp(process.path() / file));
    for (std::string entry; std::getline(entries, entry, '\0');) {
      if (!matches(entry)) continue;
      const auto pid = static_cast<pid_t>(std::stol(name));
      if (process_is_alive(pid)) found.push_back(pid);
      break;
    }
  }
  return found;
}

}  // namespace

std::vector<pid_t> processes_with_environment(const std::string& entry) {
  return processes_with_entry("environ", [&](const std::string& variable) { return variable == entry; });
}

void kill_processes_of_home(const fs::path& home) {
  const std::string runs = (home / "runs").string() + "/";
  const auto mentions_runs = [&](const std::string& text) {
    return text.find(runs) != std::string::npos;
  };
  // Supervisors and rank wrappers name a run directory on their command line; tasks have it in
  // TRAINCTL_OUTPUTS_DIR. Again until none is left: a supervisor may start a task meanwhile.
  for (int round = 0; round < 10; ++round) {
    auto left = processes_with_entry("cmdline", mentions_runs);
    const auto tasks = processes_with_entry("environ", mentions_runs);
    left.insert(left.end(), tasks.begin(), tasks.end());
    if (left.empty()) return;
    for (const pid_t pid : left) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace trainctl::testing
