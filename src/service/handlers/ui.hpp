#pragma once
// The web UI's routes and what the middleware needs of its sessions (handlers/ui.cpp).
#include <memory>
#include <string>
#include <string_view>

#include "handlers.hpp"
#include "ui_sessions.hpp"

namespace trainctl::service::handlers {

inline constexpr std::string_view k_ui_session_path = "/ui/session";

// The value of the session cookie the request carries; empty when none.
std::string session_cookie(const httplib::Request& request);
// A route that needs no credential from the middleware: the pages and assets (they hold no data)
// and /ui/session (which checks what it is given itself).
bool is_public_ui_route(const httplib::Request& request);

void install_ui_routes(httplib::Server& server, const ServiceContext& context,
                       std::shared_ptr<UiSessions> sessions);

}  // namespace trainctl::service::handlers
