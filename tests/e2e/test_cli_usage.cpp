// A mistyped command or option gets what was probably meant, with the usage exit code (2).
#include <catch2/catch.hpp>

#include "test_cli_common.hpp"

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
