// util::start_process, the one place that starts child processes: what the child gets (exactly
// its environment, its working directory, its streams, only the descriptors named), where it is
// placed (group, session, detached), and how a start failure is reported.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "trainctl/util/process.hpp"

namespace fs = std::filesystem;
using trainctl::util::Placement;
using trainctl::util::start_process;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char name[] = "/tmp/trainctl-process-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

std::string read_all(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int exit_status(pid_t pid) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool is_alive(pid_t pid) { return ::kill(pid, 0) == 0; }

}  // namespace

TEST_CASE("a child gets exactly its environment, working directory and output", "[util][process]") {
  TempDir dir;
  const auto out = trainctl::util::open_fd(dir.path / "out", O_WRONLY | O_CREAT | O_TRUNC);
  REQUIRE(out);
  const auto pid = start_process({
      .argv = {"/bin/sh", "-c", "env | sort; pwd; echo to-stderr >&2"},
      .environment = {"ONLY=this", "PATH=/usr/bin:/bin"},
      .cwd = dir.path,
      .stdout_fd = out->get(),
  });
  REQUIRE(pid);
  CHECK(exit_status(*pid) == 0);
  const std::string text = read_all(dir.path / "out");
  CHECK(text.find("ONLY=this\n") != std::string::npos);
  CHECK(text.find("HOME=") == std::string::npos);  // nothing of the caller's environment
  CHECK(text.find(dir.path.string() + "\n") != std::string::npos);
  CHECK(text.find("to-stderr\n") != std::string::npos);  // stderr follows stdout by default
}

TEST_CASE("a program that cannot start is an error naming it, with nothing left running",
          "[util][process]") {
  TempDir dir;
  SECTION("no such file") {
    const auto pid = start_process({.argv = {"/nonexistent/train"}});
    REQUIRE_FALSE(pid);
    CHECK(pid.error().message == "cannot start '/nonexistent/train': No such file or directory");
  }
  SECTION("not executable") {
    std::ofstream(dir.path / "script") << "echo hi\n";
    const auto pid = start_process({.argv = {(dir.path / "script").string()}});
    REQUIRE_FALSE(pid);
    CHECK(pid.error().message ==
          "cannot start '" + (dir.path / "script").string() + "': Permission denied");
  }
  SECTION("a working directory that does not exist") {
    const auto pid = start_process({.argv = {"/bin/true"}, .cwd = dir.path / "gone"});
    REQUIRE_FALSE(pid);
    CHECK(pid.error().message == "cannot start '/bin/true': cannot enter the working directory '" +
                                     (dir.path / "gone").string() +
                                     "': No such file or directory");
  }
  SECTION("detached") {
    const auto pid = start_process({.argv = {"/nonexistent/x"}, .placement = Placement::detached});
    REQUIRE_FALSE(pid);
    CHECK(pid.error().message == "cannot start '/nonexistent/x': No such file or directory");
  }
  // The failed child was reaped: this process has no child left.
  CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

TEST_CASE("argv[0] is kept as given when the file to run is named apart", "[util][process]") {
  TempDir dir;
  const auto out = trainctl::util::open_fd(dir.path / "out", O_WRONLY | O_CREAT | O_TRUNC);
  REQUIRE(out);
  const auto pid = start_process(
      {.argv = {"my-name", "-c", "echo $0"}, .program = "/bin/sh", .stdout_fd = out->get()});
  REQUIRE(pid);
  CHECK(exit_status(*pid) == 0);
  CHECK(read_all(dir.path / "out") == "my-name\n");
}

TEST_CASE("only the named descriptors reach the child, at the numbers asked", "[util][process]") {
  TempDir dir;
  int ends[2];
  REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
  trainctl::util::UniqueFd read_end(ends[0]);
  trainctl::util::UniqueFd write_end(ends[1]);
  // A descriptor of the caller that is not close-on-exec must not leak either.
  const int leaky = ::open("/dev/null", O_RDONLY);
  REQUIRE(leaky >= 0);
  const auto out = trainctl::util::open_fd(dir.path / "out", O_WRONLY | O_CREAT | O_TRUNC);
  REQUIRE(out);
  const auto pid = start_process({
      .argv = {"/bin/sh", "-c", "echo through-five >&5; ls /proc/self/fd"},
      .environment = {"PATH=/usr/bin:/bin"},
      .stdout_fd = out->get(),
      .inherited = {{write_end.get(), 5}},
  });
  ::close(leaky);
  REQUIRE(pid);
  write_end.reset();
  CHECK(exit_status(*pid) == 0);
  char buffer[64] = {};
  CHECK(::read(read_end.get(), buffer, sizeof buffer - 1) > 0);
  CHECK(std::string(buffer) == "through-five\n");
  // ls sees its own stdio, fd 5, and the directory it lists (3): nothing else.
  CHECK(read_all(dir.path / "out") == "0\n1\n2\n3\n5\n");
}

TEST_CASE("a child is placed in a group, a session, or detached as asked", "[util][process]") {
  SECTION("own group") {
    const auto pid = start_process({.argv = {"/bin/sleep", "30"}});
    REQUIRE(pid);
    CHECK(::getpgid(*pid) == *pid);
    ::kill(*pid, SIGKILL);
    CHECK(exit_status(*pid) == 128 + SIGKILL);
  }
  SECTION("the caller's group") {
    const auto pid =
        start_process({.argv = {"/bin/sleep", "30"}, .placement = Placement::callers_group});
    REQUIRE(pid);
    CHECK(::getpgid(*pid) == ::getpgrp());
    ::kill(*pid, SIGKILL);
    CHECK(exit_status(*pid) == 128 + SIGKILL);
  }
  SECTION("own session, still the caller's child") {
    const auto pid =
        start_process({.argv = {"/bin/sleep", "30"}, .placement = Placement::own_session});
    REQUIRE(pid);
    CHECK(::getsid(*pid) == *pid);
    ::kill(*pid, SIGKILL);
    CHECK(exit_status(*pid) == 128 + SIGKILL);
  }
  SECTION("detached: another session, and not the caller's child") {
    const auto pid =
        start_process({.argv = {"/bin/sleep", "30"}, .placement = Placement::detached});
    REQUIRE(pid);
    // The session of the intermediate child, which exited: the program is not a session
    // leader, so it can never acquire a controlling terminal.
    CHECK(::getsid(*pid) != ::getsid(0));
    CHECK(::getsid(*pid) != *pid);
    CHECK(::waitpid(*pid, nullptr, WNOHANG) == -1);
    CHECK(errno == ECHILD);
    ::kill(*pid, SIGKILL);
    for (int i = 0; i < 500 && is_alive(*pid); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK_FALSE(is_alive(*pid));
  }
}

TEST_CASE("find_program looks up the child's PATH, relative entries from its directory",
          "[util][process]") {
  TempDir dir;
  fs::create_directories(dir.path / "bin");
  std::ofstream(dir.path / "bin" / "train") << "#!/bin/sh\n";
  fs::permissions(dir.path / "bin" / "train", fs::perms::owner_all);
  using trainctl::util::find_program;
  CHECK(find_program("train", "/nonexistent:bin", dir.path).value() ==
        (dir.path / "bin" / "train").string());
  CHECK(find_program("sh", "/usr/bin:/bin", dir.path).value().ends_with("/sh"));
  CHECK(find_program("./anything", "", dir.path).value() == "./anything");
  const auto missing = find_program("train", "/nonexistent", dir.path);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message ==
        "cannot start 'train': No such file or directory (searched PATH=/nonexistent)");
}
