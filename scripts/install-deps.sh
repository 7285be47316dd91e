#!/usr/bin/env bash
# Installs everything trainctl needs to build and test from Debian's packages. Idempotent: when
# every package is present it only checks, which takes well under a second.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libcli11-dev libcurl4-openssl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libyaml-dev
  catch2 libsqlite3-dev libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev
  python3 python3-numpy python3-sklearn python3-venv python3-pip python3-yaml python3-jsonschema
  procps curl dpkg-dev
  man-db groff-base zsh fish
  openmpi-bin python3-mpi4py python3-torch
  slurm-wlm slurm-client iproute2 util-linux
  # Chart.js, built into trainctld's web UI; headless Chromium and a DevTools client for its test
  libjs-chart.js chromium python3-websocket
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
# Slurm's packages would start the machine's own slurmctld and slurmd; the tests bring up clusters
# of their own (scripts/slurm-cluster.sh). A policy-rc.d that refuses keeps apt from starting any
# daemon while it installs; one the machine had already is left as it was.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
  "${sudo_cmd[@]}" chmod 755 "$policy"
  made_policy=1
  trap '"${sudo_cmd[@]}" rm -f "$policy"' EXIT
fi
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
