// `trainctl run metrics|compare` and `run list --columns/--sort`, as a user types them against
// a real trainctld (docs/metrics.md); the chart is checked in a real terminal (tmux).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <regex>
#include <thread>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"

using namespace trainctl::testing;
using nlohmann::json;

namespace {

std::string submitted_run(const CliEnvironment& cli, const Project& project,
                          std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"submit", project.spec(), "--stream"};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto submitted = cli.run(args);
  INFO(submitted.out << submitted.err);
  REQUIRE(submitted.exit_code == 0);
  std::smatch match;
  REQUIRE(std::regex_search(submitted.err, match, std::regex("submitted run (run-[a-z0-9]+)")));
  return match[1];
}

const char* k_curve_script =
    "import sys, trainctl\n"
    "lr = float(sys.argv[sys.argv.index('--lr') + 1])\n"
    "for step in range(200):\n"
    "    trainctl.log_metric('loss', 1.0 / (1 + lr * step), step=step)\n"
    "trainctl.log_metric('accuracy', min(0.99, 0.5 + lr))\n"
    "trainctl.log_param('optimizer', 'sgd')\n";

const char* k_curve_spec = "  script_params: {--lr: 0.1}\n";

bool has_tmux() { return run_command({"sh", "-c", "command -v tmux"}).exit_code == 0; }

// What a terminal of 100 x 40 shows after `command` ran in it.
std::string terminal_screen(const std::string& command) {
  const std::string session = "trainctl-e2e-" + std::to_string(::getpid());
  run_command({"tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "40",
               command + "; echo '<done>'; sleep 60"});
  std::string screen;
  for (int i = 0; i < 600; ++i) {  // until the command has finished
    screen = run_command({"tmux", "capture-pane", "-p", "-t", session}).out;
    if (screen.find("<done>") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  run_command({"tmux", "kill-session", "-t", session});
  return screen;
}

}  // namespace

SCENARIO("a user looks at the metrics of runs", "[e2e][cli][metrics]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  Project project(k_curve_script, k_curve_spec);
  const std::string slow = submitted_run(cli, project);
  const std::string fast = submitted_run(cli, project, {"--set", "estimator.script_params.--lr=0.4"});

  WHEN("they ask for a run's metrics") {
    const auto shown = cli.run({"run", "metrics", fast});
    THEN("a table gives each metric's last value, step, range and count, then params") {
      INFO(shown.out << shown.err);
      CHECK(shown.exit_code == 0);
      CHECK(std::regex_search(shown.out, std::regex(R"(loss\s+0\.0124069\s+199\s+0\.0124069\s+1\s+200)")));
      CHECK(std::regex_search(shown.out, std::regex(R"(accuracy\s+0\.9\s+0)")));
      CHECK(shown.out.find("--lr: 0.4") != std::string::npos);
      CHECK(shown.out.find("optimizer: sgd") != std::string::npos);
      CHECK(shown.out.find("\u2800") == std::string::npos);  // no chart on a pipe
    }
  }
  WHEN("they ask for one metric's points as JSON, at most 10") {
    const auto shown = cli.run({"run", "metrics", fast, "--name", "loss", "--max-points", "10", "-o", "json"});
    THEN("the series comes downsampled to 10 points") {
      INFO(shown.err);
      REQUIRE(shown.exit_code == 0);
      const auto document = json::parse(shown.out);
      CHECK(document["series"][0]["count"] == 200);
      CHECK(document["series"][0]["points"].size() == 10);
    }
  }
  WHEN("they name a metric the run did not log") {
    const auto shown = cli.run({"run", "metrics", fast, "--name", "recall"});
    THEN("the error names the metrics it has, exit 7") {
      CHECK(shown.exit_code == 7);
      CHECK(shown.err.find("its metrics are accuracy, loss") != std::string::npos);
    }
  }
  WHEN("they list the runs by accuracy with metric and param columns") {
    const auto listed = cli.run({"run", "list", "--columns", "metrics.accuracy,params.--lr",
                                 "--sort", "-metrics.accuracy"});
    THEN("the best run comes first, with its values in the new columns") {
      INFO(listed.out << listed.err);
      REQUIRE(listed.exit_code == 0);
      CHECK(listed.out.find("METRICS.ACCURACY") != std::string::npos);
      CHECK(listed.out.find("PARAMS.--LR") != std::string::npos);
      CHECK(listed.out.find(fast) < listed.out.find(slow));
      CHECK(std::regex_search(listed.out, std::regex(fast + R"(.*0\.9\s+0\.4)")));
    }
  }
  WHEN("they compare the two runs") {
    const auto compared = cli.run({"run", "compare", slow, fast});
    THEN("params and metrics are side by side, the differing ones marked") {
      INFO(compared.out << compared.err);
      REQUIRE(compared.exit_code == 0);
      CHECK(std::regex_search(compared.out, std::regex(R"(\*\s+params\.--lr\s+0\.1\s+0\.4)")));
      CHECK(std::regex_search(compared.out, std::regex(R"(\n\s+params\.optimizer\s+sgd\s+sgd)")));
      CHECK(std::regex_search(compared.out, std::regex(R"(\*\s+metrics\.accuracy\s+0\.6\s+0\.9)")));
    }
  }
  WHEN("they give bad arguments") {
    CHECK(cli.run({"run", "compare", fast}).exit_code == 2);
    CHECK(cli.run({"run", "list", "--columns", "accuracy"}).exit_code == 2);
    const auto bad_name = cli.run({"run", "metrics", fast, "--name", "a b"});
    CHECK(bad_name.exit_code == 2);
    CHECK(bad_name.err.find("letters, digits and _ . - / :") != std::string::npos);
  }
  WHEN("they look at a metric in a terminal") {
    if (!has_tmux()) {
      WARN("tmux is not installed: the chart is not checked");
      return;
    }
    const std::string command = fmt::format(
        "env TRAINCTL_ENDPOINT={} TRAINCTL_TOKEN={} {} run metrics {} --name loss",
        service.endpoint(), service.token(), TRAINCTL_BINARY, fast);
    const auto screen = terminal_screen(command);
    THEN("it is drawn as a braille chart falling from the top left to the bottom right") {
      INFO(screen);
      CHECK(screen.find("loss (task main, attempt 1, 200 points") != std::string::npos);
      const std::string axis = "┤";
      const auto top = screen.find(axis);
      const auto bottom = screen.rfind(axis);
      REQUIRE(top != std::string::npos);
      REQUIRE(bottom != top);
      CHECK(screen.substr(top + axis.size(), 3) != "\u2800");  // drawn at the top left
      const auto bottom_end = screen.find('\n', bottom);
      CHECK(screen.substr(bottom_end - 3, 3) != "\u2800");     // and at the bottom right
      CHECK(std::regex_search(screen, std::regex(R"(0\.0124\d* ┤)")));
      CHECK(screen.find("└──") != std::string::npos);
    }
  }
}

SCENARIO("a user follows a run's metrics as they are logged", "[e2e][cli][metrics]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  GIVEN("a run that logs a point, then waits to be let go before it logs the next") {
    Project project(
        "import os, time, trainctl\n"
        "trainctl.log_metric('loss', 0.75, step=0)\n"
        "go = os.path.join(os.environ['TRAINCTL_OUTPUTS_DIR'], 'go')\n"
        "while not os.path.exists(go):\n"
        "    time.sleep(0.02)\n"
        "trainctl.log_metric('loss', 0.25, step=1)\n");
    const auto submitted = cli.run({"submit", project.spec()});
    const std::string said = submitted.out + submitted.err;
    INFO(said);
    std::smatch match;
    REQUIRE(std::regex_search(said, match, std::regex("(run-[a-z0-9]{10})")));
    const std::string id = match[1];
    const std::string go = (service.home() / "runs" / id / "outputs" / "go").string();

    WHEN("they follow it, and whatever reads the output lets the run go on once it sees a point") {
      const auto followed = run_command(
          {"sh", "-c",
           fmt::format("\"$0\" run metrics {} -f | {{ IFS= read -r first; echo \"$first\"; touch {}; cat; }}",
                       id, go),
           TRAINCTL_BINARY},
          {{"TRAINCTL_ENDPOINT", service.endpoint()}, {"TRAINCTL_TOKEN", service.token()}});
      THEN("the first point was printed while the run waited, then the second, and the run ends") {
        INFO(followed.out << followed.err);
        CHECK(followed.exit_code == 0);
        CHECK(std::regex_search(followed.out, std::regex(R"(^\s+0\s+loss\s+0\.75\s+\(task main)")));
        CHECK(std::regex_search(followed.out, std::regex(R"(\n\s+1\s+loss\s+0\.25\s+\(task main)")));
      }
    }
  }
}
