#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang 19, ASan + UBSan) and fuzzes one of them
# for a while, one core, at low priority, in a copy of its corpus (fuzz/README.md).
#   scripts/fuzz.sh fuzz_spec_loader 600      # 10 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:-600}

if ! command -v clang++-19 >/dev/null || ! ls /usr/lib/llvm-19/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    clang-19 libclang-rt-19-dev
fi
cmake --preset fuzz >/dev/null
nice -n 19 cmake --build --preset fuzz --target "$target"
work=build/fuzz/work/$target
mkdir -p "$work" build/fuzz/artifacts
cp -n fuzz/corpus/"$target"/* "$work"/
exec nice -n 19 build/fuzz/fuzz/"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/"$target"- "$work"
