"""Everything that touches SB3 internals: exact log π of env-space actions for SAC and PPO policies.

IRL needs log π(u|x) of *given* actions (demos, replayed rollouts), in the units the environment
sees. SB3's SAC samples u ~ N(µ, σ²), squashes a = tanh(u) and rescales a to the action bounds;
its PPO samples a Gaussian directly in env units (clipped by the env, not squashed).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.sac.policies import SACPolicy
from torch import Tensor
from torch.distributions import Normal

__all__ = ["action_log_prob", "scale_actions", "squashed_gaussian_log_prob"]


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


def action_log_prob(model: BaseAlgorithm, obs: Tensor, actions: Tensor) -> Tensor:
    """log π(actions | obs) of env-space actions under an SB3 SAC or PPO policy, ``[B]``.

    For SAC this is the density in env units: the squashed-Gaussian density of the rescaled
    action minus Σ log((high - low)/2), the rescaling Jacobian. Gradients flow to the policy.
    """
    policy = model.policy
    if isinstance(policy, SACPolicy):
        box = _box(model.action_space)
        mean, log_std, _ = policy.actor.get_action_dist_params(obs)
        log_scale = float(np.log((box.high - box.low) / 2.0).sum())
        return squashed_gaussian_log_prob(mean, log_std, scale_actions(actions, box)) - log_scale
    if isinstance(policy, ActorCriticPolicy):
        if policy.squash_output:
            raise NotImplementedError("PPO with squash_output=True (gSDE) is not supported")
        _, log_prob, _ = policy.evaluate_actions(obs, actions)
        return log_prob
    raise TypeError(f"unsupported SB3 policy {type(policy).__name__}; use SAC or PPO")
