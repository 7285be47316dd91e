#!/usr/bin/env bash
# Installs the dependencies, builds with warnings as errors (the `ci` preset) and runs the whole
# test suite (unit, integration and end-to-end) with ctest. Extra arguments go to ctest,
# e.g. `scripts/test.sh -L unit` or `scripts/test.sh -R idempotent`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset ci >/dev/null
cmake --build --preset ci -j"$(nproc)"
ctest --preset ci "$@"
