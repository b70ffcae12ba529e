"""Samplers q for the IRL loop: SB3 PPO and SAC built, driven and scored through one interface.

The IRL loop owns the iteration; SB3 does the rollouts (``collect_rollouts``) and the policy
updates (``train``). Rewards seen by SB3 are always the learned ones: PPO's rollout buffer is
relabelled after the cost update (r = reward_θ − α log π_old, its own entropy bonus off), SAC's
replay buffer relabels every sampled minibatch with the current cost (α = SAC's fixed ent_coef).
The true reward never reaches the sampler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from irl.sb3_adapter import SquashedActorCriticPolicy, action_log_prob, is_squashed_ppo

__all__ = ["RelabelingReplayBuffer", "RolloutRecorder", "build_sampler", "policy_log_prob_fn"]

# (obs, actions, next_obs, terminated, absorbing_steps) -> reward [N] (torch float)
RewardFn = Callable[..., torch.Tensor]


class RelabelingReplayBuffer(ReplayBuffer):
    """SB3 replay buffer whose minibatch rewards come from the current learned cost.

    The ``rewards`` slot holds, per transition, the number of absorbing steps that follow a
    termination up to the horizon (0 elsewhere): the recorder writes it there instead of the
    true reward, which the sampler must never see.
    """

    reward_fn: RewardFn | None = None

    def _get_samples(
        self, batch_inds: np.ndarray, env: VecNormalize | None = None
    ) -> ReplayBufferSamples:
        s = super()._get_samples(batch_inds, env)
        if self.reward_fn is None:
            raise RuntimeError("RelabelingReplayBuffer sampled before reward_fn was set")
        r = self.reward_fn(
            s.observations, s.actions, s.next_observations, s.dones[:, 0], s.rewards[:, 0]
        )
        return s._replace(rewards=r.to(s.rewards.dtype).reshape(-1, 1))


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


def build_sampler(
    kind: str, env: VecEnv, seed: int, alpha: float, params: dict[str, Any]
) -> BaseAlgorithm:
    """An SB3 PPO or SAC set up as a MaxEnt sampler (entropy handled as SPEC §4.3 asks)."""
    params = dict(params)
    net_arch = list(params.pop("net_arch", [64, 64]))
    if kind == "ppo":
        squash = bool(params.pop("squash", False))
        return PPO(
            SquashedActorCriticPolicy if squash else "MlpPolicy",
            env,
            seed=seed,
            ent_coef=0.0,  # entropy is in the reward as −α log π; never count it twice
            policy_kwargs={"net_arch": {"pi": net_arch, "vf": net_arch}},
            device="cpu",
            verbose=0,
            **params,
        )
    if kind == "sac":
        return SAC(
            "MlpPolicy",
            env,
            seed=seed,
            ent_coef=float(alpha),  # fixed temperature: the theoretical α, no auto-tuning
            replay_buffer_class=RelabelingReplayBuffer,
            policy_kwargs={"net_arch": net_arch},
            device="cpu",
            verbose=0,
            **params,
        )
    raise ValueError(f"unknown sampler {kind!r}; use ppo or sac")


def policy_log_prob_fn(
    model: BaseAlgorithm, state_dict: Mapping[str, torch.Tensor] | None = None
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A frozen copy of the policy (or of ``state_dict``) as a scorer (obs, acts) -> log π [T]."""
    # A fresh policy of the same class with the current weights (deepcopy of a live SB3 policy
    # can hit non-leaf tensors; copying the algorithm would copy SAC's replay buffer).
    policy = model.policy
    fresh = type(policy)(**policy._get_constructor_parameters())
    fresh.load_state_dict(policy.state_dict() if state_dict is None else state_dict)
    fresh.set_training_mode(False)
    shell = _PolicyShell(fresh, model.action_space)

    def score(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            lp = action_log_prob(
                shell,  # type: ignore[arg-type]
                torch.from_numpy(np.array(obs)),
                torch.from_numpy(np.array(acts)),
            )
        return lp.double().numpy()

    return score


class _PolicyShell:
    """The two attributes :func:`irl.sb3_adapter.action_log_prob` reads from an SB3 model."""

    def __init__(self, policy: Any, action_space: Any) -> None:
        self.policy = policy
        self.action_space = action_space
