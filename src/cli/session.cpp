#include "trainctl/cli/session.hpp"

#include <signal.h>

#include <atomic>

#include <fmt/format.h>

#include "trainctl/cli/debug_log.hpp"
#include "trainctl/cli/local_service.hpp"

namespace trainctl::cli {

namespace {

std::atomic<bool> g_interrupted{false};
struct sigaction g_previous_handler {};

void on_interrupt(int) { g_interrupted.store(true); }

}  // namespace

Result<std::unique_ptr<client::ApiClient>> connect(const config::Config& config, Printer& printer) {
  client::ClientOptions options{.endpoint = config.endpoint,
                                .token = config.token,
                                .should_abort = &InterruptScope::interrupted};
  const bool local = options.endpoint.empty();
  if (local) {
    auto service = ensure_service(config);
    if (!service) return fail(service.error());
    if (service->started) {
      printer.notice(fmt::format("started trainctld (pid {}) at {}", service->record.pid,
                                 service->record.endpoint));
    }
    options.endpoint = service->record.endpoint;
    if (options.token.empty()) {
      auto token = read_token(config.home);
      if (!token) return fail(token.error());
      options.token = *token;
    }
  }
  debug_log("service {}", options.endpoint);
  auto token = options.token;
  return std::make_unique<client::ApiClient>(
      local ? client::make_local_service_transport(options) : client::make_transport(options), token);
}

Session::Session(config::Config config, Printer& printer, ClientFactory factory)
    : m_config(std::move(config)), m_printer(printer), m_factory(std::move(factory)) {}

Result<client::ApiClient*> Session::client() {
  if (!m_client) {
    auto made = m_factory(m_config, m_printer);
    if (!made) return fail(made.error());
    m_client = std::move(*made);
  }
  return m_client.get();
}

Result<std::unique_ptr<client::ApiClient>> Session::another_client() {
  return m_factory(m_config, m_printer);
}

InterruptScope::InterruptScope() {
  g_interrupted.store(false);
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &g_previous_handler);
}

InterruptScope::~InterruptScope() {
  ::sigaction(SIGINT, &g_previous_handler, nullptr);
  g_interrupted.store(false);
}

bool InterruptScope::interrupted() { return g_interrupted.load(); }

}  // namespace trainctl::cli
