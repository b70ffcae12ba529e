"""Everything that touches SB3 internals: exact log π of env-space actions for SAC and PPO policies.

IRL needs log π(u|x) of *given* actions (demos, replayed rollouts), in the units the environment
sees. SB3's SAC samples u ~ N(µ, σ²), squashes a = tanh(u) and rescales a to the action bounds;
its PPO samples a Gaussian directly in env units (clipped by the env, not squashed), unless it
uses :class:`SquashedActorCriticPolicy`, which squashes and rescales like SAC. With
:class:`ObsNormExtractor` a policy standardises its own observations.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import get_action_dim, get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import SACPolicy
from torch import Tensor
from torch.distributions import Normal

from irl.nn import RunningNorm

__all__ = [
    "ObsNormExtractor",
    "SquashedActorCriticPolicy",
    "action_log_prob",
    "action_log_scale",
    "is_squashed_ppo",
    "scale_actions",
    "squashed_gaussian_log_prob",
    "update_obs_norm",
]


def squashed_gaussian_log_prob(mean: Tensor, log_std: Tensor, squashed: Tensor) -> Tensor:
    """log π(a) for a = tanh(u), u ~ N(mean, exp(log_std)²), summed over action dims, ``[B]``.

    The tanh Jacobian uses log(1 - tanh(u)²) = 2 (log 2 - u - softplus(-2u)), exact where SB3's
    log(1 - a² + 1e-6) is not (|a| → 1). Computed in float64; ``a`` is clamped to
    ±(1 - eps(dtype)) as SB3 does, so saturated demo actions give a finite (very low) log π.
    """
    eps = torch.finfo(squashed.dtype).eps
    a = squashed.double().clamp(-1.0 + eps, 1.0 - eps)
    u = torch.atanh(a)
    log_jacobian = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    gauss = Normal(mean.double(), log_std.double().exp()).log_prob(u)
    return (gauss - log_jacobian).sum(-1).to(mean.dtype)


def _box(space: spaces.Space) -> spaces.Box:
    if not isinstance(space, spaces.Box):
        raise TypeError(f"continuous (Box) action space required, got {space}")
    if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        raise ValueError("a squashing policy needs finite action bounds")
    return space


def scale_actions(actions: Tensor, space: spaces.Space) -> Tensor:
    """Env-space actions in [low, high] → SB3's squashed units [-1, 1]."""
    box = _box(space)
    low = torch.as_tensor(box.low, dtype=actions.dtype)
    high = torch.as_tensor(box.high, dtype=actions.dtype)
    return 2.0 * (actions - low) / (high - low) - 1.0


class SquashedActorCriticPolicy(ActorCriticPolicy):
    """SB3's PPO actor-critic with a tanh-squashed Gaussian rescaled to the action bounds.

    A Gaussian clipped by the env has an entropy that grows with log σ while the actions it
    produces stop changing at the bounds, so a −α log π reward widens σ without limit (σ went
    from 1 to 7–40 on Hopper). Squashed, the density is that of the actions the env receives and
    its entropy is bounded by the log-volume of the action box. SB3 offers squashing for PPO only
    with gSDE; this swaps in the distribution SAC uses.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("squash_output", None)  # SB3 asserts it is off without gSDE; set below
        super().__init__(*args, **kwargs)
        self._squash_output = True  # predict/collect_rollouts unscale [-1, 1] to the bounds

    def _build(self, lr_schedule: Any) -> None:
        _box(self.action_space)
        self.action_dist = SquashedDiagGaussianDistribution(get_action_dim(self.action_space))
        super()._build(lr_schedule)


class ObsNormExtractor(BaseFeaturesExtractor):
    """A policy's input: observations standardised by running statistics, clipped to ±10.

    VecNormalize's observation scaling, but inside the policy: its snapshots, weight average,
    checkpoints and saved weights then carry the statistics, and the rollouts (and the cost)
    keep the raw observations. The statistics start from the demos and take in every rollout
    (:func:`update_obs_norm`).
    """

    def __init__(self, observation_space: spaces.Space) -> None:
        super().__init__(observation_space, get_flattened_obs_dim(observation_space))
        self.norm = RunningNorm(self.features_dim)

    def forward(self, observations: Tensor) -> Tensor:
        """Standardised, flattened observations ``[B, obs_dim]``."""
        return self.norm(observations.flatten(1))


def update_obs_norm(policy: torch.nn.Module, obs: np.ndarray) -> bool:
    """Fold observations ``[..., obs_dim]`` into every :class:`ObsNormExtractor` of ``policy``;
    False when it has none."""
    norms = [m.norm for m in policy.modules() if isinstance(m, ObsNormExtractor)]
    for norm in norms:
        norm.update(torch.as_tensor(np.asarray(obs)))
    return bool(norms)


def is_squashed_ppo(model: BaseAlgorithm) -> bool:
    """True for a PPO whose policy is :class:`SquashedActorCriticPolicy`."""
    return isinstance(model.policy, SquashedActorCriticPolicy)


def action_log_scale(space: spaces.Space) -> float:
    """Σ log((high − low)/2): log-Jacobian from SB3's squashed units [-1, 1] to env units."""
    box = _box(space)
    return float(np.log((box.high - box.low) / 2.0).sum())


def action_log_prob(model: BaseAlgorithm, obs: Tensor, actions: Tensor) -> Tensor:
    """log π(actions | obs) of env-space actions under an SB3 SAC or PPO policy, ``[B]``.

    For SAC this is the density in env units: the squashed-Gaussian density of the rescaled
    action minus Σ log((high - low)/2), the rescaling Jacobian. Gradients flow to the policy.
    """
    policy = model.policy
    if isinstance(policy, SACPolicy):
        mean, log_std, _ = policy.actor.get_action_dist_params(obs)
        squashed = scale_actions(actions, model.action_space)
        return squashed_gaussian_log_prob(mean, log_std, squashed) - action_log_scale(
            model.action_space
        )
    if isinstance(policy, SquashedActorCriticPolicy):
        dist = policy.get_distribution(obs).distribution
        assert isinstance(dist, Normal)  # the Gaussian before the tanh
        log_std = torch.log(dist.stddev)
        squashed = scale_actions(actions, model.action_space)
        log_prob = squashed_gaussian_log_prob(dist.mean, log_std, squashed)
        return log_prob - action_log_scale(model.action_space)
    if isinstance(policy, ActorCriticPolicy):
        if policy.squash_output:
            raise NotImplementedError("PPO with squash_output=True (gSDE) is not supported")
        _, log_prob, _ = policy.evaluate_actions(obs, actions)
        return log_prob
    raise TypeError(f"unsupported SB3 policy {type(policy).__name__}; use SAC or PPO")
