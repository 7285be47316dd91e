// The libcurl adapter behind Transport: one easy handle per transport, so consecutive requests
// reuse the connection (keep-alive). Every libcurl status is turned into an Error here. libcurl is
// loaded by the first request (curl_library.hpp), not at program start.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "curl_library.hpp"
#include "trainctl/client/transport_errors.hpp"
#include "trainctl/client/api_client.hpp"

namespace trainctl::client {

namespace {

// An error reply streamed by mistake would be hard to read; they are small, so they are kept
// whole up to this size.
constexpr size_t k_max_error_body = 1u << 20;
// A stream that delivers nothing for this long is dead (log streams send a heartbeat every 5 s).
constexpr long k_stall_seconds = 60;

bool is_loopback_endpoint(std::string_view endpoint_as_given) {
  std::string endpoint(endpoint_as_given);
  for (char& c : endpoint) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view host : {"://127.0.0.1", "://localhost", "://[::1]"}) {
    const auto at = endpoint.find(host);
    if (at == std::string_view::npos) continue;
    const auto end = at + host.size();
    if (end == endpoint.size() || endpoint[end] == ':' || endpoint[end] == '/') return true;
  }
  return false;
}

struct CurlHeaders {
  const CurlLibrary& curl;
  curl_slist* list = nullptr;
  explicit CurlHeaders(const CurlLibrary& library) : curl(library) {}
  CurlHeaders(const CurlHeaders&) = delete;
  CurlHeaders& operator=(const CurlHeaders&) = delete;
  ~CurlHeaders() { curl.slist_free_all(list); }
  void add(const std::string& line) { list = curl.slist_append(list, line.c_str()); }
};

// A file body, read by libcurl through read_body.
struct UploadFile {
  int fd = -1;
  int read_errno = 0;
  UploadFile() = default;
  UploadFile(const UploadFile&) = delete;
  UploadFile& operator=(const UploadFile&) = delete;
  ~UploadFile() {
    if (fd >= 0) ::close(fd);
  }
};

// The state of one transfer, shared with libcurl's callbacks.
struct Transfer {
  const CurlLibrary* curl = nullptr;
  CURL* handle = nullptr;
  HttpResponse response;
  const std::function<bool(std::string_view)>* on_data = nullptr;  // null: keep the body
  const std::function<bool(const HttpResponse&)>* on_head = nullptr;  // null: none
  bool head_delivered = false;
  const std::function<bool()>* should_abort = nullptr;             // null: never aborted
  bool stopped_by_receiver = false;
  bool aborted = false;  // by should_abort
  UploadFile upload;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  std::string_view line(data, bytes);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {  // a new response (after 100 Continue): start over
    transfer.response.headers.clear();
    return bytes;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return bytes;
  auto value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  transfer.response.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  return bytes;
}

// Gives the head of a success reply to on_head, once; false when on_head stops the transfer.
bool deliver_head(Transfer& transfer, long status) {
  if (transfer.on_head == nullptr || transfer.head_delivered) return true;
  transfer.head_delivered = true;
  transfer.response.status = static_cast<int>(status);
  if ((*transfer.on_head)(transfer.response)) return true;
  transfer.stopped_by_receiver = true;
  return false;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  long status = 0;
  transfer.curl->easy_getinfo(transfer.handle, CURLINFO_RESPONSE_CODE, &status);
  if (transfer.on_data == nullptr || status >= 400) {
    if (transfer.on_data != nullptr && transfer.response.body.size() + bytes > k_max_error_body) {
      return bytes;  // the rest of an oversized error reply is dropped
    }
    transfer.response.body.append(data, bytes);
    return bytes;
  }
  if (!deliver_head(transfer, status)) return 0;  // libcurl aborts with CURLE_WRITE_ERROR
  if (!(*transfer.on_data)(std::string_view(data, bytes))) {
    transfer.stopped_by_receiver = true;
    return 0;  // libcurl aborts with CURLE_WRITE_ERROR
  }
  return bytes;
}

size_t read_body(char* buffer, size_t size, size_t count, void* user) {
  auto& upload = *static_cast<UploadFile*>(user);
  while (true) {
    const ssize_t got = ::read(upload.fd, buffer, size * count);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno == EINTR) continue;
    upload.read_errno = errno;
    return CURL_READFUNC_ABORT;
  }
}

// Polled by libcurl during the transfer (at least about once a second, even while no data moves);
// returning non-zero aborts it with CURLE_ABORTED_BY_CALLBACK.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& transfer = *static_cast<Transfer*>(user);
  transfer.aborted = (*transfer.should_abort)();
  return transfer.aborted ? 1 : 0;
}

class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(ClientOptions options)
      : m_options(std::move(options)), m_loopback(is_loopback_endpoint(m_options.endpoint)) {
    while (m_options.endpoint.ends_with('/')) m_options.endpoint.pop_back();
  }
  ~CurlTransport() override {
    if (m_handle != nullptr) m_curl->easy_cleanup(m_handle);
  }
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<HttpResponse> send(const HttpRequest& request) override {
    return perform(request, nullptr);
  }

  Result<HttpResponse> stream(const HttpRequest& request,
                              const std::function<bool(std::string_view)>& on_data) override {
    return perform(request, &on_data);
  }

  std::string endpoint() const override { return m_options.endpoint; }

 private:
  // Loads libcurl and makes the easy handle on the first request.
  Result<void> open_handle() {
    if (m_handle != nullptr) return {};
    auto curl = curl_library();
    if (!curl) return fail(curl.error());
    m_curl = *curl;
    m_handle = m_curl->easy_init();
    if (m_handle == nullptr) return fail(ErrorCode::internal, "cannot initialise libcurl");
    return {};
  }

  template <typename Value>
  void set(CURLoption option, Value value) {
    m_curl->easy_setopt(m_handle, option, value);
  }

  Result<HttpResponse> perform(const HttpRequest& request,
                               const std::function<bool(std::string_view)>* on_data) {
    if (auto opened = open_handle(); !opened) return fail(opened.error());
    m_curl->easy_reset(m_handle);  // keeps the open connection
    Transfer transfer;
    transfer.curl = m_curl;
    transfer.handle = m_handle;
    transfer.on_data = on_data;
    if (on_data != nullptr && request.on_head) transfer.on_head = &request.on_head;
    CurlHeaders headers(*m_curl);
    const std::string url = m_options.endpoint + request.target;
    if (auto prepared = prepare(request, on_data != nullptr, transfer, headers, url); !prepared) {
      return std::unexpected(prepared.error());
    }
    const CURLcode code = m_curl->easy_perform(m_handle);
    if (code != CURLE_OK) return std::unexpected(error_of(code, request, transfer));
    long status = 0;
    m_curl->easy_getinfo(m_handle, CURLINFO_RESPONSE_CODE, &status);
    transfer.response.status = static_cast<int>(status);
    if (status < 400 && !deliver_head(transfer, status)) {  // a reply without a body
      return std::unexpected(transport_errors::stopped_by_receiver(request));
    }
    return std::move(transfer.response);
  }

  // Sets every option of one transfer; the handle was reset before.
  Result<void> prepare(const HttpRequest& request, bool streaming, Transfer& transfer,
                       CurlHeaders& headers, const std::string& url) {
    set(CURLOPT_URL, url.c_str());
    set(CURLOPT_PATH_AS_IS, 1L);  // the target is sent as built
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    if (m_loopback) set(CURLOPT_PROXY, "");  // never proxy a local service
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(m_options.connect_timeout_ms));
    if (streaming || request.body_file) {  // no total timeout: only a stall ends them
      set(CURLOPT_LOW_SPEED_LIMIT, 1L);
      set(CURLOPT_LOW_SPEED_TIME, k_stall_seconds);
    } else {
      const int seconds =
          request.timeout_seconds > 0 ? request.timeout_seconds : m_options.timeout_seconds;
      set(CURLOPT_TIMEOUT, static_cast<long>(seconds));
    }
    set(CURLOPT_HEADERFUNCTION, on_header);
    set(CURLOPT_HEADERDATA, &transfer);
    set(CURLOPT_WRITEFUNCTION, on_body);
    set(CURLOPT_WRITEDATA, &transfer);
    if (m_options.should_abort) {
      transfer.should_abort = &m_options.should_abort;
      set(CURLOPT_XFERINFOFUNCTION, on_progress);
      set(CURLOPT_XFERINFODATA, &transfer);
      set(CURLOPT_NOPROGRESS, 0L);
    }

    for (const auto& [name, value] : request.headers) headers.add(name + ": " + value);
    headers.add("Expect:");  // no 100-continue round trip before a body
    set(CURLOPT_HTTPHEADER, headers.list);

    if (request.body_file) return prepare_file_body(request, transfer.upload);
    if (request.method == "GET") {
      set(CURLOPT_HTTPGET, 1L);
    } else if (request.method == "POST") {
      set(CURLOPT_POST, 1L);
    } else {
      set(CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.method != "GET" && (request.method != "DELETE" || !request.body.empty())) {
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      set(CURLOPT_POSTFIELDS, request.body.data());
    }
    return {};
  }

  // Streams the file from disk with its size as Content-Length (no chunked encoding).
  Result<void> prepare_file_body(const HttpRequest& request, UploadFile& upload) {
    const auto& path = *request.body_file;
    upload.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat info {};
    if (upload.fd < 0 || ::fstat(upload.fd, &info) != 0) {
      return fail(ErrorCode::io, "cannot open {}: {}", path.string(), std::strerror(errno));
    }
    if (!S_ISREG(info.st_mode)) {
      return fail(ErrorCode::io, "cannot upload {}: not a regular file", path.string());
    }
    set(CURLOPT_UPLOAD, 1L);
    if (request.method != "PUT") set(CURLOPT_CUSTOMREQUEST, request.method.c_str());
    set(CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(info.st_size));
    set(CURLOPT_READFUNCTION, read_body);
    set(CURLOPT_READDATA, &upload);
    return {};
  }

  bool connected() const {
    curl_off_t connect_time = 0;
    m_curl->easy_getinfo(m_handle, CURLINFO_CONNECT_TIME_T, &connect_time);
    return connect_time > 0;
  }

  Error unreachable(const std::string& reason) const {
    return transport_errors::unreachable(m_options.endpoint, reason);
  }

  Error error_of(CURLcode code, const HttpRequest& request, const Transfer& transfer) const {
    long os_errno = 0;
    m_curl->easy_getinfo(m_handle, CURLINFO_OS_ERRNO, &os_errno);
    const std::string reason =
        os_errno != 0 ? std::strerror(static_cast<int>(os_errno)) : m_curl->easy_strerror(code);
    switch (code) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY: return unreachable(reason);
      case CURLE_OPERATION_TIMEDOUT:
        if (!connected()) {
          return unreachable(fmt::format("no answer within {} ms", m_options.connect_timeout_ms));
        }
        return transport_errors::no_answer_in_time(m_options.endpoint, request);
      case CURLE_WRITE_ERROR:
        if (transfer.stopped_by_receiver) return transport_errors::stopped_by_receiver(request);
        break;
      case CURLE_ABORTED_BY_CALLBACK:
      case CURLE_READ_ERROR:
        if (transfer.aborted) return transport_errors::interrupted(request);
        if (transfer.upload.read_errno != 0) {
          return transport_errors::unreadable_body(request, std::strerror(transfer.upload.read_errno));
        }
        break;
      case CURLE_GOT_NOTHING:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_PARTIAL_FILE:
        return transport_errors::connection_lost(m_options.endpoint, request, reason);
      default: break;
    }
    return Error(ErrorCode::internal, fmt::format("{} {} failed: {}", request.method,
                                                  request.target, m_curl->easy_strerror(code)));
  }

  ClientOptions m_options;
  bool m_loopback = false;
  const CurlLibrary* m_curl = nullptr;  // set with m_handle, by the first request
  CURL* m_handle = nullptr;
};

}  // namespace

std::unique_ptr<Transport> make_curl_transport(const ClientOptions& options) {
  return std::make_unique<CurlTransport>(options);
}

bool has_curl_transport() { return true; }

}  // namespace trainctl::client
