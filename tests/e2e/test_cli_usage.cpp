// A mistyped command or option gets what was probably meant, with the usage exit code (2).
#include <catch2/catch.hpp>

#include "test_cli_common.hpp"
#include "trainctl/util/fs.hpp"

using namespace trainctl::testing;

TEST_CASE("e2e: a mistyped command or option says what was meant", "[e2e][cli][usage]") {
  const CliEnvironment cli;
  const auto expect = [&](std::vector<std::string> args, const std::string& message) {
    const auto ran = cli.run(std::move(args));
    INFO(ran.out << ran.err);
    CHECK(ran.exit_code == 2);
    CHECK_THAT(ran.err, Catch::Contains(message));
    CHECK(ran.out.empty());
  };
  expect({"rn", "list"}, "unknown command 'rn' of 'trainctl'; did you mean 'run'?");
  expect({"submti", "x.yaml"}, "did you mean 'submit'?");
  expect({"run", "lst"}, "unknown command 'lst' of 'trainctl run'; did you mean 'list'?");
  expect({"-o", "json", "compute", "creat", "x"}, "did you mean 'create'?");
  expect({"run", "list", "-w", "default", "--stauts", "Failed"},
         "unknown option '--stauts' of 'trainctl run list'; did you mean '--status'?");
  // Nothing near: the commands there are.
  expect({"frobnicate"}, "unknown command 'frobnicate' of 'trainctl'; one of: server, workspace");
}

TEST_CASE("e2e: every command's help lists the global options too", "[e2e][cli][usage]") {
  const CliEnvironment cli;
  for (const auto& command : {std::vector<std::string>{"run", "list", "--help"},
                              std::vector<std::string>{"submit", "--help"},
                              std::vector<std::string>{"compute", "create", "--help"}}) {
    const auto help = cli.run(command);
    INFO(help.out);
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("Global options (any command):") &&
                             Catch::Contains("-o,--output") && Catch::Contains("--endpoint") &&
                             Catch::Contains("-w,--workspace"));
  }
}

TEST_CASE("e2e: on a terminal an error is coloured, but not for TERM=dumb nor NO_COLOR, and not "
          "in a file while stdout is the terminal",
          "[e2e][cli][color]") {
  // `script` gives the command a terminal for stdout and stderr; the command fails after parsing
  // (nothing listens at the endpoint), so its error goes through the printer.
  const TempDir dir;
  const auto on_terminal = [&](const std::string& environment, const std::string& redirect = "") {
    const std::string command = environment + " " + TRAINCTL_BINARY +
                                " run show run-x --endpoint http://127.0.0.1:9 --token t " + redirect;
    return run_command({"script", "-qec", command, "/dev/null"}, {{"NO_COLOR", ""}}).out;
  };
  CHECK_THAT(on_terminal("TERM=xterm"), Catch::Contains("\033[31merror:"));
  CHECK_THAT(on_terminal("TERM=dumb"), !Catch::Contains("\033[") && Catch::Contains("error:"));
  CHECK_THAT(on_terminal("TERM=xterm NO_COLOR=1"), !Catch::Contains("\033[") && Catch::Contains("error:"));
  const auto file = (dir.path() / "err.txt").string();
  on_terminal("TERM=xterm", "2>" + file);
  const auto written = trainctl::util::read_file(file).value_or("");
  CHECK_THAT(written, Catch::Contains("error:") && !Catch::Contains("\033["));
}

TEST_CASE("e2e: a command refuses an output format it has no form for", "[e2e][cli][usage]") {
  const CliEnvironment cli;
  const auto logs = cli.run({"logs", "run-x", "-o", "json"});
  CHECK(logs.exit_code == 2);
  CHECK_THAT(logs.err, Catch::Contains("-o json is not one of its formats (table)"));
  const Project project("print('hi')\n");
  const auto validated = cli.run({"validate", project.spec(), "-o", "name"}, project.dir());
  CHECK(validated.exit_code == 2);
  CHECK(validated.out.empty());
  for (const std::vector<std::string>& specs :
       {std::vector<std::string>{project.spec()}, std::vector<std::string>{project.spec(), project.spec()}}) {
    std::vector<std::string> argv{"submit"};
    argv.insert(argv.end(), specs.begin(), specs.end());
    argv.insert(argv.end(), {"--dry-run", "-o", "name"});
    const auto dry = cli.run(argv, project.dir());
    CHECK(dry.exit_code == 2);
    CHECK(dry.out.empty());
    CHECK_THAT(dry.err, Catch::Contains("submit --dry-run prints launch plans, which have no name"));
  }
}

TEST_CASE("e2e: global options before the command, in every spelling, reach the command",
          "[e2e][cli][usage]") {
  // The program builds only the command group the arguments name, so it must find the command
  // behind every form of the options before it.
  const ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  for (const auto& args : {std::vector<std::string>{"-o", "json", "workspace", "list"},
                           std::vector<std::string>{"-ojson", "workspace", "list"},
                           std::vector<std::string>{"--output=json", "ws", "list"},
                           std::vector<std::string>{"-qo", "json", "workspace", "list"},
                           std::vector<std::string>{"-w", "run", "-o", "json", "workspace", "list"},
                           std::vector<std::string>{"--endpoint", service.endpoint(), "--output",
                                                    "json", "workspace", "list"}}) {
    const auto listed = cli.run(args);
    INFO(listed.out << listed.err);
    CHECK(listed.exit_code == 0);
    CHECK_THAT(listed.out, Catch::Contains("\"name\": \"default\""));
  }
  const auto version = cli.run({"--version"});
  CHECK(version.exit_code == 0);
  CHECK_THAT(version.out, Catch::StartsWith("trainctl "));
  const auto help = cli.run({"--help"});
  CHECK(help.exit_code == 0);
  for (const auto* command : {"server", "submit", "run", "register", "deploy", "completion", "ui"}) {
    CHECK_THAT(help.out, Catch::Contains(std::string("\n  ") + command));
  }
}

TEST_CASE("e2e: --verbose prints debug lines on stderr, and only then", "[e2e][cli][usage]") {
  const ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);
  const auto verbose = cli.run({"-v", "workspace", "list", "-o", "name"});
  CHECK(verbose.exit_code == 0);
  CHECK(trimmed(verbose.out) == "default");
  CHECK_THAT(verbose.err, Catch::Contains("debug: endpoint \"" + service.endpoint() + "\"") &&
                              Catch::Contains("debug: service " + service.endpoint()));
  const auto quiet = cli.run({"workspace", "list", "-o", "name"});
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
}
