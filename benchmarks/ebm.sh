#!/usr/bin/env bash
# EBM suite (issue 5): appends one JSON line per run to benchmarks/results/ebm.jsonl.
#   bash benchmarks/ebm.sh [flow|mog2|pcd|all]      (default: all; ~1 h on 2 cores)
# Runs go through Hydra multirun (sequential basic launcher, one torch thread each), so run two
# parts side by side on a 2-core machine rather than one part with more threads.
set -euo pipefail
cd "$(dirname "$0")/.."
IRL_EBM=${IRL_EBM:-.venv/bin/irl-ebm}
part=${1:-all}
# Equal wall-clock for the adversarial flow and PCD comparison (seconds per run).
BUDGET=${EBM_BUDGET_S:-240}

if [[ $part == flow || $part == all ]]; then
  # Acceptance: |log Z error| < 0.05 and grid KL < 0.05 on 8 Gaussians, 3 seeds, < 10 min each.
  $IRL_EBM -m dataset=8gaussians sampler=flow seed=0,1,2
fi
if [[ $part == mog2 || $part == all ]]; then
  # Underpowered sampler: adversarial (reverse KL to p_θ) vs maximum likelihood, mass between modes.
  # sampler_entropy_start=1: the exact generator loss throughout (no entropy anneal).
  $IRL_EBM -m dataset=8gaussians sampler=mog,mle_mog mog_k=2 seed=0,1,2 steps=8000 \
    sampler_entropy_start=1.0
fi
if [[ $part == pcd || $part == all ]]; then
  # Ours (flow) vs persistent contrastive divergence at equal wall-clock on the three data sets.
  $IRL_EBM -m dataset=8gaussians,two_moons,checkerboard sampler=flow,pcd seed=0 \
    steps=1000000 max_wall_clock_s=$BUDGET
fi
