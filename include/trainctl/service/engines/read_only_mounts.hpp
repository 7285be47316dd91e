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

// After make_directories_read_only, in the run's mount namespace (root only; else nothing is done):
// hides the service's home from the run (RELIABILITY 40). The home, <run_dir>/../.., gets an
// empty tmpfs over it; only the run's own directory is shown again (with its read-only mounts),
// and <home>/environments read-only (the run's Python may live there). So a task cannot read
// the token or the database, nor reach the blob store or another run's directory. Nothing is done
// when `run_dir` is not <home>/runs/<id> of a home holding trainctl.db. Fails like
// make_directories_read_only; the caller logs it and goes on.
Result<void> hide_home_from_run(const std::string& run_dir);

}  // namespace trainctl::service::engines
