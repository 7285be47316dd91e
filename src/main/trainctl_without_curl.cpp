// The static trainctl's stand-in for the libcurl transport (src/curl), which a static program
// cannot hold: it cannot load libcurl. The CLI hands every command whose endpoint needs libcurl
// to trainctl-curl before the command starts (cli/curl_handover.hpp), so a request reaches this
// transport only through a path that skipped the hand-over; it then fails saying what to run
// instead.
#include <utility>

#include "trainctl/client/api_client.hpp"

namespace trainctl::client {

namespace {

class TransportWithoutCurl final : public Transport {
 public:
  explicit TransportWithoutCurl(std::string endpoint) : m_endpoint(std::move(endpoint)) {}

  Result<HttpResponse> send(const HttpRequest&) override { return refuse(); }
  Result<HttpResponse> stream(const HttpRequest&,
                              const std::function<bool(std::string_view)>&) override {
    return refuse();
  }
  std::string endpoint() const override { return m_endpoint; }

 private:
  Result<HttpResponse> refuse() const {
    return fail(ErrorCode::internal,
                "{} needs libcurl, which the static trainctl cannot load: run the command with "
                "trainctl-curl (next to trainctl, or in ../libexec/trainctl)",
                m_endpoint);
  }

  std::string m_endpoint;
};

}  // namespace

std::unique_ptr<Transport> make_curl_transport(const ClientOptions& options) {
  return std::make_unique<TransportWithoutCurl>(options.endpoint);
}

bool has_curl_transport() { return false; }

}  // namespace trainctl::client
