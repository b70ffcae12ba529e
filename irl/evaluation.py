"""Evaluating a learned reward: its correlation with the true reward and the learned returns of
demos and of the recovered policy (``irl-eval`` calls these; re-optimisation from scratch is in
:mod:`irl.reoptimize`).

Re-optimisation trains a fresh SB3 SAC on the learned reward alone (the true reward never reaches
it; :class:`irl.wrappers.LearnedRewardWrapper`), scored by the true reward; it is checkpointed
(pickle-free) and resumable, and ``reward="true"`` runs the control under the same protocol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from irl.demos import rewards_available
from irl.rollouts import random_policy, rollout
from irl.run import Run
from irl.seeding import learned_return_seed, random_rollout_seed
from irl.types import Trajectory, Transitions, flatten_trajectories


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def correlations(learned: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman correlation (NaN when either side is constant)."""
    learned, true = np.asarray(learned, np.float64), np.asarray(true, np.float64)
    if learned.std() == 0 or true.std() == 0:
        return {"pearson": float("nan"), "spearman": float("nan")}
    pearson = float(np.corrcoef(learned, true)[0, 1])
    spearman = float(np.corrcoef(_ranks(learned), _ranks(true))[0, 1])
    return {"pearson": pearson, "spearman": spearman}


def _step_rewards(run: Run, t: Transitions, absorbing: np.ndarray | None = None) -> np.ndarray:
    """Learned per-step reward of flat transitions (``absorbing``: steps left after a stop)."""
    tail = np.zeros(len(t.obs)) if absorbing is None else absorbing
    return run.learned_reward.torch(
        torch.as_tensor(t.obs, dtype=torch.float64),
        torch.as_tensor(t.acts, dtype=torch.float64),
        torch.as_tensor(t.next_obs, dtype=torch.float64),
        torch.as_tensor(t.terminated),
        torch.as_tensor(tail, dtype=torch.float64),
    ).numpy()


def reward_correlations(run: Run, random_episodes: int, seed: int) -> dict[str, float]:
    """Correlation of −c_θ with the true reward on held-out expert and random transitions.

    Demos without rewards (``rewards_available: false``) give only the random-policy rows.
    """
    env = run.make_env()
    try:
        random_steps = flatten_trajectories(
            rollout(env, random_policy(env), random_episodes, random_rollout_seed(seed))
        )
    finally:
        env.close()
    sets = {"random": random_steps}
    if rewards_available(run.demos.meta):
        sets["expert"] = flatten_trajectories(run.demos.heldout or run.demos.train)
    learned, true = {}, {}
    for name, t in sets.items():
        learned[name] = _step_rewards(run, t)  # per-step reward, no absorbing tail
        true[name] = np.asarray(t.rews, np.float64)
    if "expert" in sets:
        learned["pooled"] = np.concatenate([learned["expert"], learned["random"]])
        true["pooled"] = np.concatenate([true["expert"], true["random"]])
    out: dict[str, float] = {}
    for name in learned:
        for k, v in correlations(learned[name], true[name]).items():
            out[f"{k}_{name}"] = v
    return out


def learned_returns(run: Run, episodes: int, seed: int) -> dict[str, float | None]:
    """Learned return per episode of held-out demos and of the recovered deterministic policy."""
    # Which side fails: a recovered policy that scores below the demos under the learned reward
    # is a sampler stuck in a worse optimum (e.g. Hopper standing still); one that scores at or
    # above them is a cost that does not tell the two apart.
    env = run.make_env()
    try:
        policy = rollout(
            env,
            run.policy,
            episodes,
            learned_return_seed(seed),
        )
    finally:
        env.close()
    sets = {"demos": (run.demos.heldout or run.demos.train)[:episodes], "policy": policy}
    out: dict[str, float | None] = {}
    for name, trajs in sets.items():
        r, tail = _learned_step_rewards(run, trajs)
        out[f"learned_return_{name}"] = float(_episode_sums(r, trajs).mean())
        if name == "demos":
            # Steps that pay an absorbing tail (a demo that ended early) are left out.
            out["learned_reward_demo_step"] = float(r[tail == 0].mean())
    out["learned_reward_absorbing_step"] = absorbing_step_reward(run)
    return out


def _learned_step_rewards(run: Run, trajs: Sequence[Trajectory]) -> tuple[np.ndarray, np.ndarray]:
    """Learned reward of every flat step, a stop paying its absorbing tail to the horizon, and
    that tail (absorbing steps after each step: non-zero only at a stop)."""
    lengths = np.array([len(t.acts) for t in trajs])
    tail = np.zeros(int(lengths.sum()))
    tail[np.cumsum(lengths) - 1] = [
        max(run.horizon - n, 0) if bool(t.terminated[-1]) else 0
        for t, n in zip(trajs, lengths, strict=True)
    ]
    return _step_rewards(run, flatten_trajectories(trajs), tail), tail


def _episode_sums(r: np.ndarray, trajs: Sequence[Trajectory]) -> np.ndarray:
    """Per-episode sums of flat per-step values."""
    lengths = np.array([len(t.acts) for t in trajs])
    return np.add.reduceat(r, np.cumsum(lengths) - lengths)


def learned_episode_returns(run: Run, trajs: Sequence[Trajectory]) -> np.ndarray:
    """Learned return of each episode; a terminated one pays its absorbing tail to the horizon."""
    return _episode_sums(_learned_step_rewards(run, trajs)[0], trajs)


def absorbing_step_reward(run: Run) -> float | None:
    """Learned reward of one step in the absorbing state, c_abs as learned (before the reward's
    termination floor, `irl.reward`), None without absorbing states."""
    # Compared with a demo step's reward it says whether the training loop's reward pays an
    # optimiser to end episodes early: it does when this one is higher.
    if run.cost is None or not run.cost.absorbing:
        return None
    as_learned = dataclasses.replace(run.learned_reward, termination_floor=None)
    # One demo transition, ended by a termination with 0 and with 1 absorbing step after it.
    t = flatten_trajectories(run.demos.train[:1])
    with torch.no_grad():
        r = as_learned.torch(
            torch.as_tensor(t.obs[:1], dtype=torch.float64).expand(2, -1),
            torch.as_tensor(t.acts[:1], dtype=torch.float64).expand(2, -1),
            torch.as_tensor(t.next_obs[:1], dtype=torch.float64).expand(2, -1),
            torch.ones(2, dtype=torch.bool),
            torch.tensor([0.0, 1.0], dtype=torch.float64),
        )
    return float(r[1] - r[0])
