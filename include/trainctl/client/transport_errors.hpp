#pragma once
// The errors both transports (libcurl's and the loopback one) report, worded once, so that a
// user sees the same message whichever carried the request.
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "trainctl/client/api_client.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::client::transport_errors {

// A local service can be started from here; a remote one only where it runs.
inline Error unreachable(std::string_view endpoint, std::string_view reason) {
  const std::string_view hint = needs_curl(endpoint)
                                    ? "check the endpoint, and that trainctld runs there"
                                    : "start it with 'trainctl server start'";
  return Error(ErrorCode::unavailable,
               fmt::format("cannot reach trainctld at {}: {} ({})", endpoint, reason, hint));
}

inline Error no_answer_in_time(std::string_view endpoint, const HttpRequest& request) {
  return Error(ErrorCode::timeout, fmt::format("trainctld at {} did not answer {} {} in time",
                                               endpoint, request.method, request.target));
}

inline Error interrupted(const HttpRequest& request) {
  return Error(ErrorCode::interrupted, fmt::format("{} {} interrupted", request.method, request.target));
}

inline Error stopped_by_receiver(const HttpRequest& request) {
  return Error(ErrorCode::interrupted,
               fmt::format("{} {} stopped by the receiver", request.method, request.target));
}

inline Error unreadable_body(const HttpRequest& request, std::string_view reason) {
  return Error(ErrorCode::io, fmt::format("cannot read {}: {}", request.body_file->string(), reason));
}

inline Error connection_lost(std::string_view endpoint, const HttpRequest& request,
                             std::string_view reason) {
  return Error(ErrorCode::unavailable,
               fmt::format("lost the connection to trainctld at {} during {} {}: {}", endpoint,
                           request.method, request.target, reason));
}

}  // namespace trainctl::client::transport_errors
