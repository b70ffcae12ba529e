"""The SB3 adapter's log π against SB3's own numbers, and as a normalised density in env units."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC

from irl.sb3_adapter import (
    SquashedActorCriticPolicy,
    action_log_prob,
    scale_actions,
    squashed_gaussian_log_prob,
)


def _sac(seed: int = 0) -> SAC:
    model = SAC("MlpPolicy", gym.make("Pendulum-v1"), seed=seed, device="cpu")  # bounds ±2
    with torch.no_grad():  # a non-trivial policy: state-dependent mean, moderate spread
        model.policy.actor.mu.weight.normal_(0.0, 0.5)
        model.policy.actor.log_std.bias.fill_(-1.0)
    return model


def _obs(n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    theta = 2 * math.pi * torch.rand(n, generator=g)
    return torch.stack([theta.cos(), theta.sin(), 8 * torch.rand(n, generator=g) - 4], 1)


def test_sac_log_prob_matches_sb3_action_log_prob() -> None:
    model = _sac()
    obs = _obs(512)
    with torch.no_grad():
        squashed, log_p_sb3 = model.policy.actor.action_log_prob(obs)
        env_actions = torch.as_tensor(model.policy.unscale_action(squashed.numpy()))
        ours = action_log_prob(model, obs, env_actions)
    log_scale = math.log(2.0)  # Pendulum: (high - low) / 2 = 2
    typical = (
        squashed.abs().max(1).values < 0.99
    )  # where SB3's +1e-6 in log(1 - a² + 1e-6) is negligible
    assert int(typical.sum()) > 400
    torch.testing.assert_close(ours[typical] + log_scale, log_p_sb3[typical], rtol=0, atol=2e-4)


def test_sac_env_space_density_integrates_to_one() -> None:
    model = _sac()
    obs = _obs(3)
    grid = torch.linspace(-2, 2, 200_001, dtype=torch.float64)[1:-1]
    da = float(grid[1] - grid[0])
    for i in range(3):
        with torch.no_grad():
            log_p = action_log_prob(
                model, obs[i : i + 1].expand(grid.numel(), -1), grid[:, None].float()
            )
        assert abs(float(torch.exp(log_p.double()).sum()) * da - 1.0) < 2e-3


def test_squashed_log_prob_exact_near_saturation_and_finite_at_bounds() -> None:
    mean, log_std = (
        torch.tensor([[3.0]], dtype=torch.float64),
        torch.tensor([[0.0]], dtype=torch.float64),
    )
    u = torch.tensor([[4.5]], dtype=torch.float64)
    a = torch.tanh(u)  # 1 - a² ≈ 4.9e-4
    exact = float(torch.distributions.Normal(3.0, 1.0).log_prob(u) - torch.log(1 - a**2))
    assert abs(float(squashed_gaussian_log_prob(mean, log_std, a)) - exact) < 1e-8
    at_bound = squashed_gaussian_log_prob(mean.float(), log_std.float(), torch.ones(1, 1))
    assert bool(torch.isfinite(at_bound).all())


def test_ppo_log_prob_matches_sb3_evaluate_actions() -> None:
    model = PPO("MlpPolicy", gym.make("Pendulum-v1"), seed=0, device="cpu")
    obs = _obs(256)
    actions = torch.as_tensor(
        np.random.default_rng(0).uniform(-2, 2, size=(256, 1)), dtype=torch.float32
    )
    with torch.no_grad():
        _, ref, _ = model.policy.evaluate_actions(obs, actions)
        ours = action_log_prob(model, obs, actions)
    torch.testing.assert_close(ours, ref)


def test_scale_actions_maps_bounds_and_rejects_unbounded() -> None:
    box = gym.spaces.Box(low=np.array([-2.0, 0.0]), high=np.array([2.0, 1.0]), dtype=np.float64)
    got = scale_actions(torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, 0.5]]), box)
    torch.testing.assert_close(got, torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="finite action bounds"):
        scale_actions(torch.zeros(1, 1), gym.spaces.Box(low=-np.inf, high=np.inf, shape=(1,)))


def _squashed_ppo(log_std: float = -0.5) -> PPO:
    model = PPO(SquashedActorCriticPolicy, gym.make("Pendulum-v1"), seed=0, device="cpu")
    with torch.no_grad():  # a state-dependent mean that reaches into the tails of the tanh
        model.policy.action_net.weight.normal_(0.0, 0.5)
        model.policy.log_std.fill_(log_std)
    return model


def test_squashed_ppo_log_prob_matches_sb3_and_acts_inside_the_bounds() -> None:
    model = _squashed_ppo()
    obs = _obs(512)
    with torch.no_grad():
        squashed, _, log_p_sb3 = model.policy(obs)  # what PPO's rollout stores, [-1, 1] units
        env_actions = torch.as_tensor(model.policy.unscale_action(squashed.numpy()))
        ours = action_log_prob(model, obs, env_actions)
    assert float(env_actions.abs().max()) <= 2.0
    assert float(env_actions.abs().max()) > 1.0  # rescaled to ±2, not left in [-1, 1]
    typical = squashed.abs().max(1).values < 0.99  # SB3's log(1 - a² + 1e-6) is exact enough
    assert int(typical.sum()) > 300
    log_scale = math.log(2.0)
    torch.testing.assert_close(ours[typical] + log_scale, log_p_sb3[typical], rtol=0, atol=2e-4)
    predicted, _ = model.predict(obs.numpy(), deterministic=True)  # env units: 2·tanh(mean)
    with torch.no_grad():
        mean = model.policy.get_distribution(obs).distribution.mean
    np.testing.assert_allclose(predicted, 2.0 * np.tanh(mean.numpy()), rtol=0, atol=1e-5)


def test_squashed_ppo_density_integrates_to_one_and_entropy_stays_bounded() -> None:
    obs = _obs(2)
    grid = torch.linspace(-2, 2, 200_001, dtype=torch.float64)[1:-1]
    da = float(grid[1] - grid[0])
    for log_std in (-0.5, 0.5):  # (wider: the mass piles up within float eps of the bounds)
        model = _squashed_ppo(log_std)
        with torch.no_grad():
            log_p = action_log_prob(model, obs[:1].expand(grid.numel(), -1), grid[:, None].float())
        assert abs(float(torch.exp(log_p.double()).sum()) * da - 1.0) < 2e-3
    # A wide σ: the Gaussian's entropy grows as log σ, the squashed one's stays below log 4,
    # the entropy of the uniform distribution on [-2, 2]; SB3's plain PPO policy has no bound.
    wide = _squashed_ppo(3.0)
    with torch.no_grad():
        squashed, _, _ = wide.policy(obs[:1].expand(20_000, -1))
        env_actions = torch.as_tensor(wide.policy.unscale_action(squashed.numpy()))
        entropy = -float(action_log_prob(wide, obs[:1].expand(20_000, -1), env_actions).mean())
    assert entropy < math.log(4.0)
    plain = PPO("MlpPolicy", gym.make("Pendulum-v1"), seed=0, device="cpu")
    with torch.no_grad():
        plain.policy.log_std.fill_(3.0)
        dist = plain.policy.get_distribution(obs[:1]).distribution
    assert float(dist.entropy().sum()) > math.log(4.0) + 2.0
