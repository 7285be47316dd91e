#include "trainctl/service/daemon.hpp"

#include <cstdio>
#include <filesystem>
#include <string_view>

#include "trainctl/service/blob_store.hpp"

#include "trainctl/service/engine.hpp"
#include "trainctl/service/engines/run_state.hpp"
#include "trainctl/service/engines/slurm_engine.hpp"
#include "trainctl/service/server.hpp"

namespace trainctl::service {

namespace {

// `trainctld fsck HOME`: hashes every blob of HOME's store; one whose content no longer matches its
// name is moved to HOME/quarantine and so counts as missing (the CLI uploads it again). Exit 0
// when every blob matched, 1 otherwise.
int run_fsck(const std::filesystem::path& home) {
  const BlobStore blobs(home / "blobs", home / "tmp");
  const auto check = blobs.verify_all();
  for (const auto& sha256 : check.quarantined) {
    std::printf("blob %s no longer matches its name: moved to %s\n", sha256.c_str(),
                (home / "quarantine").c_str());
  }
  std::printf("%zu blobs checked, %zu did not match their names\n", check.checked,
              check.quarantined.size());
  return check.quarantined.empty() ? 0 : 1;
}

}  // namespace

int run_daemon(int argc, char** argv) {
  const std::string_view command = argc >= 2 ? argv[1] : "";
  if (argc == 3 && command == "supervise") return run_supervisor(argv[2]);
  if (command == "rank") return engines::run_rank_wrapper(argc, argv);
  if (argc == 2 && command == "node-agent") return run_node_agent();
  if (argc == 3 && command == "fsck") return run_fsck(argv[2]);
  return run_server_main(argc, argv);
}

}  // namespace trainctl::service
