// What `trainctl validate` and `submit` do with a spec path that is no ordinary, small file: a
// FIFO is refused at once (never opened, so nothing blocks), a spec over 1 MiB is refused before
// it is read, both as invalid specs (exit 6) saying what to give instead.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>

#include "test_cli_common.hpp"

using namespace trainctl::testing;

TEST_CASE("e2e: validate refuses a FIFO and a spec over 1 MiB as invalid, without blocking",
          "[e2e][cli][spec]") {
  TempDir dir;
  const CliEnvironment cli;

  const auto fifo = dir.path() / "job.yaml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto from_fifo = cli.run({"validate", fifo.string()}, {}, 10);
  CHECK(from_fifo.exit_code == 6);
  CHECK_THAT(from_fifo.err, Catch::Contains("not a regular file"));

  const auto large = dir.path() / "large.yaml";
  std::ofstream(large) << "experiment: big\n# " << std::string(2u << 20, 'x') << "\n";
  const auto from_large = cli.run({"validate", large.string()}, {}, 10);
  CHECK(from_large.exit_code == 6);
  CHECK_THAT(from_large.err, Catch::Contains("at most 1048576 bytes"));

  const auto missing = cli.run({"validate", (dir.path() / "none.yaml").string()}, {}, 10);
  CHECK(missing.exit_code == 7);
}
