"""SB3 pieces of the samplers: building PPO/SAC as MaxEnt samplers, the relabelling replay buffer,
and frozen policy snapshots as log-density scorers.

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
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from irl.sb3_adapter import ObsNormExtractor, SquashedActorCriticPolicy, action_log_prob

__all__ = ["RelabelingReplayBuffer", "build_sampler", "policy_log_prob_fn"]

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


def build_sampler(
    kind: str, env: VecEnv, seed: int, alpha: float, params: dict[str, Any]
) -> BaseAlgorithm:
    """An SB3 PPO or SAC set up as a MaxEnt sampler (docs/math.md#the-generators-reward)."""
    params = dict(params)
    net_arch = list(params.pop("net_arch", [64, 64]))
    obs_norm = bool(params.pop("obs_norm", False))
    if kind == "ppo":
        squash = bool(params.pop("squash", False))
        policy_kwargs: dict[str, Any] = {"net_arch": {"pi": net_arch, "vf": net_arch}}
        if obs_norm:
            policy_kwargs["features_extractor_class"] = ObsNormExtractor
        return PPO(
            SquashedActorCriticPolicy if squash else "MlpPolicy",
            env,
            seed=seed,
            ent_coef=0.0,  # entropy is in the reward as −α log π; never count it twice
            policy_kwargs=policy_kwargs,
            device="cpu",
            verbose=0,
            **params,
        )
    if obs_norm:
        raise ValueError("sampler.obs_norm applies to the PPO sampler only (set it false for sac)")
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
