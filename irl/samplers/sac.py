"""SAC as the sampler: off-policy, its replay buffer relabels every sampled minibatch with the
current learned reward (α = SAC's fixed entropy coefficient plays −α log π)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit

from irl.checkpoint import load_replay_arrays, replay_arrays
from irl.reward import LearnedReward
from irl.samplers.base import Sampler
from irl.samplers.sb3 import RelabelingReplayBuffer

__all__ = ["SACSampler"]


class SACSampler(Sampler):
    """SB3 SAC taking ``updates_per_step`` gradient steps per env step of each iteration."""

    kind = "sac"

    def __init__(self, *args: Any, updates_per_step: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.updates_per_step = updates_per_step
        if not isinstance(self.model.replay_buffer, RelabelingReplayBuffer):
            raise TypeError("SACSampler needs SB3's SAC built with RelabelingReplayBuffer")

    def _collect_rollouts(self) -> None:
        self.model.collect_rollouts(
            self.env,
            callback=self.recorder,
            train_freq=TrainFreq(self.steps_per_env, TrainFrequencyUnit.STEP),
            replay_buffer=self.model.replay_buffer,
            learning_starts=0,
        )

    def replay_reward(self, reward: LearnedReward) -> LearnedReward:
        """``reward`` as SAC's replay relabels it: a termination is charged the absorbing tail
        discounted by SAC's own γ, the value of the absorbing state it stands for under SAC's
        backup (DAC). Undiscounted (the MaxEnt cost's γ = 1), an early Hopper fall cost SAC
        about c_abs · 990 in one step, ten times the γ = 0.99 value of the absorbing state,
        and its critic's loss grew into the thousands (sampler=sac before this change)."""
        return dataclasses.replace(reward, tail_gamma=float(self.model.gamma))

    def improve(self, reward: LearnedReward) -> dict[str, float]:
        """SAC's gradient steps, every minibatch relabelled by :meth:`replay_reward`."""
        self.model.replay_buffer.reward_fn = self.replay_reward(reward).torch
        steps = max(1, round(self.steps_per_iter * self.updates_per_step))
        self.model.train(gradient_steps=steps, batch_size=self.model.batch_size)
        r = self.rollout_reward(reward)
        return {**self.sb3_metrics(), "rollout/learned_reward_mean": float(r.mean())}

    def policy_std(self) -> float:
        """Mean σ of SAC's state-dependent Gaussian (before the tanh squash) over the last
        rollout's states; NaN before the first rollout."""
        if not self.recorder.steps:
            return float("nan")
        obs = self.recorder.stacked()["obs"]
        flat = torch.as_tensor(obs, dtype=torch.float32).reshape(-1, obs.shape[-1])
        with torch.no_grad():
            _, log_std, _ = self.model.actor.get_action_dist_params(flat)
        return float(log_std.exp().mean())

    def arrays(self) -> dict[str, np.ndarray]:
        """The replay buffer up to its write position."""
        return replay_arrays(self.model.replay_buffer)

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Refill the replay buffer."""
        load_replay_arrays(self.model.replay_buffer, arrays)

    def _optim_state(self) -> dict[str, Any]:
        pol = self.model.policy
        return {
            "actor": pol.actor.optimizer.state_dict(),
            "critic": pol.critic.optimizer.state_dict(),
        }

    def _load_optim_state(self, state: dict[str, Any]) -> None:
        pol = self.model.policy
        pol.actor.optimizer.load_state_dict(state["actor"])
        pol.critic.optimizer.load_state_dict(state["critic"])
