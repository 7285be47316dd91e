// The local engine with real supervisors (trainctld supervise) and real processes.
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "test_engine_support.hpp"

using trainctl::api::RunStatus;
using namespace trainctl::testing::engine;

TEST_CASE("a task that exits 0 completes the run with its whole log", "[engine]") {
  GIVEN("a script that prints to stdout and stderr, then exits 0") {
    RunDirectory run;
    auto engine = make_engine();
    const auto plan =
        run.single({"/bin/sh", "-c", "for i in 1 2 3; do echo line $i; done; echo oops >&2; pwd"});

    WHEN("it runs to the end") {
      REQUIRE(engine->start(run.path(), plan).has_value());
      const auto run_end = wait_until_finished(*engine, run.path());

      THEN("the run is Completed with exit code 0 and the log holds every line, in order") {
        CHECK(run_end.outcome == RunStatus::Completed);
        CHECK(run_end.exit_code == 0);
        CHECK(run_end.reason.empty());
        REQUIRE(run_end.tasks.size() == 1);
        CHECK(run_end.tasks[0].state == "exited");
        CHECK(run_end.tasks[0].exit_code == 0);
        CHECK(run_end.started_at_ms > 0);
        CHECK(run_end.ended_at_ms >= run_end.started_at_ms);
        CHECK(read_text(run.log_of("main")) ==
              "line 1\nline 2\nline 3\noops\n" + run.snapshot().string() + "\n");
      }
    }
  }
}

TEST_CASE("a task that exits non-zero fails the run with its exit code", "[engine]") {
  RunDirectory run;
  auto engine = make_engine();
  REQUIRE(engine->start(run.path(), run.single({"/bin/sh", "-c", "echo bad input; exit 3"}))
              .has_value());

  const auto run_end = wait_until_finished(*engine, run.path());

  CHECK(run_end.outcome == RunStatus::Failed);
  CHECK(run_end.exit_code == 3);
  CHECK(run_end.reason == "task 'main' exited with code 3");
  CHECK(run_end.tasks[0].state == "exited");
  CHECK(read_text(run.log_of("main")) == "bad input\n");
}

TEST_CASE("a task killed by a signal fails the run with that signal", "[engine]") {
  RunDirectory run;
  auto engine = make_engine();
  REQUIRE(engine->start(run.path(), run.single({"/bin/sh", "-c", "kill -9 $$"})).has_value());

  const auto run_end = wait_until_finished(*engine, run.path());

  CHECK(run_end.outcome == RunStatus::Failed);
  CHECK(run_end.exit_code == 128 + SIGKILL);
  CHECK(run_end.reason == "task 'main' was killed by signal 9 (SIGKILL)");
  CHECK(run_end.tasks[0].state == "killed");
  CHECK(run_end.tasks[0].signal == SIGKILL);
}

TEST_CASE("one failing task of several fails the run and stops the others", "[engine]") {
  RunDirectory run;
  auto engine = make_engine();
  const auto plan = run.plan({run.task("worker-0", {"/bin/sleep", "300"}),
                              run.task("worker-1", {"/bin/sh", "-c", "sleep 0.2; exit 2"})});
  REQUIRE(engine->start(run.path(), plan).has_value());

  const auto run_end = wait_until_finished(*engine, run.path());

  CHECK(run_end.outcome == RunStatus::Failed);
  CHECK(run_end.exit_code == 2);
  CHECK(run_end.reason == "task 'worker-1' exited with code 2");
  CHECK(run_end.first_failed_task == "worker-1");
  REQUIRE(run_end.tasks.size() == 2);
  CHECK(run_end.tasks[0].state == "stopped");
  CHECK(run_end.tasks[0].signal == SIGTERM);
  CHECK(process_gone(static_cast<pid_t>(run_end.tasks[0].pid)));
}

TEST_CASE("cancel reaches a daemon that left the run with setsid", "[engine]") {
  GIVEN("a running script that double-forked a setsid daemon which ignores SIGTERM") {
    RunDirectory run;
    auto engine = make_engine();
    const auto daemon_pid_file = run.path() / "daemon.pid";
    const auto script = run.write_script("daemon.py", R"(
import os, signal, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        time.sleep(300)
    os._exit(0)
os.wait()
print("daemon started", flush=True)
time.sleep(300)
)");
    REQUIRE(
        engine->start(run.path(), run.single({k_python, script.string(), daemon_pid_file.string()}))
            .has_value());
    REQUIRE(eventually([&] { return fs::exists(daemon_pid_file); }));
    const pid_t daemon_pid = std::stoi(read_text(daemon_pid_file));
    REQUIRE(::kill(daemon_pid, 0) == 0);

    WHEN("the run is canceled") {
      REQUIRE(engine->cancel(run.path()).has_value());
      const auto run_end = wait_until_finished(*engine, run.path());

      THEN("the run is Canceled and the daemon is gone") {
        CHECK(run_end.outcome == RunStatus::Canceled);
        CHECK(run_end.first_failed_task.empty());
        CHECK(run_end.tasks[0].state == "stopped");
        CHECK(::kill(daemon_pid, 0) != 0);
        CHECK(read_text(run.log_of("main")) == "daemon started\n");
      }
      AND_THEN("a second cancel is a no-op") {
        CHECK(engine->cancel(run.path()).has_value());
        const auto again = engine->observe(run.path());
        REQUIRE(again.has_value());
        CHECK(again->outcome == RunStatus::Canceled);
        CHECK(again->ended_at_ms == run_end.ended_at_ms);
      }
    }
  }
}

TEST_CASE("a task killed as the run is canceled leaves the run Canceled, the task stopped",
          "[engine]") {
  GIVEN("a running task whose supervisor is held still (SIGSTOP)") {
    RunDirectory run;
    auto engine = make_engine();
    REQUIRE(engine->start(run.path(), run.single({"/bin/sleep", "300"})).has_value());
    const auto running = wait_until_running(*engine, run.path());
    REQUIRE(running.phase == Phase::running);
    const pid_t supervisor = state_of(run.path()).supervisor.pid;
    const pid_t task_pid = static_cast<pid_t>(running.tasks[0].pid);
    REQUIRE(::kill(supervisor, SIGSTOP) == 0);
    REQUIRE(eventually([&] {
      const auto info = trainctl::service::read_process_info(supervisor);
      return info && info->state == 'T';
    }));

    WHEN("the run is canceled, then its task is killed, before the supervisor looks again") {
      // What Slurm's scancel does on a node: the cancel's signal reaches the task and its
      // supervisor at once, and the supervisor learns of both together.
      REQUIRE(engine->cancel(run.path()).has_value());
      REQUIRE(::kill(task_pid, SIGKILL) == 0);
      REQUIRE(eventually([&] { return process_gone(task_pid); }));
      REQUIRE(::kill(supervisor, SIGCONT) == 0);
      const auto run_end = wait_until_finished(*engine, run.path());

      THEN("the cancel decides the run: Canceled, and the task was stopped, not failed") {
        CHECK(run_end.outcome == RunStatus::Canceled);
        CHECK_FALSE(run_end.exit_code.has_value());
        CHECK(run_end.first_failed_task.empty());
        CHECK(run_end.tasks[0].state == "stopped");
        CHECK(run_end.tasks[0].signal == SIGKILL);
      }
    }
  }
}

TEST_CASE("a run over its maximum duration times out", "[engine]") {
  RunDirectory run;
  auto engine = make_engine();
  auto plan = run.single({"sleep", "30"});
  plan.max_duration_seconds = 1;
  REQUIRE(engine->start(run.path(), plan).has_value());

  const auto run_end = wait_until_finished(*engine, run.path());

  CHECK(run_end.outcome == RunStatus::TimedOut);
  CHECK(run_end.reason == "the run exceeded its maximum duration of 1.0s");
  CHECK(run_end.tasks[0].state == "stopped");
  CHECK(run_end.tasks[0].signal == SIGTERM);
}

TEST_CASE("a program that cannot start fails the run with a clear reason", "[engine]") {
  RunDirectory run;
  auto engine = make_engine();

  SECTION("an absolute path that does not exist") {
    REQUIRE(engine->start(run.path(), run.single({"/nonexistent/train", "--lr", "1"})).has_value());
    const auto run_end = wait_until_finished(*engine, run.path());
    CHECK(run_end.outcome == RunStatus::Failed);
    CHECK(run_end.reason == "cannot start '/nonexistent/train': No such file or directory");
    CHECK(run_end.tasks[0].state == "failed_to_start");
    CHECK(run_end.tasks[0].message == run_end.reason);
  }
  SECTION("a name that is not on the plan's PATH") {
    REQUIRE(engine->start(run.path(), run.single({"no-such-trainer-xyz"})).has_value());
    const auto run_end = wait_until_finished(*engine, run.path());
    CHECK(run_end.outcome == RunStatus::Failed);
    CHECK(run_end.reason ==
          "cannot start 'no-such-trainer-xyz': No such file or directory (searched "
          "PATH=/usr/bin:/bin)");
  }
  SECTION("a file that is not executable") {
    const auto script = run.write_script("train.sh", "echo hi\n");
    REQUIRE(engine->start(run.path(), run.single({script.string()})).has_value());
    const auto run_end = wait_until_finished(*engine, run.path());
    CHECK(run_end.outcome == RunStatus::Failed);
    CHECK(run_end.reason == "cannot start '" + script.string() + "': Permission denied");
  }
}

TEST_CASE("a new engine recovers a run another engine started", "[engine]") {
  GIVEN("a run that waits for a release file, started by an engine that is then dropped") {
    RunDirectory run;
    const auto release = run.path() / "release";
    const auto script = fmt::format(
        "echo first; while [ ! -e '{}' ]; do sleep 0.05; done; echo second", release.string());
    auto first_engine = make_engine();
    REQUIRE(first_engine->start(run.path(), run.single({"/bin/sh", "-c", script})).has_value());
    first_engine.reset();

    WHEN("a new engine recovers it, and the run is released") {
      auto engine = make_engine();
      const auto recovered = engine->recover(run.path());
      std::ofstream(release).put('\n');
      const auto run_end = wait_until_finished(*engine, run.path());

      THEN("the run was still going, and finishes Completed with its whole log") {
        REQUIRE(recovered.has_value());
        CHECK(recovered->phase != Phase::finished);
        CHECK(run_end.outcome == RunStatus::Completed);
        CHECK(read_text(run.log_of("main")) == "first\nsecond\n");
      }
    }
  }
}

TEST_CASE("a run whose supervisor was killed is failed and its tasks stopped", "[engine]") {
  GIVEN("a running task") {
    RunDirectory run;
    auto engine = make_engine();
    REQUIRE(engine->start(run.path(), run.single({"/bin/sleep", "300"})).has_value());
    const auto running = wait_until_running(*engine, run.path());
    REQUIRE(running.phase == Phase::running);
    const auto state = state_of(run.path());
    const pid_t task_pid = static_cast<pid_t>(running.tasks[0].pid);

    WHEN("its supervisor is killed with SIGKILL and a new engine recovers the run") {
      REQUIRE(::kill(state.supervisor.pid, SIGKILL) == 0);
      REQUIRE(eventually([&] { return process_gone(state.supervisor.pid); }));
      const auto recovered = make_engine()->recover(run.path());

      THEN("the run is Failed because the supervisor died, and the task is gone") {
        REQUIRE(recovered.has_value());
        CHECK(recovered->phase == Phase::finished);
        CHECK(recovered->outcome == RunStatus::Failed);
        CHECK(recovered->reason == "the run's supervisor died unexpectedly");
        CHECK(eventually([&] { return process_gone(task_pid); }));
        CHECK(engine->observe(run.path())->outcome == RunStatus::Failed);
      }
    }
  }
}

TEST_CASE("a task gets exactly its plan's environment and no inherited descriptor", "[engine]") {
  GIVEN("a test process with a token, a stray variable and a descriptor open without CLOEXEC") {
    ::setenv("TRAINCTL_TOKEN", "secret-token", 1);
    ::setenv("LEAKY_TEST_VARIABLE", "leak", 1);
    const int stray_fd = ::open("/dev/null", O_RDONLY);  // inheritable on purpose
    REQUIRE(stray_fd >= 0);
    RunDirectory run;
    auto engine = make_engine();

    WHEN("tasks print their environment and their open descriptors") {
      auto env_task = run.task("env", {"/usr/bin/env"});
      env_task.env = {{"ONLY_VARIABLE", "x y"}, {"PATH", "/usr/bin:/bin"}};
      const auto fd_task = run.task("fds", {k_python, "-c", R"(
import os
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
print([fd for fd in range(4096) if is_open(fd)])
)"});
      REQUIRE(engine->start(run.path(), run.plan({env_task, fd_task})).has_value());
      const auto run_end = wait_until_finished(*engine, run.path());

      THEN("they saw only the plan's variables, and only stdin, stdout and stderr") {
        CHECK(run_end.outcome == RunStatus::Completed);
        CHECK(read_text(run.log_of("env")) == "ONLY_VARIABLE=x y\nPATH=/usr/bin:/bin\n");
        CHECK(read_text(run.log_of("fds")) == "[0, 1, 2]\n");
      }
    }
    ::close(stray_fd);
    ::unsetenv("TRAINCTL_TOKEN");
    ::unsetenv("LEAKY_TEST_VARIABLE");
  }
}
