// What `run show` and `run list` print about scheduling and retries: priority, nodes, the
// attempts, the queue, and the time spent in each stage (run_timeline).
#include <algorithm>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "trainctl/cli/commands/run.hpp"
#include "trainctl/cli/run_timeline.hpp"
#include "trainctl/util/time.hpp"

namespace {

using namespace trainctl::cli;
using nlohmann::json;

json event(const char* status, const char* at, const char* message = "") {
  return {{"status", status}, {"at", at}, {"message", message}};
}

// A run that was killed on its first attempt and completed on its second.
json retried_run() {
  return {{"id", "run-r"},
          {"status", "Completed"},
          {"priority", 5},
          {"compute", "local"},
          {"nodes", json::array()},
          {"attempt", 2},
          {"max_attempts", 3},
          {"queue", nullptr},
          {"tasks", {{{"name", "main"}, {"state", "exited"}, {"exit_code", 0}}}},
          {"attempts",
           {{{"attempt", 1},
             {"status", "Failed"},
             {"exit_code", 137},
             {"signal", 9},
             {"reason", "task 'main' was killed by signal 9 (SIGKILL)"},
             {"first_failed_task", "main"},
             {"started_at", "2026-11-21T10:00:03.000Z"},
             {"ended_at", "2026-11-21T10:00:13.000Z"},
             {"tasks", json::array()}}}},
          {"timeline",
           {event("Queued", "2026-11-21T10:00:00.000Z"),
            event("Preparing", "2026-11-21T10:00:01.000Z"),
            event("Starting", "2026-11-21T10:00:02.000Z"),
            event("Running", "2026-11-21T10:00:03.000Z"),
            event("Starting", "2026-11-21T10:00:13.000Z",
                  "attempt 2 of 3: main killed by signal 9"),
            event("Running", "2026-11-21T10:00:14.000Z"),
            event("Finalizing", "2026-11-21T10:00:34.000Z"),
            event("Completed", "2026-11-21T10:00:35.000Z")}}};
}

std::string field(const Description& description, const std::string& label) {
  const auto it = std::find_if(description.fields.begin(), description.fields.end(),
                               [&](const auto& f) { return f.first == label; });
  return it == description.fields.end() ? "<absent>" : it->second;
}

const Description::Section* section(const Description& description, const std::string& title) {
  const auto it = std::find_if(description.sections.begin(), description.sections.end(),
                               [&](const auto& s) { return s.title == title; });
  return it == description.sections.end() ? nullptr : &*it;
}

std::string table_of(const ResourceKind& kind, const json& items) {
  std::ostringstream out;
  std::ostringstream err;
  Printer printer(out, err);
  printer.print_list(kind, items);
  return out.str();
}

}  // namespace

TEST_CASE("run timeline: each event lasts until the next, and a final status takes no time",
          "[cli][run][timeline]") {
  const json timeline = {event("Queued", "2026-11-21T10:00:00.000Z"),
                         event("Running", "2026-11-21T10:00:02.500Z"),
                         event("Failed", "2026-11-21T10:01:02.500Z")};
  const auto spans = timeline_spans(timeline, 0);
  REQUIRE(spans.size() == 3);
  CHECK(spans[0].spent_ms == 2'500);
  CHECK(spans[1].spent_ms == 60'000);
  CHECK_FALSE(spans[2].spent_ms);

  SECTION("the last stage of a run still going lasts until now") {
    const json going = {event("Queued", "2026-11-21T10:00:00.000Z")};
    const auto now = trainctl::util::parse_rfc3339("2026-11-21T10:00:05.000Z");
    REQUIRE(now);
    const auto open = timeline_spans(going, *now);
    REQUIRE(open.size() == 1);
    CHECK(open[0].spent_ms == 5'000);
  }
  SECTION("an unreadable time leaves the span unmeasured, not wrong") {
    const auto odd = timeline_spans({event("Queued", "yesterday"), event("Running", "")}, 0);
    CHECK_FALSE(odd[0].spent_ms);
  }
}

TEST_CASE("run timeline: the stages of a retried run are summed over its attempts",
          "[cli][run][timeline]") {
  const auto stages = stage_times(timeline_spans(retried_run()["timeline"], 0));
  REQUIRE(stages.size() == 5);
  CHECK(stages[0].stage == "Queued");
  CHECK(stages[0].spent_ms == 1'000);
  CHECK(stages[1].stage == "Preparing");
  CHECK(stages[2].stage == "Starting");
  CHECK(stages[2].spent_ms == 2'000);
  CHECK(stages[2].spans == 2);
  CHECK(stages[3].stage == "Running");
  CHECK(stages[3].spent_ms == 30'000);
  CHECK(stages[3].spans == 2);
  CHECK(stages[4].stage == "Finalizing");
  CHECK(stages[4].spans == 1);
}

TEST_CASE("run show: priority, attempts and the time spent per stage of a retried run",
          "[cli][run][display]") {
  const auto description = describe_run(retried_run(), 0);
  SECTION("the fields give the priority and which attempt this is") {
    CHECK(field(description, "Priority") == "5");
    CHECK(field(description, "Attempt") == "2 of 3");
    CHECK(field(description, "Nodes") == "-");
    CHECK(field(description, "Queue") == "<absent>");
  }
  SECTION("earlier attempts list how each ended and for how long") {
    const auto* attempts = section(description, "Earlier attempts");
    REQUIRE(attempts != nullptr);
    CHECK(attempts->headers == std::vector<std::string>{"ATTEMPT", "STATUS", "EXIT CLASS",
                                                        "FAILED TASK", "DURATION", "REASON"});
    REQUIRE(attempts->rows.size() == 1);
    CHECK(attempts->rows[0] ==
          std::vector<std::string>{"1", "Failed", "137 (signal 9)", "main", "10.0s",
                                   "task 'main' was killed by signal 9 (SIGKILL)"});
  }
  SECTION("the timeline shows the service's note on the retry") {
    const auto* timeline = section(description, "Timeline");
    REQUIRE(timeline != nullptr);
    REQUIRE(timeline->rows.size() == 8);
    CHECK(timeline->rows[4][0] == "Starting");
    CHECK(timeline->rows[4][3] == "attempt 2 of 3: main killed by signal 9");
    CHECK(timeline->rows[0][3] == "-");
  }
  SECTION("the time spent sums Starting and Running over both attempts") {
    const auto* spent = section(description, "Time spent");
    REQUIRE(spent != nullptr);
    CHECK(spent->rows == std::vector<std::vector<std::string>>{{"Queued", "1.0s", "1"},
                                                               {"Preparing", "1.0s", "1"},
                                                               {"Starting", "2.0s", "2"},
                                                               {"Running", "30.0s", "2"},
                                                               {"Finalizing", "1.0s", "1"}});
  }
}

TEST_CASE("run show: a queued run says where it stands and why it waits", "[cli][run][display]") {
  const json run{{"id", "run-q"},
                 {"status", "Queued"},
                 {"priority", 0},
                 {"nodes", json::array()},
                 {"attempt", 1},
                 {"max_attempts", 1},
                 {"queue",
                  {{"position", 2}, {"queue_length", 3}, {"reason", "waiting for 2 nodes (0 of 2 free)"}}},
                 {"tasks", json::array()},
                 {"attempts", json::array()},
                 {"timeline", {event("Queued", "2026-11-21T10:00:00.000Z")}}};
  const auto description = describe_run(run, 0);
  CHECK(field(description, "Queue") == "#2 of 3: waiting for 2 nodes (0 of 2 free)");
  CHECK(field(description, "Attempt") == "1 of 1");
  CHECK(section(description, "Earlier attempts") == nullptr);
}

TEST_CASE("run show: a running run lists the nodes it holds", "[cli][run][display]") {
  const json run{{"id", "run-n"}, {"status", "Running"}, {"nodes", {0, 1}}, {"attempt", 1}};
  const auto description = describe_run(run, 0);
  CHECK(field(description, "Nodes") == "0, 1");
  CHECK(field(description, "Attempt") == "1");
}

TEST_CASE("run list: queued runs show their place and why they wait", "[cli][run][display]") {
  const json running{{"id", "run-1"}, {"status", "Running"}, {"queue", nullptr}};
  const json queued{{"id", "run-2"},
                    {"status", "Queued"},
                    {"queue",
                     {{"position", 1}, {"queue_length", 1}, {"reason", "waiting for 2 nodes (0 of 2 free)"}}}};
  SECTION("with a queued run, a WAITING column follows STATUS") {
    const auto items = json::array({running, queued});
    const auto table = table_of(run_list_kind(items), items);
    CHECK_THAT(table, Catch::Contains("WAITING"));
    CHECK_THAT(table, Catch::Contains("#1 of 1: waiting for 2 nodes (0 of 2 free)"));
    CHECK(table.find("STATUS") < table.find("WAITING"));
  }
  SECTION("without one, the table is the usual one") {
    const auto items = json::array({running});
    const auto table = table_of(run_list_kind(items), items);
    CHECK_THAT(table, !Catch::Contains("WAITING"));
  }
  SECTION("format_queue: '-' when not queued, the place alone without a reason") {
    CHECK(format_queue(nullptr) == "-");
    CHECK(format_queue({{"position", 4}, {"queue_length", 9}}) == "#4 of 9");
  }
  SECTION("format_queue: a run in Slurm's queue (no place of ours) shows Slurm's reason alone") {
    CHECK(format_queue({{"position", nullptr}, {"queue_length", nullptr},
                        {"reason", "Slurm job 7 is pending: Resources"}}) == "Slurm job 7 is pending: Resources");
  }
}
