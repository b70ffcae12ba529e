"""Augmented Random Search (Mania, Guy & Recht 2018, "V2-t"): a linear policy improved by
antithetic random perturbations, with online observation normalisation. A fast re-optimiser for
short tasks: it needs no gradients through a network, only episode returns, so a learned reward
is scored once per episode in one batched call.

One iteration draws ``directions`` Gaussian perturbations δ_k of the policy matrix M, runs one
episode each with M + νδ_k and M − νδ_k (the pair on the same reset seed), keeps the ``top`` pairs
by max(r⁺, r⁻) and steps M ← M + α / (top · σ_R) Σ (r⁺_k − r⁻_k) δ_k, with σ_R the standard
deviation of the kept returns. Observations are normalised by the running mean and standard
deviation of every state visited so far (frozen within an iteration).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["ARSSettings", "LinearPolicy", "RunningStats", "ars"]

# score(obs [T+1, d], acts [T, k], terminated, true return) -> the return ARS maximises
EpisodeScore = Callable[[np.ndarray, np.ndarray, bool, float], float]
# on_episode(env steps so far, obs, acts, terminated, true return, score)
EpisodeHook = Callable[[int, np.ndarray, np.ndarray, bool, float, float], None]
# on_iteration(env steps so far, the policy after the iteration's update)
IterationHook = Callable[[int, "LinearPolicy"], None]


@dataclass(frozen=True)
class ARSSettings:
    """ARS hyperparameters (defaults solve InvertedPendulum-v5 in a few iterations)."""

    directions: int = 8  # perturbation pairs per iteration
    top: int = 4  # pairs kept for the update
    step_size: float = 0.1  # α
    noise: float = 0.1  # ν


DEFAULT_SETTINGS = ARSSettings()


@dataclass
class RunningStats:
    """Running mean and variance of observations (Chan et al.'s parallel update)."""

    dim: int
    n: int = 0
    mean: np.ndarray = field(init=False)
    m2: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.mean = np.zeros(self.dim)
        self.m2 = np.zeros(self.dim)

    def update(self, batch: np.ndarray) -> None:
        """Fold ``[k, dim]`` observations into the statistics."""
        k = batch.shape[0]
        if k == 0:
            return
        b_mean = batch.mean(axis=0)
        b_m2 = ((batch - b_mean) ** 2).sum(axis=0)
        delta = b_mean - self.mean
        total = self.n + k
        self.mean = self.mean + delta * k / total
        self.m2 = self.m2 + b_m2 + delta**2 * self.n * k / total
        self.n = total

    @property
    def std(self) -> np.ndarray:
        """Standard deviation, 1 before two observations, floored at 1e-2."""
        if self.n < 2:
            return np.ones(self.dim)
        return np.maximum(np.sqrt(self.m2 / (self.n - 1)), 1e-2)


@dataclass
class LinearPolicy:
    """a = clip(M (x − mean) / std) to the action box."""

    matrix: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """The action of one observation."""
        z = (np.asarray(obs, np.float64) - self.mean) / self.std
        return np.clip(self.matrix @ z, self.low, self.high).astype(np.float32)


def run_episode(
    env: gym.Env[Any, Any], policy: LinearPolicy, seed: int
) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """One episode: observations ``[T+1, obs_dim]``, actions ``[T, act_dim]``, whether it
    terminated, and its true return."""
    ob, _ = env.reset(seed=seed)
    obs, acts, true_return = [np.asarray(ob, np.float64)], [], 0.0
    while True:
        act = policy(obs[-1])
        ob, rew, terminated, truncated, _ = env.step(act)
        obs.append(np.asarray(ob, np.float64))
        acts.append(act)
        true_return += float(rew)
        if terminated or truncated:
            return np.stack(obs), np.stack(acts), bool(terminated), true_return


def ars(
    env: gym.Env[Any, Any],
    score: EpisodeScore,
    total_steps: int,
    seed: int,
    settings: ARSSettings = DEFAULT_SETTINGS,
    on_episode: EpisodeHook | None = None,
    on_iteration: IterationHook | None = None,
) -> LinearPolicy:
    """Improve a zero-initialised linear policy for ``total_steps`` env steps (whole iterations).

    Args:
        env: the task (its reward is only reported, through ``on_episode``).
        score: the return ARS maximises, ``score(obs [T+1, d], acts [T, k], terminated,
            true_return)`` (the control returns ``true_return``).
        total_steps: env-step budget; the iteration that crosses it is the last.
        seed: seeds the perturbations and the episodes' resets.
        on_episode: called after every episode with ``(env_steps, obs, acts, terminated,
            true_return, score)``.
        on_iteration: called after every update with ``(env_steps, policy)``, the policy as it
            would be returned then (the last call's is the returned one).
    """
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Box) or not isinstance(act_space, gym.spaces.Box):
        raise TypeError("ARS needs Box observation and action spaces")
    obs_dim, act_dim = int(obs_space.shape[0]), int(act_space.shape[0])
    low, high = act_space.low, act_space.high
    rng = np.random.default_rng(seed)
    stats = RunningStats(obs_dim)
    matrix = np.zeros((act_dim, obs_dim))
    steps, episode_seed = 0, seed
    s = settings
    while steps < total_steps:
        mean, std = stats.mean.copy(), stats.std.copy()
        deltas = rng.standard_normal((s.directions, act_dim, obs_dim))
        returns = np.zeros((s.directions, 2))
        for k in range(s.directions):
            for j, sign in enumerate((1.0, -1.0)):
                pol = LinearPolicy(matrix + sign * s.noise * deltas[k], mean, std, low, high)
                obs, acts, terminated, true_ret = run_episode(env, pol, episode_seed)
                returns[k, j] = score(obs, acts, terminated, true_ret)
                steps += len(acts)
                stats.update(obs[:-1])
                if on_episode is not None:
                    on_episode(steps, obs, acts, terminated, true_ret, float(returns[k, j]))
            episode_seed += 1
        keep = np.argsort(-returns.max(axis=1))[: s.top]
        sigma = float(returns[keep].std()) or 1.0
        step = np.tensordot(returns[keep, 0] - returns[keep, 1], deltas[keep], axes=1)
        matrix = matrix + s.step_size / (s.top * sigma) * step
        if on_iteration is not None:
            on_iteration(
                steps, LinearPolicy(matrix, stats.mean.copy(), stats.std.copy(), low, high)
            )
    return LinearPolicy(matrix, stats.mean.copy(), stats.std.copy(), low, high)
