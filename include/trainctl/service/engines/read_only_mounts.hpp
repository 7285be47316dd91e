#pragma once
// Keeping a run's processes from changing what they share with the blob store. The snapshot and
// mounted inputs are hard links to blobs: a write through one would change every snapshot,
// dataset and run that holds the same content. Permission bits (0444/0555) stop every user but
// root; for root, the supervisor gives the run a mount namespace of its own in which those
// directories are bind-mounted read-only, so a write fails with EROFS.
#include <string>
#include <vector>

#include "trainctl/util/error.hpp"

namespace trainctl::service::engines {

// Called by the supervisor before it starts any task; the tasks inherit the namespace. Does
// nothing when not running as root (the permission bits apply) or when `dirs` is empty. Fails,
// leaving the permission bits as the only protection, where mount namespaces are not allowed
// (a container without CAP_SYS_ADMIN): the caller logs it and goes on.
Result<void> make_directories_read_only(const std::vector<std::string>& dirs);

}  // namespace trainctl::service::engines
