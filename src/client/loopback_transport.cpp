// Plain HTTP/1.1 over TCP to a trainctld on this machine's loopback, without libcurl: loading
// libcurl and its dependencies (TLS, Kerberos, LDAP, HTTP/2, ...) and initialising OpenSSL cost a
// short command more than everything else it does (bench/README.md, client speed). A local
// service needs none of it: no TLS, no proxy, no name lookup. Debian's cpp-httplib has a client,
// but only as a shared library linked with OpenSSL, zlib and brotli, which would cost the same.
//
// The same contract as the libcurl transport (api_client.hpp): one kept-alive connection,
// Content-Length or chunked replies, file bodies with their length, a total timeout for plain
// requests, a stall limit for streams and uploads, and should_abort asked at least every
// k_poll_slice while waiting. A kept-alive connection that the service closed meanwhile is
// replaced, and the request sent again, only when nothing of the reply had arrived.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "trainctl/client/api_client.hpp"
#include "trainctl/client/transport_errors.hpp"
#include "trainctl/util/strings.hpp"
#include "trainctl/util/unique_fd.hpp"

namespace trainctl::client {

namespace {

using Clock = std::chrono::steady_clock;
using util::UniqueFd;

// An error reply streamed by mistake would be hard to read; they are small, so they are kept
// whole up to this size.
constexpr size_t k_max_error_body = 1u << 20;
// A reply's status line and headers; the service's are a few hundred bytes.
constexpr size_t k_max_head = 64u << 10;
// A stream or upload that moves nothing for this long is dead (log streams send a heartbeat
// every 5 s).
constexpr auto k_stall = std::chrono::seconds(60);
// How long one wait lasts before should_abort is asked again.
constexpr auto k_poll_slice = std::chrono::milliseconds(200);
constexpr size_t k_read_size = 64u << 10;

// Where a loopback endpoint points: the addresses to try in order, the Host header, and the path
// the endpoint puts before every target.
struct LoopbackEndpoint {
  std::vector<sockaddr_storage> addresses;
  std::string host;
  std::string prefix;
};

sockaddr_storage ipv4(in_addr address, uint16_t port) {
  sockaddr_storage storage{};
  auto* in = reinterpret_cast<sockaddr_in*>(&storage);
  in->sin_family = AF_INET;
  in->sin_addr = address;
  in->sin_port = htons(port);
  return storage;
}

sockaddr_storage ipv6(const in6_addr& address, uint16_t port) {
  sockaddr_storage storage{};
  auto* in = reinterpret_cast<sockaddr_in6*>(&storage);
  in->sin6_family = AF_INET6;
  in->sin6_addr = address;
  in->sin6_port = htons(port);
  return storage;
}

sockaddr_storage ipv6_loopback(uint16_t port) { return ipv6(in6addr_loopback, port); }

// Which addresses an endpoint may name to be reached without libcurl.
enum class Addresses {
  loopback,      // 127.0.0.0/8, localhost, [::1]: any endpoint the user configures
  any_literal,   // also any other IP literal: the local service's own record (its --bind)
};

// "http://127.0.0.1:8080", "http://localhost:8080/prefix", "http://[::1]:8080": an endpoint on
// this machine's loopback over plain HTTP (scheme and host in any case); with
// Addresses::any_literal also "http://10.0.0.5:8080" or "http://[fd00::5]:8080". nullopt for any
// other (https, a host name, credentials in the URL).
std::optional<LoopbackEndpoint> parse_loopback_endpoint(std::string_view endpoint,
                                                        Addresses allowed = Addresses::loopback) {
  constexpr std::string_view k_scheme = "http://";
  if (!util::starts_with_ignore_case(endpoint, k_scheme)) return std::nullopt;
  endpoint.remove_prefix(k_scheme.size());
  const auto slash = endpoint.find('/');
  std::string_view authority = endpoint.substr(0, slash);
  std::string prefix(slash == std::string_view::npos ? std::string_view() : endpoint.substr(slash));
  while (prefix.ends_with('/')) prefix.pop_back();
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // credentials in URL

  std::string_view host = authority;
  uint16_t port = 80;
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = authority.substr(0, colon);
    const auto digits = authority.substr(colon + 1);
    unsigned value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    port = static_cast<uint16_t>(value);
  }

  LoopbackEndpoint parsed{.addresses = {}, .host = std::string(authority), .prefix = prefix};
  if (util::equals_ignore_case(host, "localhost")) {
    parsed.addresses = {ipv4(in_addr{htonl(INADDR_LOOPBACK)}, port), ipv6_loopback(port)};
  } else if (host == "[::1]") {
    parsed.addresses = {ipv6_loopback(port)};
  } else if (host.starts_with('[') && host.ends_with(']')) {
    in6_addr address{};
    const std::string text(host.substr(1, host.size() - 2));
    if (allowed != Addresses::any_literal || ::inet_pton(AF_INET6, text.c_str(), &address) != 1) {
      return std::nullopt;
    }
    parsed.addresses = {ipv6(address, port)};
  } else {
    in_addr address{};
    const std::string text(host);
    if (::inet_pton(AF_INET, text.c_str(), &address) != 1) return std::nullopt;
    const bool loopback = (ntohl(address.s_addr) >> 24) == 127;  // 127.0.0.0/8
    if (!loopback && allowed != Addresses::any_literal) return std::nullopt;
    parsed.addresses = {ipv4(address, port)};
  }
  return parsed;
}

// How a transfer ended when it did not end with a whole reply.
enum class Failure {
  none,
  timeout,     // the total time or the stall limit passed
  aborted,     // should_abort said so
  stopped,     // the receiver (on_data / on_head) said so
  lost,        // the connection failed or closed early, or the reply was malformed
  upload_read  // the file body could not be read
};

// One request and its reply, with the limits it runs under.
struct Transfer {
  Transfer(const HttpRequest& request_, const std::function<bool(std::string_view)>* on_data_,
           const std::function<bool()>* should_abort_)
      : request(request_), on_data(on_data_), should_abort(should_abort_) {}

  const HttpRequest& request;
  const std::function<bool(std::string_view)>* on_data;  // null: keep the body
  const std::function<bool()>* should_abort;             // null: never aborted
  std::optional<Clock::time_point> deadline;             // none: only the stall limit
  Clock::time_point last_progress = Clock::now();
  HttpResponse response;
  bool head_delivered = false;
  bool any_reply_byte = false;  // a byte of the reply has arrived
  Failure failure = Failure::none;
  std::string reason;  // what failed, for Failure::lost and upload_read
};

// SIGPIPE held back on this thread while a file is sent: sendfile(2) takes no MSG_NOSIGNAL, and
// a service that closed the connection must be an error to report, not the end of the program.
// A SIGPIPE the sending raised is taken from the thread's pending signals before the mask is
// restored, unless one was pending before.
class SigpipeHeld {
 public:
  SigpipeHeld() {
    ::pthread_sigmask(SIG_BLOCK, &pipe_only(), &m_previous);
    sigset_t pending;
    m_was_pending = ::sigpending(&pending) == 0 && ::sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeHeld() {
    sigset_t pending;
    if (!m_was_pending && ::sigpending(&pending) == 0 && ::sigismember(&pending, SIGPIPE) == 1) {
      const timespec now{};
      ::sigtimedwait(&pipe_only(), nullptr, &now);
    }
    ::pthread_sigmask(SIG_SETMASK, &m_previous, nullptr);
  }
  SigpipeHeld(const SigpipeHeld&) = delete;
  SigpipeHeld& operator=(const SigpipeHeld&) = delete;

 private:
  static const sigset_t& pipe_only() {
    static const sigset_t set = [] {
      sigset_t pipe;
      ::sigemptyset(&pipe);
      ::sigaddset(&pipe, SIGPIPE);
      return pipe;
    }();
    return set;
  }

  sigset_t m_previous{};
  bool m_was_pending = false;
};

class LoopbackTransport final : public Transport {
 public:
  LoopbackTransport(ClientOptions options, LoopbackEndpoint endpoint)
      : m_options(std::move(options)), m_endpoint(std::move(endpoint)) {
    while (m_options.endpoint.ends_with('/')) m_options.endpoint.pop_back();
  }

  Result<HttpResponse> send(const HttpRequest& request) override {
    return perform(request, nullptr);
  }

  Result<HttpResponse> stream(const HttpRequest& request,
                              const std::function<bool(std::string_view)>& on_data) override {
    return perform(request, &on_data);
  }

  std::string endpoint() const override { return m_options.endpoint; }

 private:
  Result<HttpResponse> perform(const HttpRequest& request,
                               const std::function<bool(std::string_view)>* on_data) {
    UniqueFd file;
    uint64_t file_size = 0;
    if (request.body_file) {
      auto opened = open_body_file(*request.body_file);
      if (!opened) return std::unexpected(opened.error());
      file = std::move(opened->first);
      file_size = opened->second;
    }
    const std::string head = request_head(request, request.body_file ? file_size : request.body.size());

    // A kept-alive connection may have been closed by the service since the last request: then
    // the request goes once more over a new connection, as long as no byte of a reply came.
    for (int attempt = 0;; ++attempt) {
      Transfer transfer(request, on_data,
                        m_options.should_abort ? &m_options.should_abort : nullptr);
      if (on_data == nullptr && !request.body_file) {
        const int seconds =
            request.timeout_seconds > 0 ? request.timeout_seconds : m_options.timeout_seconds;
        transfer.deadline = Clock::now() + std::chrono::seconds(seconds);
      }
      const bool reused = m_socket && connection_idle();
      if (!reused) {
        drop_connection();
        if (auto connected = connect(transfer); !connected) return std::unexpected(connected.error());
      }
      bool reusable = false;
      if (send_request(transfer, head, file, file_size)) reusable = read_reply(transfer);
      if (!reusable) drop_connection();
      if (transfer.failure == Failure::none) {
        if (transfer.response.status < 400 && !deliver_head(transfer)) {  // a reply without a body
          return std::unexpected(transport_errors::stopped_by_receiver(request));
        }
        return std::move(transfer.response);
      }
      if (transfer.failure == Failure::lost && reused && attempt == 0 && !transfer.any_reply_byte) {
        continue;
      }
      return std::unexpected(error_of(transfer));
    }
  }

  // The file of a file body, open, and its size.
  static Result<std::pair<UniqueFd, uint64_t>> open_body_file(const std::filesystem::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    struct stat info {};
    if (!fd || ::fstat(fd.get(), &info) != 0) {
      return fail(ErrorCode::io, "cannot open {}: {}", path.string(), std::strerror(errno));
    }
    if (!S_ISREG(info.st_mode)) {
      return fail(ErrorCode::io, "cannot upload {}: not a regular file", path.string());
    }
    return std::pair{std::move(fd), static_cast<uint64_t>(info.st_size)};
  }

  std::string request_head(const HttpRequest& request, uint64_t body_size) const {
    std::string head = fmt::format("{} {}{} HTTP/1.1\r\nHost: {}\r\n", request.method,
                                   m_endpoint.prefix, request.target, m_endpoint.host);
    for (const auto& [name, value] : request.headers) fmt::format_to(std::back_inserter(head), "{}: {}\r\n", name, value);
    // Every body has its length (no chunked uploads, no 100-continue round trip); a GET and a
    // DELETE without a body send none.
    if (request.body_file || (request.method != "GET" && (request.method != "DELETE" || body_size > 0))) {
      fmt::format_to(std::back_inserter(head), "Content-Length: {}\r\n", body_size);
    }
    head += "\r\n";
    return head;
  }

  // True when the kept-alive connection has nothing to read: the service has not closed it.
  bool connection_idle() const {
    pollfd entry{.fd = m_socket.get(), .events = POLLIN, .revents = 0};
    return ::poll(&entry, 1, 0) == 0;
  }

  void drop_connection() {
    m_socket.reset();
    m_buffer.clear();
  }

  // Waits until the socket is ready for `events`, asking should_abort every k_poll_slice;
  // false (with transfer.failure set) when the time is up or the transfer is aborted.
  bool wait_ready(Transfer& transfer, short events, std::optional<Clock::time_point> limit = {}) {
    while (true) {
      const auto now = Clock::now();
      auto until = now + k_poll_slice;
      if (transfer.deadline) until = std::min(until, *transfer.deadline);
      until = std::min(until, limit.value_or(transfer.last_progress + k_stall));
      pollfd entry{.fd = m_socket.get(), .events = events, .revents = 0};
      const auto wait =
          std::chrono::ceil<std::chrono::milliseconds>(std::max(until - now, Clock::duration::zero()));
      const int ready = ::poll(&entry, 1, static_cast<int>(wait.count()));
      if (ready > 0) return true;
      if (ready < 0 && errno != EINTR) {
        transfer.failure = Failure::lost;
        transfer.reason = std::strerror(errno);
        return false;
      }
      if (transfer.should_abort != nullptr && (*transfer.should_abort)()) {
        transfer.failure = Failure::aborted;
        return false;
      }
      const auto after = Clock::now();
      if ((transfer.deadline && after >= *transfer.deadline) ||
          after >= limit.value_or(transfer.last_progress + k_stall)) {
        transfer.failure = Failure::timeout;
        return false;
      }
    }
  }

  Result<void> connect(Transfer& transfer) {
    const auto limit = Clock::now() + std::chrono::milliseconds(m_options.connect_timeout_ms);
    std::string reason;
    for (const auto& address : m_endpoint.addresses) {
      UniqueFd fd(::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!fd) {
        reason = std::strerror(errno);
        continue;
      }
      const int on = 1;
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      ::setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
      const auto length = static_cast<socklen_t>(address.ss_family == AF_INET ? sizeof(sockaddr_in)
                                                                              : sizeof(sockaddr_in6));
      if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0) {
        if (errno != EINPROGRESS) {
          reason = std::strerror(errno);
          continue;
        }
        m_socket = std::move(fd);
        if (!wait_ready(transfer, POLLOUT, limit)) {
          m_socket.reset();
          if (transfer.failure == Failure::aborted) return std::unexpected(error_of(transfer));
          if (transfer.failure == Failure::timeout) {
            return unreachable(fmt::format("no answer within {} ms", m_options.connect_timeout_ms));
          }
          reason = transfer.reason;
          continue;
        }
        int error = 0;
        socklen_t size = sizeof error;
        ::getsockopt(m_socket.get(), SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0) {
          m_socket.reset();
          reason = std::strerror(error);
          continue;
        }
        return {};
      }
      m_socket = std::move(fd);
      return {};
    }
    return unreachable(reason);
  }

  // After a send that wrote nothing: true when it is worth sending again (it was interrupted,
  // or the socket was full and has room now); false otherwise (transfer.failure set when the
  // wait failed).
  bool room_again(Transfer& transfer, ssize_t sent) {
    if (sent >= 0 || (errno != EINTR && errno != EAGAIN)) return false;
    return errno == EINTR || wait_ready(transfer, POLLOUT);
  }

  // Sends all of `data`; false (with transfer.failure set) when it cannot.
  bool send_all(Transfer& transfer, std::string_view data, int flags = 0) {
    while (!data.empty()) {
      const ssize_t sent = ::send(m_socket.get(), data.data(), data.size(), MSG_NOSIGNAL | flags);
      if (sent > 0) {
        data.remove_prefix(static_cast<size_t>(sent));
        transfer.last_progress = Clock::now();
        continue;
      }
      if (room_again(transfer, sent)) continue;
      if (transfer.failure != Failure::none) return false;
      transfer.failure = Failure::lost;
      transfer.reason = std::strerror(errno);
      return false;
    }
    return true;
  }

  bool send_request(Transfer& transfer, const std::string& head, const UniqueFd& file,
                    uint64_t file_size) {
    if (!file) {
      if (transfer.request.body.empty()) return send_all(transfer, head);
      if (transfer.request.body.size() <= (64u << 10)) {  // one write, one segment when small
        return send_all(transfer, head + transfer.request.body);
      }
      return send_all(transfer, head, MSG_MORE) && send_all(transfer, transfer.request.body);
    }
    if (!send_all(transfer, head, file_size > 0 ? MSG_MORE : 0)) return false;
    const SigpipeHeld held;
    off_t offset = 0;
    while (static_cast<uint64_t>(offset) < file_size) {
      const auto left = static_cast<size_t>(file_size - static_cast<uint64_t>(offset));
      const ssize_t sent = ::sendfile(m_socket.get(), file.get(), &offset, std::min(left, size_t{1} << 20));
      if (sent > 0) {
        transfer.last_progress = Clock::now();
        continue;
      }
      if (room_again(transfer, sent)) continue;
      if (transfer.failure != Failure::none) return false;
      // sendfile fails with the socket's errno or the file's; a file that shrank reads 0.
      const int error = errno;
      if (sent == 0 || error == EIO || error == EINVAL || error == EOVERFLOW) {
        transfer.failure = Failure::upload_read;
        transfer.reason = sent == 0 ? "it shrank while it was sent" : std::strerror(error);
      } else {
        transfer.failure = Failure::lost;
        transfer.reason = std::strerror(error);
      }
      return false;
    }
    return true;
  }

  // Reads more of the reply into m_buffer; false at the end of the connection (reason set) or
  // on a failure (transfer.failure set).
  bool fill(Transfer& transfer) {
    char chunk[k_read_size];
    while (true) {
      const ssize_t got = ::recv(m_socket.get(), chunk, sizeof chunk, 0);
      if (got > 0) {
        m_buffer.append(chunk, static_cast<size_t>(got));
        transfer.any_reply_byte = true;
        transfer.last_progress = Clock::now();
        return true;
      }
      if (got == 0) {
        transfer.reason = "the service closed the connection";
        return false;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!wait_ready(transfer, POLLIN)) return false;
        continue;
      }
      transfer.failure = Failure::lost;
      transfer.reason = std::strerror(errno);
      return false;
    }
  }

  // fill(), where the end of the connection is a failure.
  bool fill_or_lose(Transfer& transfer) {
    if (fill(transfer)) return true;
    if (transfer.failure == Failure::none) transfer.failure = Failure::lost;
    return false;
  }

  bool malformed(Transfer& transfer, std::string_view what) {
    transfer.failure = Failure::lost;
    transfer.reason = fmt::format("malformed reply ({})", what);
    return false;
  }

  // Gives the head of a success reply to on_head, once; false when on_head stops the transfer.
  static bool deliver_head(Transfer& transfer) {
    if (transfer.on_data == nullptr || !transfer.request.on_head || transfer.head_delivered) return true;
    transfer.head_delivered = true;
    return transfer.request.on_head(transfer.response);
  }

  // A piece of the body: to on_data for a streamed success reply, kept otherwise.
  bool deliver(Transfer& transfer, std::string_view piece) {
    if (piece.empty()) return true;
    if (transfer.on_data == nullptr || transfer.response.status >= 400) {
      if (transfer.on_data != nullptr && transfer.response.body.size() + piece.size() > k_max_error_body) {
        return true;  // the rest of an oversized error reply is dropped
      }
      transfer.response.body.append(piece);
      return true;
    }
    if (!deliver_head(transfer) || !(*transfer.on_data)(piece)) {
      transfer.failure = Failure::stopped;
      return false;
    }
    return true;
  }

  // Reads the reply; true when the connection can carry the next request.
  bool read_reply(Transfer& transfer) {
    size_t head_end = std::string::npos;
    while (true) {  // a 1xx interim reply is followed by the real one
      while ((head_end = m_buffer.find("\r\n\r\n")) == std::string::npos) {
        if (m_buffer.size() > k_max_head) return malformed(transfer, "headers too long");
        if (!fill_or_lose(transfer)) return false;
      }
      if (!parse_head(transfer, std::string_view(m_buffer).substr(0, head_end + 2))) return false;
      m_buffer.erase(0, head_end + 4);
      if (transfer.response.status >= 200) break;
    }
    const auto& response = transfer.response;
    bool keep_alive = m_http11 && ::strcasecmp(response.header("Connection").c_str(), "close") != 0;
    if (response.status == 204 || response.status == 304) return keep_alive && m_buffer.empty();
    if (::strcasecmp(response.header("Transfer-Encoding").c_str(), "chunked") == 0) {
      return read_chunked(transfer) && keep_alive && m_buffer.empty();
    }
    if (const auto length = response.header("Content-Length"); !length.empty()) {
      uint64_t left = 0;
      const auto [end, error] = std::from_chars(length.data(), length.data() + length.size(), left);
      if (error != std::errc() || end != length.data() + length.size()) {
        return malformed(transfer, "Content-Length");
      }
      while (left > 0) {
        if (m_buffer.empty() && !fill_or_lose(transfer)) return false;
        const auto take = static_cast<size_t>(std::min<uint64_t>(left, m_buffer.size()));
        if (!deliver(transfer, std::string_view(m_buffer).substr(0, take))) return false;
        m_buffer.erase(0, take);
        left -= take;
      }
      return keep_alive && m_buffer.empty();
    }
    // No length: the body runs to the end of the connection.
    while (true) {
      if (!deliver(transfer, m_buffer)) return false;
      m_buffer.clear();
      if (!fill(transfer)) return false;
    }
  }

  bool parse_head(Transfer& transfer, std::string_view head) {
    auto& response = transfer.response;
    response.headers.clear();
    const auto line_end = head.find("\r\n");
    const std::string_view status_line = head.substr(0, line_end);
    if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ') {
      return malformed(transfer, "status line");
    }
    m_http11 = status_line[7] == '1';
    int status = 0;
    const auto [end, error] = std::from_chars(status_line.data() + 9, status_line.data() + 12, status);
    if (error != std::errc() || end != status_line.data() + 12 || status < 100) {
      return malformed(transfer, "status");
    }
    response.status = status;
    head.remove_prefix(line_end + 2);
    while (!head.empty()) {
      const auto end_of_line = head.find("\r\n");
      const std::string_view line = head.substr(0, end_of_line);
      head.remove_prefix(std::min(head.size(), end_of_line + 2));
      const auto colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      auto value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      response.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    return true;
  }

  // A chunked body: "<hex size>[;ext]\r\n<data>\r\n" ... "0\r\n" [trailers] "\r\n".
  bool read_chunked(Transfer& transfer) {
    while (true) {
      size_t line_end = 0;
      while ((line_end = m_buffer.find("\r\n")) == std::string::npos) {
        if (m_buffer.size() > 1024) return malformed(transfer, "chunk size");
        if (!fill_or_lose(transfer)) return false;
      }
      const std::string_view line = std::string_view(m_buffer).substr(0, line_end);
      const std::string_view digits = line.substr(0, line.find(';'));
      uint64_t size = 0;
      const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
      if (error != std::errc() || digits.empty()) return malformed(transfer, "chunk size");
      (void)end;
      m_buffer.erase(0, line_end + 2);
      if (size == 0) break;
      while (size > 0) {
        if (m_buffer.empty() && !fill_or_lose(transfer)) return false;
        const auto take = static_cast<size_t>(std::min<uint64_t>(size, m_buffer.size()));
        if (!deliver(transfer, std::string_view(m_buffer).substr(0, take))) return false;
        m_buffer.erase(0, take);
        size -= take;
      }
      while (m_buffer.size() < 2) {
        if (!fill_or_lose(transfer)) return false;
      }
      if (!m_buffer.starts_with("\r\n")) return malformed(transfer, "chunk end");
      m_buffer.erase(0, 2);
    }
    // Trailers, up to the empty line that ends the body.
    while (true) {
      size_t line_end = 0;
      while ((line_end = m_buffer.find("\r\n")) == std::string::npos) {
        if (m_buffer.size() > k_max_head) return malformed(transfer, "trailers too long");
        if (!fill_or_lose(transfer)) return false;
      }
      m_buffer.erase(0, line_end + 2);
      if (line_end == 0) return true;
    }
  }

  std::unexpected<Error> unreachable(const std::string& reason) const {
    return std::unexpected(transport_errors::unreachable(m_options.endpoint, reason));
  }

  Error error_of(const Transfer& transfer) const {
    const auto& request = transfer.request;
    switch (transfer.failure) {
      case Failure::timeout: return transport_errors::no_answer_in_time(m_options.endpoint, request);
      case Failure::aborted: return transport_errors::interrupted(request);
      case Failure::stopped: return transport_errors::stopped_by_receiver(request);
      case Failure::upload_read: return transport_errors::unreadable_body(request, transfer.reason);
      case Failure::lost:
      case Failure::none: break;
    }
    return transport_errors::connection_lost(m_options.endpoint, request, transfer.reason);
  }

  ClientOptions m_options;
  LoopbackEndpoint m_endpoint;
  UniqueFd m_socket;     // the kept-alive connection; none before the first request
  std::string m_buffer;  // bytes read and not yet consumed
  bool m_http11 = true;  // the last reply's HTTP version allows keep-alive
};

}  // namespace

std::unique_ptr<Transport> make_loopback_transport(const ClientOptions& options) {
  auto endpoint = parse_loopback_endpoint(options.endpoint);
  if (!endpoint) return nullptr;
  return std::make_unique<LoopbackTransport>(options, std::move(*endpoint));
}

bool needs_curl(std::string_view endpoint) { return !parse_loopback_endpoint(endpoint); }

std::unique_ptr<Transport> make_transport(const ClientOptions& options) {
  if (auto loopback = make_loopback_transport(options)) return loopback;
  return make_curl_transport(options);
}

std::unique_ptr<Transport> make_local_service_transport(const ClientOptions& options) {
  if (auto endpoint = parse_loopback_endpoint(options.endpoint, Addresses::any_literal)) {
    return std::make_unique<LoopbackTransport>(options, std::move(*endpoint));
  }
  return make_transport(options);
}

}  // namespace trainctl::client
