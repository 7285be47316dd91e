#include "trainctl/util/error.hpp"

#include <array>

namespace trainctl {

namespace {

struct ErrorCodeRow {
  ErrorCode code;
  std::string_view name;
  int http_status;
  int exit_code;
};

constexpr std::array k_error_table{
    ErrorCodeRow{ErrorCode::internal, "internal", 500, exit_code::k_error},
    ErrorCodeRow{ErrorCode::usage, "usage", 400, exit_code::k_usage},
    ErrorCodeRow{ErrorCode::invalid_argument, "invalid_argument", 400, exit_code::k_usage},
    ErrorCodeRow{ErrorCode::invalid_spec, "invalid_spec", 422, exit_code::k_invalid_spec},
    ErrorCodeRow{ErrorCode::not_found, "not_found", 404, exit_code::k_not_found},
    ErrorCodeRow{ErrorCode::conflict, "conflict", 409, exit_code::k_conflict},
    ErrorCodeRow{ErrorCode::content_missing, "content_missing", 409, exit_code::k_conflict},
    ErrorCodeRow{ErrorCode::unauthorized, "unauthorized", 401, exit_code::k_error},
    ErrorCodeRow{ErrorCode::forbidden, "forbidden", 403, exit_code::k_error},
    ErrorCodeRow{ErrorCode::unsupported_media_type, "unsupported_media_type", 415, exit_code::k_error},
    ErrorCodeRow{ErrorCode::payload_too_large, "payload_too_large", 413, exit_code::k_error},
    ErrorCodeRow{ErrorCode::unavailable, "unavailable", 503, exit_code::k_unreachable},
    ErrorCodeRow{ErrorCode::too_many_requests, "too_many_requests", 429, exit_code::k_unreachable},
    ErrorCodeRow{ErrorCode::insufficient_storage, "insufficient_storage", 507, exit_code::k_error},
    ErrorCodeRow{ErrorCode::io, "io", 500, exit_code::k_error},
    ErrorCodeRow{ErrorCode::timeout, "timeout", 504, exit_code::k_error},
    ErrorCodeRow{ErrorCode::upstream_failed, "upstream_failed", 502, exit_code::k_error},
    ErrorCodeRow{ErrorCode::interrupted, "interrupted", 499, exit_code::k_interrupted},
};

const ErrorCodeRow& row_of(ErrorCode code) {
  for (const auto& row : k_error_table) {
    if (row.code == code) return row;
  }
  return k_error_table[0];
}

}  // namespace

std::string ErrorDetail::to_string() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0) out += fmt::format(":{}", line);
    if (column > 0) out += fmt::format(":{}", column);
    out += ": ";
  }
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

std::string_view error_code_name(ErrorCode code) { return row_of(code).name; }

ErrorCode error_code_from_name(std::string_view name) {
  for (const auto& row : k_error_table) {
    if (row.name == name) return row.code;
  }
  return ErrorCode::internal;
}

int http_status_of(ErrorCode code) { return row_of(code).http_status; }

ErrorCode error_code_from_http_status(int status) {
  switch (status) {
    case 400: return ErrorCode::invalid_argument;
    case 401: return ErrorCode::unauthorized;
    case 403: return ErrorCode::forbidden;
    case 404: return ErrorCode::not_found;
    case 409: return ErrorCode::conflict;
    case 413: return ErrorCode::payload_too_large;
    case 415: return ErrorCode::unsupported_media_type;
    case 422: return ErrorCode::invalid_spec;
    case 429: return ErrorCode::too_many_requests;
    case 503: return ErrorCode::unavailable;
    case 504: return ErrorCode::timeout;
    case 507: return ErrorCode::insufficient_storage;
    default: return ErrorCode::internal;
  }
}

int exit_code_of(ErrorCode code) { return row_of(code).exit_code; }

}  // namespace trainctl
