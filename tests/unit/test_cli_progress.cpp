// The progress line: drawn only on a terminal, at most every 100 ms, erased at the end.
#include <catch2/catch.hpp>

#include <sstream>

#include "trainctl/cli/printer.hpp"
#include "trainctl/cli/progress.hpp"

namespace {

using trainctl::cli::ProgressReporter;
using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  ProgressReporter::Clock clock() {
    return [this] { return now; };
  }
};

size_t count_of(const std::string& text, std::string_view what) {
  size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

}  // namespace

TEST_CASE("progress is drawn on a terminal and nothing is written on a pipe", "[cli][progress]") {
  std::ostringstream err;
  FakeClock time;
  SECTION("given stderr is not a terminal, nothing at all") {
    ProgressReporter reporter(err, false, time.clock());
    reporter.update("uploading", 10, 100);
    reporter.finish();
    CHECK(err.str().empty());
  }
  SECTION("given a terminal, the bytes done of the total, then the line erased") {
    ProgressReporter reporter(err, true, time.clock());
    reporter.update("uploading", 0, 2048);
    time.now += 1s;
    reporter.update("uploading", 1024, 2048);
    CHECK_THAT(err.str(), Catch::Contains("uploading [") && Catch::Contains("1.0 KiB/2.0 KiB") &&
                              Catch::Contains("1.0 KiB/s"));
    reporter.finish();
    CHECK_THAT(err.str(), Catch::EndsWith("\r\033[K"));
  }
  SECTION("given a quiet printer on a terminal, nothing") {
    std::ostringstream out;
    trainctl::cli::Printer printer(out, err, {.quiet = true, .progress = true});
    printer.progress("uploading", 1, 2);
    printer.end_progress();
    CHECK(err.str().empty());
  }
}

TEST_CASE("progress is redrawn at most every 100 ms", "[cli][progress]") {
  std::ostringstream err;
  FakeClock time;
  ProgressReporter reporter(err, true, time.clock());
  GIVEN("a drawn line") {
    reporter.update("downloading", 0, 1000);
    WHEN("many updates come within 100 ms") {
      for (int i = 1; i <= 50; ++i) {
        time.now += 1ms;
        reporter.update("downloading", static_cast<uint64_t>(i), 1000);
      }
      THEN("the line is not redrawn") { CHECK(count_of(err.str(), "downloading") == 1); }
      AND_WHEN("100 ms have passed since it was drawn") {
        time.now += 50ms;
        reporter.update("downloading", 60, 1000);
        THEN("it is redrawn once") { CHECK(count_of(err.str(), "downloading") == 2); }
      }
    }
  }
  GIVEN("a finished transfer") {
    reporter.update("downloading", 0, 10);
    reporter.finish();
    WHEN("a new one starts at once") {
      reporter.update("uploading", 0, 10);
      THEN("its first update is drawn") { CHECK(count_of(err.str(), "uploading") == 1); }
    }
  }
}
