#!/usr/bin/env bash
# The device check: on a machine with a GPU, build the wgpu `rl` binary, run the wgpu
# tests (distributions, export, host policy, the PyTorch goldens of the lesson's losses
# and of GAE/PPO/A2C), then `rl bench`'s large configurations on wgpu and on ndarray,
# and print one table. Run from anywhere: `bash scripts/gpu-check.sh`.
#
# Environment: LARGE_UPDATES (updates per large configuration, default 3),
# SKIP_NDARRAY=1 (skip the CPU reference figures), AUTOTUNE=1 (build wgpu with Burn's
# kernel autotuning as well as fusion), RL_WGPU_TARGET (the wgpu build's target folder,
# default target/wgpu, so the ndarray build is not rebuilt).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
updates="${LARGE_UPDATES:-3}"
wgpu_target="${RL_WGPU_TARGET:-target/wgpu}"
features="wgpu${AUTOTUNE:+,autotune}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

step() { echo "== $*" >&2; }

step "machine"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; } | tee "$out/gpu.txt" >&2
nproc >&2

step "wgpu build (release)"
CARGO_TARGET_DIR="$wgpu_target" cargo build --release --no-default-features --features "$features" -p rl-cli >&2

step "wgpu tests"
CARGO_TARGET_DIR="$wgpu_target" cargo test --release --no-default-features --features "wgpu${AUTOTUNE:+,rl-models/autotune}" -p rl-models --lib >&2
CARGO_TARGET_DIR="$wgpu_target" cargo test --release --no-default-features --features "wgpu${AUTOTUNE:+,rl-models/autotune}" -p rl-train --test it -- goldens:: ppo_goldens:: >&2

step "rl bench, large configurations, $features"
"$wgpu_target/release/rl" bench --configs large --large-updates "$updates" | tee "$out/wgpu.txt" >&2

if [ "${SKIP_NDARRAY:-0}" != 1 ]; then
  step "rl bench, large configurations, ndarray (the CPU reference)"
  cargo build --release -p rl-cli >&2
  target/release/rl bench --configs large --large-updates "$updates" | tee "$out/ndarray.txt" >&2
fi

# One table: backend, device, configuration, steps/s; then wgpu over ndarray.
rate() { grep "^$2" "$1" | sed -E 's/.* = ([0-9]+) steps\/s.*/\1/'; }
device() { head -n 1 "$1" | sed -E 's/^backend [a-z]+ on (.*), [0-9]+ cores available$/\1/'; }
echo
printf '%-8s | %-22s | %-22s | %s\n' backend "(e) PPO 1024 envs" "(f) PPO 4096 envs" device
printf '%-8s-|-%-22s-|-%-22s-|-%s\n' -------- ---------------------- ---------------------- ------
for b in wgpu ndarray; do
  f="$out/$b.txt"
  [ -f "$f" ] || continue
  printf '%-8s | %-22s | %-22s | %s\n' "$b" "$(rate "$f" '(e)') steps/s" "$(rate "$f" '(f)') steps/s" "$(device "$f")"
done
if [ -f "$out/ndarray.txt" ]; then
  for c in '(e)' '(f)'; do
    w="$(rate "$out/wgpu.txt" "$c")"; n="$(rate "$out/ndarray.txt" "$c")"
    echo "$c wgpu / ndarray = $(awk -v w="$w" -v n="$n" 'BEGIN { printf "%.2f", w / n }')x"
  done
fi
