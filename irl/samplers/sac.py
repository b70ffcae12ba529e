"""SAC as the sampler: off-policy, its replay buffer relabels every sampled minibatch with the
current learned reward (α = SAC's fixed entropy coefficient plays −α log π)."""

from __future__ import annotations

from typing import Any

import numpy as np
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

    def improve(self, reward: LearnedReward) -> dict[str, float]:
        """SAC's gradient steps, every minibatch relabelled by ``reward``."""
        self.model.replay_buffer.reward_fn = reward.torch
        steps = max(1, round(self.steps_per_iter * self.updates_per_step))
        self.model.train(gradient_steps=steps, batch_size=self.model.batch_size)
        r = self.rollout_reward(reward)
        return {**self.sb3_metrics(), "rollout/learned_reward_mean": float(r.mean())}

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
