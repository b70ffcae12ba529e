"""Per-algorithm pieces of irl.discriminators: GAIL's absorbing state (DAC) in loss and reward."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from irl import objectives as obj
from irl.buffer import EpisodeStore, WindowBatch
from irl.discriminators import Discriminator
from irl.types import Trajectory


def _store() -> EpisodeStore:
    rng = np.random.default_rng(0)
    store = EpisodeStore(max_samplers=1, horizon=50, absorbing=True)
    t = 50
    store.add_demos(
        [
            Trajectory(
                obs=rng.normal(size=(t + 1, 3)).astype(np.float32),
                acts=rng.normal(size=(t, 2)).astype(np.float32),
                rews=np.zeros(t, np.float32),
                terminated=np.zeros(t, bool),
                truncated=np.r_[np.zeros(t - 1, bool), True],
            )
        ]
    )

    def score(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        return np.zeros(len(acts))

    store.add_sampler(score)
    rollouts = [
        (
            rng.normal(size=(11, 3)).astype(np.float32),
            rng.normal(size=(10, 2)).astype(np.float32),
            True,
            0.0,
        )
    ]
    store.add_rollouts(rollouts, 0, {0: score})  # 10 real + 40 absorbing visits: f = 0.8
    return store


def test_gail_loss_classifies_the_absorbing_state_with_the_samples_share() -> None:
    torch.manual_seed(0)
    disc = Discriminator("gail", 3, 2, gamma=1.0, absorbing=True, normalize_inputs=False)
    batch = _store().sample(8, 8, 1, np.random.default_rng(1))
    assert batch.absorbing_frac == (0.0, pytest.approx(0.8))
    loss, stats = disc.loss(batch)
    logits = -disc.step_cost(batch.obs[:, 0], batch.acts[:, 0]).double()
    lab = -disc.absorbing_cost().double()
    expected = obj.absorbing_transition_discriminator_loss(logits, batch.is_demo, lab, 0.0, 0.8)
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), abs=1e-12)
    log_d_abs = float(-F.softplus(-lab.detach()))
    assert stats["disc/absorbing_log_d"] == pytest.approx(log_d_abs, abs=1e-9)
    loss.backward()  # the absorbing input's output gets a gradient: it is learned
    plain = Discriminator("gail", 3, 2, gamma=1.0, absorbing=False, normalize_inputs=False)
    plain_loss, _ = plain.loss(batch)
    logits = -plain.step_cost(batch.obs[:, 0], batch.acts[:, 0]).double()
    ref = obj.transition_discriminator_loss(logits, batch.is_demo)
    assert float(plain_loss.detach()) == pytest.approx(float(ref.detach()), abs=1e-12)


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_gail_reward_prices_a_termination_with_the_absorbing_log_d(gamma: float) -> None:
    torch.manual_seed(0)
    disc = Discriminator("gail", 3, 2, gamma=gamma, absorbing=True, normalize_inputs=False)
    obs, acts = torch.randn(3, 3), torch.randn(3, 2)
    terminated = torch.tensor([False, True, True])
    steps_left = torch.tensor([0.0, 40.0, 0.0])
    r = disc.reward(obs, acts, obs, terminated, steps_left)
    with torch.no_grad():
        log_d = -F.softplus(disc.step_cost(obs, acts).double())  # log D, D = σ(−c)
        log_d_abs = float(-F.softplus(disc.absorbing_cost().double()))
    k = np.arange(40)
    tail = gamma * log_d_abs * float((gamma**k).sum())
    expected = log_d + torch.tensor([0.0, tail, 0.0], dtype=torch.float64)
    torch.testing.assert_close(r, expected, rtol=0, atol=1e-9)
    assert float(r[1]) < float(log_d[1])  # dying early costs


def _double(batch: WindowBatch) -> WindowBatch:
    names = ("obs", "acts", "start_obs", "end_obs")
    return dataclasses.replace(batch, **{n: getattr(batch, n).double() for n in names})


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_window_energy_is_the_discounted_masked_cost_sum_plus_absorbing_and_potential(
    gamma: float,
) -> None:
    """E = Σ_t γ^t c_t + γ^n c_abs Σ_{i<n_abs} γ^i + γ^L c_abs Σ_{i<tail} γ^i + h(s_0) − γ^n h_end,
    written out step by step (n real steps, L the window length, h_end = 0 after a termination)."""
    torch.manual_seed(0)
    disc = Discriminator("airl", 3, 2, gamma=gamma, absorbing=True, normalize_inputs=False)
    disc = disc.double()
    length = 12  # longer than the 10-step terminated rollout: padding, absorbing steps, tail
    batch = _double(_store().sample(4, 4, length, np.random.default_rng(5)))
    assert bool((~batch.mask).any()) and bool((batch.absorbing_tail > 0).any())
    energy, steps = disc.energy(batch)
    with torch.no_grad():
        c_abs = float(disc.absorbing_cost())
        for i in range(len(energy)):
            n = int(batch.mask[i].sum())
            want = sum(
                gamma**t * float(disc.step_cost(batch.obs[i, t], batch.acts[i, t]))
                for t in range(n)
            )
            want += gamma**n * c_abs * sum(gamma**k for k in range(int(batch.n_absorbing[i])))
            tail = int(batch.absorbing_tail[i])
            want += gamma**length * c_abs * sum(gamma**k for k in range(tail))
            want += float(disc.potential(batch.start_obs[i]))
            if bool(batch.end_alive[i]):
                want -= gamma**n * float(disc.potential(batch.end_obs[i]))
            assert float(energy[i]) == pytest.approx(want, rel=1e-10, abs=1e-10)
            assert bool((steps[i, n:] == 0).all())


def test_airl_reward_is_the_shaped_f_without_a_potential_after_termination() -> None:
    """r = −c(s, a) + γ (1 − done) h(s') − h(s): a terminal step has no value after it."""
    torch.manual_seed(0)
    disc = Discriminator("airl", 3, 2, gamma=0.9, absorbing=False, normalize_inputs=False)
    disc = disc.double()
    obs, acts, nxt = torch.randn(2, 3).double(), torch.randn(2, 2).double(), torch.randn(2, 3)
    terminated = torch.tensor([False, True])
    r = disc.reward(obs, acts, nxt.double(), terminated, torch.zeros(2).double())
    with torch.no_grad():
        c, h, h_next = disc.step_cost(obs, acts), disc.potential(obs), disc.potential(nxt.double())
    expected = torch.stack([-c[0] + 0.9 * h_next[0] - h[0], -c[1] - h[1]])
    torch.testing.assert_close(r, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("algo", ["gan_gcl", "gail"])
def test_gradient_penalty_of_a_linear_cost_is_its_squared_weight_norm(algo: str) -> None:
    """For c = w·[x, flag, u] + b the penalty is ‖w_x‖² + ‖w_u‖² wherever it is evaluated."""
    torch.manual_seed(0)
    kw: dict[str, Any] = {"hidden": (), "gamma": 1.0, "absorbing": True, "normalize_inputs": True}
    disc = Discriminator(algo, 3, 2, grad_penalty=10.0, **kw).double()
    plain = Discriminator(algo, 3, 2, **kw).double()
    plain.load_state_dict(disc.state_dict())
    window = 1 if algo == "gail" else 5
    batch = _double(_store().sample(8, 8, window, np.random.default_rng(2)))
    first = disc.cost.net[0]
    assert isinstance(first, torch.nn.Linear)
    w = first.weight.detach().double()[0]  # inputs: 3 obs, 1 absorbing flag, 2 acts
    expected = float(w[:3].square().sum() + w[4:].square().sum())
    assert float(disc.gradient_penalty(batch).detach()) == pytest.approx(expected, rel=1e-10)
    loss, stats = disc.loss(batch)
    plain_loss, _ = plain.loss(batch)
    penalised = float(plain_loss.detach()) + 10.0 * expected
    assert float(loss.detach()) == pytest.approx(penalised, rel=1e-10)
    assert stats["disc/grad_penalty"] == pytest.approx(expected, rel=1e-10)
    loss.backward()  # the penalty is differentiable in θ (create_graph)
    assert disc.cost.net[0].weight.grad is not None


def test_gradient_penalty_is_zero_for_a_constant_cost_and_positive_otherwise() -> None:
    """A flat cost has no gradient anywhere; a trained-looking random MLP has some."""
    torch.manual_seed(0)
    disc = Discriminator("gan_gcl", 3, 2, gamma=1.0, absorbing=True).double()
    batch = _double(_store().sample(8, 8, 5, np.random.default_rng(3)))
    assert float(disc.gradient_penalty(batch).detach()) > 0.0
    with torch.no_grad():
        for p in disc.cost.parameters():
            p.zero_()
    assert float(disc.gradient_penalty(batch).detach()) == 0.0


def test_absorbing_floor_bounds_the_absorbing_cost_in_energy_and_reward() -> None:
    """With a floor set, c_abs = max(learned, floor) in the loss and in the sampler's reward."""
    torch.manual_seed(0)
    kw: dict[str, Any] = {"gamma": 1.0, "absorbing": True, "normalize_inputs": False}
    disc = Discriminator("gan_gcl", 3, 2, absorbing_floor=True, **kw).double()
    plain = Discriminator("gan_gcl", 3, 2, **kw).double()
    plain.load_state_dict(disc.state_dict(), strict=False)
    learned = float(plain.absorbing_cost().detach())
    assert float(disc.absorbing_cost().detach()) == learned  # no floor set yet
    batch = _double(_store().sample(8, 8, 5, np.random.default_rng(4)))
    assert float(batch.absorbing_tail.sum() + batch.n_absorbing.sum()) > 0
    disc.set_absorbing_floor(learned - 1.0)  # below the learned value: no effect
    torch.testing.assert_close(disc.energy(batch)[0], plain.energy(batch)[0])
    floor = learned + 2.5
    disc.set_absorbing_floor(floor)
    assert float(disc.absorbing_cost().detach()) == pytest.approx(floor, abs=1e-12)
    n_abs = batch.n_absorbing.double() + batch.absorbing_tail.double()
    expected = plain.energy(batch)[0] + 2.5 * n_abs
    torch.testing.assert_close(disc.energy(batch)[0], expected, rtol=0, atol=1e-9)
    loss, _ = disc.loss(batch)
    disc.set_absorbing_floor(floor + 1.0)  # overwritten after use: backward still works
    loss.backward()
    obs, acts = torch.randn(2, 3).double(), torch.randn(2, 2).double()
    terminated, left = torch.tensor([True, True]), torch.tensor([0.0, 30.0])
    r_floor = disc.reward(obs, acts, obs, terminated, left, shaping=False)
    r_plain = plain.reward(obs, acts, obs, terminated, left, shaping=False)
    torch.testing.assert_close(r_floor - r_plain, torch.tensor([0.0, -30.0 * 3.5]).double())


def test_absorbing_floor_is_refused_for_gail_and_needs_the_option() -> None:
    with pytest.raises(ValueError, match="not gail"):
        Discriminator("gail", 3, 2, absorbing_floor=True)
    with pytest.raises(RuntimeError, match="without absorbing_floor"):
        Discriminator("gan_gcl", 3, 2).set_absorbing_floor(1.0)


def test_pairwise_rank_loss_is_the_mean_logistic_loss_over_demo_sample_pairs() -> None:
    """softplus(E_d − E_s) averaged over every (demo, sample) pair, written out; log 2 when the
    energies tie; no gradient to a cost that already ranks every demo far below every sample."""
    energy = torch.tensor([1.0, 3.0, 2.0, 5.0, 0.5], dtype=torch.float64, requires_grad=True)
    is_demo = torch.tensor([True, True, False, False, False])
    want = np.mean([np.log1p(np.exp(d - s)) for d in (1.0, 3.0) for s in (2.0, 5.0, 0.5)])
    assert float(obj.pairwise_rank_loss(energy, is_demo).detach()) == pytest.approx(want, rel=1e-12)
    tie = torch.zeros(4, dtype=torch.float64)
    assert float(obj.pairwise_rank_loss(tie, is_demo[1:])) == pytest.approx(np.log(2.0))
    far = torch.tensor([-900.0, -900.0, 900.0], dtype=torch.float64, requires_grad=True)
    obj.pairwise_rank_loss(far, torch.tensor([True, True, False])).backward()
    assert far.grad is not None and float(far.grad.abs().max()) == 0.0
    assert float(obj.pairwise_rank_loss(energy, torch.ones(5, dtype=torch.bool))) == 0.0


def test_rank_loss_moves_the_cost_when_log_q_alone_saturates_gan_gcls_d() -> None:
    """A batch whose samples' log q sits 10^4 nats above the demos' saturates D: GAN-GCL's loss
    then gives the cost (almost) no gradient; with experimental.rank_loss the cost still gets one,
    towards ranking the demo windows below the sample windows."""
    torch.manual_seed(0)
    batch = _double(_store().sample(4, 4, 12, np.random.default_rng(5)))
    batch = dataclasses.replace(
        batch, log_q=torch.where(batch.is_demo, -5e3, 5e3).to(batch.log_q.dtype)
    )
    norms = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        disc = Discriminator("gan_gcl", 3, 2, normalize_inputs=False, rank_loss=weight).double()
        loss, stats = disc.loss(batch)
        grads = torch.autograd.grad(loss, list(disc.cost.parameters()))
        norms[weight] = float(sum(g.square().sum() for g in grads).sqrt())
        assert ("disc/rank_loss" in stats) is (weight > 0)
    assert norms[0.0] < 1e-12 < 1e-3 < norms[1.0]
