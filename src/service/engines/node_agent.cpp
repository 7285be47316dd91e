// `trainctld node-agent`: what a run's Slurm job runs on its node, or on each of its nodes
// (slurm_engine.hpp). It copies the run's plan and files from the service into a folder of the
// node's own, runs the run's supervisor there, and sends back over HTTP what the service shows:
// the run's state as it changes, every log as it grows (a line reaches `trainctl logs -f` within
// a few hundred ms), and at the end the outputs, before the final state, so a run is never seen
// Completed without them. No file system is shared with the service.
//
// On a run of several nodes, each node's agent first tells the service where its node is (host,
// address, free ports), waits for the plan built with every node's place, and runs its node's
// part of it (spec::node_part_of); the service merges the parts' states and says when every node
// must stop (engines/node_states.hpp).
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/service/engines/slurm_engine.hpp"
#include "trainctl/service/environments.hpp"
#include "trainctl/service/runs/run_files.hpp"
#include "trainctl/service/runs/run_manager.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/ports.hpp"
#include "trainctl/util/process.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service {

namespace {

namespace fs = std::filesystem;

constexpr auto k_sync_interval = std::chrono::milliseconds(100);
constexpr int k_control_ticks = 3;  // the service is asked about a cancel every 300 ms
constexpr size_t k_max_log_piece = 1u << 20;
constexpr int k_failure_exit_code = 1;
// The outputs and the final state are sent again for about half a minute while the service is
// away (restarting).
constexpr int k_request_attempts = 12;
// How long a node waits for every other node of its run to report where it is.
constexpr auto k_placing_timeout = std::chrono::seconds(120);
constexpr auto k_placing_poll = std::chrono::milliseconds(20);

std::chrono::milliseconds backoff(int attempt) {
  return std::chrono::milliseconds(std::min(200 << std::min(attempt, 4), 3000));
}

std::atomic<int> g_stop_signal{0};
constexpr std::string_view k_stopped_by_slurm =
    "the Slurm job was stopped by Slurm, not by trainctl (an scancel, its time limit or a "
    "preemption)";

extern "C" void remember_stop_signal(int signal) { g_stop_signal = signal; }

std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// Percent-encodes each component of a relative path (the separators stay).
std::string encode_path(std::string_view path) {
  std::string out;
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out += fmt::format("%{:02X}", byte);
    }
  }
  return out;
}

// Every string in `json` with `from` replaced by `to`: the plan's paths, moved from the service's
// run directory to the node's.
void replace_in_strings(nlohmann::json& json, const std::string& from, const std::string& to) {
  if (json.is_string()) {
    auto text = json.get<std::string>();
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
      text.replace(at, from.size(), to);
    }
    json = text;
  } else if (json.is_structured()) {
    for (auto& item : json) replace_in_strings(item, from, to);
  }
}

// The address of this host that reaches `url`'s host (the interface a connection to it would
// leave by), and that interface's name: where the run's tasks on this node listen for their peers.
struct LocalRoute {
  std::string address;
  std::string interface;
};

Result<LocalRoute> local_route_to(const std::string& url) {
  // http://HOST:PORT[/...]
  std::string_view rest(url);
  if (const auto scheme = rest.find("://"); scheme != std::string_view::npos) rest.remove_prefix(scheme + 3);
  rest = rest.substr(0, rest.find('/'));
  std::string host(rest), port = "80";
  if (const auto colon = rest.rfind(':'); colon != std::string_view::npos && rest.front() != '[') {
    host = std::string(rest.substr(0, colon));
    port = std::string(rest.substr(colon + 1));
  }
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (const int error = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); error != 0) {
    return fail(ErrorCode::unavailable, "cannot resolve {}: {}", host, ::gai_strerror(error));
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, ::freeaddrinfo);
  // A datagram socket's connect() only picks the route: nothing is sent.
  const util::UniqueFd socket(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in local{};
  socklen_t length = sizeof local;
  if (!socket || ::connect(socket.get(), found->ai_addr, found->ai_addrlen) != 0 ||
      ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&local), &length) != 0) {
    return fail(ErrorCode::unavailable, "no route to {}: {}", host, std::strerror(errno));
  }
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &local.sin_addr, text, sizeof text);
  LocalRoute route{text, ""};
  ifaddrs* interfaces = nullptr;
  if (::getifaddrs(&interfaces) == 0) {
    for (const ifaddrs* entry = interfaces; entry != nullptr; entry = entry->ifa_next) {
      if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
      if (reinterpret_cast<const sockaddr_in*>(entry->ifa_addr)->sin_addr.s_addr == local.sin_addr.s_addr) {
        route.interface = entry->ifa_name;
        break;
      }
    }
    ::freeifaddrs(interfaces);
  }
  return route;
}

// Sets `name` in a plan task's environment ([[name, value], ...]) unless the plan set it.
void set_default(nlohmann::json& env, const std::string& name, const std::string& value) {
  for (const auto& variable : env) {
    if (variable.size() == 2 && variable[0] == name) return;
  }
  env.push_back({name, value});
}

// Sets `name` in a plan task's environment, over the plan's value.
void set_value(nlohmann::json& env, const std::string& name, const std::string& value) {
  for (auto& variable : env) {
    if (variable.size() == 2 && variable[0] == name) {
      variable[1] = value;
      return;
    }
  }
  env.push_back({name, value});
}

// This process's SLURM_* variables: what mpirun needs to start ranks on the job's other nodes.
std::vector<std::pair<std::string, std::string>> slurm_variables() {
  std::vector<std::pair<std::string, std::string>> variables;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view variable = *entry;
    const size_t equals = variable.find('=');
    if (!variable.starts_with("SLURM") || equals == std::string_view::npos) continue;
    variables.emplace_back(variable.substr(0, equals), variable.substr(equals + 1));
  }
  return variables;
}

class NodeAgent {
 public:
  NodeAgent(std::string service_url, std::string run_id, const std::string& credential)
      : m_client(service_url), m_service_url(std::move(service_url)), m_run_id(std::move(run_id)) {
    m_client.set_bearer_token_auth(credential);
    m_client.set_connection_timeout(10);
    m_client.set_read_timeout(60);
    m_client.set_write_timeout(60);
    m_client.set_keep_alive(true);
    // A request with a body goes out in two writes (headers, then body): without this, Nagle's
    // algorithm holds the body until the service's delayed ACK, 40 ms for every PUT and POST.
    m_client.set_tcp_nodelay(true);
  }

  int run() {
    auto prepared = prepare();
    if (!prepared) {
      fmt::print(stderr, "trainctld node-agent: {}\n", prepared.error().message);
      sync_logs();  // a failed environment build's log, for one
      report_failure(prepared.error().message);
      remove_local_folder();
      return k_failure_exit_code;
    }
    const auto started = spawn_supervisor();
    if (!started) {
      report_failure(fmt::format("cannot start the run's supervisor: {}", started.error().message));
      return k_failure_exit_code;
    }
    const pid_t supervisor = *started;
    bool stop_forwarded = false;
    int status = 0;
    for (int tick = 0; ::waitpid(supervisor, &status, WNOHANG) == 0; ++tick) {
      if (!stop_forwarded && !m_cancel_asked && tick % k_control_ticks == 0) m_cancel_asked = cancel_asked();
      if (!stop_forwarded && (g_stop_signal != 0 || m_cancel_asked)) {
        ::kill(supervisor, SIGTERM);  // the supervisor stops every task: the run ends Canceled
        stop_forwarded = true;
      }
      sync_logs();
      sync_state(/*final=*/false);
      std::this_thread::sleep_for(k_sync_interval);
    }
    sync_logs();
    upload_outputs();
    sync_state(/*final=*/true);
    remove_local_folder();
    return WIFEXITED(status) ? WEXITSTATUS(status) : k_failure_exit_code;
  }

 private:
  std::string route(std::string_view rest) const {
    return fmt::format("/v1/agent/runs/{}/{}", m_run_id, rest);
  }

  // A route about this node's part: ?node=K on a run of several nodes.
  std::string node_route(std::string_view rest) const {
    if (m_node < 0) return route(rest);
    return fmt::format("{}?node={}", route(rest), m_node);
  }

  // The plan and the files, into a folder of this node's.
  Result<void> prepare() {
    auto reply = m_client.Get(route("plan"));
    if (!reply || reply->status != 200) return fail(ErrorCode::unavailable, "cannot fetch the run's plan: {}", describe(reply));
    auto body = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) return fail(ErrorCode::internal, "the run's plan is not JSON");
    const char* tmp = std::getenv("TMPDIR");
    const char* job = std::getenv("SLURM_JOB_ID");
    m_local = fs::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") /
              fmt::format("trainctl-{}-{}", m_run_id, job != nullptr ? job : "0");
    std::error_code error;
    fs::remove_all(m_local, error);
    for (const char* folder : {"", "outputs", "logs"}) {
      if (auto made = util::make_directories(m_local / folder, 0700); !made) return made;
    }
    nlohmann::json plan = body.at("plan");
    const int nodes = body.value("nodes", 1);
    if (nodes > 1) {
      if (auto reported = report_place(plan, nodes); !reported) return reported;
    }
    for (const auto& file : body.at("files")) {
      if (auto fetched = fetch_file(file.at("path"), file.value("mode", 0644u)); !fetched) return fetched;
    }
    if (auto made = util::make_directories(m_local / "tasks", 0755); !made) return made;
    if (nodes > 1) {
      auto part = wait_for_part();
      if (!part) return fail(part.error());
      plan = std::move(*part);
    }
    replace_in_strings(plan, body.at("run_dir").get<std::string>(), m_local.string());
    if (auto built = build_python_environment(plan); !built) return built;
    add_node_environment(plan);
    return util::write_file_atomic(m_local / engines::k_launch_file, plan.dump() + "\n");
  }

  // Tells the service where this node is: its host, the address its tasks listen on, a free port
  // for each of its tasks. Done before the files are fetched, so that the wait for the other
  // nodes' places overlaps that fetch.
  Result<void> report_place(const nlohmann::json& plan, int nodes) {
    const std::string node = required_env("SLURM_NODEID");
    if (node.empty()) return fail(ErrorCode::invalid_argument, "SLURM_NODEID is not set: a run of {} nodes runs one agent per node under srun", nodes);
    m_node = std::stoi(node);
    auto route = local_route_to(m_service_url);
    if (!route) return fail(route.error());
    m_interface = route->interface;
    size_t tasks_here = 0;
    for (const auto& task : plan.at("tasks")) tasks_here += task.value("node_rank", 0) == m_node ? 1 : 0;
    auto ports = util::free_ports(tasks_here);
    if (!ports) return fail(ports.error());
    const nlohmann::json place = {{"host", m_host}, {"address", route->address}, {"ports", *ports}};
    for (int attempt = 0; attempt < k_request_attempts; ++attempt) {
      auto reply = m_client.Put(route_of_node(), place.dump(), "application/octet-stream");
      if (reply && reply->status == 204) return {};
      if (reply && reply->status >= 400 && reply->status < 500) {
        return fail(ErrorCode::invalid_argument, "the service refused this node's place: {}", describe(reply));
      }
      std::this_thread::sleep_for(backoff(attempt));
    }
    return fail(ErrorCode::unavailable, "cannot report this node's place to the service");
  }

  // This node's part of the plan, built with every node's place, once all have reported.
  Result<nlohmann::json> wait_for_part() {
    const auto deadline = std::chrono::steady_clock::now() + k_placing_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto reply = m_client.Get(node_route("plan"));
      if (reply && reply->status == 200) {
        auto body = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
        if (body.is_discarded()) return fail(ErrorCode::internal, "this node's plan is not JSON");
        return body.at("plan");
      }
      if (reply && reply->status != 409) return fail(ErrorCode::unavailable, "cannot fetch this node's plan: {}", describe(reply));
      std::this_thread::sleep_for(k_placing_poll);
    }
    return fail(ErrorCode::unavailable, "the run's other nodes did not report within {} s",
                std::chrono::duration_cast<std::chrono::seconds>(k_placing_timeout).count());
  }

  std::string route_of_node() const { return route(fmt::format("nodes/{}", m_node)); }

  // The plan's pip_packages, built into a Python environment of this node's (cached under
  // $TMPDIR/trainctl-environments by the same key as the service's cache, so a later run asking
  // for the same reuses it), its log the run's preparing log; the tasks' interpreter is then the
  // environment's.
  Result<void> build_python_environment(nlohmann::json& plan) const {
    const auto found = plan.find("node_environment");
    if (found == plan.end() || !found->is_object()) return {};
    const auto request = spec::LaunchPlan::from_json(plan);
    if (!request || !request->node_environment) return fail(ErrorCode::internal, "the plan's environment is unreadable");
    const auto& wanted = *request->node_environment;
    const char* tmp = std::getenv("TMPDIR");
    EnvironmentCache cache({fs::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") / "trainctl-environments",
                            PipIndexConfig{wanted.index_url, wanted.find_links, wanted.no_index},
                            allowlisted_environment(), k_default_build_timeout});
    const fs::path log = m_local / "logs" / std::string(k_preparing_log);
    auto python = cache.acquire({wanted.interpreter, wanted.pip_packages}, log);
    if (!python) return fail(python.error());
    const auto use_environment = [&](nlohmann::json& process) {
      for (auto& arg : process.at("argv")) {
        if (arg == wanted.interpreter) arg = python->string();
      }
    };
    for (auto& task : plan.at("tasks")) use_environment(task);
    if (plan.contains("launcher") && plan["launcher"].is_object()) use_environment(plan["launcher"]);
    return {};
  }

  // What the tasks need from this node: its temporary folder (the service's means nothing
  // here), the GPUs Slurm assigned it; on a node among several, the interface on which PyTorch's Gloo finds its peers (the
  // one that reaches the service: a host name may resolve to a loopback address), and for
  // mpirun, this job's Slurm variables, since it starts the other nodes' ranks through srun.
  void add_node_environment(nlohmann::json& plan) const {
    const char* tmpdir = std::getenv("TMPDIR");
    // The GPUs Slurm gave this job on this node (--gres), as Slurm numbers them.
    const char* gpus = std::getenv("CUDA_VISIBLE_DEVICES");
    std::vector<nlohmann::json*> processes;
    for (auto& task : plan.at("tasks")) processes.push_back(&task);
    const bool launcher = plan.contains("launcher") && plan["launcher"].is_object();
    if (launcher) processes.push_back(&plan["launcher"]);
    for (auto* process : processes) {
      auto& env = process->at("env");
      if (tmpdir != nullptr && *tmpdir != '\0') set_value(env, "TMPDIR", tmpdir);
      if (gpus != nullptr) set_default(env, "CUDA_VISIBLE_DEVICES", gpus);
      if (m_node >= 0 && !m_interface.empty()) set_default(env, "GLOO_SOCKET_IFNAME", m_interface);
    }
    if (m_node >= 0 && launcher) {
      auto& env = plan["launcher"].at("env");
      for (const auto& [name, value] : slurm_variables()) set_default(env, name, value);
      set_default(env, "SLURM_OVERLAP", "1");  // its steps share the CPUs of this agent's step
    }
  }

  Result<void> fetch_file(const std::string& path, unsigned mode) {
    const fs::path target = m_local / path;
    if (auto made = util::make_directories(target.parent_path(), 0755); !made) return made;
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    auto reply = m_client.Get(route("files/" + encode_path(path)), [&](const char* data, size_t size) {
      out.write(data, static_cast<std::streamsize>(size));
      return out.good();
    });
    out.close();
    if (!reply || reply->status != 200 || !out) {
      return fail(ErrorCode::unavailable, "cannot fetch {}: {}", path, describe(reply));
    }
    ::chmod(target.c_str(), mode & 0777);
    return {};
  }

  // `trainctld supervise <local>` as this process's child, in its process group (Slurm signals
  // the step's processes), with no environment of its own (the plan has every task's) and its
  // messages in <local>/supervisor.log.
  Result<pid_t> spawn_supervisor() const {
    const auto log = util::open_fd(m_local / engines::k_supervisor_log,
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (!log) return fail(log.error());
    return util::start_process({
        .argv = {fs::read_symlink("/proc/self/exe").string(), "supervise", m_local.string()},
        .stdout_fd = log->get(),
        .placement = util::Placement::callers_group,
    });
  }

  // Whether the service asks for the run to stop (`trainctl run cancel`).
  bool cancel_asked() {
    auto reply = m_client.Get(route("control"));
    if (!reply || reply->status != 200) return false;
    const auto answer = nlohmann::json::parse(reply->body, nullptr, false);
    return answer.is_object() && answer.value("cancel", false);
  }

  // Sends what every log gained since the last call.
  void sync_logs() {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(m_local / "logs", error)) {
      if (!entry.is_regular_file(error)) continue;
      const std::string name = entry.path().filename().string();
      const auto size = static_cast<uint64_t>(entry.file_size(error));
      uint64_t& sent = m_log_sent[name];
      while (!error && sent < size) {
        std::ifstream in(entry.path(), std::ios::binary);
        in.seekg(static_cast<std::streamoff>(sent));
        std::string piece(static_cast<size_t>(std::min<uint64_t>(size - sent, k_max_log_piece)), '\0');
        in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
        piece.resize(static_cast<size_t>(in.gcount()));
        if (piece.empty()) break;
        auto reply = m_client.Put(route(fmt::format("logs/{}?offset={}", encode_path(name), sent)),
                                  piece, "application/octet-stream");
        if (!reply) break;  // the service is away: the next call sends it
        const auto answer = nlohmann::json::parse(reply->body, nullptr, false);
        if ((reply->status == 200 || reply->status == 409) && answer.contains("size")) {
          sent = answer["size"].get<uint64_t>();
        } else {
          break;
        }
      }
    }
  }

  // Whether a stop signal came from outside, not from a trainctl cancel: Slurm signals every
  // process of a job it ends, the supervisor's too, so it may have seen the signal before the
  // agent's loop did.
  bool stopped_by_slurm() const { return g_stop_signal != 0 && !m_cancel_asked; }

  // Sends state.json when it changed; a final state only when `final` (after the outputs).
  void sync_state(bool final) {
    auto text = util::read_file(m_local / engines::k_state_file);
    if (!text || *text == m_state_sent) return;
    auto state = engines::read_run_state(m_local);
    if (!state) return;
    auto& run = state->observation;
    if (run.phase == RunObservation::Phase::finished && !final) return;
    for (auto& task : run.tasks) task.host = m_host;
    // Slurm signalled the job (and every process in it) without trainctl asking: an scancel from
    // outside, the job's time limit or a preemption. Read after the state, whose task deaths that
    // signal caused: every report that can hold them says so, and the service takes none of them
    // for a failure (on a run of several nodes, the first such report ends the run Canceled).
    const bool stopped_outside = stopped_by_slurm();
    if (stopped_outside) state->stopped_outside = std::string(k_stopped_by_slurm);
    if (run.phase == RunObservation::Phase::finished && stopped_outside &&
        run.outcome != api::RunStatus::Completed) {
      run.outcome = api::RunStatus::Canceled;  // its tasks died of Slurm's signal
      run.exit_code.reset();
      run.first_failed_task.clear();
      run.reason = std::string(k_stopped_by_slurm);
    }
    text = engines::to_json(*state).dump();
    for (int attempt = 0; attempt < (final ? k_request_attempts : 1); ++attempt) {
      auto reply = m_client.Put(node_route("state"), *text, "application/octet-stream");
      if (reply && (reply->status == 204 || reply->status == 409)) {
        m_state_sent = *text;
        return;
      }
      std::this_thread::sleep_for(backoff(attempt));
    }
  }

  // Every regular file the run left in outputs/ (links are not followed).
  void upload_outputs() {
    std::error_code error;
    const fs::path outputs = m_local / "outputs";
    for (fs::recursive_directory_iterator it(outputs, error), end; !error && it != end; it.increment(error)) {
      const auto status = it->symlink_status(error);
      if (error || !fs::is_regular_file(status)) continue;
      const std::string path = it->path().lexically_relative(outputs).generic_string();
      const util::UniqueFd fd(::open(it->path().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      struct stat info {};
      if (!fd || ::fstat(fd.get(), &info) != 0) continue;
      const bool executable = (status.permissions() & fs::perms::owner_exec) != fs::perms::none;
      // Streamed from the file: an output may be larger than this node's memory.
      const auto send = [&](size_t offset, size_t length, httplib::DataSink& sink) {
        std::string buffer(std::min<size_t>(length, 1u << 20), '\0');
        const ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
        return n > 0 && sink.write(buffer.data(), static_cast<size_t>(n));
      };
      for (int attempt = 0; attempt < k_request_attempts; ++attempt) {
        auto reply = m_client.Put(
            route(fmt::format("outputs/{}{}", encode_path(path), executable ? "?executable=1" : "")),
            static_cast<size_t>(info.st_size), send, "application/octet-stream");
        if (reply && reply->status == 201) break;
        std::this_thread::sleep_for(backoff(attempt));
      }
    }
  }

  void remove_local_folder() const {
    std::error_code error;
    if (!m_local.empty()) fs::remove_all(m_local, error);
  }

  // A run that could not even start: its final state says why.
  void report_failure(const std::string& reason) {
    engines::RunState state;
    state.observation.phase = RunObservation::Phase::finished;
    state.observation.outcome = api::RunStatus::Failed;
    state.observation.reason = fmt::format("on Slurm node {}: {}", m_host, reason);
    m_client.Put(node_route("state"), engines::to_json(state).dump(), "application/octet-stream");
  }

  static std::string this_host() {
    if (const char* node = std::getenv("SLURMD_NODENAME"); node != nullptr && *node != '\0') return node;
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return name;
  }

  static std::string describe(const httplib::Result& reply) {
    if (!reply) return httplib::to_string(reply.error());
    return fmt::format("HTTP {} {}", reply->status, reply->body.substr(0, 200));
  }

  httplib::Client m_client;
  std::string m_service_url;
  std::string m_run_id;
  std::string m_host = this_host();  // the node's name, as Slurm calls it
  int m_node = -1;                   // this node's rank in a run of several nodes; -1: one node
  std::string m_interface;           // the network interface that reaches the service
  fs::path m_local;
  std::map<std::string, uint64_t> m_log_sent;  // bytes of each log the service has
  std::string m_state_sent;
  bool m_cancel_asked = false;  // the service asked for a cancel
};

}  // namespace

int run_node_agent() {
  const std::string url = required_env("TRAINCTL_SERVICE_URL");
  const std::string run_id = required_env("TRAINCTL_RUN_ID");
  const std::string credential = required_env("TRAINCTL_RUN_CREDENTIAL");
  if (url.empty() || run_id.empty() || credential.empty()) {
    fmt::print(stderr,
               "trainctld node-agent: TRAINCTL_SERVICE_URL, TRAINCTL_RUN_ID and "
               "TRAINCTL_RUN_CREDENTIAL must be set (a run's Slurm job sets them)\n");
    return 2;
  }
  ::unsetenv("TRAINCTL_RUN_CREDENTIAL");
  struct sigaction action {};
  action.sa_handler = remember_stop_signal;
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  NodeAgent agent(url, run_id, credential);
  return agent.run();
}

}  // namespace trainctl::service
