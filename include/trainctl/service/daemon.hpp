#pragma once
namespace trainctl::service {
// The whole of trainctld: `trainctld [options]` serves the API; `trainctld supervise RUN_DIR`
// is the per-run supervisor the local engine starts; `trainctld rank ...` is what mpirun starts
// for each rank of an MPI run (engines::run_rank_wrapper); `trainctld fsck HOME` checks every
// blob of HOME against its name (BlobStore::verify_all). Returns the exit code. Never throws.
int run_daemon(int argc, char** argv);
}  // namespace trainctl::service
