#pragma once
// A real Slurm cluster for the CLI's end-to-end tests (scripts/slurm-cluster.sh: slurmctld and
// three slurmd, each node a network namespace of its own whose view of the file system hides
// trainctld's home), a trainctld the nodes reach, the CLI, and a Slurm target "hpc".
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/slurm_cluster.hpp"
#include "test_cli_common.hpp"

namespace trainctl::testing {

// Everything a test needs: homes under a folder the nodes cannot see, the cluster, a trainctld
// that listens where the nodes reach it, the CLI, and a Slurm target "hpc" of 3 nodes.
class SlurmSetup {
 public:
  // `service_args`: more options for trainctld.
  explicit SlurmSetup(const std::vector<std::string>& service_args = {})
      : m_homes(),
        m_cluster(3, {m_homes.path()}),
        m_network(m_cluster),
        m_tmpdir(set_tmpdir(m_homes.path())),
        m_service(with_service_args({"--bind", "0.0.0.0", "--advertise-url", "http://192.0.2.254"},
                                    service_args)),
        m_cli(CliEnvironment::for_service(m_service)) {
    restore_tmpdir();
    const auto created = m_cli.run({"compute", "create", "hpc", "--type", "slurm", "--partition", "debug",
                                    "--max-nodes", "3", "--slurm-conf", m_cluster.slurm_conf().string(), "--wait"});
    INFO(created.out << created.err);
    REQUIRE(created.exit_code == 0);
  }

  const CliEnvironment& cli() const { return m_cli; }
  const ServiceFixture& service() const { return m_service; }
  ServiceFixture& service() { return m_service; }
  const SlurmCluster& cluster() const { return m_cluster; }

  // A project whose job runs `script` on hpc; `extra` is appended to the spec.
  Project project(const std::string& script, const std::string& extra = {}) const {
    return Project(script, "compute: hpc\n" + extra);
  }

  std::string submit(const Project& project) const {
    const auto submitted = m_cli.run({"submit", project.spec(), "-o", "name"}, project.dir());
    INFO(submitted.out << submitted.err);
    REQUIRE(submitted.exit_code == 0);
    return trimmed(submitted.out);
  }

  std::string status(const std::string& run) const {
    const auto shown = m_cli.run({"run", "show", run, "-o", "json"});
    return shown.exit_code == 0 ? nlohmann::json::parse(shown.out).value("status", "") : "";
  }

  bool wait_for_status(const std::string& run, const std::string& wanted, int seconds = 60) const {
    for (int i = 0; i < seconds * 10; ++i) {
      if (status(run) == wanted) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Whether Slurm's queue holds no running or pending job within `seconds`. A run ends when its
  // agents' final state arrives; their job leaves the queue once they have exited, a moment later.
  bool queue_empties(int seconds = 30) const {
    for (int i = 0; i < seconds * 10; ++i) {
      if (trimmed(m_cluster.exec({"squeue", "-h", "-t", "RUNNING,PENDING"}).out).empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

 private:
  static std::vector<std::string> with_service_args(std::vector<std::string> args,
                                                    const std::vector<std::string>& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  static int set_tmpdir(const std::filesystem::path& dir) {
    const char* old = std::getenv("TMPDIR");
    s_old_tmpdir = old == nullptr ? std::nullopt : std::optional<std::string>(old);
    ::setenv("TMPDIR", dir.c_str(), 1);
    return 0;
  }
  static void restore_tmpdir() {
    if (s_old_tmpdir) {
      ::setenv("TMPDIR", s_old_tmpdir->c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
  }
  inline static std::optional<std::string> s_old_tmpdir;

  TempDir m_homes;  // the service's home is made in here; the nodes see it empty
  SlurmCluster m_cluster;
  ControllerNetwork m_network;
  int m_tmpdir;  // TMPDIR points into m_homes while the service's home is made
  ServiceFixture m_service;
  CliEnvironment m_cli;
};

#define REQUIRE_CLUSTER() \
  if (!::trainctl::testing::slurm_cluster_available()) return


}  // namespace trainctl::testing
