#include "support/slurm_cluster.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <fmt/core.h>

namespace trainctl::testing {

namespace fs = std::filesystem;

namespace {

const std::string k_script = TRAINCTL_SOURCE_DIR "/scripts/slurm-cluster.sh";
constexpr int k_script_timeout_seconds = 60;

// The environment the script gets: the test's, with the sbin folders on PATH (slurmctld, ip).
std::vector<std::pair<std::string, std::string>> script_environment() {
  const char* path = std::getenv("PATH");
  return {{"PATH", fmt::format("{}:/usr/sbin:/sbin", path != nullptr ? path : "/usr/bin:/bin")}};
}

bool on_path(const std::string& program) {
  for (const auto* dir :
       {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    if (::access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// The value of NAME in a cluster.env of NAME=value lines.
std::string env_file_value(const fs::path& file, const std::string& name) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(name + "=")) return line.substr(name.size() + 1);
  }
  return {};
}

util::UniqueFd open_netns(const fs::path& path) {
  util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd)
    throw std::runtime_error(
        fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  return fd;
}

ino_t inode_of(const fs::path& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? info.st_ino : 0;
}

}  // namespace

std::string SlurmCluster::unavailable_reason() {
  if (::geteuid() != 0) return "a Slurm cluster in network namespaces needs root";
  for (const auto* program : {"slurmctld", "slurmd", "sinfo", "scontrol", "nsenter", "ip"}) {
    if (!on_path(program)) {
      return fmt::format("{} is not installed (scripts/install-deps.sh installs Slurm)", program);
    }
  }
  return {};
}

SlurmCluster::SlurmCluster(int nodes, const std::vector<std::filesystem::path>& hidden)
    : m_original_netns(open_netns("/proc/thread-self/ns/net")) {
  std::vector<std::string> argv{k_script, "up", m_base.path().string(), "--nodes", std::to_string(nodes)};
  for (const auto& dir : hidden) argv.insert(argv.end(), {"--hide", dir.string()});
  const auto up = run_command(argv, script_environment(), {}, {}, k_script_timeout_seconds);
  if (up.exit_code != 0) {
    run_command({k_script, "down", m_base.path().string()}, script_environment());
    throw std::runtime_error(fmt::format("the Slurm cluster did not come up (exit {}):\n{}{}",
                                         up.exit_code, up.out, up.err));
  }
  m_controller_netns = env_file_value(m_base.path() / "cluster.env", "CONTROLLER_NETNS");
}

SlurmCluster::~SlurmCluster() {
  // `down` kills every process of the controller's namespace: never this one.
  if (!m_controller_netns.empty() &&
      inode_of("/proc/thread-self/ns/net") == inode_of("/run/netns/" + m_controller_netns)) {
    ::setns(m_original_netns.get(), CLONE_NEWNET);
  }
  run_command({k_script, "down", m_base.path().string()}, script_environment(), {}, {},
              k_script_timeout_seconds);
}

CommandResult SlurmCluster::exec(const std::vector<std::string>& argv) const {
  std::vector<std::string> command{k_script, "exec", m_base.path().string()};
  command.insert(command.end(), argv.begin(), argv.end());
  return run_command(command, script_environment());
}

void SlurmCluster::stop_node_daemon(int index) const {
  stop_daemon(m_base.path() / "run" / fmt::format("slurmd-n{}.pid", index));
}

void SlurmCluster::stop_controller() const {
  stop_daemon(m_base.path() / "run/slurmctld.pid");
}

void SlurmCluster::stop_daemon(const fs::path& pid_file) const {
  std::ifstream in(pid_file);
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) {
    throw std::runtime_error(fmt::format("no slurmd pid in {}", pid_file.string()));
  }
  ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (process_is_alive(pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (process_is_alive(pid)) ::kill(pid, SIGKILL);
}

ControllerNetwork::ControllerNetwork(const SlurmCluster& cluster)
    : m_previous(open_netns("/proc/thread-self/ns/net")) {
  const auto target = open_netns("/run/netns/" + cluster.controller_netns());
  if (::setns(target.get(), CLONE_NEWNET) != 0) {
    throw std::runtime_error(fmt::format("cannot enter the network namespace {}: {}",
                                         cluster.controller_netns(), std::strerror(errno)));
  }
}

ControllerNetwork::~ControllerNetwork() {
  ::setns(m_previous.get(), CLONE_NEWNET);
}

}  // namespace trainctl::testing
