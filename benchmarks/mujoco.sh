#!/usr/bin/env bash
# MuJoCo IRL suite (issue 4): irl-train then irl-eval per run, one JSON line each in
# benchmarks/results/mujoco.jsonl (suite "mujoco-<part>", train records) and
# benchmarks/results/mujoco_eval.jsonl (same suite, irl-eval records with the re-optimised score).
#   bash benchmarks/mujoco.sh quick                 InvertedPendulum-v5, 6 algos x 3 seeds, 100k steps
#   bash benchmarks/mujoco.sh hopper|halfcheetah|walker2d|ant
#                                   GAN-GCL, GCL, AIRL, GAIL (PPO) and BC x 3 seeds, 300k steps
#   bash benchmarks/mujoco.sh ablation              Hopper-v5 GAN-GCL without each measure in turn
#   bash benchmarks/mujoco.sh all                   every part above, in one command
#   STEPS=1000000 SEEDS=0 SAMPLER=sac EXTRA=algo.absorbing_floor=0.5 bash benchmarks/mujoco.sh hopper
# The measured recipe is what `irl-train env=<task>` runs (the defaults, with the task's budget
# and PPO learning rate in irl/conf/env/<task>.yaml; experiment=<task> is the same plus its
# record suite): this script passes no recipe overrides of its own. STEPS overrides the task's
# env-step budget (total_env_steps). Runs are sequential (one torch thread each): on a 2-core
# machine run two parts side by side. Trained and evaluated runs are skipped (RERUN=1 runs them
# again), so re-running a part after a kill continues the sweep. REOPT_STEPS sets irl-eval's
# re-optimisation budget (0 skips it; a new budget re-evaluates finished runs, carrying their
# re-optimisation on from its last checkpoint, so REOPT_STEPS=300000 then 1000000 scores one SAC
# at both); EXTRA adds irl-train overrides to the task parts' IRL runs (the report lists them as
# the variant). BC takes no sampler or cost, so it runs without them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
part=${1:?usage: bash benchmarks/mujoco.sh quick|hopper|halfcheetah|walker2d|ant|ablation|all}
OUT=benchmarks/results
BENCH_DIR=${BENCH_DIR:-outputs/bench}  # run directories
export MUJOCO_GL=${MUJOCO_GL:-egl}
# total_env_steps only when STEPS is set: the task's own budget otherwise.
# shellcheck disable=SC2206
steps=(${STEPS:+total_env_steps=$STEPS})

run() {  # run <suite> <reopt steps> <irl-train overrides...>
  local suite=$1 reopt=$2
  shift 2
  local dir
  dir=$BENCH_DIR/$suite/$(echo "$*" | tr ' =/' '_-_')
  # Finished steps are skipped, so a killed sweep picks up where it stopped (an unfinished run
  # resumes from its checkpoint): a trained run (result.json) is not trained again, and an
  # evaluated one (eval.json) not evaluated again unless REOPT_STEPS asks for a re-optimisation
  # its last evaluation did not run. RERUN=1 runs everything again.
  if [ -z "${RERUN:-}" ] && [ -f "$dir/result.json" ]; then
    echo "skipping irl-train of $dir: trained already (RERUN=1 trains it again)"
  else
    "$BIN/irl-train" "$@" progress_bar=false hydra.run.dir="$dir" \
      record.path=$OUT/mujoco.jsonl record.suite="$suite"
  fi
  if [ -z "${RERUN:-}" ] && [ -f "$dir/eval.json" ] && { [ "$reopt" = 0 ] ||
    grep -q "\"reoptimized_steps\": $reopt.0," "$dir/eval.json"; }; then
    echo "skipping irl-eval of $dir: evaluated already"
  else
    "$BIN/irl-eval" run_dir="$dir" reopt_steps="$reopt" \
      record.path=$OUT/mujoco_eval.jsonl record.suite="$suite"
  fi
}

case $part in
  quick)
    for seed in ${SEEDS:-0 1 2}; do
      for algo in ${ALGOS:-gan_gcl gcl airl airl_state gail bc}; do
        run mujoco-quick "${REOPT_STEPS:-0}" env=inverted_pendulum algo=$algo sampler=ppo \
          seed=$seed "${steps[@]}"
      done
    done
    ;;
  hopper | halfcheetah | walker2d | ant)
    for seed in ${SEEDS:-0 1 2}; do
      for algo in ${ALGOS:-gan_gcl gcl airl gail bc}; do
        extra=${EXTRA:-}
        [ "$algo" = bc ] && extra=
        # shellcheck disable=SC2086
        run "mujoco-$part" "${REOPT_STEPS:-200000}" env="$part" algo=$algo \
          sampler="${SAMPLER:-ppo}" seed=$seed "${steps[@]}" $extra
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
    # Each row switches one measure of the recipe (the defaults of env=hopper) off, or to its
    # naive form, or one option on; the first row is the recipe itself.
    for seed in ${SEEDS:-0 1 2}; do
      for variant in "" algo.fusion=own algo.max_samplers=1 algo.window=null algo.use_h=false \
        env.absorbing=false cost.normalize_inputs=false sampler.cost_action=executed \
        algo.bc_warmstart_epochs=0 sampler.normalize_reward=false sampler.policy_ema=null \
        sampler.target_kl=0.02; do
        # shellcheck disable=SC2086
        run mujoco-ablation "${REOPT_STEPS:-0}" env=hopper algo=gan_gcl \
          sampler="${SAMPLER:-ppo}" seed=$seed "${steps[@]}" $variant
      done
    done
    ;;
  *)
    echo "unknown part $part" >&2
    exit 2
    ;;
esac
