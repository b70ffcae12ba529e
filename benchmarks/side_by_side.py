"""Side by side with `imitation`: our GAN-GCL, AIRL and GAIL against imitation's AIRL and GAIL.

One job, same demos (the same 16 episodes of demos/<env id>.npz per seed), same task, same
env-step budget, one torch thread per run. imitation pins gymnasium 0.29 / SB3 2.2, so its runs
go through benchmarks/imitation_peer.py in its own virtual environment (.venv-imitation, created
by benchmarks/imitation_venv.sh when missing); gymnasium 0.29's v4 task is first checked to replay
the v5 demos exactly, and the exported policy is scored here, on the v5 task, with the same 25
seeded episodes as our runs. Time to 0.9 (``time_to_target``): the training wall-clock to the
first evaluation scoring at least 0.9, read from each record's ``curve`` and
``curve_wall_clock_s`` (irl-train writes both; imitation's policy is snapshotted every 20,000 env
steps and scored here on 5 episodes, as irl-train evaluates). One JSON line per run in
benchmarks/results/side_by_side.jsonl
(algo `imitation_airl` / `imitation_gail` for the peer); a run already recorded with the same
protocol (the record's suite), env, algo, seed and budget is skipped, so an interrupted job
continues where it stopped.

Protocols (the records' suite):
  side-by-side-2  today's configuration: `irl-train env=<task> algo=<algo>` runs the task's
                  recipe (docs/recipe.md) for all three of ours; four tasks, 300k and 1M steps;
                  and BC (`algo=bc`) on the same demos, once per task and seed (no env steps).
  side-by-side    the first job, with the defaults before issue 19 (Hopper, HalfCheetah, 300k);
                  kept in the records and tables as it was.

.venv/bin/python benchmarks/side_by_side.py          # 4 tasks x 3 seeds x 300k and 1M steps
.venv/bin/python benchmarks/side_by_side.py --envs hopper --seeds 0 --steps 50000   # smoke
.venv/bin/python benchmarks/side_by_side.py --report [--readme]  # table of ratios (+ README)
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from imitation_peer import actor_forward  # noqa: E402  (shared with the peer side)
from report_mujoco import mean_std, n_seeds, read_records, replace_block  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "side_by_side.jsonl"
PEER_PY = ROOT / ".venv-imitation" / "bin" / "python"
OURS = ("gan_gcl", "airl", "gail")
BC = "bc"  # behaviour cloning on the same demos: no env steps, one run per task and seed
PEERS = ("imitation_airl", "imitation_gail")
ENV_IDS = {
    "hopper": "Hopper-v5",
    "halfcheetah": "HalfCheetah-v5",
    "walker2d": "Walker2d-v5",
    "ant": "Ant-v5",
}
BLOCK = "<!-- side-by-side-table:begin (benchmarks/side_by_side.py) -->"
SUITE = "side-by-side-2"  # the protocol this job runs (module doc)
LEGACY_SUITE = "side-by-side"  # the first job's records, which carry this suite
N_DEMOS = 16
EVAL_EPISODES = 25  # as irl-train's final evaluation (eval.final_episodes)
CURVE_EVERY = 20_000  # as irl-train's evaluations: every 10 iterations of 2,000 env steps
CURVE_EPISODES = 5  # eval.episodes
TARGET = 0.9  # time-to-0.9: training wall-clock to the first evaluation at or above this


def _suite(record: dict[str, Any]) -> str:
    return str(record.get("suite") or LEGACY_SUITE)


@functools.cache
def task_demo_episodes(env_id: str) -> str:
    """Which demo episodes irl-train draws its demos from on a task (``demo_episodes`` of
    ``irl/conf/env/<task>.yaml``: Ant's ``not_terminated``, "all" elsewhere)."""
    from omegaconf import OmegaConf

    task = {v: k for k, v in ENV_IDS.items()}[env_id]
    cfg = OmegaConf.load(ROOT / "irl" / "conf" / "env" / f"{task}.yaml")
    return str(cfg.get("demo_episodes") or "all")


def same_demos(record: dict[str, Any]) -> bool:
    """Whether a record trained on the demos the protocol prescribes: today's protocol draws the
    peer's demos as irl-train draws ours (`task_demo_episodes`); its first peer runs on Ant, made
    before it did, drew from all episodes and are left out. Our own runs always qualify."""
    if _suite(record) != SUITE or record["algo"] not in PEERS:
        return True
    return str(record.get("demo_episodes", "all")) == task_demo_episodes(record["env"])


def in_protocol(record: dict[str, Any], suite: str = SUITE) -> bool:
    """Whether a record counts for a protocol: its suite, the prescribed demos (`same_demos`) and,
    under today's protocol, the per-evaluation wall-clock that time-to-0.9 reads (its first peer
    runs on Walker2d and Ant, made before the field, are run again by the job)."""
    if _suite(record) != suite or not same_demos(record):
        return False
    return suite != SUITE or "curve_wall_clock_s" in record


def env_steps_used(record: dict[str, Any]) -> int:
    """Env steps of all the run's samplers: the loop's budget plus its companion's, which runs
    its own rollouts on top (sampler.companion; docs/recipe.md)."""
    return int(record["env_steps"]) + int(record.get("companion_env_steps") or 0)


def _done(
    records: list[dict[str, Any]],
    env_id: str,
    algo: str,
    seed: int,
    steps: int,
    suite: str = SUITE,
) -> bool:
    return any(
        in_protocol(r, suite)
        and r["env"] == env_id
        and r["algo"] == algo
        and r["seed"] == seed
        and r.get("budget", r["env_steps"]) == (0 if algo == BC else steps)
        for r in records
    )


def _run_dir(env: str, algo: str, seed: int, steps: int) -> Path:
    return ROOT / "outputs" / "bench" / "side_by_side" / f"{env}_{algo}_seed{seed}_{steps}"


def run_ours(env: str, algo: str, seed: int, steps: int, out: Path) -> None:
    """irl-train with PPO; it appends its own record."""
    run_dir = _run_dir(env, algo, seed, steps)
    cmd = [
        str(ROOT / ".venv" / "bin" / "irl-train"),
        f"env={env}",
        f"algo={algo}",
        "sampler=ppo",
        f"seed={seed}",
        f"total_env_steps={steps}",
        f"n_demos={N_DEMOS}",
        "torch_threads=1",
        "progress_bar=false",
        "video.enabled=false",
        f"hydra.run.dir={run_dir}",
        f"record.path={out}",
        f"record.suite={SUITE}",
    ]
    subprocess.run(cmd, check=True, cwd=ROOT)


def run_peer(env: str, algo: str, seed: int, steps: int, out: Path, commit: str) -> None:
    """imitation's AIRL/GAIL in its own venv, then our 25-episode evaluation on the v5 task."""
    from irl.demos import load_demos_with_metadata, normalized_return, select_demos
    from irl.records import append_record
    from irl.rollouts import evaluate
    from irl.seeding import eval_seed

    env_id = ENV_IDS[env]
    demo_path = ROOT / "demos" / f"{env_id}.npz"
    trajs, meta = load_demos_with_metadata(demo_path, env_id=env_id)
    episodes = task_demo_episodes(env_id)
    _, _, indices = select_demos(trajs, N_DEMOS, seed, episodes=episodes)
    run_dir = _run_dir(env, algo, seed, steps)
    cmd = [
        str(PEER_PY),
        str(ROOT / "benchmarks" / "imitation_peer.py"),
        "--demos",
        str(demo_path),
        "--algo",
        algo.removeprefix("imitation_"),
        "--seed",
        str(seed),
        "--steps",
        str(steps),
        "--demo-indices",
        ",".join(map(str, indices)),
        "--out",
        str(run_dir),
        "--snapshot-every",
        str(CURVE_EVERY),
    ]
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    train = json.loads((run_dir / "train.json").read_text())

    def score(stem: Path, episodes: int) -> np.ndarray:
        tensors = load_file(str(stem.with_suffix(".safetensors")))
        spec = json.loads(stem.with_suffix(".json").read_text())
        return evaluate(
            env_id,
            lambda obs: actor_forward(tensors, spec, obs[None])[0],
            episodes,
            eval_seed(seed),
            meta.get("env_kwargs"),
        )

    # The curve as irl-train's: each snapshot before the end on CURVE_EPISODES episodes, the
    # end (the exported policy) on EVAL_EPISODES.
    points = [
        (int(snap["env_steps"]), float(snap["wall_clock_s"]))
        for snap in train.get("snapshots", [])
        if int(snap["env_steps"]) < train["env_steps"]
    ]
    curve, curve_wall = [], []
    for steps_at, wall_at in points:
        rets = score(run_dir / "snapshots" / f"{steps_at:09d}", CURVE_EPISODES)
        curve.append([steps_at, float(normalized_return(float(rets.mean()), meta))])
        curve_wall.append([steps_at, wall_at])
    rets = score(run_dir / "policy", EVAL_EPISODES)
    mean = float(rets.mean())
    curve.append([train["env_steps"], float(normalized_return(mean, meta))])
    curve_wall.append([train["env_steps"], float(train["wall_clock_s"])])
    record = {
        "suite": SUITE,
        "env": env_id,
        "algo": algo,
        "sampler": "ppo",
        "seed": seed,
        "n_demos": N_DEMOS,
        "demo_episodes": episodes,
        "demo_indices": indices,
        "env_steps": train["env_steps"],
        "budget": steps,
        "return_mean": mean,
        "return_std": float(rets.std()),
        "normalized_return": float(normalized_return(mean, meta)),
        "reoptimized_normalized_return": None,
        "eval_episodes": EVAL_EPISODES,
        "expert_return": float(meta["expert_return_mean"]),
        "random_return": float(meta["random_return_mean"]),
        "wall_clock_s": train["wall_clock_s"],
        "steps_per_s": train["steps_per_s"],
        "trained_on": train["trained_on"],
        "parity": train["parity"],
        "peer_versions": train["versions"],
        "peer_n_envs": train["n_envs"],
        "peer_ppo_n_steps": train["ppo_n_steps"],
        "peer_hyperparameters": train["hyperparameters"],
        "curve": curve,
        "curve_wall_clock_s": curve_wall,
        "curve_eval_episodes": CURVE_EPISODES,
    }
    append_record(out, record, command=" ".join(cmd), commit=commit)
    print(
        f"[{env_id}] {algo} seed {seed}: return {mean:.1f} "
        f"(normalised {record['normalized_return']:.3f}), {train['steps_per_s']:.0f} steps/s"
    )


def ensure_peer_venv() -> None:
    """Create imitation's virtual environment on first use."""
    if not PEER_PY.exists():
        subprocess.run(
            ["bash", str(ROOT / "benchmarks" / "imitation_venv.sh")], check=True, cwd=ROOT
        )


def time_to_target(record: dict[str, Any], target: float = TARGET) -> float | None:
    """Training wall-clock (s) at the record's first evaluation scoring at least ``target`` (our
    runs' BC warm start included where recorded): ``math.inf`` when no evaluation reached it,
    None when the record has no per-evaluation wall-clock (records from before the field)."""
    walls = dict((int(k), float(v)) for k, v in record.get("curve_wall_clock_s") or [])
    if not walls:
        return None
    warm = float(record.get("warmstart_s") or 0.0)
    for steps, score in sorted((int(k), float(v)) for k, v in record.get("curve") or []):
        if score >= target and steps in walls:
            return walls[steps] + warm
    return math.inf


def _time_cell(times: list[float | None]) -> str:
    """Mean time to the target over the seeds that reached it, with how many did."""
    known = [t for t in times if t is not None]
    if not known:
        return "–"
    reached = [t for t in known if math.isfinite(t)]
    if not reached:
        return f"not reached (0/{len(known)})"
    return f"{statistics.mean(reached):.0f} s ({len(reached)}/{len(known)})"


def _time_ratio(mine: list[float | None], peer: list[float | None] | None) -> str:
    """Our mean time to the target ÷ the peer's, over the seeds that reached it."""
    if not peer or any(t is None for t in [*mine, *peer]):
        return "–"
    a = [t for t in mine if t is not None and math.isfinite(t)]
    b = [t for t in peer if t is not None and math.isfinite(t)]
    if a and b:
        return f"{statistics.mean(a) / statistics.mean(b):.2f}"
    if a:
        return "imitation not reached"
    return "not reached" if b else "neither reached"


def _latest(path: Path, suite: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The protocol's records, the latest per (env, algo, seed, budget): a re-run replaces."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rec in read_records(path):
        if in_protocol(rec, suite):
            latest[(rec["env"], rec["algo"], rec["seed"], rec.get("budget", rec["env_steps"]))] = (
                rec
            )
    return dict(sorted(latest.items()))


def _mean_score(records: list[dict[str, Any]]) -> float:
    return statistics.mean(r["normalized_return"] for r in records)


def report(path: Path, suite: str = SUITE) -> str:
    """Markdown table of one protocol's records: normalised return and env steps/s per (task,
    budget, algo), as ratios to the peer."""
    groups: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = {}
    bc: dict[str, list[dict[str, Any]]] = {}
    for (env, algo, _seed, budget), rec in _latest(path, suite).items():
        if algo == BC:  # no env steps: a row of every budget of its task
            bc.setdefault(env, []).append(rec)
        else:
            groups.setdefault((env, budget), {}).setdefault(algo, []).append(rec)
    for (env, _budget), algos in groups.items():
        if env in bc:
            algos[BC] = bc[env]
    lines = [
        "| task | env steps | algo | seeds | env steps, all samplers | normalised return "
        "| env steps/s "
        f"| time to {TARGET} | return ÷ imitation AIRL / GAIL | steps/s ÷ imitation AIRL / GAIL "
        f"| time to {TARGET} ÷ imitation AIRL / GAIL |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def ratio(mine: float, recs: list[dict[str, Any]] | None, key: str) -> str:
        if not recs:
            return "–"
        ref = statistics.mean(r[key] for r in recs)
        # A ratio to a score near 0 (random) says nothing: print n/a instead.
        if key == "normalized_return" and ref < 0.05:
            return "n/a"
        return f"{mine / ref:.2f}"

    for (env, budget), algos in groups.items():
        for algo in (*OURS, BC, *PEERS):
            recs = algos.get(algo)
            if not recs:
                continue
            score = [r["normalized_return"] for r in recs]
            speed = [r["steps_per_s"] for r in recs]
            used = statistics.mean(env_steps_used(r) for r in recs)
            s_mean, v_mean = statistics.mean(score), statistics.mean(speed)
            peers = [algos.get(p) for p in PEERS]
            s_ratio = " / ".join(ratio(s_mean, p, "normalized_return") for p in peers)
            v_ratio = " / ".join(
                "–" if algo == BC else ratio(v_mean, p, "steps_per_s") for p in peers
            )
            times = [time_to_target(r) for r in recs]
            t_ratio = " / ".join(
                _time_ratio(times, None if p is None else [time_to_target(r) for r in p])
                for p in peers
            )
            lines.append(
                f"| {env} | {budget:,} | {algo} | {len(recs)} | {used:,.0f} | {mean_std(score)} "
                f"| {'–' if algo == BC else f'{v_mean:.0f}'} | {_time_cell(times)} | {s_ratio} "
                f"| {v_ratio} | {t_ratio} |"
            )
    return "\n".join(lines)


def _peer_score_at(records: list[dict[str, Any]], steps: int) -> float | None:
    """A peer's mean normalised return after ``steps`` env steps: its final 25-episode score
    where its budget was ``steps``, else its curve (5 episodes) at ``steps`` in a longer run;
    None when no seed's record reaches that many."""
    finals = [r["normalized_return"] for r in records if int(r["env_steps"]) == steps]
    if finals:
        return statistics.mean(finals)
    at = [float(v) for r in records for k, v in r.get("curve") or [] if int(k) == steps]
    return statistics.mean(at) if at else None


def verdict(
    path: Path, suite: str = SUITE, explained: dict[tuple[str, int], str] | None = None
) -> str:
    """Markdown table: per task and budget, GAN-GCL's mean normalised return against the best
    of imitation's AIRL and GAIL, at the same budget and at the same env steps of all samplers
    (GAN-GCL's companion runs its own rollouts on top of the budget); "below" where it is.
    ``explained`` maps (task, budget) to a paragraph printed under the table while that row is
    below at the same budget (where the write-up of the shortfall lives)."""
    runs: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for (env, algo, _seed, budget), rec in _latest(path, suite).items():
        runs.setdefault((env, algo, int(budget)), []).append(rec)
    lines = [
        "| task | env steps | GAN-GCL | imitation's best, same budget | GAN-GCL vs it "
        "| env steps, all samplers | imitation's best at those steps | GAN-GCL vs it |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []

    def versus(mine: float, best: tuple[str, float] | None) -> str:
        if best is None:
            return "–"
        gap = mine - best[1]
        return f"at least ({gap:+.2f})" if gap >= 0 else f"**below** ({gap:+.2f})"

    for (env, algo, budget), recs in runs.items():
        if algo != "gan_gcl":
            continue
        mine = _mean_score(recs)
        used = round(statistics.mean(env_steps_used(r) for r in recs))
        same: list[tuple[str, float]] = []
        equal: list[tuple[str, float]] = []
        for peer in PEERS:
            if runs.get((env, peer, budget)):
                same.append((peer, _mean_score(runs[(env, peer, budget)])))
            longer = [r for (e, a, _b), rs in runs.items() if e == env and a == peer for r in rs]
            score = _peer_score_at(longer, used)
            if score is not None:
                equal.append((peer, score))
        best_same = max(same, key=lambda x: x[1]) if same else None
        best_equal = max(equal, key=lambda x: x[1]) if equal else None
        if best_same is not None and mine < best_same[1] and (env, budget) in (explained or {}):
            notes.append((explained or {})[(env, budget)])

        def cell(best: tuple[str, float] | None) -> str:
            return "no peer record" if best is None else f"{best[1]:.2f} ({best[0]})"

        lines.append(
            f"| {env} | {budget:,} | {mine:.2f} ({n_seeds(len(recs))}) | {cell(best_same)} "
            f"| {versus(mine, best_same)} | {used:,} | {cell(best_equal)} "
            f"| {versus(mine, best_equal)} |"
        )
    return "\n\n".join(["\n".join(lines), *notes])


def main() -> None:
    """Run the missing side-by-side runs (or only report them)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(ENV_IDS), choices=ENV_IDS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", nargs="+", type=int, default=[300_000, 1_000_000])
    algos = [*OURS, BC, *PEERS]
    parser.add_argument("--algos", nargs="+", default=algos, choices=algos)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true", help="only print the table")
    parser.add_argument("--readme", action="store_true", help="also write the table into README")
    args = parser.parse_args()
    if not args.report:
        from irl.records import git_commit

        commit = git_commit()  # read once: HEAD may move during a long job
        if any(a in PEERS for a in args.algos):
            ensure_peer_venv()
        # The smaller budget first, then seed-major: every algo of a seed runs under the same
        # machine load, and a job stopped early leaves whole seeds.
        order = itertools.product(sorted(args.steps), args.seeds, args.envs, args.algos)
        for steps, seed, env, algo in order:
            if _done(read_records(args.out), ENV_IDS[env], algo, seed, steps):
                print(f"skip {env} {algo} seed {seed} {steps}: already recorded")
                continue
            t0 = time.perf_counter()
            if algo in PEERS:
                run_peer(env, algo, seed, steps, args.out, commit)
            else:
                run_ours(env, algo, seed, steps, args.out)
            print(f"{env} {algo} seed {seed} {steps}: {time.perf_counter() - t0:.0f} s in all")
    table = report(args.out)
    print(table)
    if args.readme:
        readme = ROOT / "README.md"
        readme.write_text(replace_block(readme.read_text(), BLOCK, table))


if __name__ == "__main__":
    main()
