// Runs on a real Slurm cluster (scripts/slurm-cluster.sh: slurmctld and three slurmd, each node a
// network namespace of its own whose view of the file system hides trainctld's home), through the
// real CLI: the run executes on a node, its log streams back, its outputs arrive and can be
// registered; a cancel ends the job and every process; an administrator's scancel and a time
// limit end the run with the right status; the run's credential opens its own routes only.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "slurm_setup.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/strings.hpp"

namespace {

using namespace trainctl::testing;
using json = nlohmann::json;
namespace fs = std::filesystem;

}  // namespace

TEST_CASE(
    "e2e: a run on a Slurm target runs on a node that cannot see the service's home, streams its "
    "log and brings its outputs back",
    "[e2e][cli][slurm]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const auto home_token = (setup.service().home() / "token").string();
  const auto project = setup.project(
      "import os, socket\n"
      "print('running on', os.popen('hostname -I').read().strip(), flush=True)\n"
      "print('service home visible:', os.path.exists('" + home_token + "'), flush=True)\n"
      "os.makedirs('./outputs/model', exist_ok=True)\n"
      "open('./outputs/model/weights.txt', 'w').write('w' * 1000)\n");

  const auto streamed = setup.cli().run({"submit", project.spec(), "--stream"}, project.dir(), 120);
  INFO(streamed.out << streamed.err);
  CHECK(streamed.exit_code == 0);
  CHECK_THAT(streamed.out, Catch::Contains("running on 192.0.2."));
  CHECK_THAT(streamed.out, Catch::Contains("service home visible: False"));

  const auto listed = setup.cli().run({"run", "list", "-o", "name"});
  const std::string run = trimmed(listed.out.substr(0, listed.out.find('\n')));
  // The timeline says where Slurm ran it.
  const auto shown = setup.cli().run({"run", "show", run});
  CHECK_THAT(shown.out, Catch::Matches("(.|\n)*Running .*Slurm job [0-9]+ on n[0-9](.|\n)*"));
  const auto files = setup.cli().run({"run", "files", run});
  CHECK_THAT(files.out, Catch::Contains("outputs/model/weights.txt") && Catch::Contains("logs/main.log"));
  const auto registered = setup.cli().run(
      {"register", "--run", run, "--name", "from-slurm", "--path", "outputs/model"});
  INFO(registered.err);
  CHECK(registered.exit_code == 0);
  // The run's credential went with the run.
  CHECK_FALSE(fs::exists(setup.service().home() / "runs" / run / "agent.credential"));
}

TEST_CASE("e2e: canceling a run on Slurm ends its job and every process it started",
          "[e2e][cli][slurm]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const auto project = setup.project(
      "import os, time\n"
      "os.system('setsid sleep 4242 &')\n"
      "print('started', flush=True)\n"
      "time.sleep(600)\n");
  const std::string run = setup.submit(project);
  REQUIRE(setup.wait_for_status(run, "Running"));

  const auto canceled = setup.cli().run({"run", "cancel", run});
  CHECK(canceled.exit_code == 0);
  const auto waited = setup.cli().run({"run", "wait", run}, {}, 60);
  CHECK(waited.exit_code == 4);
  CHECK(setup.status(run) == "Canceled");
  CHECK(setup.queue_empties());
  CHECK(run_command({"pgrep", "-f", "sleep 4242"}).exit_code == 1);  // nothing left on the node
}

TEST_CASE("e2e: a run on Slurm that an administrator scancels ends Canceled, saying so",
          "[e2e][cli][slurm]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const std::string run = setup.submit(setup.project("import time\nprint('up', flush=True)\ntime.sleep(600)\n"));
  REQUIRE(setup.wait_for_status(run, "Running"));
  const auto jobs = setup.cluster().exec({"squeue", "-h", "-o", "%i"});
  REQUIRE_FALSE(trimmed(jobs.out).empty());
  CHECK(setup.cluster().exec({"scancel", trimmed(jobs.out)}).exit_code == 0);

  REQUIRE(setup.wait_for_status(run, "Canceled"));
  const auto shown = json::parse(setup.cli().run({"run", "show", run, "-o", "json"}).out);
  CHECK_THAT(shown.dump(), Catch::Contains("stopped by Slurm, not by trainctl"));
}

TEST_CASE("e2e: a run on Slurm past its max_run_duration ends TimedOut",
          "[e2e][cli][slurm]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const auto project = setup.project("import time\ntime.sleep(600)\n", "limits: {max_run_duration: 2s}\n");
  const auto streamed = setup.cli().run({"submit", project.spec(), "--stream"}, project.dir(), 120);
  CHECK(streamed.exit_code == 5);
}

TEST_CASE("e2e: a run's agent routes take that run's credential only, never the service token",
          "[e2e][cli][slurm][security]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  const std::string run = setup.submit(setup.project("import time\ntime.sleep(600)\n"));
  REQUIRE(setup.wait_for_status(run, "Running"));
  const std::string plan = setup.service().endpoint() + "/v1/agent/runs/" + run + "/plan";
  const auto with_token = run_command({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                                       "Authorization: Bearer " + setup.service().token(), plan});
  CHECK(with_token.out == "401");
  const auto with_guess = run_command({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                                       "Authorization: Bearer 0123456789abcdef", plan});
  CHECK(with_guess.out == "401");
  CHECK(setup.cli().run({"run", "cancel", run}).exit_code == 0);
  REQUIRE(setup.wait_for_status(run, "Canceled"));
}

TEST_CASE("e2e: a run on Slurm logs metrics with `import trainctl`, and they reach the service",
          "[e2e][cli][slurm][metrics]") {
  REQUIRE_CLUSTER();
  SlurmSetup setup;
  // The module and the metrics file are on the node; the node agent sends the metrics file back
  // with the run's logs.
  const auto project = setup.project(
      "import trainctl\n"
      "for step in range(500):\n"
      "    trainctl.log_metric('loss', 1.0 / (step + 1), step=step)\n"
      "trainctl.log_param('where', 'slurm')\n");
  const auto streamed = setup.cli().run({"submit", project.spec(), "--stream"}, project.dir(), 120);
  INFO(streamed.out << streamed.err);
  REQUIRE(streamed.exit_code == 0);
  const auto listed = setup.cli().run({"run", "list", "-o", "name"});
  const std::string run = trimmed(listed.out.substr(0, listed.out.find('\n')));
  const auto shown = setup.cli().run({"run", "metrics", run, "-o", "json"});
  INFO(shown.out << shown.err);
  REQUIRE(shown.exit_code == 0);
  const auto metrics = json::parse(shown.out);
  CHECK(metrics["metrics"]["loss"]["count"] == 500);
  CHECK(metrics["metrics"]["loss"]["last_step"] == 499);
  CHECK(metrics["params"]["where"] == "slurm");
}
