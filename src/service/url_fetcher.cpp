// Dataset URLs (url_fetcher.hpp): parsed once with libcurl's URL API, named after the last
// segment of their path, and downloaded with the easy API. The address policy is enforced in
// the callback that opens every socket of a transfer (redirects included), so the address
// checked is the address connected to, whatever DNS said before.
#include "trainctl/service/url_fetcher.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>

#include "trainctl/api/names.hpp"
#include "trainctl/util/strings.hpp"
#include "trainctl/util/version.hpp"

namespace trainctl::service {

namespace {

constexpr size_t k_max_url_length = 8192;
constexpr long k_low_speed_bytes_per_second = 1024;

// ---- IP networks ----------------------------------------------------------------------------

// An IP address in 16 bytes. IPv4 addresses are kept IPv4-mapped (::ffff:a.b.c.d), so an
// IPv4-mapped IPv6 address is the same value as its IPv4 address and meets the same rules.
using IpAddress = std::array<uint8_t, 16>;
constexpr int k_ipv4_mapped_prefix_length = 96;

IpAddress ip_address(const in_addr& ipv4) {
  IpAddress bytes{};
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  std::memcpy(bytes.data() + 12, &ipv4, sizeof ipv4);
  return bytes;
}

IpAddress ip_address(const in6_addr& ipv6) {
  IpAddress bytes{};
  std::memcpy(bytes.data(), &ipv6, sizeof ipv6);
  return bytes;
}

// `address` with every bit past the first `prefix_length` cleared.
IpAddress masked(IpAddress address, int prefix_length) {
  for (int bit = prefix_length; bit < 128; ++bit) {
    address[static_cast<size_t>(bit / 8)] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  return address;
}

struct IpNetwork {
  IpAddress first;        // host bits are zero
  int prefix_length = 0;  // of the 16-byte form

  bool contains(const IpAddress& address) const { return masked(address, prefix_length) == first; }
};

// The prefix length after the '/' of a CIDR; nullopt unless it is a number in [0, max].
std::optional<int> parse_prefix_length(std::string_view text, int max) {
  int value = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 0 || value > max) {
    return std::nullopt;
  }
  return value;
}

// "ADDRESS/PREFIX" (IPv4 or IPv6), with no bit set past the prefix.
Result<IpNetwork> parse_network(std::string_view cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string_view::npos) {
    return fail(ErrorCode::invalid_argument,
                "'{}' is not a network: write it as ADDRESS/PREFIX, as in 127.0.0.0/8 or ::1/128",
                cidr);
  }
  const std::string address(cidr.substr(0, slash));
  const auto prefix_text = cidr.substr(slash + 1);
  in_addr ipv4{};
  in6_addr ipv6{};
  std::optional<int> prefix_length;
  IpAddress first{};
  if (::inet_pton(AF_INET, address.c_str(), &ipv4) == 1) {
    first = ip_address(ipv4);
    prefix_length = parse_prefix_length(prefix_text, 32);
    if (prefix_length) *prefix_length += k_ipv4_mapped_prefix_length;
  } else if (::inet_pton(AF_INET6, address.c_str(), &ipv6) == 1) {
    first = ip_address(ipv6);
    prefix_length = parse_prefix_length(prefix_text, 128);
  } else {
    return fail(ErrorCode::invalid_argument, "'{}' is not a network: '{}' is not an IP address",
                cidr, address);
  }
  if (!prefix_length) {
    return fail(ErrorCode::invalid_argument,
                "'{}' is not a network: the prefix length must be 0-32 for IPv4, 0-128 for IPv6",
                cidr);
  }
  if (masked(first, *prefix_length) != first) {
    return fail(ErrorCode::invalid_argument,
                "'{}' is not a network: bits are set past its prefix length (write the network's "
                "first address, as in 10.0.0.0/8)",
                cidr);
  }
  return IpNetwork{first, *prefix_length};
}

// ---- the address policy ---------------------------------------------------------------------

struct ForbiddenRange {
  std::string_view cidr;
  std::string_view kind;  // completes "resolves to 10.1.2.3, ..."
};

// Refused unless allowed by UrlPolicy::allowed_networks: what a server-side fetch must not reach
// by default (the service itself, cloud metadata, private networks, non-unicast addresses).
constexpr std::array k_forbidden_ranges{
    ForbiddenRange{"0.0.0.0/8", "a 'this host' address"},
    ForbiddenRange{"10.0.0.0/8", "a private address"},
    ForbiddenRange{"100.64.0.0/10", "a carrier-grade NAT address"},
    ForbiddenRange{"127.0.0.0/8", "a loopback address"},
    ForbiddenRange{"169.254.0.0/16", "a link-local address (where cloud metadata services answer)"},
    ForbiddenRange{"172.16.0.0/12", "a private address"},
    ForbiddenRange{"192.0.0.0/24", "an IETF protocol address"},
    ForbiddenRange{"192.168.0.0/16", "a private address"},
    ForbiddenRange{"198.18.0.0/15", "a benchmarking address"},
    ForbiddenRange{"224.0.0.0/4", "a multicast address"},
    ForbiddenRange{"240.0.0.0/4", "a reserved or broadcast address"},
    ForbiddenRange{"::/128", "the unspecified address"},
    ForbiddenRange{"::1/128", "a loopback address"},
    ForbiddenRange{"fc00::/7", "a unique local (private) address"},
    ForbiddenRange{"fe80::/10", "a link-local address"},
    ForbiddenRange{"ff00::/8", "a multicast address"},
};

struct ForbiddenNetwork {
  IpNetwork network;
  const ForbiddenRange* range;
};

const std::vector<ForbiddenNetwork>& forbidden_networks() {
  static const std::vector<ForbiddenNetwork> networks = [] {
    std::vector<ForbiddenNetwork> parsed;
    for (const auto& range : k_forbidden_ranges)
      parsed.push_back({*parse_network(range.cidr), &range});
    return parsed;
  }();
  return networks;
}

Result<std::vector<IpNetwork>> parse_allowed_networks(const UrlPolicy& policy) {
  std::vector<IpNetwork> allowed;
  for (const auto& cidr : policy.allowed_networks) {
    auto network = parse_network(cidr);
    if (!network) {
      return fail(ErrorCode::invalid_argument, "--allow-url-network: {}", network.error().message);
    }
    allowed.push_back(*network);
  }
  return allowed;
}

// The forbidden range holding `address`, or nullptr when it may be connected to.
const ForbiddenRange* forbidden_range_of(const IpAddress& address,
                                         const std::vector<IpNetwork>& allowed) {
  const auto in = [&address](const IpNetwork& network) { return network.contains(address); };
  if (std::any_of(allowed.begin(), allowed.end(), in)) return nullptr;
  for (const auto& forbidden : forbidden_networks()) {
    if (forbidden.network.contains(address)) return forbidden.range;
  }
  return nullptr;
}

struct SocketAddress {
  IpAddress address;
  std::string text;  // as the socket has it ("::ffff:127.0.0.1" stays so)
};

// The IP address libcurl is about to connect to; nullopt for any other kind of socket.
std::optional<SocketAddress> socket_address(const curl_sockaddr& target) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  const auto* raw = reinterpret_cast<const unsigned char*>(&target.addr);
  if (target.family == AF_INET && target.addrlen >= sizeof(sockaddr_in)) {
    sockaddr_in ipv4{};
    std::memcpy(&ipv4, raw, sizeof ipv4);
    ::inet_ntop(AF_INET, &ipv4.sin_addr, text.data(), text.size());
    return SocketAddress{ip_address(ipv4.sin_addr), text.data()};
  }
  if (target.family == AF_INET6 && target.addrlen >= sizeof(sockaddr_in6)) {
    sockaddr_in6 ipv6{};
    std::memcpy(&ipv6, raw, sizeof ipv6);
    ::inet_ntop(AF_INET6, &ipv6.sin6_addr, text.data(), text.size());
    return SocketAddress{ip_address(ipv6.sin6_addr), text.data()};
  }
  return std::nullopt;
}

// ---- URLs -----------------------------------------------------------------------------------

struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;

struct CurlEasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

// curl_global_init, once per process, before the first handle (it is not thread-safe itself).
bool curl_is_initialized() {
  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return initialized;
}

// A part of a parsed URL as written (not decoded); nullopt when the URL has none.
std::optional<std::string> url_part(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK) return std::nullopt;
  std::string text(value);
  curl_free(value);
  return text;
}

int hex_digit_value(char digit) {
  if (digit >= '0' && digit <= '9') return digit - '0';
  if (digit >= 'a' && digit <= 'f') return digit - 'a' + 10;
  if (digit >= 'A' && digit <= 'F') return digit - 'A' + 10;
  return -1;
}

// `text` with its %XX escapes decoded; nullopt when an escape is malformed.
std::optional<std::string> percent_decoded(std::string_view text) {
  std::string decoded;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded += text[i];
      continue;
    }
    const int high = i + 2 < text.size() ? hex_digit_value(text[i + 1]) : -1;
    const int low = i + 2 < text.size() ? hex_digit_value(text[i + 2]) : -1;
    if (high < 0 || low < 0) return std::nullopt;
    decoded += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return decoded;
}

// The file name of a URL whose path is `path`: its last segment, percent-decoded, which must be
// one valid path component.
Result<std::string> file_name_of_path(const std::string& url, std::string_view path) {
  const auto segment = path.substr(path.rfind('/') + 1);
  if (segment.empty()) {
    return fail(ErrorCode::invalid_argument,
                "{}: the URL's path must end with a file name, as in https://example.com/data.csv",
                url);
  }
  const auto name = percent_decoded(segment);
  if (!name) {
    return fail(ErrorCode::invalid_argument,
                "{}: the file name '{}' is not validly percent-encoded", url, segment);
  }
  if (name->find('/') != std::string::npos) {
    return fail(ErrorCode::invalid_argument, "{}: the file name '{}' decodes to a name with '/'",
                url, segment);
  }
  if (auto valid = api::split_relative_path(*name); !valid) {
    return fail(ErrorCode::invalid_argument, "{}: '{}' cannot be a file name: {}", url, segment,
                valid.error().message);
  }
  return *name;
}

struct ParsedUrl {
  CurlUrl handle;
  std::string file_name;
};

Result<void> check_url_text(const std::string& url) {
  if (url.size() > k_max_url_length) {
    return fail(ErrorCode::invalid_argument, "a URL is longer than {} bytes", k_max_url_length);
  }
  const auto is_control_or_space = [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == '\x7f';
  };
  if (std::any_of(url.begin(), url.end(), is_control_or_space)) {
    return fail(ErrorCode::invalid_argument,
                "'{}' has spaces or control characters: percent-encode them (%20)", url);
  }
  return {};
}

// Parses and checks `url` as file_name_for_url documents. The path is kept as written (dot
// segments included), so the name is that of the URL the user gave.
Result<ParsedUrl> parse_url(const std::string& url) {
  if (auto checked = check_url_text(url); !checked) return fail(checked.error());
  if (!curl_is_initialized()) return fail(ErrorCode::internal, "libcurl could not be initialized");
  CurlUrl handle(curl_url());
  if (!handle) return fail(ErrorCode::internal, "out of memory parsing a URL");
  if (const auto parsed = curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), CURLU_PATH_AS_IS);
      parsed != CURLUE_OK) {
    return fail(ErrorCode::invalid_argument, "'{}' is not a valid URL: {}", url,
                curl_url_strerror(parsed));
  }
  const auto scheme = url_part(handle.get(), CURLUPART_SCHEME).value_or("");
  if (scheme != "http" && scheme != "https") {
    return fail(ErrorCode::invalid_argument,
                "{}: only http and https URLs can be downloaded, not {}", url, scheme);
  }
  if (url_part(handle.get(), CURLUPART_USER) || url_part(handle.get(), CURLUPART_PASSWORD)) {
    return fail(
        ErrorCode::invalid_argument,
        "{}: URLs with a user name or password are refused; use a URL that needs no credentials",
        url);
  }
  if (url_part(handle.get(), CURLUPART_HOST).value_or("").empty()) {
    return fail(ErrorCode::invalid_argument, "{}: the URL has no host", url);
  }
  auto file_name = file_name_of_path(url, url_part(handle.get(), CURLUPART_PATH).value_or("/"));
  if (!file_name) return fail(file_name.error());
  return ParsedUrl{std::move(handle), std::move(*file_name)};
}

// ---- the transfer ---------------------------------------------------------------------------

// What the callbacks of one transfer share with fetch_url.
struct Transfer {
  const std::string& url;
  const std::vector<IpNetwork>& allowed_networks;
  BlobStore::Writer& writer;
  const uint64_t max_bytes;
  uint64_t received = 0;
  std::optional<Error> write_failure{};
  std::optional<std::string> refused_address{};  // "127.0.0.1, a loopback address; ..."
};

Error too_large(const Transfer& transfer) {
  return Error{ErrorCode::payload_too_large,
               fmt::format("{} is larger than the limit of {} per URL (trainctld --max-url-bytes)",
                           transfer.url, util::format_size(transfer.max_bytes))};
}

// Why libcurl may not connect to `target`; nullopt when it may.
std::optional<std::string> refusal_of(const curl_sockaddr& target, curlsocktype purpose,
                                      const std::vector<IpNetwork>& allowed_networks) {
  const auto address = socket_address(target);
  if (purpose != CURLSOCKTYPE_IPCXN || !address) return "an address that is not IPv4 or IPv6";
  const auto* range = forbidden_range_of(address->address, allowed_networks);
  if (!range) return std::nullopt;
  return fmt::format("{}, {}; trainctld allows it with --allow-url-network {}", address->text,
                     range->kind, range->cidr);
}

// CURLOPT_OPENSOCKETFUNCTION: opens the socket only for an address the policy allows, so a
// refused address is never connected to. The first refusal is the one reported.
curl_socket_t open_allowed_socket(void* user_data, curlsocktype purpose, curl_sockaddr* target) {
  auto& transfer = *static_cast<Transfer*>(user_data);
  if (auto refusal = refusal_of(*target, purpose, transfer.allowed_networks)) {
    if (!transfer.refused_address) transfer.refused_address = std::move(refusal);
    return CURL_SOCKET_BAD;
  }
  return ::socket(target->family, target->socktype | SOCK_CLOEXEC, target->protocol);
}

// CURLOPT_WRITEFUNCTION: streams the body into the blob writer, under the cap.
size_t write_body(char* data, size_t size, size_t count, void* user_data) {
  auto& transfer = *static_cast<Transfer*>(user_data);
  const size_t bytes = size * count;
  if (bytes > transfer.max_bytes - transfer.received) {
    transfer.write_failure = too_large(transfer);
    return CURL_WRITEFUNC_ERROR;
  }
  if (auto written = transfer.writer.write(data, bytes); !written) {
    transfer.write_failure = written.error();
    return CURL_WRITEFUNC_ERROR;
  }
  transfer.received += bytes;
  return bytes;
}

// Sets every option of the transfer; false when libcurl refuses one.
bool configure(CURL* easy, CURLU* url, Transfer& transfer, const UrlPolicy& policy,
               char* error_buffer) {
  static const std::string user_agent = fmt::format("trainctld/{}", k_version);
  CURLcode code = CURLE_OK;
  const auto set = [&](CURLoption option, auto value) {
    if (code == CURLE_OK) code = curl_easy_setopt(easy, option, value);
  };
  set(CURLOPT_CURLU, url);
  set(CURLOPT_ERRORBUFFER, error_buffer);
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_USERAGENT, user_agent.c_str());
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  set(CURLOPT_FOLLOWLOCATION, 1L);
  set(CURLOPT_MAXREDIRS, static_cast<long>(policy.max_redirects));
  // A proxy from the service's environment would make the connection (and its address check)
  // the proxy's, not the target's.
  set(CURLOPT_NOPROXY, "*");
  set(CURLOPT_OPENSOCKETFUNCTION, &open_allowed_socket);
  set(CURLOPT_OPENSOCKETDATA, static_cast<void*>(&transfer));
  set(CURLOPT_WRITEFUNCTION, &write_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&transfer));
  set(CURLOPT_FAILONERROR, 1L);
  set(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(policy.max_file_bytes));
  set(CURLOPT_CONNECTTIMEOUT, static_cast<long>(policy.connect_timeout_seconds));
  set(CURLOPT_LOW_SPEED_LIMIT, k_low_speed_bytes_per_second);
  set(CURLOPT_LOW_SPEED_TIME, static_cast<long>(policy.low_speed_seconds));
  return code == CURLE_OK;
}

std::string effective_url(CURL* easy) {
  char* url = nullptr;
  curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url);
  return url ? url : "";
}

long response_status(CURL* easy) {
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

// A URL that answered an HTTP error: a 4xx says the URL is wrong (the request's fault); a 5xx or
// anything else says the server behind it failed. Neither is the service being unreachable.
Error http_status_error(std::string_view url, long status) {
  const ErrorCode code =
      status >= 400 && status < 500 ? ErrorCode::invalid_argument : ErrorCode::upstream_failed;
  return Error{code, fmt::format("{} answered HTTP {}, not a file", url, status)};
}

// The error of a failed transfer, for the user: what was refused or what went wrong.
Error transfer_error(CURL* easy, CURLcode code, const Transfer& transfer, const char* detail) {
  if (transfer.write_failure) return *transfer.write_failure;
  const auto& url = transfer.url;
  const auto redirected_to = effective_url(easy);
  const auto target = redirected_to.empty() || redirected_to == url
                          ? url
                          : fmt::format("{} redirects to {}, which", url, redirected_to);
  switch (code) {
    case CURLE_COULDNT_CONNECT:
      if (!transfer.refused_address) break;
      return Error{ErrorCode::invalid_argument,
                   fmt::format("{} resolves to {}", target, *transfer.refused_address)};
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Error{ErrorCode::invalid_argument,
                   fmt::format("{} redirects to a URL that is not http or https", url)};
    case CURLE_FILESIZE_EXCEEDED: return too_large(transfer);
    case CURLE_HTTP_RETURNED_ERROR: return http_status_error(target, response_status(easy));
    case CURLE_OPERATION_TIMEDOUT:
      return Error{ErrorCode::upstream_failed,
                   fmt::format("downloading {} timed out ({}); the server is unreachable or sends "
                               "less than 1 KiB/s",
                               url, detail)};
    default: break;
  }
  return Error{ErrorCode::upstream_failed, fmt::format("cannot download {}: {}", url,
                                                   *detail ? detail : curl_easy_strerror(code))};
}

// Runs the transfer into `transfer.writer`.
Result<void> download(CURLU* url, Transfer& transfer, const UrlPolicy& policy) {
  CurlEasy easy(curl_easy_init());
  std::array<char, CURL_ERROR_SIZE> error_buffer{};
  if (!easy || !configure(easy.get(), url, transfer, policy, error_buffer.data())) {
    return fail(ErrorCode::internal, "cannot set up the download of {}", transfer.url);
  }
  if (const auto code = curl_easy_perform(easy.get()); code != CURLE_OK) {
    return fail(transfer_error(easy.get(), code, transfer, error_buffer.data()));
  }
  if (const long status = response_status(easy.get()); status < 200 || status > 299) {
    return fail(http_status_error(transfer.url, status));
  }
  return {};
}

}  // namespace

Result<void> validate_url_policy(const UrlPolicy& policy) {
  if (auto allowed = parse_allowed_networks(policy); !allowed) return fail(allowed.error());
  return {};
}

Result<std::string> file_name_for_url(const std::string& url) {
  auto parsed = parse_url(url);
  if (!parsed) return fail(parsed.error());
  return std::move(parsed->file_name);
}

Result<FetchedFile> fetch_url(const std::string& url, const UrlPolicy& policy, BlobStore& blobs) {
  const auto allowed = parse_allowed_networks(policy);
  if (!allowed) return fail(allowed.error());
  auto parsed = parse_url(url);
  if (!parsed) return fail(parsed.error());
  auto writer = blobs.begin_write(policy.max_file_bytes);
  if (!writer) return fail(writer.error());
  Transfer transfer{url, *allowed, **writer, policy.max_file_bytes};
  if (auto downloaded = download(parsed->handle.get(), transfer, policy); !downloaded) {
    return fail(downloaded.error());  // the writer's temp file goes with it
  }
  auto sha256 = (*writer)->commit_as_written();
  if (!sha256) return fail(sha256.error());
  return FetchedFile{url, std::move(parsed->file_name), std::move(*sha256), transfer.received};
}

}  // namespace trainctl::service
