"""Recording one IRL iteration's rollouts from inside SB3's rollout loop."""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from irl.sb3_adapter import is_squashed_ppo

__all__ = ["RolloutRecorder"]


class RolloutRecorder(BaseCallback):
    """Collects the episodes of one iteration from SB3's rollout loop (per env, in order).

    For each step it keeps obs, the action the sampler drew (PPO: before clipping, the one its
    log π refers to; SAC: env units), next obs (the terminal observation at an episode end),
    terminated/truncated, the true reward (for logging only) and the episode's step index. In
    the env's reward array it writes the absorbing-step count of a terminated step (so that
    SAC's replay buffer stores that, never the true reward).
    """

    def __init__(self, horizon: int) -> None:
        super().__init__(verbose=0)
        self.horizon = horizon
        self.reset()

    def reset(self, n_envs: int = 0) -> None:
        """Forget everything; start all envs at episode step 0."""
        self.steps: list[dict[str, np.ndarray]] = []
        self.t = np.zeros(n_envs, dtype=np.int64)
        self.last_values: torch.Tensor | None = None
        self.last_dones: np.ndarray | None = None
        self._stacked: dict[str, np.ndarray] | None = None

    def _on_step(self) -> bool:
        loc = self.locals
        obs = np.asarray(
            loc["obs_tensor"].cpu().numpy() if "obs_tensor" in loc else self.model._last_obs,
            dtype=np.float32,
        ).copy()
        actions = np.asarray(loc["actions"], dtype=np.float32).reshape(len(obs), -1).copy()
        if is_squashed_ppo(self.model):  # SB3 keeps [-1, 1] units; the store wants env units
            actions = self.model.policy.unscale_action(actions).astype(np.float32)
        rewards = loc["rewards"]
        dones = np.asarray(loc["dones"], dtype=bool)
        infos = loc["infos"]
        next_obs = np.asarray(loc["new_obs"], dtype=np.float32).copy()
        truncated = np.zeros(len(obs), bool)
        terminated = np.zeros(len(obs), bool)
        for i, done in enumerate(dones):
            if done:
                next_obs[i] = infos[i]["terminal_observation"]
                truncated[i] = bool(infos[i].get("TimeLimit.truncated", False))
                terminated[i] = not truncated[i]
        true_rewards = np.asarray(rewards, dtype=np.float64).copy()
        t_index = self.t.copy()
        absorbing = np.where(terminated, np.maximum(self.horizon - (t_index + 1), 0), 0)
        # In place: SB3 stores this array next (SAC) or adds a value bootstrap to it (PPO).
        rewards[:] = absorbing
        self.steps.append(
            {
                "obs": obs,
                "actions": actions,
                "next_obs": next_obs,
                "terminated": terminated,
                "truncated": truncated,
                "true_rewards": true_rewards,
                "absorbing": absorbing.astype(np.float64),
                "stored_rewards": np.asarray(rewards, dtype=np.float64).copy(),
                "t": t_index,
            }
        )
        self.t = np.where(dones, 0, self.t + 1)
        self._stacked = None
        return True

    def _on_rollout_end(self) -> None:
        self.last_values = self.locals.get("values")
        self.last_dones = self.locals.get("dones")

    def stacked(self) -> dict[str, np.ndarray]:
        """Per-step arrays stacked to ``[n_steps, n_envs, ...]`` (cached until the next step)."""
        if self._stacked is None:
            self._stacked = {k: np.stack([s[k] for s in self.steps]) for k in self.steps[0]}
        return self._stacked

    def episodes(self) -> list[tuple[np.ndarray, np.ndarray, bool, float]]:
        """Finished and unfinished episodes as (obs [T+1,d], actions [T,a], terminated, return);
        an episode cut by the end of the iteration counts as truncated (not terminated)."""
        data = self.stacked()
        n_steps, n_envs = data["terminated"].shape
        out = []
        for e in range(n_envs):
            start = 0
            for t in range(n_steps):
                end = data["terminated"][t, e] or data["truncated"][t, e]
                if end or t == n_steps - 1:
                    sl = slice(start, t + 1)
                    obs = np.concatenate([data["obs"][sl, e], data["next_obs"][t : t + 1, e]])
                    out.append(
                        (
                            obs,
                            data["actions"][sl, e].copy(),
                            bool(data["terminated"][t, e]),
                            float(data["true_rewards"][sl, e].sum()),
                        )
                    )
                    start = t + 1
        return out

    def finished_returns(self) -> list[float]:
        """True returns of the episodes that ended inside this iteration (all of which started
        in it: the loop resets every env at the start of an iteration)."""
        data = self.stacked()
        ends = data["terminated"] | data["truncated"]
        out = []
        for e in range(ends.shape[1]):
            acc = 0.0
            for t in range(ends.shape[0]):
                acc += float(data["true_rewards"][t, e])
                if ends[t, e]:
                    out.append(acc)
                    acc = 0.0
        return out
