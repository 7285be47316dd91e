// `trainctl ui`.
#include "trainctl/cli/commands/ui.hpp"

#include <spawn.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "command_table.hpp"

extern char** environ;

namespace trainctl::cli {

namespace {

// Starts `xdg-open address` and does not wait for the browser; false when it cannot be started.
bool open_in_browser(const std::string& address) {
  const std::string program = "xdg-open";
  std::vector<char*> argv{const_cast<char*>(program.c_str()), const_cast<char*>(address.c_str()), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // The browser's chatter stays out of the terminal.
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int spawned = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return false;
  // xdg-open hands the address to the browser and exits.
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

Result<void> validate(const UiOptions&) { return {}; }

std::string ui_login_address(const std::string& endpoint, const std::string& code) {
  std::string base = endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return fmt::format("{}/ui/login#code={}", base, code);
}

bool has_desktop() {
  const char* display = std::getenv("DISPLAY");
  const char* wayland = std::getenv("WAYLAND_DISPLAY");
  return (display != nullptr && *display != '\0') || (wayland != nullptr && *wayland != '\0');
}

Result<int> run_ui(Session& session, const UiOptions& options) {
  auto client = session.client();
  if (!client) return fail(client.error());
  auto code = (*client)->create_ui_login_code();
  if (!code) return fail(code.error());
  const std::string address = ui_login_address((*client)->transport().endpoint(),
                                               code->value("code", std::string()));
  Printer& printer = session.printer();
  if (printer.for_people()) {
    printer.message(address);
    printer.notice("The link logs one browser in once, within 2 minutes; run `trainctl ui` again for another.");
  } else if (printer.options().format == OutputFormat::name) {
    printer.write(address + "\n");
  } else {
    printer.print_document({{"address", address}, {"expires_at", code->value("expires_at", std::string())}}, {});
  }
  if (options.open && has_desktop() && !open_in_browser(address)) {
    session.printer().warning("could not open a browser (xdg-open); open the address above yourself");
  }
  return exit_code::k_success;
}

void add_ui_commands(CLI::App& app, Action& selected) {
  auto options = std::make_shared<UiOptions>();
  auto* ui = app.add_subcommand("ui", "Print (and on a desktop open) a login link to the web UI");
  ui->add_flag("!--no-open", options->open, "Only print the address; do not open a browser");
  ui->footer(R"(
The web UI is served by trainctld at its own address (/ui/). The link carries a one-time code
that logs one browser in (an HttpOnly session cookie) within 2 minutes; the service token never
appears in an address. On a desktop ($DISPLAY or $WAYLAND_DISPLAY set) the link is opened with
xdg-open.

Examples:
  trainctl ui
  trainctl ui --no-open)");
  on_parsed(ui, selected, options, run_ui);
}

}  // namespace trainctl::cli
