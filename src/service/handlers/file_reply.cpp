// Files as replies: the bytes streamed with pread, and byte ranges (RFC 9110, section 14) so
// that interrupted downloads resume.
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "handlers.hpp"

namespace trainctl::service::handlers {

namespace {

// What a Range header asks of a file: a part of it, the whole file, or nothing it has.
struct ByteRange {
  bool partial = false;  // false: the whole file
  bool satisfiable = true;
  uint64_t first = 0;
  uint64_t length = 0;
};

// The range of a file of `size` bytes that `ranges` (cpp-httplib's parse of the Range header:
// (first, last) with -1 for a missing end) selects. No range, or several, mean the whole file.
ByteRange requested_range(const httplib::Ranges& ranges, uint64_t size) {
  if (ranges.size() != 1)
    return ByteRange{.partial = false, .satisfiable = true, .first = 0, .length = size};
  const auto [first, last] = ranges.front();
  constexpr ByteRange k_unsatisfiable{
      .partial = true, .satisfiable = false, .first = 0, .length = 0};
  if (first < 0) {  // "bytes=-n": the last n bytes
    const uint64_t count = std::min(static_cast<uint64_t>(last), size);
    if (count == 0) return k_unsatisfiable;
    return ByteRange{.partial = true, .satisfiable = true, .first = size - count, .length = count};
  }
  const auto start = static_cast<uint64_t>(first);
  if (start >= size) return k_unsatisfiable;
  const uint64_t end = last < 0 ? size - 1 : std::min(static_cast<uint64_t>(last), size - 1);
  return ByteRange{.partial = true, .satisfiable = true, .first = start, .length = end - start + 1};
}

void send_range(httplib::Response& response, util::UniqueFd fd, uint64_t size,
                const ByteRange& range) {
  response.set_header("Accept-Ranges", "bytes");
  if (!range.satisfiable) {
    send_error(response,
               Error{ErrorCode::invalid_argument,
                     fmt::format("the requested range is beyond the file's {} bytes", size)});
    response.status = 416;
    response.set_header("Content-Range", fmt::format("bytes */{}", size));
    return;
  }
  if (range.partial) {
    response.status = 206;
    response.set_header("Content-Range", fmt::format("bytes {}-{}/{}", range.first,
                                                     range.first + range.length - 1, size));
  } else {
    response.status = 200;
  }
  if (range.length == 0) return response.set_content("", "application/octet-stream");
  auto file = std::make_shared<util::UniqueFd>(std::move(fd));
  response.set_content_provider(
      range.length, "application/octet-stream",
      [file, start = range.first](size_t offset, size_t length, httplib::DataSink& sink) {
        char buffer[65536];
        const ssize_t n = ::pread(file->get(), buffer, std::min(length, sizeof buffer),
                                  static_cast<off_t>(start + offset));
        return n > 0 && sink.write(buffer, static_cast<size_t>(n));
      });
}

}  // namespace

httplib::Server::Handler file_route(FileHandler handler) {
  return [handler = std::move(handler)](const httplib::Request& request,
                                        httplib::Response& response) {
    // Taken from cpp-httplib before anything is answered: left there, it would also apply them
    // to an error's JSON body. The request is the server's own mutable object.
    const httplib::Ranges ranges = std::exchange(const_cast<httplib::Request&>(request).ranges, {});
    auto file = handler(request);
    if (!file) return send_error(response, file.error());
    const uint64_t size = file->size;
    send_range(response, std::move(file->fd), size, requested_range(ranges, size));
  };
}

}  // namespace trainctl::service::handlers
