#pragma once
// What a command runs against: the configuration, the printer, the API client (connected on first
// use), and Ctrl-C. Commands see only this, so tests run them over a fake transport.
#include <functional>
#include <memory>
#include <string>

#include "trainctl/cli/printer.hpp"
#include "trainctl/client/api_client.hpp"
#include "trainctl/config/config.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

// Makes the client for a configuration; may print notices (e.g. that it started a service).
using ClientFactory =
    std::function<Result<std::unique_ptr<client::ApiClient>>(const config::Config&, Printer&)>;

// The default factory: the configured endpoint and token; with no endpoint, the local service of
// `home` and its token file, starting one when none answers ("started trainctld (pid N) at URL").
Result<std::unique_ptr<client::ApiClient>> connect(const config::Config& config, Printer& printer);

class Session {
 public:
  Session(config::Config config, Printer& printer, ClientFactory factory = connect);

  const config::Config& config() const { return m_config; }
  const std::string& workspace() const { return m_config.workspace; }
  Printer& printer() { return m_printer; }
  // The client, made by the factory on the first call that succeeds.
  Result<client::ApiClient*> client();
  // Another client of the same service, for a thread of its own (a client is not for
  // concurrent use). Call client() first: this one starts no service.
  Result<std::unique_ptr<client::ApiClient>> another_client();

 private:
  config::Config m_config;
  Printer& m_printer;
  ClientFactory m_factory;
  std::unique_ptr<client::ApiClient> m_client;
};

// Ctrl-C while a scope is alive sets a flag instead of killing the process; the flag is cleared
// when a scope begins and when it ends, and the previous handler is restored when it ends. Long
// waits poll interrupted(), and so does every request of the client that connect() makes: Ctrl-C
// aborts a request in flight with ErrorCode::interrupted within about a second.
class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  static bool interrupted();
};

}  // namespace trainctl::cli
