#pragma once
// Errors are values. Every fallible function returns Result<T>; library exceptions are caught at
// the adapter that calls the library. One table (error.cpp) maps each ErrorCode to its wire name,
// its HTTP status and the CLI's exit code.
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

namespace trainctl {

enum class ErrorCode {
  internal,                // a bug or an unexpected failure; exit 1, HTTP 500
  usage,                   // wrong flags or arguments; exit 2, HTTP 400
  invalid_argument,        // a bad value in a request; exit 2, HTTP 400
  invalid_spec,            // the job spec does not validate; exit 6, HTTP 422
  not_found,               // exit 7, HTTP 404
  conflict,                // exists already / idempotency key reused / wrong state; exit 9, HTTP 409
  content_missing,         // a submission names a snapshot or blobs the service lacks; exit 9, HTTP 409
  unauthorized,            // missing or wrong token; exit 1, HTTP 401
  forbidden,               // e.g. foreign Host header; exit 1, HTTP 403
  unsupported_media_type,  // exit 1, HTTP 415
  payload_too_large,       // exit 1, HTTP 413
  unavailable,             // the service cannot be reached or is busy; exit 8, HTTP 503
  too_many_requests,       // exit 8, HTTP 429
  insufficient_storage,    // disk full; exit 1, HTTP 507
  io,                      // a local file system failure; exit 1, HTTP 500
  timeout,                 // a wait ran out; exit 1, HTTP 504
  upstream_failed,         // a server the service fetched from failed or is unreachable; exit 1, HTTP 502
  interrupted,             // Ctrl-C; exit 130
};

// One problem found while validating: where (file:line:col, field path) and what to fix.
struct ErrorDetail {
  std::string path;     // field path, e.g. "estimator.node_count"; may be empty
  std::string message;  // what is wrong and what to do
  std::string file;     // source file, when the problem comes from one
  int line = 0;         // 1-based; 0 when unknown
  int column = 0;       // 1-based; 0 when unknown

  std::string to_string() const;  // "file:line:col: path: message" with the known parts
};

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
  std::vector<ErrorDetail> details;
  // A busy service's Retry-After (429, 503) in seconds: when to ask again; 0 when not given.
  int retry_after_seconds = 0;

  Error() = default;
  Error(ErrorCode c, std::string msg, std::vector<ErrorDetail> d = {})
      : code(c), message(std::move(msg)), details(std::move(d)) {}
};

template <typename T>
using Result = std::expected<T, Error>;

// Shorthand to build an unexpected Error with a fmt-formatted message.
template <typename... Args>
std::unexpected<Error> fail(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return std::unexpected(Error{code, fmt::format(format, std::forward<Args>(args)...)});
}
inline std::unexpected<Error> fail(Error error) { return std::unexpected(std::move(error)); }

// The one table: wire name, HTTP status and exit code of each ErrorCode.
std::string_view error_code_name(ErrorCode code);
ErrorCode error_code_from_name(std::string_view name);  // unknown names map to internal
int http_status_of(ErrorCode code);
ErrorCode error_code_from_http_status(int status);      // for replies without a JSON error body
int exit_code_of(ErrorCode code);

// Process exit codes of the CLI (docs/exit-codes.md is the user-facing copy of this table).
namespace exit_code {
inline constexpr int k_success = 0;
inline constexpr int k_error = 1;
inline constexpr int k_usage = 2;
inline constexpr int k_run_failed = 3;
inline constexpr int k_run_canceled = 4;
inline constexpr int k_run_timed_out = 5;
inline constexpr int k_invalid_spec = 6;
inline constexpr int k_not_found = 7;
inline constexpr int k_unreachable = 8;
inline constexpr int k_conflict = 9;
inline constexpr int k_interrupted = 130;
}  // namespace exit_code

}  // namespace trainctl
