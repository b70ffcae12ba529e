"""Does a learned cost rank whole behaviours the way the true reward does?

For a finished ``irl-train`` run, score five behaviours by their true return and by their learned
return (−c_θ(τ), an early stop paying the absorbing state's cost to the horizon, as the
re-optimisation's SAC is paid): held-out demos, the recovered policy, a PD controller that holds
the actuated joints at their initial angles (on Hopper and Walker2d: standing still), zero torque
and uniform-random actions. A cost a fresh optimiser can re-optimise must at least order these the
way the true reward does; one that pays standing still more than hopping cannot.

``--probe ACTOR`` scores one more behaviour beside the five (not counted in the pairs): a PPO
actor saved by ``irl-eval``'s re-optimisation (``reopt_actor.safetensors``), e.g. what a fresh
optimiser settled in on another run's reward, so that every run's cost prices the same exploit.

``--env TARGET`` runs the four policies and the probe in a transfer target (e.g.
``irl/DisabledAnt-v5``, built with the run's env kwargs) instead of the run's own task: there the
recovered policy is policy transfer, and the probe can be the target's true-reward control
(``<run>/transfer/<target>/true/reopt_actor.safetensors``), so the record says whether the
learned reward pays the control's behaviour more than standing still. The held-out demos, run in
the source, stay in the record for reference and out of the pairs and correlations.

    python benchmarks/cost_ranking.py RUN_DIR [RUN_DIR ...] [--episodes 5] [--suite NAME]
        [--probe ACTOR --probe-net-arch 256,256] [--env TARGET]

One record per run in ``benchmarks/results/cost_ranking.jsonl``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from irl.cli.evaluate import _train_overrides
from irl.evaluation import correlations, learned_episode_returns
from irl.records import append_record, git_commit
from irl.reopt_eval import reopt_task
from irl.rollouts import random_policy, rollout
from irl.run import Run, load_run
from irl.types import Trajectory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reopt_behaviour import load_ppo_actor  # a sibling script

OUT = Path(__file__).resolve().parent / "results" / "cost_ranking.jsonl"
BEHAVIOURS = ("demos", "recovered", "hold", "zero", "random")


def hold_policy(env: Any, kp: float = 3.0, kd: float = 0.3) -> Callable[[np.ndarray], np.ndarray]:
    """PD control of every actuated hinge joint towards its initial angle (standing still)."""
    u = env.unwrapped
    model = u.model
    joints = model.actuator_trnid[:, 0]
    qadr, vadr = model.jnt_qposadr[joints], model.jnt_dofadr[joints]
    target = u.init_qpos[qadr].copy()
    low, high = env.action_space.low, env.action_space.high

    def act(_obs: np.ndarray) -> np.ndarray:
        # Reads the simulator's joint state: the observation omits some coordinates.
        err = u.data.qpos[qadr] - target
        return np.clip(-kp * err - kd * u.data.qvel[vadr], low, high).astype(np.float32)

    return act


def probe_policy(
    path: Path, env: Any, net_arch: tuple[int, ...]
) -> Callable[[np.ndarray], np.ndarray]:
    """The deterministic action of a saved re-optimisation PPO actor (``--probe``)."""
    model = load_ppo_actor(path, env, net_arch)

    def act(obs: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(obs, deterministic=True)[0], np.float32)

    return act


def behaviours(
    run: Run,
    episodes: int,
    seed: int,
    probe: Path | None = None,
    probe_net_arch: tuple[int, ...] = (256, 256),
    env_id: str | None = None,
) -> dict[str, list[Trajectory]]:
    """Episodes of each behaviour (held-out demos first, the probe actor last when given), on
    fresh seeded resets, in ``env_id`` (None: the run's own task)."""
    env = reopt_task(run, env_id).make()  # a target as irl-eval builds it (shapes checked)
    try:
        policies: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "recovered": run.policy,
            "hold": hold_policy(env),
            "zero": lambda _obs: np.zeros(env.action_space.shape, np.float32),
            "random": random_policy(env),
        }
        if probe is not None:
            policies["probe"] = probe_policy(probe, env, probe_net_arch)
        out = {"demos": list((run.demos.heldout or run.demos.train)[:episodes])}
        for i, (name, policy) in enumerate(policies.items()):
            out[name] = rollout(env, policy, episodes, 7_000_000 + seed + 1000 * i)
        return out
    finally:
        env.close()


def rank_costs(
    run_dir: Path,
    episodes: int,
    seed: int = 0,
    termination_price: str = "demos",
    probe: Path | None = None,
    probe_net_arch: tuple[int, ...] = (256, 256),
    env_id: str | None = None,
) -> dict[str, Any]:
    """True and learned return of each behaviour and how well the two orders agree.

    ``env_id``: a transfer target to run the behaviours in (None: the run's own task); the
    demos, from the source, are then left out of the pairs and correlations.

    ``termination_price``: ``"demos"``, the reward as `irl.load_run` hands it out (a
    termination priced at no less than the costliest training-demo step), or ``"learned"``
    (the absorbing state's cost as the training loop paid it)."""
    run = load_run(run_dir)
    if run.reward is not None and termination_price == "learned":
        run.reward.termination_floor = None
    rec: dict[str, Any] = {
        "env": run.env_id,
        "algo": run.artifacts["algo"],
        "sampler": run.artifacts["sampler"],
        "seed": int(run.config["seed"]),
        "run_dir": str(run_dir),
        # The training run's overrides: what tells variants of one cell apart in the report.
        "overrides": _train_overrides(run_dir),
        "termination_floor": None if run.reward is None else run.reward.termination_floor,
        "target_env": env_id,
    }
    if probe is not None:
        rec["probe_actor"] = str(probe)
    true_all, learned_all = [], []
    ranked = [b for b in BEHAVIOURS if env_id is None or b != "demos"]
    for name, trajs in behaviours(run, episodes, seed, probe, probe_net_arch, env_id).items():
        true = np.array([float(np.sum(t.rews)) for t in trajs])
        learned = learned_episode_returns(run, trajs)
        rec[f"true_return_{name}"] = float(true.mean())
        rec[f"learned_return_{name}"] = float(learned.mean())
        rec[f"length_{name}"] = float(np.mean([len(t.acts) for t in trajs]))
        if name not in ranked:  # the probe (and a target's demos): beside, not ranked
            continue
        true_all.append(true)
        learned_all.append(learned)
    # Episode level, pooled over behaviours: the trajectory cost c(τ) the method learns.
    c = correlations(np.concatenate(learned_all), np.concatenate(true_all))
    rec["episode_spearman"], rec["episode_pearson"] = c["spearman"], c["pearson"]
    means_true = [rec[f"true_return_{b}"] for b in ranked]
    means_learned = [rec[f"learned_return_{b}"] for b in ranked]
    # Pairs of behaviours the learned return puts in the true order (1.0: all ten, or six).
    pairs = [(i, j) for i in range(len(ranked)) for j in range(i + 1, len(ranked))]
    agree = [
        np.sign(means_true[i] - means_true[j]) == np.sign(means_learned[i] - means_learned[j])
        for i, j in pairs
    ]
    rec["pairs_in_true_order"] = float(np.mean(agree))
    return rec


def main(argv: list[str] | None = None) -> None:
    """Rank the behaviours of each run and append one record per run."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dirs", nargs="+", type=Path)
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--suite", default="cost-ranking")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument(
        "--termination-price",
        choices=("demos", "learned"),
        default="demos",
        help="a termination's price in the learned return: demos (no less than the costliest "
        "training-demo step, the reward irl.load_run hands out) or learned (c_abs as trained)",
    )
    p.add_argument(
        "--probe",
        type=Path,
        default=None,
        help="a re-optimisation PPO actor (reopt_actor.safetensors) scored as one more behaviour",
    )
    p.add_argument("--probe-net-arch", default="256,256", help="the probe's reopt_net_arch")
    p.add_argument(
        "--env",
        default=None,
        help="a transfer target to run the behaviours in (e.g. irl/DisabledAnt-v5; default: "
        "the run's own task)",
    )
    args = p.parse_args(argv)
    if args.probe is not None and not args.probe.is_file():
        raise SystemExit(f"{args.probe}: no such actor file")
    probe_arch = tuple(int(w) for w in args.probe_net_arch.split(","))
    torch.set_num_threads(1)
    os.environ.setdefault("MUJOCO_GL", "egl")
    commit = git_commit()
    command = " ".join(["python benchmarks/cost_ranking.py", *(argv or sys.argv[1:])])
    for run_dir in args.run_dirs:
        start = time.perf_counter()
        rec = rank_costs(
            run_dir,
            args.episodes,
            termination_price=args.termination_price,
            probe=args.probe,
            probe_net_arch=probe_arch,
            env_id=args.env,
        )
        rec.update(suite=args.suite, episodes=args.episodes)
        rec["wall_clock_s"] = time.perf_counter() - start
        append_record(args.out, rec, command=command, commit=commit)
        print(
            f"{run_dir}: "
            + ", ".join(
                f"{b} {rec[f'true_return_{b}']:.0f}/{rec[f'learned_return_{b}']:.0f}"
                for b in BEHAVIOURS
            )
            + (
                f", probe {rec['true_return_probe']:.0f}/{rec['learned_return_probe']:.0f}"
                if args.probe is not None
                else ""
            )
            + f" (true/learned); pairs in true order {rec['pairs_in_true_order']:.1f}, "
            f"episode Spearman {rec['episode_spearman']:.2f}"
        )


if __name__ == "__main__":
    main()
