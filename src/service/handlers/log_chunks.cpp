#include "log_chunks.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

namespace trainctl::service::handlers {

namespace {

constexpr size_t k_chunk_bytes = 64 * 1024;

}  // namespace

bool write_event(httplib::DataSink& sink, const nlohmann::json& event) {
  const std::string line =
      event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return sink.write(line.data(), line.size());
}

bool send_available(httplib::DataSink& sink, LogCursor& cursor, bool end, bool& wrote) {
  if (cursor.fd.get() < 0) {
    const int fd = ::open(cursor.file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return true;  // not written yet
    cursor.fd = util::UniqueFd(fd);
  }
  std::string buffer(k_chunk_bytes, '\0');
  while (true) {
    const ssize_t n =
        ::pread(cursor.fd.get(), buffer.data(), buffer.size(), static_cast<off_t>(cursor.offset));
    if (n <= 0) return true;
    size_t length = static_cast<size_t>(n);
    const size_t last_newline = std::string_view(buffer.data(), length).rfind('\n');
    const bool full_chunk = length == buffer.size();
    if (last_newline != std::string_view::npos) {
      if (!end) length = last_newline + 1;
    } else if (!end && !full_chunk) {
      return true;  // an unfinished line: wait for its end
    }
    const nlohmann::json event{{"type", "log"},
                               {"task", cursor.task},
                               {"offset", cursor.offset},
                               {"next_offset", cursor.offset + length},
                               {"data", std::string(buffer.data(), length)}};
    if (!write_event(sink, event)) return false;
    cursor.offset += length;
    wrote = true;
  }
}

Result<uint64_t> parse_offset(std::string_view text) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return fail(ErrorCode::invalid_argument, "offset must be a byte count");
  }
  return value;
}

Result<std::map<std::string, uint64_t>> parse_offsets(const std::string& text,
                                                      const std::vector<std::string>& tasks,
                                                      std::string_view plural,
                                                      std::string_view form) {
  std::map<std::string, uint64_t> offsets;
  if (text.empty()) return offsets;
  if (text.find(':') == std::string::npos) {
    if (tasks.size() != 1) {
      return fail(ErrorCode::invalid_argument, "with several {}, give offsets as {}:offset", plural,
                  form);
    }
    auto offset = parse_offset(text);
    if (!offset) return fail(offset.error());
    offsets[tasks.front()] = *offset;
    return offsets;
  }
  for (size_t start = 0; start <= text.size();) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos) {
      return fail(ErrorCode::invalid_argument, "bad offset '{}'", item);
    }
    auto offset = parse_offset(std::string_view(item).substr(colon + 1));
    if (!offset) return fail(offset.error());
    offsets[item.substr(0, colon)] = *offset;
    start = comma + 1;
  }
  return offsets;
}

}  // namespace trainctl::service::handlers
