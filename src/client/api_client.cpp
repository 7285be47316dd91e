#include "trainctl/client/api_client.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cerrno>
#include <cstring>

#include "api_client_paths.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/strings.hpp"

namespace trainctl::client {

namespace {

// RFC 3986's unreserved characters, whatever the locale.
bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

namespace detail {

std::string percent_encode(std::string_view text) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (is_unreserved(c)) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(k_hex[byte >> 4]);
      out.push_back(k_hex[byte & 0xF]);
    }
  }
  return out;
}

std::string encode_path(std::string_view path) {
  std::string out;
  size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    out += percent_encode(path.substr(start, slash - start));
    if (slash == std::string_view::npos) return out;
    out += '/';
    start = slash + 1;
  }
}

std::string query_string(std::initializer_list<std::pair<std::string_view, std::string>> pairs) {
  std::string out;
  for (const auto& [name, value] : pairs) {
    if (value.empty()) continue;
    out += out.empty() ? '?' : '&';
    out += name;
    out += '=';
    out += percent_encode(value);
  }
  return out;
}

std::string workspace_path(const std::string& workspace) {
  return "/v1/workspaces/" + percent_encode(workspace);
}

}  // namespace detail

using namespace detail;

namespace {

using Json = nlohmann::json;

// A held request (`?wait=true&timeout=N`) may take N seconds plus this much to be answered.
constexpr int k_wait_slack_seconds = 15;

using util::equals_ignore_case;

std::string run_path(const std::string& workspace, const std::string& run_id) {
  return workspace_path(workspace) + "/runs/" + percent_encode(run_id);
}

std::string dataset_path(const std::string& workspace, const std::string& name) {
  return workspace_path(workspace) + "/datasets/" + percent_encode(name);
}

std::string dataset_version_path(const std::string& workspace, const std::string& name,
                                 const std::string& version) {
  return dataset_path(workspace, name) + "/versions/" + percent_encode(version);
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "";
  }
}

ErrorDetail detail_of(const Json& item) {
  ErrorDetail detail;
  if (item.is_string()) {
    detail.message = item.get<std::string>();
  } else if (item.is_object()) {
    detail.path = item.value("path", "");
    detail.message = item.value("message", "");
  }
  return detail;
}

// The Error an error reply stands for: the body's error object when there is one, else the
// HTTP status alone; with the reply's Retry-After (whole seconds, capped at an hour).
Error error_of_reply_body(const HttpRequest& request, const HttpResponse& response);

Error error_of_reply(const HttpRequest& request, const HttpResponse& response) {
  Error error = error_of_reply_body(request, response);
  const std::string retry_after = response.header("Retry-After");
  if (!retry_after.empty() && retry_after.size() <= 5 &&
      retry_after.find_first_not_of("0123456789") == std::string::npos) {
    error.retry_after_seconds = std::min(std::stoi(retry_after), 3600);
  }
  return error;
}

Error error_of_reply_body(const HttpRequest& request, const HttpResponse& response) {
  const auto body = Json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& error = body["error"];
    std::vector<ErrorDetail> details;
    if (const auto it = error.find("details"); it != error.end() && it->is_array()) {
      for (const auto& item : *it) details.push_back(detail_of(item));
    }
    const auto code_name = error.value("code", "");
    const auto code = code_name.empty() ? error_code_from_http_status(response.status)
                                        : error_code_from_name(code_name);
    return Error(code, error.value("message", fmt::format("HTTP {}", response.status)),
                 std::move(details));
  }
  const auto phrase = reason_phrase(response.status);
  return Error(error_code_from_http_status(response.status),
               fmt::format("trainctld answered {} {} with HTTP {}{}{}", request.method,
                           request.target, response.status, phrase.empty() ? "" : " ", phrase));
}

Result<Json> parse_json_body(const HttpRequest& request, const HttpResponse& response) {
  auto body = Json::parse(response.body, nullptr, false);
  if (body.is_discarded()) {
    return fail(ErrorCode::internal, "trainctld answered {} {} with a body that is not JSON",
                request.method, request.target);
  }
  return body;
}

// Splits a byte stream into lines across chunk boundaries (NDJSON framing).
class LineSplitter {
 public:
  // Calls on_line for each line completed by `chunk`; false as soon as on_line returns false.
  bool feed(std::string_view chunk, const std::function<bool(std::string_view)>& on_line) {
    while (true) {
      const auto newline = chunk.find('\n');
      if (newline == std::string_view::npos) break;
      m_pending.append(chunk.substr(0, newline));
      chunk.remove_prefix(newline + 1);
      const std::string line = std::exchange(m_pending, {});
      if (!on_line(line)) return false;
    }
    m_pending.append(chunk);
    return true;
  }
  // The bytes after the last newline: a final line without one.
  const std::string& rest() const { return m_pending; }

 private:
  std::string m_pending;
};

// `<dest>.partial`: the bytes of a download so far. It outlives a failed attempt so the next one
// resumes where this one stopped, and is renamed onto `dest` only once complete and verified.
class PartialDownload {
 public:
  explicit PartialDownload(const std::filesystem::path& dest)
      : m_dest(dest), m_partial(dest.string() + ".partial") {}
  ~PartialDownload() {
    if (m_fd >= 0) ::close(m_fd);
  }
  PartialDownload(const PartialDownload&) = delete;
  PartialDownload& operator=(const PartialDownload&) = delete;

  // Opens the partial file, creating it when absent; size() is then the bytes kept from before.
  Result<void> open() {
    m_fd = ::open(m_partial.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    const off_t end = m_fd < 0 ? -1 : ::lseek(m_fd, 0, SEEK_END);
    if (end < 0) return io_error("cannot open");
    m_size = static_cast<uint64_t>(end);
    return {};
  }

  uint64_t size() const { return m_size; }

  // Drops the bytes kept so far: the next write starts the file.
  Result<void> restart() {
    if (::ftruncate(m_fd, 0) != 0 || ::lseek(m_fd, 0, SEEK_SET) != 0) {
      return io_error("cannot truncate");
    }
    m_size = 0;
    return {};
  }

  Result<void> append(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(m_fd, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        const auto code = errno == ENOSPC ? ErrorCode::insufficient_storage : ErrorCode::io;
        return fail(code, "cannot write {}: {}", m_partial.string(), std::strerror(errno));
      }
      data.remove_prefix(static_cast<size_t>(n));
      m_size += static_cast<uint64_t>(n);
    }
    return {};
  }

  // Removes the partial file (its bytes cannot be resumed).
  void discard() { ::unlink(m_partial.c_str()); }

  // Checks the size (`expected_size`, when known) and `sha256` (when given), then fsyncs and
  // renames onto the destination. A mismatch discards the partial file and leaves `dest` as it was.
  Result<void> commit(std::optional<uint64_t> expected_size, const std::string& sha256) {
    if (expected_size && m_size != *expected_size) {
      discard();
      return fail(ErrorCode::io, "{}: received {} bytes, expected {}; download it again",
                  m_dest.string(), m_size, *expected_size);
    }
    if (::fsync(m_fd) != 0 || ::close(std::exchange(m_fd, -1)) != 0) return io_error("cannot write");
    if (!sha256.empty()) {
      auto actual = util::sha256_file(m_partial);
      if (!actual) return std::unexpected(std::move(actual.error()));
      if (*actual != sha256) {
        discard();
        return fail(ErrorCode::io, "{}: received content with sha256 {}, expected {}; download "
                    "it again", m_dest.string(), *actual, sha256);
      }
    }
    if (::rename(m_partial.c_str(), m_dest.c_str()) != 0) return io_error("cannot rename");
    return util::fsync_directory(m_dest.parent_path().empty() ? "." : m_dest.parent_path());
  }

 private:
  std::unexpected<Error> io_error(std::string_view what) const {
    return fail(ErrorCode::io, "{} {}: {}", what, m_partial.string(), std::strerror(errno));
  }

  std::filesystem::path m_dest;
  std::filesystem::path m_partial;
  int m_fd = -1;
  uint64_t m_size = 0;
};

std::optional<uint64_t> parse_uint(std::string_view text) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// The first byte and the complete length of a "Content-Range: bytes FIRST-LAST/LENGTH" header
// (LENGTH may be "*": unknown); nullopt when the header has another shape.
struct ContentRange {
  uint64_t first = 0;
  std::optional<uint64_t> length;
};
std::optional<ContentRange> parse_content_range(std::string_view header) {
  constexpr std::string_view k_unit = "bytes ";
  if (!header.starts_with(k_unit)) return std::nullopt;
  header.remove_prefix(k_unit.size());
  const auto dash = header.find('-');
  const auto slash = header.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return std::nullopt;
  }
  const auto first = parse_uint(header.substr(0, dash));
  if (!first || !parse_uint(header.substr(dash + 1, slash - dash - 1))) return std::nullopt;
  const auto length = header.substr(slash + 1);
  if (length == "*") return ContentRange{.first = *first, .length = std::nullopt};
  const auto total = parse_uint(length);
  if (!total) return std::nullopt;
  return ContentRange{.first = *first, .length = total};
}

// Where the body of a download reply goes: after the kept bytes for a 206 that continues them,
// at the start of the file otherwise. Returns the complete size the reply announces, if any.
Result<std::optional<uint64_t>> place_body(const HttpRequest& request, const HttpResponse& head,
                                           PartialDownload& file) {
  if (head.status == 206) {
    const auto range = parse_content_range(head.header("Content-Range"));
    if (!range || range->first != file.size()) {
      file.discard();  // asking again would get the same answer
      return fail(ErrorCode::internal,
                  "trainctld answered {} {} with a range that does not start at byte {} ({})",
                  request.method, request.target, file.size(), head.header("Content-Range"));
    }
    return range->length;
  }
  if (auto restarted = file.restart(); !restarted) return std::unexpected(restarted.error());
  return parse_uint(head.header("Content-Length"));
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (equals_ignore_case(key, name)) return value;
  }
  return {};
}

ApiClient::ApiClient(std::unique_ptr<Transport> transport, std::string token)
    : m_transport(std::move(transport)), m_token(std::move(token)) {}

HttpRequest ApiClient::make_request(std::string method, std::string target,
                                    std::string_view accept) const {
  HttpRequest out;
  out.method = std::move(method);
  out.target = std::move(target);
  out.headers.emplace_back("Accept", std::string(accept));
  if (!m_token.empty()) out.headers.emplace_back("Authorization", "Bearer " + m_token);
  return out;
}

HttpRequest ApiClient::make_json_request(std::string method, std::string target,
                                         const nlohmann::json& body) const {
  auto result = make_request(std::move(method), std::move(target));
  result.headers.emplace_back("Content-Type", "application/json");
  result.body = body.dump();
  return result;
}

Result<HttpResponse> ApiClient::exchange(const HttpRequest& request) {
  auto response = m_transport->send(request);
  if (!response) return response;
  if (response->status >= 400) return fail(error_of_reply(request, *response));
  return response;
}

Result<nlohmann::json> ApiClient::exchange_json(const HttpRequest& request) {
  auto response = exchange(request);
  if (!response) return std::unexpected(std::move(response.error()));
  return parse_json_body(request, *response);
}

Result<void> ApiClient::stream_ndjson(
    const HttpRequest& request, const std::function<bool(const nlohmann::json&)>& on_event) {
  std::optional<Error> bad_event;
  const auto on_line = [&](std::string_view line) {
    if (line.empty() || line == "\r") return true;
    const auto event = nlohmann::json::parse(line, nullptr, false);
    if (event.is_discarded() || !event.is_object()) {
      bad_event =
          Error(ErrorCode::internal,
                fmt::format("trainctld sent an event that is not a JSON object: {:.120}", line));
      return false;
    }
    return on_event(event);
  };
  LineSplitter splitter;
  auto response = m_transport->stream(
      request, [&](std::string_view chunk) { return splitter.feed(chunk, on_line); });
  if (bad_event) return fail(std::move(*bad_event));
  if (!response) return std::unexpected(std::move(response.error()));
  if (response->status >= 400) return fail(error_of_reply(request, *response));
  if (!on_line(splitter.rest())) {
    if (bad_event) return fail(std::move(*bad_event));
    return fail(ErrorCode::interrupted, "stream stopped by the receiver");
  }
  return {};
}

Result<nlohmann::json> ApiClient::health() {
  return exchange_json(make_request("GET", "/v1/health"));
}

Result<nlohmann::json> ApiClient::create_workspace(const std::string& name,
                                                   const std::string& description) {
  return exchange_json(
      make_json_request("POST", "/v1/workspaces", {{"name", name}, {"description", description}}));
}

Result<nlohmann::json> ApiClient::list_workspaces() {
  return exchange_json(make_request("GET", "/v1/workspaces"));
}

Result<nlohmann::json> ApiClient::get_workspace(const std::string& name) {
  return exchange_json(make_request("GET", workspace_path(name)));
}

Result<void> ApiClient::delete_workspace(const std::string& name) {
  auto response = exchange(make_request("DELETE", workspace_path(name)));
  if (!response) return std::unexpected(std::move(response.error()));
  return {};
}

Result<std::vector<std::string>> ApiClient::missing_blobs(const std::string& workspace,
                                                          const std::vector<std::string>& hashes) {
  const auto reply = exchange_json(make_json_request(
      "POST", workspace_path(workspace) + "/blobs/missing", {{"hashes", hashes}}));
  if (!reply) return std::unexpected(reply.error());
  const auto missing = reply->find("missing");
  if (missing == reply->end() || !missing->is_array()) {
    return fail(ErrorCode::internal, "trainctld answered blobs/missing without a 'missing' list");
  }
  std::vector<std::string> out;
  for (const auto& hash : *missing) {
    if (hash.is_string()) out.push_back(hash.get<std::string>());
  }
  return out;
}

Result<void> ApiClient::upload_blob(const std::string& workspace, const std::string& sha256,
                                    const std::filesystem::path& file) {
  auto upload = make_request("PUT", workspace_path(workspace) + "/blobs/" + percent_encode(sha256));
  upload.headers.emplace_back("Content-Type", "application/octet-stream");
  upload.body_file = file;
  auto response = exchange(upload);
  if (!response) return std::unexpected(std::move(response.error()));
  return {};
}

Result<nlohmann::json> ApiClient::create_snapshot(const std::string& workspace,
                                                  const nlohmann::json& files) {
  return exchange_json(
      make_json_request("POST", workspace_path(workspace) + "/snapshots", {{"files", files}}));
}

Result<SubmitOutcome> ApiClient::create_run(const std::string& workspace,
                                            const nlohmann::json& payload,
                                            const std::string& idempotency_key,
                                            SubmitReply reply) {
  auto submit = make_json_request("POST", workspace_path(workspace) + "/runs", payload);
  if (!idempotency_key.empty()) submit.headers.emplace_back("Idempotency-Key", idempotency_key);
  if (reply == SubmitReply::minimal) submit.headers.emplace_back("Prefer", "return=minimal");
  auto response = exchange(submit);
  if (!response) return std::unexpected(std::move(response.error()));
  auto run = parse_json_body(submit, *response);
  if (!run) return std::unexpected(std::move(run.error()));
  return SubmitOutcome{
      .run = std::move(*run),
      .replayed = equals_ignore_case(response->header("Idempotent-Replay"), "true")};
}

Result<BatchSubmitOutcome> ApiClient::create_run_batch(const std::string& workspace,
                                                       const nlohmann::json& payloads,
                                                       const std::string& batch_key) {
  auto submit = make_json_request("POST", workspace_path(workspace) + "/runs/batch",
                                  nlohmann::json{{"runs", payloads}});
  if (!batch_key.empty()) submit.headers.emplace_back("Idempotency-Key", batch_key);
  auto response = exchange(submit);
  if (!response) return std::unexpected(std::move(response.error()));
  auto body = parse_json_body(submit, *response);
  if (!body) return std::unexpected(std::move(body.error()));
  const auto items = body->find("items");
  if (!body->is_object() || items == body->end() || !items->is_array()) {
    return fail(ErrorCode::internal, "trainctld answered POST {} without the batch's runs",
                submit.target);
  }
  return BatchSubmitOutcome{.runs = std::move(*items),
                            .created = body->value("created", size_t{0}),
                            .replayed = body->value("replayed", size_t{0})};
}

Result<nlohmann::json> ApiClient::list_runs(const std::string& workspace,
                                            const RunListQuery& query) {
  const auto target = workspace_path(workspace) + "/runs" +
                      query_string({{"experiment", query.experiment},
                                    {"status", query.status},
                                    {"limit", query.limit > 0 ? std::to_string(query.limit) : ""},
                                    {"page_token", query.page_token},
                                    {"view", query.summary ? "summary" : ""}});
  return exchange_json(make_request("GET", target));
}

Result<nlohmann::json> ApiClient::get_run(const std::string& workspace, const std::string& run_id,
                                          int wait_seconds) {
  if (wait_seconds <= 0) return exchange_json(make_request("GET", run_path(workspace, run_id)));
  auto wait = make_request(
      "GET", run_path(workspace, run_id) +
                 query_string({{"wait", "true"}, {"timeout", std::to_string(wait_seconds)}}));
  wait.timeout_seconds = wait_seconds + k_wait_slack_seconds;
  return exchange_json(wait);
}

Result<nlohmann::json> ApiClient::cancel_run(const std::string& workspace,
                                             const std::string& run_id) {
  return exchange_json(
      make_json_request("POST", run_path(workspace, run_id) + "/cancel", nlohmann::json::object()));
}

Result<nlohmann::json> ApiClient::create_ui_login_code() {
  return exchange_json(make_json_request("POST", "/v1/ui/codes", nlohmann::json::object()));
}

Result<void> ApiClient::stream_logs(const std::string& workspace, const std::string& run_id,
                                    const LogQuery& query,
                                    const std::function<bool(const nlohmann::json&)>& on_event) {
  const auto logs = make_request("GET",
                                 run_path(workspace, run_id) + "/logs" +
                                     query_string({{"task", query.task},
                                                   {"offset", query.offset},
                                                   {"follow", query.follow ? "true" : ""},
                                                   {"attempt", query.attempt > 0
                                                                   ? std::to_string(query.attempt)
                                                                   : ""}}),
                                 "application/x-ndjson");
  return stream_ndjson(logs, on_event);
}

Result<nlohmann::json> ApiClient::list_run_files(const std::string& workspace,
                                                 const std::string& run_id) {
  return exchange_json(make_request("GET", run_path(workspace, run_id) + "/files"));
}

Result<void> ApiClient::download_run_file(const std::string& workspace, const std::string& run_id,
                                          const std::string& path,
                                          const std::filesystem::path& dest,
                                          const DownloadOptions& options) {
  return download(make_request("GET", run_path(workspace, run_id) + "/files/" + encode_path(path),
                               "application/octet-stream"),
                  dest, options);
}

Result<nlohmann::json> ApiClient::create_dataset(const std::string& workspace,
                                                 const nlohmann::json& body) {
  return exchange_json(make_json_request("POST", workspace_path(workspace) + "/datasets", body));
}

Result<nlohmann::json> ApiClient::list_datasets(const std::string& workspace) {
  return exchange_json(make_request("GET", workspace_path(workspace) + "/datasets"));
}

Result<nlohmann::json> ApiClient::get_dataset(const std::string& workspace,
                                              const std::string& name) {
  return exchange_json(make_request("GET", dataset_path(workspace, name)));
}

Result<nlohmann::json> ApiClient::get_dataset_version(const std::string& workspace,
                                                      const std::string& name,
                                                      const std::string& version) {
  return exchange_json(make_request("GET", dataset_version_path(workspace, name, version)));
}

Result<void> ApiClient::delete_dataset(const std::string& workspace, const std::string& name,
                                       const std::string& version) {
  const auto target = version.empty() ? dataset_path(workspace, name)
                                      : dataset_version_path(workspace, name, version);
  auto response = exchange(make_request("DELETE", target));
  if (!response) return std::unexpected(std::move(response.error()));
  return {};
}

Result<void> ApiClient::download_dataset_file(const std::string& workspace,
                                              const std::string& name, const std::string& version,
                                              const std::string& path,
                                              const std::filesystem::path& dest,
                                              const DownloadOptions& options) {
  return download(make_request("GET",
                               dataset_version_path(workspace, name, version) + "/files/" +
                                   encode_path(path),
                               "application/octet-stream"),
                  dest, options);
}

Result<void> ApiClient::download(const HttpRequest& request, const std::filesystem::path& dest,
                                 const DownloadOptions& options) {
  PartialDownload file(dest);
  if (auto opened = file.open(); !opened) return opened;
  // Kept bytes beyond the expected size cannot be the start of this file.
  if (options.size && file.size() > *options.size) {
    if (auto restarted = file.restart(); !restarted) return restarted;
  }
  while (true) {
    auto attempt = request;
    if (file.size() > 0) attempt.headers.emplace_back("Range", fmt::format("bytes={}-", file.size()));
    std::optional<Error> error;
    std::optional<uint64_t> announced_size;
    attempt.on_head = [&](const HttpResponse& head) {
      auto placed = place_body(attempt, head, file);
      if (!placed) error = std::move(placed.error());
      announced_size = placed.value_or(std::nullopt);
      if (placed && options.on_progress) options.on_progress(file.size());
      return placed.has_value();
    };
    const auto on_data = [&](std::string_view chunk) {
      auto written = file.append(chunk);
      if (!written) error = std::move(written.error());
      if (written && options.on_progress) options.on_progress(file.size());
      return written.has_value();
    };
    auto response = m_transport->stream(attempt, on_data);
    if (error) return fail(std::move(*error));
    if (!response) return std::unexpected(std::move(response.error()));  // resumable: kept
    if (response->status == 416 && file.size() > 0) {  // the kept bytes no longer fit: restart
      if (auto restarted = file.restart(); !restarted) return restarted;
      continue;
    }
    if (response->status >= 400) {
      file.discard();
      return fail(error_of_reply(attempt, *response));
    }
    return file.commit(options.size ? options.size : announced_size, options.sha256);
  }
}

}  // namespace trainctl::client
