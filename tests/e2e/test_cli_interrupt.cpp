// Ctrl-C during `submit --stream` and `logs -f`: it acts at once, even while no log line arrives;
// it detaches by default and cancels with --cancel-on-interrupt.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "test_cli_common.hpp"
#include "trainctl/util/fs.hpp"

extern char** environ;

namespace {

using namespace trainctl::testing;
namespace fs = std::filesystem;

// How soon after Ctrl-C trainctl must have exited: well under the 5 s between two heartbeats of a
// silent log stream, so it is not waiting for the next one. A functional deadline, not a benchmark.
constexpr auto k_exit_deadline = std::chrono::seconds(3);

struct Interrupted {
  int exit_code = -1;
  bool exited_in_time = false;  // within k_exit_deadline of the SIGINT
  std::string out;
  std::string err;
};

// Reaps `pid` into `status`; false when it was still running at `deadline` and had to be killed.
bool reap_by(pid_t pid, std::chrono::steady_clock::time_point deadline, int& status) {
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return false;
}

// Runs `trainctl args...` against `service`, waits until its stdout shows `marker`, sends SIGINT,
// and collects the result.
Interrupted interrupt_after(const ServiceFixture& service, std::vector<std::string> args,
                            const std::string& marker) {
  TempDir io;
  const auto out_file = io.path() / "out";
  const auto err_file = io.path() / "err";
  std::vector<std::string> env{"TRAINCTL_ENDPOINT=" + service.endpoint(),
                               "TRAINCTL_TOKEN=" + service.token(),
                               "XDG_CACHE_HOME=" + (io.path() / "cache").string()};
  for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
  args.insert(args.begin(), TRAINCTL_BINARY);
  std::vector<char*> argv, envp;
  for (auto& arg : args) argv.push_back(arg.data());
  for (auto& entry : env) envp.push_back(entry.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_file.c_str(), O_WRONLY | O_CREAT,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_file.c_str(), O_WRONLY | O_CREAT,
                                   0644);
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()) == 0);
  posix_spawn_file_actions_destroy(&actions);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (trainctl::util::read_file(out_file).value_or("").find(marker) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGINT);
  int status = 0;
  const bool exited_in_time =
      reap_by(pid, std::chrono::steady_clock::now() + k_exit_deadline, status);
  return Interrupted{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                     exited_in_time, trainctl::util::read_file(out_file).value_or(""),
                     trainctl::util::read_file(err_file).value_or("")};
}

std::string run_id_in(const std::string& err) {
  const auto at = err.find("run-");
  return at == std::string::npos ? std::string()
                                 : err.substr(at, err.find_first_of(" \n", at) - at);
}

}  // namespace

TEST_CASE("e2e: Ctrl-C during submit --stream or logs -f", "[e2e][cli]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  // One line, then silence: Ctrl-C comes while the log stream has nothing to deliver.
  Project project("import time\nprint('training', flush=True)\ntime.sleep(60)\n");

  SECTION("given no flag, it detaches with exit 130 and the run goes on") {
    const auto result =
        interrupt_after(service, {"submit", project.spec(), "--stream"}, "training");
    CHECK(result.exited_in_time);
    CHECK(result.exit_code == 130);
    CHECK_THAT(result.err, Catch::Contains("detached; the run goes on: trainctl logs run-"));
    const auto run_id = run_id_in(result.err);
    CHECK_THAT(cli.run({"run", "show", run_id}).out, Catch::Contains("Running"));
    cli.run({"run", "cancel", run_id});
  }
  SECTION("given --cancel-on-interrupt, it cancels the run, then exits 130") {
    const auto result = interrupt_after(
        service, {"submit", project.spec(), "--stream", "--cancel-on-interrupt"}, "training");
    CHECK(result.exited_in_time);
    CHECK(result.exit_code == 130);
    CHECK_THAT(result.err, Catch::Contains("canceled run"));
    CHECK(cli.run({"run", "wait", run_id_in(result.err), "--timeout", "60s"}).exit_code == 4);
  }
  SECTION("given logs -f of a running run, it stops following with exit 130; the run goes on") {
    auto run_id = cli.run({"submit", project.spec(), "-o", "name"}).out;
    while (!run_id.empty() && (run_id.back() == '\n' || run_id.back() == ' ')) run_id.pop_back();
    const auto result = interrupt_after(service, {"logs", run_id, "-f"}, "training");
    CHECK(result.exited_in_time);
    CHECK(result.exit_code == 130);
    CHECK_THAT(cli.run({"run", "show", run_id}).out, Catch::Contains("Running"));
    cli.run({"run", "cancel", run_id});
  }
}
