// Checks every request passes before routing (docs/rest-api.md, Conventions): framing (one Host,
// one body length: 400), Content-Encoding (415), Host (403), bearer token (401), encoded
// traversal in the raw target (400), Content-Type (415) and size (413).
#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <regex>

#include <spdlog/spdlog.h>

#include "handlers.hpp"
#include "trainctl/api/names.hpp"
#include "ui.hpp"
#include "trainctl/service/deployments.hpp"

namespace trainctl::service::handlers {

namespace {

using HandlerResponse = httplib::Server::HandlerResponse;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The host part and the port (empty when absent) of a Host header; IPv6 keeps its brackets.
std::pair<std::string, std::string> split_host(const std::string& host) {
  const auto bracket = host.rfind(']');
  const auto colon = host.rfind(':');
  if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket)) {
    return {lower(host), ""};
  }
  return {lower(host.substr(0, colon)), host.substr(colon + 1)};
}

bool host_allowed(const ApiConfig& config, const std::string& host_header) {
  const auto [host, port] = split_host(host_header);
  if (!port.empty() && port != std::to_string(config.port)) return false;
  static const std::vector<std::string> k_loopback{"127.0.0.1", "localhost", "[::1]"};
  if (std::find(k_loopback.begin(), k_loopback.end(), host) != k_loopback.end()) return true;
  return std::any_of(config.allowed_hosts.begin(), config.allowed_hosts.end(),
                     [&](const std::string& allowed) { return lower(allowed) == host; });
}

bool token_matches(const ApiConfig& config, const httplib::Request& request) {
  const std::string expected = "Bearer " + config.token;
  const std::string given = request.get_header_value("Authorization");
  return given.size() == expected.size() &&
         CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

// Percent-encodings that no valid name or path needs: dots, slashes, backslashes, NUL, and a
// second round of encoding. Also empty, "." and ".." segments and NUL in the decoded path.
Result<void> check_target(const httplib::Request& request) {
  const std::string raw_path = lower(request.target.substr(0, request.target.find('?')));
  for (const char* encoded : {"%2e", "%2f", "%5c", "%00", "%25"}) {
    if (raw_path.find(encoded) != std::string::npos) {
      return fail(ErrorCode::invalid_argument, "the request path has a forbidden encoding");
    }
  }
  if (request.path.find('\0') != std::string::npos) {
    return fail(ErrorCode::invalid_argument, "the request path has a NUL byte");
  }
  size_t start = 0;
  while (start <= request.path.size()) {
    const size_t slash = std::min(request.path.find('/', start), request.path.size());
    const std::string_view segment = std::string_view(request.path).substr(start, slash - start);
    if (segment == "." || segment == "..") {
      return fail(ErrorCode::invalid_argument, "the request path has a '.' or '..' segment");
    }
    if (segment.empty() && start > 0) {
      return fail(ErrorCode::invalid_argument, "the request path has an empty segment");
    }
    start = slash + 1;
  }
  return {};
}

// Bodies of bytes, not JSON: blob uploads, and what a run's node agent sends.
bool is_blob_upload(const httplib::Request& request) {
  return request.method == "PUT" &&
         (request.path.find("/blobs/") != std::string::npos || is_agent_route(request.path));
}

bool media_type_is(const httplib::Request& request, std::string_view expected) {
  const std::string value = lower(request.get_header_value("Content-Type"));
  return value.substr(0, value.find(';')) == expected;
}

bool has_body(const httplib::Request& request) {
  return request.get_header_value<uint64_t>("Content-Length") > 0 ||
         request.has_header("Transfer-Encoding");
}

Result<void> check_body(const ApiConfig& config, const httplib::Request& request) {
  if (request.method != "POST" && request.method != "PUT") {
    // No other route takes a body, and cpp-httplib would read one whole into memory.
    if (has_body(request)) {
      return fail(ErrorCode::payload_too_large, "a {} request takes no body", request.method);
    }
    return {};
  }
  const bool blob = is_blob_upload(request);
  const std::string_view expected = blob ? "application/octet-stream" : "application/json";
  if (!media_type_is(request, expected)) {
    return fail(ErrorCode::unsupported_media_type, "the request body must be {}", expected);
  }
  if (!request.has_header("Content-Length")) {
    return fail(ErrorCode::invalid_argument, "the request needs a Content-Length");
  }
  // Past the blob cap nothing is read (the connection is closed); a JSON route drains a body
  // between the two caps itself, so its client still reads the 413.
  if (request.get_header_value<uint64_t>("Content-Length") > config.max_blob_bytes) {
    return fail(ErrorCode::payload_too_large, "the request body is larger than {} bytes",
                blob ? config.max_blob_bytes : config.max_json_bytes);
  }
  return {};
}

// A request without an Authorization header, from a browser logged in to the UI: its session
// cookie must name a live session, and a request that may change state (any but GET and HEAD)
// must also send that session's CSRF token in X-CSRF-Token, which only the UI's own pages can
// read (GET /ui/session). One-time login codes are issued for the service token only.
Result<void> check_session(UiSessions& sessions, const httplib::Request& request) {
  if (request.path == "/v1/ui/codes") {
    return fail(ErrorCode::unauthorized, "a login code is issued for the service token only");
  }
  const auto session = sessions.find(session_cookie(request));
  if (!session) return fail(ErrorCode::unauthorized, "missing or wrong bearer token");
  if (request.method != "GET" && request.method != "HEAD" &&
      !secrets_equal(request.get_header_value("X-CSRF-Token"), session->csrf_token)) {
    return fail(ErrorCode::forbidden, "missing or wrong X-CSRF-Token for this session");
  }
  return {};
}

// A deployment's scoring route takes that deployment's scoring key and nothing else
// (RELIABILITY 22); every other route but health and the UI's pages takes the service token,
// never a scoring key, or (without an Authorization header) a UI session.
Result<void> check_auth(const ServiceContext& context, UiSessions& sessions,
                        const httplib::Request& request) {
  static const std::regex k_scoring_route("/v1/workspaces/([^/]+)/services/([^/]+)/score");
  std::smatch scoring;
  if (request.method == "POST" && request.path.ends_with("/score") &&
      std::regex_match(request.path, scoring, k_scoring_route)) {
    // The names are checked before they reach a file path (the key file).
    const std::string workspace = scoring[1];
    const std::string name = scoring[2];
    const bool matches = context.deployments != nullptr &&
                         api::validate_name("workspace", workspace) &&
                         api::validate_name("deployment", name) &&
                         context.deployments->scoring_key_matches(
                             workspace, name, request.get_header_value("Authorization"));
    if (!matches) return fail(ErrorCode::unauthorized, "missing or wrong scoring key");
    return {};
  }
  if (is_agent_route(request.path)) {
    // A run's node agent: that run's credential and nothing else (RELIABILITY 47).
    if (!agent_credential_matches(context, request.path, request.get_header_value("Authorization"))) {
      return fail(ErrorCode::unauthorized, "missing or wrong run credential");
    }
    return {};
  }
  const bool is_health = request.method == "GET" && request.path == "/v1/health";
  if (!context.config.require_auth || is_health || is_public_ui_route(request)) return {};
  if (!request.has_header("Authorization") && request.has_header("Cookie")) {
    return check_session(sessions, request);
  }
  if (!token_matches(context.config, request)) {
    return fail(ErrorCode::unauthorized, "missing or wrong bearer token");
  }
  return {};
}

// How the request is framed: one Host header (the one the Host check reads), and a body length
// given once, by Content-Length or by Transfer-Encoding, never both. A request that could be read
// two ways (one by a proxy in front, another here) is refused.
Result<void> check_framing(const httplib::Request& request) {
  if (request.get_header_value_count("Host") > 1) {
    return fail(ErrorCode::invalid_argument, "the request has more than one Host header");
  }
  if (request.get_header_value_count("Content-Length") > 1) {
    return fail(ErrorCode::invalid_argument, "the request has more than one Content-Length header");
  }
  if (request.has_header("Transfer-Encoding") && request.has_header("Content-Length")) {
    return fail(ErrorCode::invalid_argument,
                "the request has both Transfer-Encoding and Content-Length; send one");
  }
  return {};
}

// A body is taken only as sent: with no content coding (or "identity"). cpp-httplib would
// otherwise expand a compressed body itself, and a small body could grow past every cap.
Result<void> check_content_encoding(const httplib::Request& request) {
  const auto [first, last] = request.headers.equal_range("Content-Encoding");
  for (auto header = first; header != last; ++header) {
    const std::string coding = lower(header->second);
    if (!coding.empty() && coding != "identity") {
      return fail(ErrorCode::unsupported_media_type,
                  "the request body must be sent uncompressed; Content-Encoding {} is not "
                  "accepted",
                  header->second);
    }
  }
  return {};
}

Result<void> check_request(const ServiceContext& context, UiSessions& sessions,
                           const httplib::Request& request) {
  const ApiConfig& config = context.config;
  // Before the token and the scoring key: they need no lookup, and hold on every route.
  if (auto framing = check_framing(request); !framing) return framing;
  if (auto encoding = check_content_encoding(request); !encoding) return encoding;
  if (!host_allowed(config, request.get_header_value("Host"))) {
    return fail(ErrorCode::forbidden, "the Host header does not name this service");
  }
  if (auto authorized = check_auth(context, sessions, request); !authorized) return authorized;
  // The UI's pages are fixed paths ("/ui/" ends in an empty segment) and assets by plain name.
  if (!is_public_ui_route(request)) {
    if (auto target = check_target(request); !target) return target;
  }
  return check_body(config, request);
}

}  // namespace

void install_middleware(httplib::Server& server, const ServiceContext& context,
                        std::shared_ptr<UiSessions> sessions) {
  server.set_pre_routing_handler(
      [&context, sessions](const httplib::Request& request, httplib::Response& response) {
        auto checked = check_request(context, *sessions, request);
        if (checked) return HandlerResponse::Unhandled;
        send_error(response, checked.error());
        // The body (if any) is left unread: the connection cannot be reused.
        if (has_body(request)) response.set_header("Connection", "close");
        return HandlerResponse::Handled;
      });
  // No reply is to be read as another type than the one it names (a log file as HTML, say).
  server.set_post_routing_handler([](const httplib::Request&, httplib::Response& response) {
    response.set_header("X-Content-Type-Options", "nosniff");
  });
  server.set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (!response.body.empty()) return;
    const ErrorCode code = error_code_from_http_status(response.status);
    const std::string message = response.status == 404 ? "no such route" : "the request failed";
    const int status = response.status;
    send_error(response, Error{code, message});
    response.status = status;
  });
  server.set_exception_handler(
      [](const httplib::Request& request, httplib::Response& response, std::exception_ptr error) {
        try {
          if (error) std::rethrow_exception(error);
        } catch (const std::exception& exception) {
          spdlog::error("{} {}: unhandled exception: {}", request.method, request.path,
                        exception.what());
        } catch (...) {
          spdlog::error("{} {}: unhandled exception", request.method, request.path);
        }
        send_error(response, Error{ErrorCode::internal, "internal error"});
      });
}

void install_fallback_routes(httplib::Server& server) {
  // Registered last: cpp-httplib reads the whole body of a POST or PUT that no content-reading
  // route matches into memory before it answers 404; these answer without reading it.
  const auto no_such_route = [](const httplib::Request&, httplib::Response& response,
                                const httplib::ContentReader&) {
    send_error(response, Error{ErrorCode::not_found, "no such route"});
    response.set_header("Connection", "close");  // the body is left unread
  };
  server.Post(".*", no_such_route);
  server.Put(".*", no_such_route);
}

}  // namespace trainctl::service::handlers
