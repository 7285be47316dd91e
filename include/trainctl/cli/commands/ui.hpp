#pragma once
// `trainctl ui`: the address of the service's web UI with a one-time login code.
#include <string>

#include "trainctl/cli/session.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::cli {

struct UiOptions {
  bool open = true;  // open the address in the desktop's browser when there is a desktop
};

Result<void> validate(const UiOptions& options);

// The address that logs a browser in: <endpoint>/ui/login#code=<code>. The code travels in the
// fragment, which browsers send to no server and keep out of request logs.
std::string ui_login_address(const std::string& endpoint, const std::string& code);

// Whether this process can show a browser: $DISPLAY or $WAYLAND_DISPLAY is set.
bool has_desktop();

// Asks the service for a one-time code, prints the address, and opens it with xdg-open on a
// desktop (unless options.open is false). Exit 0 even when no browser could be opened.
Result<int> run_ui(Session& session, const UiOptions& options);

}  // namespace trainctl::cli
