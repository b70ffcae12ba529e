#!/usr/bin/env bash
# Reward-transfer suite (issue 22, docs/transfer.md): irl-train in the source task, then one
# irl-eval job in the target that re-optimises the learned reward from scratch beside the
# true-reward control, the recovered policy (policy transfer) and a random policy. One JSON line
# per run in benchmarks/results/mujoco.jsonl (training, suite "transfer-<part>") and
# benchmarks/results/transfer.jsonl (the transfer, suite "transfer").
#   bash benchmarks/transfer.sh maze       irl/PointMazeLeft-v0 -> irl/PointMazeRight-v0
#   bash benchmarks/transfer.sh ant        Ant-v5 -> irl/DisabledAnt-v5
#   bash benchmarks/transfer.sh cheetah    HalfCheetah-v5 -> irl/SlipperyHalfCheetah-v5
#   bash benchmarks/transfer.sh pendulum   Pendulum-v1 runs scored by EPIC/DARD (no target)
#   SEEDS="0 1 2" VARIANTS="gan_gcl:state airl_state:state" REOPT_STEPS=30000 bash benchmarks/transfer.sh maze
# VARIANTS lists <algo>:<state|action> cells (the cost reads the state alone, or state and
# action); EXTRA adds irl-train overrides to every run; REOPT_ALGO picks the fresh optimiser
# (sac, ppo, ars) and REOPT_STEPS its budget, the same for the learned reward and the control.
# The control (RL on the target's true reward) is the same for every run of a target, seed and
# budget: it is computed once and kept in CONTROL_CACHE (default outputs/control_cache;
# irl-eval reopt_control_cache, docs/transfer.md); CONTROL_CACHE=none computes it in every job.
# Trained and evaluated runs are skipped (RERUN=1 runs them again), so a killed sweep continues.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
part=${1:?usage: bash benchmarks/transfer.sh maze|ant|cheetah|pendulum}
OUT=benchmarks/results
BENCH_DIR=${BENCH_DIR:-outputs/bench/transfer}
export MUJOCO_GL=${MUJOCO_GL:-egl}

case $part in
  maze) env=point_maze_left target=irl/PointMazeRight-v0 variants="gan_gcl:state airl_state:state"
    reopt=30000 ;;
  ant) env=ant target=irl/DisabledAnt-v5 reopt=1000000
    variants="gan_gcl:state gan_gcl:action airl_state:state" ;;
  cheetah) env=halfcheetah target=irl/SlipperyHalfCheetah-v5 variants="gan_gcl:state"
    reopt=300000 ;;
  pendulum) env=pendulum target= variants="gan_gcl:state gan_gcl:action" reopt=10000 ;;
  *) echo "unknown part $part" >&2; exit 2 ;;
esac
variants=${VARIANTS:-$variants}
reopt=${REOPT_STEPS:-$reopt}
cache=${CONTROL_CACHE:-outputs/control_cache}
[ "$cache" = none ] && cache=null

for seed in ${SEEDS:-0 1 2}; do
  for cell in $variants; do
    algo=${cell%%:*}
    state_only=false
    [ "${cell##*:}" = state ] && state_only=true
    # shellcheck disable=SC2206
    overrides=(env=$env algo=$algo cost.state_only=$state_only seed=$seed ${EXTRA:-})
    dir=$BENCH_DIR/$part/$(echo "${overrides[*]}" | tr ' =/' '_-_')
    if [ -z "${RERUN:-}" ] && [ -f "$dir/result.json" ]; then
      echo "skipping irl-train of $dir: trained already (RERUN=1 trains it again)"
    else
      "$BIN/irl-train" "${overrides[@]}" progress_bar=false hydra.run.dir="$dir" \
        record.path=$OUT/mujoco.jsonl record.suite="transfer-$part"
    fi
    if [ -z "${RERUN:-}" ] && [ -f "$dir/eval.json" ] &&
      grep -q "\"reoptimized_steps\": $reopt.0," "$dir/eval.json" &&
      { [ -z "$target" ] || grep -q "\"target_env\": \"$target\"" "$dir/eval.json"; }; then
      echo "skipping irl-eval of $dir: evaluated already"
    elif [ -n "$target" ]; then
      "$BIN/irl-eval" run_dir="$dir" reopt_env="$target" reopt_algo="${REOPT_ALGO:-sac}" \
        reopt_steps="$reopt" reopt_control_cache="$cache" progress_bar=false \
        record.path=$OUT/transfer.jsonl
    else
      "$BIN/irl-eval" run_dir="$dir" reopt_algo="${REOPT_ALGO:-sac}" reopt_steps="$reopt" \
        progress_bar=false record.path=$OUT/mujoco_eval.jsonl record.suite="transfer-$part"
    fi
  done
done
