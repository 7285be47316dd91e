#pragma once
// What the two log routes share (logs.cpp: a run's tasks; service_logs.cpp: a deployment's
// replicas): log files read from a byte offset and sent as NDJSON "log" events of whole lines,
// and the `offset` parameter that says where each log starts (docs/rest-api.md, Run logs).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "trainctl/util/error.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::service::handlers {

// Where one log is read from: its task name ("worker-0", "replica-1"), its file and the offset
// of the next byte to send.
struct LogCursor {
  std::string task;
  std::filesystem::path file;
  uint64_t offset = 0;
  util::UniqueFd fd;  // opened once the file exists
};

// Writes one event as a line of NDJSON (invalid UTF-8 replaced); false when the client went away.
bool write_event(httplib::DataSink& sink, const nlohmann::json& event);

// Sends what was written to the cursor's file since its offset as "log" events ({"task",
// "offset", "next_offset", "data"}), in chunks of at most 64 KiB, and moves the offset on; sets
// `wrote` when it sent any. While the log may grow, only whole lines are sent (a line longer than
// a chunk goes in full chunks); at the `end` every byte is. A file that does not exist yet sends
// nothing. False when the client went away.
bool send_available(httplib::DataSink& sink, LogCursor& cursor, bool end, bool& wrote);

// A byte offset (a decimal number); invalid_argument otherwise.
Result<uint64_t> parse_offset(std::string_view text);

// The `offset` parameter by task: "" (none), "123" (only when `tasks` holds a single task: its
// offset) or "task:123,task:45". invalid_argument for anything else; with several tasks and one
// bare number, the message says how to name them: "with several <plural>, give offsets as
// <form>:offset" (e.g. "tasks", "task").
Result<std::map<std::string, uint64_t>> parse_offsets(const std::string& text,
                                                      const std::vector<std::string>& tasks,
                                                      std::string_view plural,
                                                      std::string_view form);

}  // namespace trainctl::service::handlers
