"""Environments that pay a learned reward: a gymnasium wrapper and an SB3 VecEnv wrapper.

Both replace the environment's reward by a :class:`irl.reward.LearnedReward` (or any callable
``(obs, acts, next_obs, terminated, steps_left) -> [N]``) and keep the true reward in
``info["true_reward"]``. Absorbing states: at a termination after step t of an episode, the
learned reward includes the cost of the ``horizon − t`` absorbing steps that the episode would
have spent in the absorbing state up to the horizon (``LearnedReward.steps_left``), so a fresh
optimiser is not paid to end episodes early. A time-limit truncation pays no tail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

__all__ = ["LearnedRewardWrapper", "RewardVecEnvWrapper"]

RewardFn = Callable[..., np.ndarray]


def _horizon(reward: RewardFn) -> int:
    return int(getattr(reward, "horizon", 0))


class LearnedRewardWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """A gymnasium env whose reward is the learned one; ``info["true_reward"]`` keeps the env's.

    At an episode's end ``info["episode_returns"]`` holds its length, whether it terminated,
    and both returns (true and learned).

    Args:
        env: the environment.
        reward: the learned reward (e.g. ``irl.load_run(d).reward``).
        pay_true_reward: pay the env's own reward instead (a control run under the same
            wrapper); the learned reward is still logged.
    """

    def __init__(
        self, env: gym.Env[Any, Any], reward: RewardFn, pay_true_reward: bool = False
    ) -> None:
        super().__init__(env)
        self.reward_fn = reward
        self.pay_true_reward = pay_true_reward
        self.horizon = _horizon(reward)
        self.t = 0
        self.obs: np.ndarray | None = None
        self.true_return = self.learned_return = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset and remember the first observation."""
        obs, info = self.env.reset(**kwargs)
        self.obs, self.t = np.asarray(obs), 0
        self.true_return = self.learned_return = 0.0
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step the env and score the transition with the learned reward."""
        if self.obs is None:
            raise RuntimeError("LearnedRewardWrapper.step called before reset")
        obs, true_r, term, trunc, info = self.env.step(action)
        self.t += 1
        left = max(self.horizon - self.t, 0) if term else 0
        r = float(
            self.reward_fn(
                self.obs[None],
                np.asarray(action, np.float64).reshape(1, -1),
                np.asarray(obs)[None],
                np.array([bool(term)]),
                np.array([float(left)]),
            )[0]
        )
        info["true_reward"] = float(true_r)
        self.true_return += float(true_r)
        self.learned_return += r
        if term or trunc:
            info["episode_returns"] = {
                "length": self.t,
                "terminated": int(term),
                "true_return": self.true_return,
                "learned_return": self.learned_return,
            }
        self.obs = np.asarray(obs)
        return obs, float(true_r) if self.pay_true_reward else r, term, trunc, info


class RewardVecEnvWrapper(VecEnvWrapper):
    """An SB3 VecEnv whose rewards are the learned ones; ``info["true_reward"]`` keeps the env's.

    Uses ``info["terminal_observation"]`` (SB3's auto-reset) as the next observation of a step
    that ended an episode, and ``info["TimeLimit.truncated"]`` to tell truncation from
    termination.
    """

    def __init__(self, venv: VecEnv, reward: RewardFn) -> None:
        super().__init__(venv)
        self.reward_fn = reward
        self.horizon = _horizon(reward)
        self.t = np.zeros(self.num_envs, dtype=np.int64)
        self.obs: np.ndarray | None = None
        self.actions: np.ndarray | None = None

    def reset(self) -> Any:
        """Reset all envs and remember the observations."""
        obs = self.venv.reset()
        self.obs = np.asarray(obs)
        self.t[:] = 0
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions, then pass them on."""
        self.actions = np.asarray(actions)
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        """Step all envs and replace their rewards by the learned ones."""
        if self.obs is None or self.actions is None:
            raise RuntimeError("RewardVecEnvWrapper stepped before reset")
        obs, true_r, dones, infos = self.venv.step_wait()
        next_obs = np.array(obs, dtype=np.float64, copy=True)
        terminated = np.zeros(self.num_envs, dtype=bool)
        self.t += 1
        for i, done in enumerate(dones):
            if done:
                next_obs[i] = infos[i]["terminal_observation"]
                terminated[i] = not infos[i].get("TimeLimit.truncated", False)
        left = np.where(terminated, np.maximum(self.horizon - self.t, 0), 0).astype(np.float64)
        r = self.reward_fn(
            self.obs, self.actions.reshape(self.num_envs, -1), next_obs, terminated, left
        )
        for i in range(self.num_envs):
            infos[i]["true_reward"] = float(true_r[i])
        self.t[dones] = 0
        self.obs = np.asarray(obs)
        return obs, np.asarray(r, dtype=np.float32), dones, infos
