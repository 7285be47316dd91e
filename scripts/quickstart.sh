#!/usr/bin/env bash
# Sets everything up on a fresh Debian machine and runs the example job end to end:
# installs the dependencies, builds trainctl and trainctld (release), and submits
# configs/examples/digits/job.yaml to the embedded local service, streaming its logs.
# The exit code is the run's (0 when the run completed).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"

export PATH="$PWD/build/release:$PATH"
echo "+ trainctl submit configs/examples/digits/job.yaml --stream"
trainctl submit configs/examples/digits/job.yaml --stream
