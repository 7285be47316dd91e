#include "trainctl/cli/run_timeline.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include <fmt/format.h>

#include "trainctl/api/run_status.hpp"
#include "trainctl/util/time.hpp"

namespace trainctl::cli {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 6> k_stages{"Queued",   "Preparing",  "Starting",
                                                   "Running",  "Finalizing", "CancelRequested"};

std::string string_of(const json& object, const char* key) {
  const auto value = object.value(key, json());
  return value.is_string() ? value.get<std::string>() : std::string();
}

std::optional<int64_t> time_of(const json& event) {
  return util::parse_rfc3339(string_of(event, "at"));
}

bool is_final(const std::string& status) {
  const auto parsed = api::parse_run_status(status);
  return parsed && api::is_terminal(*parsed);
}

}  // namespace

std::vector<TimelineSpan> timeline_spans(const json& timeline, int64_t now_ms) {
  std::vector<TimelineSpan> spans;
  if (!timeline.is_array()) return spans;
  for (size_t i = 0; i < timeline.size(); ++i) {
    const auto& event = timeline[i];
    TimelineSpan span{string_of(event, "status"), string_of(event, "at"),
                      string_of(event, "message"), std::nullopt};
    const auto begin = time_of(event);
    const auto end = i + 1 < timeline.size() ? time_of(timeline[i + 1])
                     : is_final(span.status) ? std::nullopt
                                             : std::optional<int64_t>(now_ms);
    if (begin && end) span.spent_ms = std::max<int64_t>(0, *end - *begin);
    spans.push_back(std::move(span));
  }
  return spans;
}

std::vector<StageTime> stage_times(const std::vector<TimelineSpan>& spans) {
  std::vector<StageTime> stages;
  for (const auto stage : k_stages) {
    StageTime total{std::string(stage), 0, 0};
    for (const auto& span : spans) {
      if (span.status != stage) continue;
      total.spent_ms += span.spent_ms.value_or(0);
      ++total.spans;
    }
    if (total.spans > 0) stages.push_back(std::move(total));
  }
  return stages;
}

std::string format_queue(const json& queue) {
  if (!queue.is_object()) return "-";
  const auto position = queue.value("position", json());
  const auto length = queue.value("queue_length", json());
  const auto reason = string_of(queue, "reason");
  if (!position.is_number() || !length.is_number()) {
    return reason.empty() ? "queued" : reason;  // in its engine's queue (Slurm's): its words
  }
  const std::string place = fmt::format("#{} of {}", position.dump(), length.dump());
  return reason.empty() ? place : fmt::format("{}: {}", place, reason);
}

}  // namespace trainctl::cli
