#!/usr/bin/env bash
# A sweep on a Slurm cluster: one array task per slice of `rl compare`'s (learner, seed)
# grid, all writing into one shared folder, then one job that aggregates and plots.
#
#   OUT=/shared/runs/cartpole-sweep sbatch examples/slurm-compare.sh
#   sbatch --dependency=afterok:<array job id> --wrap "rl plot /shared/runs/cartpole-sweep"
#
# Or both at once:
#   jid=$(OUT=$PWD/runs/sweep sbatch --parsable examples/slurm-compare.sh)
#   sbatch --dependency=afterok:$jid --wrap "rl plot $PWD/runs/sweep"
#
# Every task gets the same grid (the same flags) and trains every
# $SLURM_ARRAY_TASK_COUNT-th run starting at its own index, so the folder ends the same
# as one unsharded `rl compare` (tested on one machine). A task with nothing left to do
# (more tasks than runs) exits at once. `rl` must be on the PATH of the compute nodes
# (`cargo install --path crates/rl-cli`). A requeued task retrains its slice only with
# --force, which replaces those runs' files and nothing else.
#
#SBATCH --job-name=rl-compare
#SBATCH --array=0-9
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=01:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail

: "${OUT:?set OUT to a folder every node can write, e.g. OUT=/shared/runs/sweep}"
rl compare \
  --env cartpole-v1 --algos ppo,a2c --seeds 20 \
  --out "$OUT" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" \
  --jobs "${SLURM_CPUS_PER_TASK:-1}" \
  --quiet
