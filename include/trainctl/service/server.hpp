#pragma once
namespace trainctl::service {
// `trainctld [--home DIR] [--bind ADDR] [--port N] ...`: serves the API until SIGTERM/SIGINT.
int run_server_main(int argc, char** argv);
}  // namespace trainctl::service
