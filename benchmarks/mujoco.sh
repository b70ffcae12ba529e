#!/usr/bin/env bash
# MuJoCo IRL suite (issue 4): irl-train then irl-eval per run, one JSON line each in
# benchmarks/results/mujoco.jsonl (suite "mujoco-<part>", train records) and
# benchmarks/results/mujoco_eval.jsonl (same suite, irl-eval records with the re-optimised score).
#   bash benchmarks/mujoco.sh quick                 InvertedPendulum-v5, 6 algos x 3 seeds, 100k steps
#   bash benchmarks/mujoco.sh hopper|halfcheetah    GAN-GCL, GCL, AIRL, GAIL, BC x 3 seeds, 1M steps
#   bash benchmarks/mujoco.sh ablation              Hopper-v5 GAN-GCL without each variance measure
#   bash benchmarks/mujoco.sh all                   every part above, in one command
#   STEPS=300000 SEEDS=0 SAMPLER=ppo bash benchmarks/mujoco.sh hopper   (a smaller budget)
# Runs are sequential (one torch thread each): on a 2-core machine run two parts side by side.
# REOPT_STEPS sets irl-eval's re-optimisation budget (0 skips it); EXTRA adds irl-train overrides
# to the task parts (e.g. EXTRA="sampler.squash=true"; the report lists them as the variant).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
part=${1:?usage: bash benchmarks/mujoco.sh quick|hopper|halfcheetah|walker2d|ant|ablation|all}
OUT=benchmarks/results
export MUJOCO_GL=${MUJOCO_GL:-egl}

run() {  # run <suite> <reopt steps> <irl-train overrides...>
  local suite=$1 reopt=$2
  shift 2
  local dir
  dir=outputs/bench/$suite/$(echo "$*" | tr ' =/' '_-_')
  "$BIN/irl-train" "$@" progress_bar=false hydra.run.dir="$dir" \
    record.path=$OUT/mujoco.jsonl record.suite="$suite"
  "$BIN/irl-eval" run_dir="$dir" reopt_steps="$reopt" \
    record.path=$OUT/mujoco_eval.jsonl record.suite="$suite"
}

case $part in
  quick)
    for seed in ${SEEDS:-0 1 2}; do
      for algo in ${ALGOS:-gan_gcl gcl airl airl_state gail bc}; do
        run mujoco-quick "${REOPT_STEPS:-0}" env=inverted_pendulum algo=$algo sampler=ppo \
          seed=$seed total_env_steps="${STEPS:-100000}"
      done
    done
    ;;
  hopper | halfcheetah | walker2d | ant)
    for seed in ${SEEDS:-0 1 2}; do
      for algo in ${ALGOS:-gan_gcl gcl airl gail bc}; do
        # shellcheck disable=SC2086
        run "mujoco-$part" "${REOPT_STEPS:-200000}" env="$part" algo=$algo \
          sampler="${SAMPLER:-sac}" seed=$seed total_env_steps="${STEPS:-1000000}" ${EXTRA:-}
      done
    done
    ;;
  all)
    # The whole suite, one command: every task x algo x seed (then the ablation and the quick part).
    for task in hopper halfcheetah walker2d ant ablation quick; do
      bash "$0" "$task"
    done
    ;;
  ablation)
    # Each row switches one variance measure off (or to its naive form) from the default.
    for seed in ${SEEDS:-0 1 2}; do
      for variant in "" algo.fusion=own algo.max_samplers=1 "algo.window=null" algo.use_h=false \
        env.absorbing=false cost.normalize_inputs=false sampler.target_kl=0.02 sampler.max_std=0.5 \
        sampler.squash=true sampler.cost_action=drawn; do
        # shellcheck disable=SC2086
        run mujoco-ablation "${REOPT_STEPS:-0}" env=hopper algo=gan_gcl \
          sampler="${SAMPLER:-ppo}" seed=$seed total_env_steps="${STEPS:-300000}" $variant
      done
    done
    ;;
  *)
    echo "unknown part $part" >&2
    exit 2
    ;;
esac
