"""Samplers q of the IRL loop: SB3 PPO and SAC behind one interface (:class:`Sampler`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import DummyVecEnv

from irl.samplers.base import LogProbFn, Sampler
from irl.samplers.ppo import PPOSampler
from irl.samplers.sac import SACSampler
from irl.samplers.sb3 import build_sampler

__all__ = ["LogProbFn", "PPOSampler", "SACSampler", "Sampler", "make_sampler"]


def make_sampler(
    kind: str,
    env_fn: Callable[[], gym.Env[Any, Any]],
    *,
    n_envs: int,
    steps_per_env: int,
    horizon: int,
    total_steps: int,
    seed: int,
    alpha: float,
    sb3_params: dict[str, Any],
    policy_ema: float | None,
    logger: Logger,
    normalize_reward: bool = False,
    updates_per_step: float = 1.0,
) -> Sampler:
    """A PPO or SAC sampler on ``n_envs`` copies of ``env_fn()`` (DummyVecEnv: on a small CPU
    the pipe of a SubprocVecEnv costs more than the physics)."""
    env = DummyVecEnv([env_fn] * n_envs)
    params = dict(sb3_params)
    if kind == "ppo":
        params["n_steps"] = steps_per_env  # one PPO rollout per IRL iteration
    elif kind == "sac":
        params["learning_starts"] = 0  # every rollout comes from the policy (its q is known)
    model = build_sampler(kind, env, seed, alpha, params)
    common = (model, env, steps_per_env, horizon, total_steps, policy_ema, logger)
    if kind == "ppo":
        return PPOSampler(*common, normalize_reward=normalize_reward)
    if normalize_reward:
        raise ValueError(
            "sampler.normalize_reward applies to PPO's relabelled rollouts only; SAC's "
            "replay rewards are relabelled per minibatch (set it false for sampler=sac)"
        )
    return SACSampler(*common, updates_per_step=updates_per_step)
