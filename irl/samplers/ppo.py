"""PPO as the sampler: its rollout buffer is relabelled with the learned reward after the cost
steps (r = reward_θ − α log π_old; PPO's own entropy bonus is off), optionally divided by an EMA
of the std of the discounted returns, then PPO takes its own update."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from irl.reward import LearnedReward
from irl.samplers.base import Sampler
from irl.sb3_adapter import action_log_scale, is_squashed_ppo

__all__ = ["PPOSampler"]

REWARD_VAR_DECAY = 0.9  # per iteration: the return-scale estimate spans about 10 iterations


class PPOSampler(Sampler):
    """SB3 PPO, one rollout of ``n_steps = steps_per_env`` per IRL iteration.

    ``normalize_reward``: divide the relabelled rewards by an EMA of the std of the discounted
    returns (VecNormalize's scaling, as an EMA: the learned cost's scale drifts as D sharpens).
    """

    kind = "ppo"

    def __init__(self, *args: Any, normalize_reward: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.normalize_reward = normalize_reward
        # SB3 stores a squashed PPO's log π in its [-1, 1] units; −α log π is in env units.
        squashed = is_squashed_ppo(self.model)
        self.log_scale = action_log_scale(self.env.action_space) if squashed else 0.0
        self.return_var = float("nan")  # EMA of the discounted returns' variance; NaN: unset

    def _collect_rollouts(self) -> None:
        self.model.collect_rollouts(
            self.env, self.recorder, self.model.rollout_buffer, self.steps_per_env
        )

    def improve(self, reward: LearnedReward) -> dict[str, float]:
        """Relabel the rollout buffer with the learned reward, then one PPO update."""
        data = self.recorder.stacked()
        buf = self.model.rollout_buffer
        n, e = data["terminated"].shape
        r = self.rollout_reward(reward).reshape(n, e)
        bootstrap = buf.rewards - data["stored_rewards"]  # SB3's γ V(s_T) at time-limit ends
        base = reward.with_entropy(r, buf.log_probs - self.log_scale)
        metrics = {"rollout/learned_reward_mean": float(r.mean())}
        if self.normalize_reward:
            # The bootstrap is SB3's γV(s_T), already in the critic's (scaled) units.
            base = base / self.reward_scale(base, buf.episode_starts)
            metrics["rollout/reward_scale"] = math.sqrt(self.return_var + 1e-8)
        buf.rewards[:] = (base + bootstrap).astype(np.float32)
        buf.compute_returns_and_advantage(
            last_values=self.recorder.last_values, dones=self.recorder.last_dones
        )
        self.model.train()
        return {**self.sb3_metrics(), **metrics}

    def reward_scale(self, rewards: np.ndarray, episode_starts: np.ndarray) -> float:
        """Updated std of the sampler's discounted returns, the divisor of its rewards."""
        gamma = float(self.model.gamma)
        ret = np.zeros(rewards.shape[1])
        returns = np.empty_like(rewards, dtype=np.float64)
        for t in range(rewards.shape[0]):
            ret = ret * gamma * (1.0 - episode_starts[t]) + rewards[t]
            returns[t] = ret
        var = float(returns.var())
        self.return_var = (
            var
            if math.isnan(self.return_var)
            else REWARD_VAR_DECAY * self.return_var + (1 - REWARD_VAR_DECAY) * var
        )
        return math.sqrt(self.return_var + 1e-8)

    def state(self) -> dict[str, Any]:
        """The shared state plus the return-scale estimate."""
        return {**super().state(), "return_var": self.return_var}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`'s output."""
        super().load_state(state)
        self.return_var = float(state.get("return_var", float("nan")))

    def _optim_state(self) -> dict[str, Any]:
        return {"policy": self.model.policy.optimizer.state_dict()}

    def _load_optim_state(self, state: dict[str, Any]) -> None:
        self.model.policy.optimizer.load_state_dict(state["policy"])
