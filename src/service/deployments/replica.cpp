#include "replica.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "trainctl/util/process.hpp"
#include "trainctl/service/process_tree.hpp"
#include "trainctl/util/random.hpp"

namespace trainctl::service::deployments {

namespace {

using Clock = std::chrono::steady_clock;
using util::UniqueFd;

constexpr uint32_t k_max_frame_bytes = 256u << 20;
constexpr auto k_stop_grace = std::chrono::seconds(3);
// Processes a replica left (daemons outside its group) are killed until none is left.
constexpr int k_kill_rounds = 50;
constexpr auto k_kill_round_pause = std::chrono::milliseconds(20);
constexpr auto k_first_backoff = std::chrono::milliseconds(250);
constexpr auto k_max_backoff = std::chrono::seconds(10);
constexpr auto k_poll_slice = std::chrono::milliseconds(100);

Result<void> write_frame(int fd, const std::string& body) {
  const uint32_t size = static_cast<uint32_t>(body.size());
  std::string frame{static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                    static_cast<char>(size >> 8), static_cast<char>(size)};
  frame += body;
  for (size_t sent = 0; sent < frame.size();) {
    const ssize_t n = ::send(fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ErrorCode::unavailable, "the replica closed its channel");
    sent += static_cast<size_t>(n);
  }
  return {};
}

// Reads exactly `size` bytes before `deadline`: timeout when it passes, unavailable at EOF.
Result<void> read_exactly(int fd, char* data, size_t size, Clock::time_point deadline) {
  for (size_t got = 0; got < size;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return fail(ErrorCode::timeout, "the replica did not answer in time");
    pollfd readable{fd, POLLIN, 0};
    const int polled = ::poll(&readable, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (polled < 0 && errno != EINTR) return fail(ErrorCode::unavailable, "poll failed");
    if (polled <= 0) continue;
    const ssize_t n = ::recv(fd, data + got, size - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ErrorCode::unavailable, "the replica process ended");
    got += static_cast<size_t>(n);
  }
  return {};
}

Result<nlohmann::json> read_frame(int fd, Clock::time_point deadline) {
  unsigned char header[4];
  if (auto got = read_exactly(fd, reinterpret_cast<char*>(header), 4, deadline); !got) {
    return fail(got.error());
  }
  const uint32_t size = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                        (uint32_t{header[2]} << 8) | uint32_t{header[3]};
  if (size > k_max_frame_bytes) return fail(ErrorCode::internal, "the replica sent a {} byte frame", size);
  std::string body(size, '\0');
  if (auto got = read_exactly(fd, body.data(), size, deadline); !got) return fail(got.error());
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& error) {
    return fail(ErrorCode::internal, "the replica sent a frame that is not JSON: {}", error.what());
  }
}

// "exited with code 3" / "was killed by signal 9"
std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
  return fmt::format("exited with code {}", WEXITSTATUS(status));
}

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::chrono::milliseconds backoff(int restarts) {
  auto delay = k_first_backoff * (1 << std::min(restarts - 1, 8));
  return std::min<std::chrono::milliseconds>(delay, k_max_backoff);
}

}  // namespace

Replica::Replica(int index, ReplicaLaunch launch, std::function<void()> on_change)
    : m_index(index),
      m_launch(std::move(launch)),
      m_marker(fmt::format("TRAINCTL_REPLICA={}", util::random_hex(12))),
      m_on_change(std::move(on_change)) {
  m_launch.env.push_back(m_marker);
}

Replica::~Replica() { stop(); }

void Replica::start() { m_thread = std::thread([this] { supervise(); }); }

void Replica::stop() {
  pid_t pid = 0;
  {
    std::unique_lock lock(m_mutex);
    m_stopping = true;
    m_wake.notify_all();
    m_wake.wait(lock, [&] { return !m_busy; });
    pid = m_pid;
  }
  if (pid > 0) {
    ::kill(-pid, SIGTERM);
    std::unique_lock lock(m_mutex);
    if (!m_wake.wait_for(lock, k_stop_grace, [&] { return m_pid != pid; })) ::kill(-pid, SIGKILL);
  }
  if (m_thread.joinable()) m_thread.join();
  kill_left_processes();
}

void Replica::kill_left_processes() const {
  for (int round = 0; round < k_kill_rounds; ++round) {
    const auto left = processes_with_environment_entry(m_marker);
    if (left.empty()) return;
    for (const pid_t pid : left) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(k_kill_round_pause);
  }
}

ReplicaStatus Replica::status() const {
  std::lock_guard lock(m_mutex);
  return {m_index, m_state, m_pid, m_restarts, m_message};
}

bool Replica::ready() const {
  std::lock_guard lock(m_mutex);
  return m_state == "ready" && !m_stopping;
}

bool Replica::failed() const {
  std::lock_guard lock(m_mutex);
  return m_state == "failed";
}

bool Replica::try_acquire() {
  std::lock_guard lock(m_mutex);
  if (m_state != "ready" || m_stopping || m_busy) return false;
  m_busy = true;
  return true;
}

void Replica::release() {
  {
    std::lock_guard lock(m_mutex);
    m_busy = false;
  }
  m_wake.notify_all();
  m_on_change();
}

Result<ScoreReply> Replica::call(const std::string& body) {
  const int channel = m_channel.get();  // stable while we hold m_busy
  const auto deadline = Clock::now() + m_launch.request_timeout;
  auto sent = write_frame(channel, nlohmann::json{{"data", body}}.dump());
  auto reply = sent ? read_frame(channel, deadline) : Result<nlohmann::json>(fail(sent.error()));
  if (!reply && reply.error().code == ErrorCode::timeout) {
    std::lock_guard lock(m_mutex);
    if (m_pid > 0) ::kill(-m_pid, SIGKILL);  // stuck in run(): the supervisor restarts it
  }
  release();
  if (!reply) {
    if (reply.error().code == ErrorCode::timeout) {
      return fail(ErrorCode::timeout, "run() did not return within {} ms; replica {} is restarted",
                  m_launch.request_timeout.count(), m_index);
    }
    return fail(ErrorCode::unavailable, "replica {} stopped while scoring: {}", m_index,
                reply.error().message);
  }
  if (reply->value("ok", false)) {
    return ScoreReply{true, reply->value("result", nlohmann::json()).dump(), "", false};
  }
  return ScoreReply{false, "", reply->value("message", "run() failed"),
                    reply->value("status", nlohmann::json()) == 400};
}

std::string Replica::restarted_message() const {
  std::lock_guard lock(m_mutex);
  if (m_restarts == 0) return "";
  return fmt::format("restarted {} time{}; last, the replica {}", m_restarts,
                     m_restarts == 1 ? "" : "s", m_last_exit);
}

void Replica::set_state(std::string state, std::string message) {
  {
    std::lock_guard lock(m_mutex);
    m_state = std::move(state);
    m_message = std::move(message);
  }
  m_on_change();
}

void Replica::supervise() {
  while (run_once()) {
    std::unique_lock lock(m_mutex);
    if (m_wake.wait_for(lock, backoff(m_restarts), [&] { return m_stopping; })) return;
  }
}

bool Replica::run_once() {
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping) return false;
  }
  set_state("starting", restarted_message());
  UniqueFd channel;
  auto pid = spawn(channel);
  if (!pid) {
    set_state("failed", pid.error().message);
    return false;
  }
  {
    std::lock_guard lock(m_mutex);
    m_pid = *pid;
  }
  auto initialized = await_ready(channel.get());
  if (!initialized) ::kill(-*pid, SIGKILL);
  {
    std::lock_guard lock(m_mutex);
    if (initialized) m_channel = std::move(channel);
  }
  if (initialized) set_state("ready", restarted_message());
  const int status = reap(*pid);
  std::unique_lock lock(m_mutex);
  const bool stopping = m_stopping;
  m_state = initialized || stopping ? "crashed" : "failed";
  if (initialized) m_last_exit = describe_exit(status);
  if (initialized) {
    m_message = fmt::format("the replica {}; restarting", m_last_exit);
  } else if (initialized.error().code == ErrorCode::unavailable) {  // it ended during init()
    m_message = fmt::format("the replica {} before init() finished; see its log",
                            describe_exit(status));
  } else {
    m_message = initialized.error().message;
  }
  m_pid = 0;
  m_wake.notify_all();
  m_wake.wait(lock, [&] { return !m_busy; });  // a call in flight sees the end of the channel
  m_channel.reset();
  if (initialized && !stopping) {
    ++m_restarts;
    spdlog::warn("replica {} ({}) {}; restart {}", m_index, m_launch.log_file.string(),
                 m_last_exit, m_restarts);
  }
  lock.unlock();
  m_on_change();
  return initialized && !stopping;
}

Result<void> Replica::await_ready(int channel) {
  const auto deadline = Clock::now() + m_launch.init_timeout;
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(m_mutex);
      if (m_stopping) return fail(ErrorCode::interrupted, "stopped before init() finished");
    }
    pollfd readable{channel, POLLIN, 0};
    const int polled = ::poll(&readable, 1, static_cast<int>(k_poll_slice.count()));
    if (polled <= 0) continue;
    // Something came (or the channel ended): read the whole frame, bounded by init's deadline.
    auto frame = read_frame(channel, deadline);
    if (!frame) return fail(frame.error());
    if (frame->value("type", "") == "ready") return {};
    return fail(ErrorCode::invalid_argument, "init() failed: {}",
                frame->value("message", "unknown error"));
  }
  return fail(ErrorCode::timeout, "init() did not finish within {} s",
              std::chrono::duration_cast<std::chrono::seconds>(m_launch.init_timeout).count());
}

Result<pid_t> Replica::spawn(UniqueFd& channel) const {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    return fail(ErrorCode::io, "socketpair failed: {}", std::strerror(errno));
  }
  UniqueFd parent_end(ends[0]);
  UniqueFd child_end(ends[1]);
  auto log = util::open_fd(m_launch.log_file, O_WRONLY | O_CREAT | O_APPEND);
  if (!log) return fail(log.error());
  // The interpreter is looked up on the replica's own PATH, else the service's.
  std::string search_path;
  for (const auto& variable : m_launch.env) {
    if (variable.starts_with("PATH=")) search_path = variable.substr(5);
  }
  if (search_path.empty()) {
    const char* own = std::getenv("PATH");
    search_path = own != nullptr ? std::string(own) : std::string(util::k_default_search_path);
  }
  auto program = util::find_program(m_launch.argv.front(), search_path, m_launch.cwd);
  if (!program) return fail(program.error());
  auto pid = util::start_process({
      .argv = m_launch.argv,
      .program = std::move(*program),
      .environment = m_launch.env,
      .cwd = m_launch.cwd,
      .stdout_fd = log->get(),
      .inherited = {{child_end.get(), 3}},  // the request channel: the harness's fd 3
      .placement = util::Placement::own_group,
      .die_with_parent = true,  // replicas never outlive trainctld
  });
  if (!pid) return fail(pid.error());
  channel = std::move(parent_end);
  return *pid;
}

}  // namespace trainctl::service::deployments
