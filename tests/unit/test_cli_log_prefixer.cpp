// The merged log view: "[task] " at the start of every line, once per line, per task.
#include <catch2/catch.hpp>

#include "trainctl/cli/log_prefixer.hpp"

using trainctl::cli::LogPrefixer;

TEST_CASE("log prefixer: lines of distributed tasks carry their task", "[cli][logs]") {
  LogPrefixer prefixer;
  SECTION("given whole lines of one task, each line is prefixed") {
    CHECK(prefixer.apply("worker-1", "step 1\nstep 2\n") ==
          "[worker-1] step 1\n[worker-1] step 2\n");
  }
  SECTION("given a line split over two events, it is prefixed once, at its start") {
    CHECK(prefixer.apply("rank-0", "loss 0.") == "[rank-0] loss 0.");
    CHECK(prefixer.apply("rank-0", "31\nacc") == "31\n[rank-0] acc");
    CHECK(prefixer.apply("rank-0", "uracy 0.9\n") == "uracy 0.9\n");
    CHECK(prefixer.apply("rank-0", "done\n") == "[rank-0] done\n");
  }
  SECTION("given several tasks interleaved, each task's line starts are tracked on their own") {
    CHECK(prefixer.apply("chief-0", "evaluating") == "[chief-0] evaluating");
    CHECK(prefixer.apply("ps-0", "serving\n") == "[ps-0] serving\n");
    CHECK(prefixer.apply("chief-0", " done\n") == " done\n");
    CHECK(prefixer.apply("ps-0", "still serving") == "[ps-0] still serving");
    CHECK(prefixer.apply("worker-0", "pushed\n") == "[worker-0] pushed\n");
  }
  SECTION("given empty data, nothing is printed and the line state is kept") {
    CHECK(prefixer.apply("rank-1", "half").size() > 0);
    CHECK(prefixer.apply("rank-1", "").empty());
    CHECK(prefixer.apply("rank-1", " line\n") == " line\n");
  }
  SECTION("given blank lines, each gets its prefix") {
    CHECK(prefixer.apply("mpirun", "\n\n") == "[mpirun] \n[mpirun] \n");
  }
}

TEST_CASE("log prefixer: the only task of a plain run prints as written", "[cli][logs]") {
  LogPrefixer prefixer;
  CHECK_FALSE(LogPrefixer::prefixes("main"));
  CHECK(LogPrefixer::prefixes("rank-0"));
  CHECK(prefixer.apply("main", "hello\nwor") == "hello\nwor");
  CHECK(prefixer.apply("main", "ld\n") == "ld\n");
}
