// The real trainctl against a real trainctld: compute targets created, waited for, listed,
// shown, updated and deleted as a user does, with the outputs scripts rely on.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "test_cli_common.hpp"

namespace {

using namespace trainctl::testing;
using nlohmann::json;

constexpr int k_exit_not_found = 7;
constexpr int k_exit_conflict = 9;

json parsed(const CommandResult& result) { return json::parse(result.out, nullptr, false); }

}  // namespace

TEST_CASE("e2e: a compute target is created with --wait, listed, shown, updated and deleted",
          "[e2e][cli][compute]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);

  const auto created = cli.run({"compute", "create", "cpu4", "--type", "local", "--max-nodes", "4",
                                "--wait", "-o", "json"});
  INFO(created.err);
  REQUIRE(created.exit_code == 0);
  const auto compute = parsed(created);
  CHECK(compute["name"] == "cpu4");
  CHECK(compute["state"] == "Succeeded");
  CHECK(compute["max_nodes"] == 4);

  SECTION("list shows it next to 'local' with its busy/max nodes") {
    const auto listed = cli.run({"compute", "list"});
    INFO(listed.err);
    CHECK(listed.exit_code == 0);
    CHECK_THAT(listed.out, Catch::Contains("NAME") && Catch::Contains("NODES") &&
                               Catch::Contains("GPUS/NODE") && Catch::Contains("QUEUED"));
    CHECK_THAT(listed.out, Catch::Contains("cpu4") && Catch::Contains("0/4") &&
                               Catch::Contains("local") && Catch::Contains("0/8"));
    const auto names = cli.run({"compute", "list", "-o", "name"});
    CHECK(names.out == "cpu4\nlocal\n");
  }
  SECTION("show describes it for people") {
    const auto shown = cli.run({"compute", "show", "cpu4"});
    INFO(shown.err);
    CHECK(shown.exit_code == 0);
    CHECK_THAT(shown.out, Catch::Contains("Succeeded") && Catch::Contains("Python 3") &&
                              Catch::Contains("0/4 busy"));
  }
  SECTION("creating it again is a conflict") {
    const auto again = cli.run({"compute", "create", "cpu4"});
    CHECK(again.exit_code == k_exit_conflict);
    CHECK_THAT(again.err, Catch::Contains("already exists"));
  }
  SECTION("update changes only the flags given") {
    const auto updated =
        cli.run({"compute", "update", "cpu4", "--gpus-per-node", "0", "--max-nodes", "2", "--wait",
                 "-o", "json"});
    INFO(updated.err);
    REQUIRE(updated.exit_code == 0);
    CHECK(parsed(updated)["max_nodes"] == 2);
    CHECK(parsed(updated)["state"] == "Succeeded");
  }
  SECTION("delete --wait removes it") {
    const auto deleted = cli.run({"compute", "delete", "cpu4", "--force", "--wait"});
    INFO(deleted.err);
    CHECK(deleted.exit_code == 0);
    CHECK_THAT(deleted.out, Catch::Contains("deleted compute target cpu4"));
    CHECK(cli.run({"compute", "show", "cpu4"}).exit_code == k_exit_not_found);
  }
}

TEST_CASE("e2e: compute create --wait exits nonzero with the reason when provisioning fails",
          "[e2e][cli][compute]") {
  ServiceFixture service;
  const auto cli = CliEnvironment::for_service(service);

  const auto created =
      cli.run({"compute", "create", "broken", "--python", "/nonexistent/python3", "--wait"});
  CHECK(created.exit_code == 1);
  CHECK_THAT(created.err, Catch::Contains("failed to provision") &&
                              Catch::Contains("/nonexistent/python3"));
  AND_THEN("a relative --python is a usage error before anything is sent") {
    const auto relative = cli.run({"compute", "create", "rel", "--python", "python3"});
    CHECK(relative.exit_code == 2);
    CHECK(cli.run({"compute", "show", "rel"}).exit_code == k_exit_not_found);
  }
}
