"""Which part of the observation pays a behaviour its learned reward?

A fresh optimiser that settles somewhere the true reward does not (e.g. Ant standing still with
its motors saturated) found a place the learned reward pays. This script runs a saved PPO actor
(``irl-eval``'s ``reopt_actor.safetensors``) in the run's task and scores its transitions with the
run's learned reward, then again with one group of observation coordinates at a time replaced by
the held-out demos' mean (in both x and x'). The groups follow the MuJoCo model: the root's pose
(height and orientation), the joint angles, the root's velocity and the joint velocities (any
further coordinates, e.g. contact forces, form "other"). A group whose replacement raises the
reward is one where the behaviour falls short of the demos; one whose replacement lowers it is
one the reward pays the behaviour more for than the demos themselves. Also recorded: the held-out
demos' own reward per step, and each group's mean |z| (distance from the cost's input
normalisation statistics) for the behaviour and the demos, so that "out of the data" can be told
from "inside the data, ranked too high"; and what the reward pays for motion: the held-out demos'
reward per step with the root's velocity, or the joints' velocities, scaled by each of
``--scales`` (a reward that pays the demos more with their joints slowed down pays a fresh
optimiser to keep its legs still).

``--env TARGET`` runs the actor in a transfer target instead (e.g. ``irl/DisabledAnt-v5`` with the
transfer's true-reward control as the actor: which part of the control's gait does the learned
reward charge for?); the groups are read from the target's model, the demos stay the source's.

    python benchmarks/reward_attribution.py RUN_DIR --actor RUN_DIR/reopt_actor.safetensors
        [--env TARGET]

One record per run in ``benchmarks/results/reward_attribution.jsonl``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from irl.records import append_record, git_commit
from irl.reopt_eval import reopt_task
from irl.rollouts import rollout
from irl.run import Run, load_run
from irl.types import Trajectory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_ranking import probe_policy  # a sibling script

OUT = Path(__file__).resolve().parent / "results" / "reward_attribution.jsonl"


def observation_groups(env: Any, obs_dim: int) -> dict[str, list[int]]:
    """Observation coordinates by what they hold, for a MuJoCo locomotion task whose observation
    starts with qpos (less the skipped root x, y) then qvel, as gymnasium's v5 tasks do.

    The root is the set of joints of the first body below the world (one free joint: 7 qpos and
    6 qvel; a planar root of three joints: 3 and 3); the skipped coordinates are the qpos that
    the observation leaves out (nq + nv − the observed position and velocity count)."""
    if not getattr(env.unwrapped, "_exclude_current_positions_from_observation", False):
        raise SystemExit(
            f"{env.spec.id}: not a locomotion task whose observation leaves out the root's x "
            "(gymnasium's Hopper, Walker2d, HalfCheetah, Ant, Humanoid)"
        )
    model = env.unwrapped.model
    nq, nv = int(model.nq), int(model.nv)
    root_body = 1
    root_joints = [j for j in range(model.njnt) if int(model.jnt_bodyid[j]) == root_body]
    qpos_sizes = {0: 7, 1: 4, 2: 1, 3: 1}  # mjJNT_FREE, BALL, SLIDE, HINGE
    qvel_sizes = {0: 6, 1: 3, 2: 1, 3: 1}
    root_q = sum(qpos_sizes[int(model.jnt_type[j])] for j in root_joints)
    root_v = sum(qvel_sizes[int(model.jnt_type[j])] for j in root_joints)
    skipped = 2 if root_q == 7 else 1  # x, y of a free root; x of a planar one
    if obs_dim < nq - skipped + nv:
        raise SystemExit(
            f"{env.spec.id}: a {obs_dim}-dim observation is not qpos[{skipped}:] then qvel "
            f"(nq {nq}, nv {nv})"
        )
    pos = nq - skipped
    groups = {
        "root pose": list(range(0, root_q - skipped)),
        "joint angles": list(range(root_q - skipped, pos)),
        "root velocity": list(range(pos, pos + root_v)),
        "joint velocities": list(range(pos + root_v, pos + nv)),
    }
    if obs_dim > pos + nv:
        groups["other"] = list(range(pos + nv, obs_dim))
    return {k: v for k, v in groups.items() if v}


def _per_step(
    run: Run,
    trajs: list[Trajectory],
    replace: dict[int, float] | None = None,
    scale: dict[int, float] | None = None,
) -> float:
    """The learned reward per step over ``trajs``, coordinates in ``replace`` set to its values
    and those in ``scale`` multiplied by its factors (in x and x')."""
    assert run.reward is not None
    total, steps = 0.0, 0
    for t in trajs:
        obs, nxt = t.obs[:-1].astype(np.float64), t.obs[1:].astype(np.float64)
        for i, v in (replace or {}).items():
            obs[:, i] = v
            nxt[:, i] = v
        for i, k in (scale or {}).items():
            obs[:, i] *= k
            nxt[:, i] *= k
        r = run.reward(obs, t.acts.astype(np.float64), nxt)
        total += float(np.sum(r))
        steps += len(r)
    return total / steps


def _z_scores(run: Run, obs: np.ndarray, demo_obs: np.ndarray) -> np.ndarray:
    """``obs`` as the cost's own input normalisation sees it, or standardised by the demos'
    statistics for a cost without one."""
    norm = getattr(run.cost, "obs_norm", None)
    if norm is None:
        return (obs - demo_obs.mean(0)) / (demo_obs.std(0) + 1e-8)
    with torch.no_grad():
        return norm(torch.as_tensor(obs, dtype=torch.float64)).numpy()


def attribute(
    run_dir: Path,
    actor: Path,
    episodes: int,
    net_arch: tuple[int, ...],
    scales: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0),
    env_id: str | None = None,
) -> dict:
    """The record of one run (see the module doc); ``env_id``: a transfer target to run the
    actor in (None: the run's own task)."""
    run = load_run(run_dir)
    if run.reward is None or run.cost is None:
        raise SystemExit(f"{run_dir}: a run without a learned reward (BC?)")
    env = reopt_task(run, env_id).make()  # a target as irl-eval builds it (shapes checked)
    try:
        groups = observation_groups(env, int(run.artifacts["obs_dim"]))
        trajs = rollout(env, probe_policy(actor, env, net_arch), episodes, 8_000_000)
    finally:
        env.close()
    demos = list((run.demos.heldout or run.demos.train)[:episodes])
    demo_obs = np.concatenate([t.obs[:-1] for t in demos]).astype(np.float64)
    mean = demo_obs.mean(0)
    beh_obs = np.concatenate([t.obs[:-1] for t in trajs]).astype(np.float64)
    z_beh, z_demo = _z_scores(run, beh_obs, demo_obs), _z_scores(run, demo_obs, demo_obs)
    base = _per_step(run, trajs)
    rec: dict[str, Any] = {
        "env": run.env_id,
        "algo": run.artifacts["algo"],
        "seed": int(run.config["seed"]),
        "run_dir": str(run_dir),
        "target_env": env_id,
        "actor": str(actor),
        "episodes": episodes,
        "true_return_mean": float(np.mean([float(np.sum(t.rews)) for t in trajs])),
        "length_mean": float(np.mean([len(t.acts) for t in trajs])),
        "learned_reward_per_step": base,
        "demos_learned_reward_per_step": _per_step(run, demos),
        "groups": {k: [int(i) for i in v] for k, v in groups.items()},
        "replaced_by_demo_mean": {},
        "mean_abs_z": {},
        "demos_mean_abs_z": {},
        "demos_velocity_scaled": {},
    }
    for name, idx in groups.items():
        rec["replaced_by_demo_mean"][name] = _per_step(run, trajs, {i: mean[i] for i in idx})
        rec["mean_abs_z"][name] = float(np.abs(z_beh[:, idx]).mean())
        rec["demos_mean_abs_z"][name] = float(np.abs(z_demo[:, idx]).mean())
    for name in ("root velocity", "joint velocities"):
        rec["demos_velocity_scaled"][name] = {
            str(k): _per_step(run, demos, scale={i: k for i in groups[name]}) for k in scales
        }
    return rec


def main(argv: list[str] | None = None) -> None:
    """Attribute each run's learned reward of the actor's behaviour; one record per run."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dirs", nargs="+", type=Path)
    p.add_argument("--actor", type=Path, required=True, help="a PPO reopt_actor.safetensors")
    p.add_argument("--net-arch", default="256,256", help="the actor's reopt_net_arch")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument(
        "--scales",
        default="0,0.5,1,2",
        help="factors on the demos' root and joint velocities (demos_velocity_scaled)",
    )
    p.add_argument("--suite", default="reward-attribution")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument(
        "--env",
        default=None,
        help="a transfer target to run the actor in (default: the run's task)",
    )
    args = p.parse_args(argv)
    if not args.actor.is_file():
        raise SystemExit(f"{args.actor}: no such actor file")
    torch.set_num_threads(1)
    os.environ.setdefault("MUJOCO_GL", "egl")
    arch = tuple(int(w) for w in args.net_arch.split(","))
    try:
        scales = tuple(float(k) for k in args.scales.split(","))
    except ValueError:
        raise SystemExit(f"--scales {args.scales!r}: not comma-separated numbers") from None
    commit = git_commit()
    command = " ".join(["python benchmarks/reward_attribution.py", *(argv or sys.argv[1:])])
    for run_dir in args.run_dirs:
        start = time.perf_counter()
        rec = attribute(run_dir, args.actor, args.episodes, arch, scales, args.env)
        rec.update(suite=args.suite, wall_clock_s=time.perf_counter() - start)
        append_record(args.out, rec, command=command, commit=commit)
        parts = ", ".join(f"{k} {v:.2f}" for k, v in rec["replaced_by_demo_mean"].items())
        joints = ", ".join(
            f"x{k} {v:.2f}" for k, v in rec["demos_velocity_scaled"]["joint velocities"].items()
        )
        print(
            f"{run_dir}: learned reward per step {rec['learned_reward_per_step']:.2f} "
            f"(demos {rec['demos_learned_reward_per_step']:.2f}); with the demos' mean in: "
            f"{parts}; demos with joint velocities {joints}"
        )


if __name__ == "__main__":
    main()
