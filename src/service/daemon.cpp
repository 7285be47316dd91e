#include "trainctl/service/daemon.hpp"

#include <string_view>

#include "trainctl/service/engine.hpp"
#include "trainctl/service/server.hpp"

namespace trainctl::service {

int run_daemon(int argc, char** argv) {
  if (argc == 3 && std::string_view(argv[1]) == "supervise") return run_supervisor(argv[2]);
  return run_server_main(argc, argv);
}

}  // namespace trainctl::service
