#pragma once
// A run's working directory (spec::WorkingDirectory): where its tasks start, writable, holding the
// source files without copying them. Scripts written for a writable copy of their source
// (`os.makedirs('./outputs')`, scratch files next to the script) run unchanged, while the
// snapshot itself, whose files are the blob store's, stays read-only.
#include "trainctl/spec/launch_plan.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::engines {

// Makes `dir.path` afresh (whatever a previous attempt left there is removed first): every
// folder of `dir.source_dir` as a real folder, every file as a symbolic link to the snapshot's
// file, and `outputs` and `logs` as links to the run's outputs and logs folders (a top-level
// `outputs` or `logs` of the source is left out: the run's own take their place). Nothing is
// copied. Does nothing when `dir.path` is empty (a plan from before working directories).
Result<void> make_working_directory(const spec::WorkingDirectory& dir);

// Removes the working directory once the run's tasks have ended: its scratch files are thrown
// away, links are removed and never followed. A task that replaced the `outputs` or `logs` link
// by a folder of its own loses nothing: that folder's entries are moved into the run's folder
// first (an entry whose name is taken there already is kept under `<name>.work`). Returns what
// could not be done, for the caller to log.
Result<void> remove_working_directory(const spec::WorkingDirectory& dir);

}  // namespace trainctl::service::engines
