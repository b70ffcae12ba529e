#!/usr/bin/env bash
# MuJoCo IRL suite (issue 4): irl-train then irl-eval per run, one JSON line each in
# benchmarks/results/mujoco.jsonl (suite "mujoco-<part>", train records) and
# benchmarks/results/mujoco_eval.jsonl (same suite, irl-eval records with the re-optimised score).
#   bash benchmarks/mujoco.sh quick                 InvertedPendulum-v5, 6 algos x 3 seeds, 100k steps
#   bash benchmarks/mujoco.sh hopper|halfcheetah|walker2d|ant
#                                   GAN-GCL, GCL, AIRL, GAIL (PPO + RECIPE) and BC x 3 seeds, 300k
#   bash benchmarks/mujoco.sh ablation              Hopper-v5 GAN-GCL without each measure in turn
#   bash benchmarks/mujoco.sh all                   every part above, in one command
#   STEPS=1000000 SEEDS=0 SAMPLER=sac EXTRA= bash benchmarks/mujoco.sh hopper   (other settings)
# Runs are sequential (one torch thread each): on a 2-core machine run two parts side by side.
# Trained and evaluated runs are skipped (RERUN=1 runs them again), so re-running a part after
# a kill continues the sweep. REOPT_STEPS sets irl-eval's re-optimisation budget (0 skips it;
# a new budget re-evaluates finished runs, carrying their re-optimisation on from its last
# checkpoint, so REOPT_STEPS=300000 then 1000000 scores one SAC at both); EXTRA adds irl-train overrides
# to the task parts (default: the task's recipe; the report lists them as the variant). BC
# takes no sampler, so it runs without them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
part=${1:?usage: bash benchmarks/mujoco.sh quick|hopper|halfcheetah|walker2d|ant|ablation|all}
OUT=benchmarks/results
BENCH_DIR=${BENCH_DIR:-outputs/bench}  # run directories
export MUJOCO_GL=${MUJOCO_GL:-egl}
# The measured MuJoCo recipe, also set by the task presets (irl/conf/experiment/mujoco_recipe.yaml
# and <task>.yaml; a test keeps the two equal): the cost scores PPO's drawn action, a BC warm start, rewards scaled by
# the std of the discounted return, and an EMA of the policy's weights as the recovered policy.
RECIPE="sampler.cost_action=drawn algo.bc_warmstart_epochs=50 sampler.normalize_reward=true sampler.policy_ema=0.9"
# Per-task additions (RECIPE_<TASK>): HalfCheetah seed 1 fell to 0.64 at PPO's lr 3e-4, 0.99 at 1e-4.
RECIPE_HALFCHEETAH="sampler.learning_rate=1e-4"
task_recipe() {  # task_recipe <task>: RECIPE plus the task's own additions
  local var
  var=RECIPE_$(echo "$1" | tr '[:lower:]' '[:upper:]')
  echo "$RECIPE ${!var:-}"
}

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
          seed=$seed total_env_steps="${STEPS:-100000}"
      done
    done
    ;;
  hopper | halfcheetah | walker2d | ant)
    for seed in ${SEEDS:-0 1 2}; do
      for algo in ${ALGOS:-gan_gcl gcl airl gail bc}; do
        extra=${EXTRA-$(task_recipe "$part")}
        [ "$algo" = bc ] && extra=
        # shellcheck disable=SC2086
        run "mujoco-$part" "${REOPT_STEPS:-200000}" env="$part" algo=$algo \
          sampler="${SAMPLER:-ppo}" seed=$seed total_env_steps="${STEPS:-300000}" $extra
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
    # Each row switches one measure of RECIPE (or of the loop's defaults) off, or to its naive
    # form; the first row is RECIPE itself. A row's key replaces the recipe's own setting of it.
    for seed in ${SEEDS:-0 1 2}; do
      for variant in "" algo.fusion=own algo.max_samplers=1 algo.window=null algo.use_h=false \
        env.absorbing=false cost.normalize_inputs=false sampler.cost_action=executed \
        algo.bc_warmstart_epochs=0 sampler.normalize_reward=false sampler.policy_ema=null \
        sampler.target_kl=0.02; do
        overrides=()
        for o in $RECIPE; do
          [ -n "$variant" ] && [ "${o%%=*}" = "${variant%%=*}" ] && continue
          overrides+=("$o")
        done
        [ -n "$variant" ] && overrides+=("$variant")
        run mujoco-ablation "${REOPT_STEPS:-0}" env=hopper algo=gan_gcl \
          sampler="${SAMPLER:-ppo}" seed=$seed total_env_steps="${STEPS:-300000}" "${overrides[@]}"
      done
    done
    ;;
  *)
    echo "unknown part $part" >&2
    exit 2
    ;;
esac
