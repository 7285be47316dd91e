#pragma once
// A run's working directory (spec::WorkingDirectory): where its tasks start, writable, holding the
// source files without copying them. Scripts written for a writable copy of their source
// (`os.makedirs('./outputs')`, scratch files next to the script) run unchanged, while the
// snapshot itself, whose files are the blob store's, is never changed.
#include "trainctl/spec/launch_plan.hpp"
#include "trainctl/util/error.hpp"

namespace trainctl::service::engines {

// How the source reaches the working directory.
enum class SourceLayer {
  // An overlay file system over the snapshot: the whole source, writable copy-on-write (a write
  // over a source file changes the run's copy only). Made in O(1) whatever the source's size;
  // needs root in a mount namespace of the run's own.
  overlay,
  // A real folder for every folder of the snapshot and a symbolic link for every file: new files
  // can be written anywhere, a source file itself cannot be written over.
  links,
};

// Makes `dir.path` afresh (whatever a previous attempt left there is removed first): the source
// as `layer` says, and `outputs` and `logs` as links to the run's outputs and logs folders (a
// top-level `outputs` or `logs` of the source is left out: the run's own take their place).
// Nothing is copied. Does nothing when `dir.path` is empty (a plan from before working
// directories). The overlay is mounted in the caller's mount namespace: call it with overlay only
// from a process in a namespace of its own (the supervisor, whose tasks inherit it); if the
// overlay cannot be mounted, links are made instead. Returns the layer made.
Result<SourceLayer> make_working_directory(const spec::WorkingDirectory& dir, SourceLayer layer);

// Removes the working directory once the run's tasks have ended: its scratch files are thrown
// away, links are removed and never followed. A task that replaced the `outputs` or `logs` link
// by a folder of its own loses nothing: that folder's entries are moved into the run's folder
// first (an entry whose name is taken there already is kept under `<name>.work`). Returns what
// could not be done, for the caller to log.
Result<void> remove_working_directory(const spec::WorkingDirectory& dir);

}  // namespace trainctl::service::engines
