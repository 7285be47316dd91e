// Placeholder until the server lands: replaced by the real run_server_main.
#include "trainctl/service/server.hpp"

namespace trainctl::service {
int run_server_main(int, char**) { return 1; }
}  // namespace trainctl::service
