"""The cost's learned torque term (``cost.torque_term``): c(x, u) = f(x[, u]) + w_u‖u‖²."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irl.buffer import EpisodeStore
from irl.discriminators import Discriminator
from irl.nn import TORQUE_WEIGHT_INIT, MLPCost
from irl.types import Trajectory


def test_the_torque_term_adds_its_weight_times_the_squared_action_norm() -> None:
    torch.manual_seed(0)
    cost = MLPCost(3, 2, (8,), state_only=True, torque_term=True).double()
    obs, acts = torch.randn(5, 3).double(), torch.randn(5, 2).double()
    with torch.no_grad():
        gap = cost(obs, acts) - cost(obs, torch.zeros_like(acts))
        assert float(cost.torque_weight()) == pytest.approx(TORQUE_WEIGHT_INIT, rel=1e-6)
        assert torch.allclose(gap, cost.torque_weight() * acts.square().sum(-1), atol=1e-12)
        # state-only plus the term: the action counts through ‖u‖² alone
        assert torch.allclose(cost(obs, -acts.flip(-1)), cost(obs, acts), atol=1e-12)
    plain = MLPCost(3, 2, (8,), state_only=True).double()
    assert float(plain.torque_weight()) == 0.0
    assert "torque_rho" not in dict(plain.named_parameters())


def test_a_torque_term_needs_actions() -> None:
    with pytest.raises(ValueError, match="torque term needs actions"):
        MLPCost(3, 0, torque_term=True)


@pytest.mark.parametrize("init", [0.01, 0.5, 3.0])
def test_the_torque_terms_initial_weight_is_the_one_asked_for(init: float) -> None:
    cost = MLPCost(3, 2, (8,), state_only=True, torque_term=True, torque_init=init).double()
    assert float(cost.torque_weight()) == pytest.approx(init, rel=1e-6)
    with pytest.raises(ValueError, match="initial weight must be > 0, got -1"):
        MLPCost(3, 2, torque_term=True, torque_init=-1.0)


def _store(demo_scale: float, sample_scale: float) -> EpisodeStore:
    """Demos and samples over the same states; only the size of their actions differs."""
    rng = np.random.default_rng(0)
    t = 40
    store = EpisodeStore(max_samplers=1, horizon=t, absorbing=False)

    def traj(scale: float) -> Trajectory:
        return Trajectory(
            obs=rng.normal(size=(t + 1, 3)).astype(np.float32),
            acts=(scale * rng.normal(size=(t, 2))).astype(np.float32),
            rews=np.zeros(t, np.float32),
            terminated=np.zeros(t, bool),
            truncated=np.r_[np.zeros(t - 1, bool), True],
        )

    store.add_demos([traj(demo_scale) for _ in range(4)])

    def score(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        return np.zeros(len(acts))

    owner = store.add_sampler(score)
    rollouts = []
    for _ in range(4):
        tr = traj(sample_scale)
        rollouts.append((tr.obs, tr.acts, False, 0.0))
    store.add_rollouts(rollouts, owner, {owner: score})
    return store


def _learned_torque_weight(store: EpisodeStore, rng: np.random.Generator) -> float:
    """w_u after 400 GAN-GCL cost steps of a fresh state-only cost with the torque term."""
    torch.manual_seed(0)
    disc = Discriminator(
        "gan_gcl",
        3,
        2,
        hidden=(16,),
        gamma=1.0,
        absorbing=False,
        normalize_inputs=False,
        state_only=True,
        torque_term=True,
    )
    opt = torch.optim.Adam(disc.param_groups(1e-2, 1e-2))
    for _ in range(400):
        loss, stats = disc.loss(store.sample(16, 16, 8, rng))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return stats["disc/torque_weight"]


def test_gan_gcl_learns_a_positive_torque_weight_when_the_samples_push_harder() -> None:
    rng = np.random.default_rng(1)
    pushing = _store(demo_scale=0.1, sample_scale=1.0)
    assert _learned_torque_weight(pushing, rng) > 3 * TORQUE_WEIGHT_INIT
    # ... and none when demos and samples act alike: the weight has nothing to explain
    alike = _store(demo_scale=1.0, sample_scale=1.0)
    assert _learned_torque_weight(alike, rng) < 2 * TORQUE_WEIGHT_INIT
