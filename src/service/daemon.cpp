#include "trainctl/service/daemon.hpp"

#include <string_view>

#include "trainctl/service/engine.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/service/engines/slurm_engine.hpp"
#include "trainctl/service/server.hpp"

namespace trainctl::service {

int run_daemon(int argc, char** argv) {
  const std::string_view command = argc >= 2 ? argv[1] : "";
  if (argc == 3 && command == "supervise") return run_supervisor(argv[2]);
  if (command == "rank") return engines::run_rank_wrapper(argc, argv);
  if (argc == 2 && command == "node-agent") return run_node_agent();
  return run_server_main(argc, argv);
}

}  // namespace trainctl::service
