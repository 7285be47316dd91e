#pragma once
// Test support shared by integration and end-to-end tests: a real trainctld on a free loopback
// port with a fresh $TRAINCTL_HOME, temp directories, and running commands as a user would.
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace trainctl::testing {

// A directory under $TMPDIR removed (recursively, fixing read-only modes) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
};

// Starts `TRAINCTLD_BINARY --home <temp> --port 0 <extra_args>`, waits until <home>/server.json
// names a port that answers GET /v1/health, and reads <home>/token.
class ServiceFixture {
 public:
  explicit ServiceFixture(std::vector<std::string> extra_args = {});
  // SIGTERM, wait (SIGKILL after 10 s); then every process of its runs is killed and the home
  // is removed.
  ~ServiceFixture();
  ServiceFixture(const ServiceFixture&) = delete;
  ServiceFixture& operator=(const ServiceFixture&) = delete;

  const std::filesystem::path& home() const { return m_home.path(); }
  std::string endpoint() const;  // "http://127.0.0.1:PORT"
  int port() const { return m_port; }
  const std::string& token() const { return m_token; }
  pid_t pid() const { return m_pid; }

  void kill9();       // SIGKILL the service and reap it (runs keep going under their supervisors)
  // Starts it (again) on the same home: on a new port, or with same_port on the port it had (as
  // a service restarted where its Slurm nodes reach it).
  void start(bool same_port = false);
  void stop();        // SIGTERM and reap

 private:
  TempDir m_home;
  std::vector<std::string> m_extra_args;
  pid_t m_pid = -1;
  int m_port = 0;
  std::string m_token;
};

struct CommandResult {
  int exit_code = -1;  // the exit status, or 128 + signal
  std::string out;
  std::string err;
};

// Runs argv (no shell) with the current environment plus `env` (NAME=value entries override),
// in `cwd` when non-empty, feeding `input` on stdin; waits at most `timeout_seconds`
// (then SIGKILL and exit_code -1).
// A loopback TCP connection to `port` that has sent `text` (if any) and nothing more; its
// descriptor, or -1 when the connection is refused. The caller closes it.
int connect_and_send(int port, const std::string& text);

CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::pair<std::string, std::string>>& env = {},
                          const std::filesystem::path& cwd = {}, const std::string& input = {},
                          int timeout_seconds = 120);

// Minimal authenticated HTTP calls against the fixture (cpp-httplib client), for tests that
// exercise the raw API.
struct RawResponse {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};
RawResponse http_request(const ServiceFixture& service, const std::string& method,
                         const std::string& target, const std::string& body = {},
                         const std::vector<std::pair<std::string, std::string>>& headers = {},
                         bool with_token = true, const std::string& content_type = "application/json");

// Whether `pid` is a live process: /proc has it and it is not a zombie.
bool process_is_alive(pid_t pid);

// The live processes whose environment holds `entry` ("NAME=value") exactly: e.g. every process
// a run started, found by its TRAINCTL_RUN_ID, however far it strayed from its process group.
std::vector<pid_t> processes_with_environment(const std::string& entry);

// SIGKILLs every process of the runs under <home>/runs (supervisors, wrappers, tasks), so a
// test that leaves a run going leaves nothing behind. The fixture's destructor calls it.
void kill_processes_of_home(const std::filesystem::path& home);

}  // namespace trainctl::testing
