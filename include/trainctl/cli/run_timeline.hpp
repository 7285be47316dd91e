#pragma once
// Time spent by a run in each stage of its lifecycle (docs/runs.md), computed from the run
// resource's `timeline` ([{"status", "at", "message"}], oldest first) for `run show`.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trainctl::cli {

// One timeline event and how long the run stayed in it: until the next event; a final status
// takes no time (nullopt); the last status of a run still going lasts until `now_ms`. nullopt
// too when a time is missing or unreadable.
struct TimelineSpan {
  std::string status;
  std::string at;  // as the service sent it (RFC 3339)
  std::string message;
  std::optional<int64_t> spent_ms;
};
std::vector<TimelineSpan> timeline_spans(const nlohmann::json& timeline, int64_t now_ms);

// The time spent in one stage, summed over its spans: after retries, a run passes through
// Starting and Running once per attempt.
struct StageTime {
  std::string stage;  // Queued | Preparing | Starting | Running | Finalizing | CancelRequested
  int64_t spent_ms = 0;
  int spans = 0;  // how many times the run entered the stage
};
// The stages the run went through, in lifecycle order (those it never entered left out).
std::vector<StageTime> stage_times(const std::vector<TimelineSpan>& spans);

// "#2 of 3: waiting for 2 nodes (0 of 2 free)": where a queued run stands, from the run
// resource's `queue` ({"position", "queue_length", "reason"}); "-" when it is null (not queued).
std::string format_queue(const nlohmann::json& queue);

}  // namespace trainctl::cli
