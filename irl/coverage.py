"""Coverage episodes: uniformly random behaviour as a fixed component of the sampler mixture q.

GCL estimates the partition function by importance sampling from the samplers' mixture
(docs/math.md#sample-fusion). A sampler warm-started by behaviour cloning only visits the
neighbourhood of the demos, so the cost is never asked about the rest of the trajectory space,
and a fresh optimiser later paid that cost can find an unconstrained region that pays more than
the demos (HalfCheetah-v5, docs/transfer.md). A fixed set of uniformly random episodes, scored
by its exact density (uniform over the action box) and fused into q like any snapshot, puts that
region into the estimate: the cost must price random behaviour against the demos too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from irl.rollouts import random_policy, rollout
from irl.samplers import LogProbFn
from irl_envs import make_env

__all__ = ["CoverageSet", "random_episodes", "uniform_log_prob"]

# (obs [T+1, d], acts [T, a], terminated, true return): the store's rollout format.
EpisodeTuple = tuple[np.ndarray, np.ndarray, bool, float]


@dataclass(frozen=True, eq=False)
class CoverageSet:
    """Fixed episodes and the exact per-step log-density of the policy that drew them."""

    episodes: list[EpisodeTuple]
    log_prob: LogProbFn


def uniform_log_prob(space: gym.spaces.Box) -> LogProbFn:
    """log π(a|s) of a uniform policy on the box ``space``: −Σ log(high − low) inside the box,
    −inf outside (a Gaussian sampler's action off the box has density 0 under it).

    Raises:
        ValueError: the box is unbounded or degenerate in some dimension.
    """
    low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
    width = high - low
    if not np.all(np.isfinite(width)) or np.any(width <= 0):
        raise ValueError("a uniform policy needs a bounded action box of positive width")
    log_density = -float(np.log(width).sum())

    def score(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        a = np.asarray(acts, np.float64)
        inside = np.all((a >= low) & (a <= high), axis=-1)
        return np.where(inside, log_density, -np.inf)

    return score


def random_episodes(
    env_id: str, kwargs: Mapping[str, Any], n_episodes: int, seed: int
) -> CoverageSet:
    """``n_episodes`` uniformly random episodes of the task (reset seeds ``seed + i``)."""
    env = make_env(env_id, **dict(kwargs))
    try:
        trajectories = rollout(env, random_policy(env), n_episodes, seed)
        log_prob = uniform_log_prob(env.action_space)
    finally:
        env.close()
    episodes = [
        (tr.obs, tr.acts, bool(tr.terminated[-1]), float(tr.rews.sum())) for tr in trajectories
    ]
    return CoverageSet(episodes, log_prob)
