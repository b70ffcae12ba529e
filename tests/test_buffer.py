"""The rollout store: fused window densities, eviction, absorbing padding and persistence."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from irl.buffer import EpisodeStore
from irl.coverage import random_episodes, uniform_log_prob
from irl.types import Trajectory


def gaussian_scorer(mean: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """log N(a; mean·Σobs, 1) per step: a different, exactly known density per snapshot."""

    def score(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        obs, acts = obs.astype(np.float64), acts.astype(np.float64)
        mu = mean * obs.sum(1, keepdims=True)
        return (-0.5 * (acts - mu) ** 2 - 0.5 * math.log(2 * math.pi)).sum(1)

    return score


def episode(
    rng: np.random.Generator, t: int, terminated: bool = False
) -> tuple[np.ndarray, np.ndarray, bool, float]:
    return (
        rng.normal(size=(t + 1, 3)).astype(np.float32),
        rng.normal(size=(t, 2)).astype(np.float32),
        terminated,
        0.0,
    )


def demo(rng: np.random.Generator, t: int) -> Trajectory:
    obs, acts, _, _ = episode(rng, t)
    return Trajectory(
        obs=obs,
        acts=acts,
        rews=np.zeros(t, np.float32),
        terminated=np.zeros(t, bool),
        truncated=np.r_[np.zeros(t - 1, bool), True],
    )


def test_fused_window_density_is_the_balance_heuristic_mixture() -> None:
    """log q of a window = log Σ_k (n_k/n) Π_t π_k(u_t|x_t), n_k = window starts of sampler k."""
    rng = np.random.default_rng(0)
    store = EpisodeStore(max_samplers=3, fusion="fused", horizon=50)
    store.add_demos([demo(rng, 40)])
    scorers = {}
    lengths = {0: [30, 12], 1: [25], 2: [40, 8, 8]}
    for k, mean in enumerate((0.0, 0.5, -0.3)):
        scorers[k] = gaussian_scorer(mean)
        assert store.add_sampler(scorers[k]) == k
        store.add_rollouts([episode(rng, t) for t in lengths[k]], k, scorers)
    window = 10
    counts = {k: sum(max(t - window + 1, 1) for t in ts) for k, ts in lengths.items()}
    total = sum(counts.values())
    batch = store.sample(4, 16, window, np.random.default_rng(1))
    for i in range(20):
        m = batch.mask[i].numpy()
        obs, acts = batch.obs[i].numpy()[m], batch.acts[i].numpy()[m]
        terms = [math.log(counts[k] / total) + scorers[k](obs, acts).sum() for k in counts]
        want = np.logaddexp.reduce(terms)
        assert batch.log_q[i].item() == pytest.approx(want, rel=1e-9, abs=1e-9)
    assert batch.is_demo.sum().item() == 4


def test_own_and_current_fusion_score_with_one_snapshot() -> None:
    """``own``: the generating snapshot; ``current``: the newest (demos: the newest for both)."""
    rng = np.random.default_rng(2)
    for fusion in ("own", "current"):
        store = EpisodeStore(max_samplers=2, fusion=fusion, horizon=50)
        store.add_demos([demo(rng, 20)])
        scorers = {0: gaussian_scorer(0.2), 1: gaussian_scorer(-0.4)}
        for k in (0, 1):
            store.add_sampler(scorers[k])
            store.add_rollouts([episode(rng, 15)], k, scorers)
        batch = store.sample(2, 8, 5, np.random.default_rng(3))
        for i in range(10):
            m = batch.mask[i].numpy()
            obs, acts = batch.obs[i].numpy()[m], batch.acts[i].numpy()[m]
            own = 1 if (fusion == "current" or batch.is_demo[i]) else None
            cands = (
                [scorers[own](obs, acts).sum()]
                if own is not None
                else [scorers[k](obs, acts).sum() for k in (0, 1)]
            )
            assert any(batch.log_q[i].item() == pytest.approx(c, abs=1e-9) for c in cands)


def test_eviction_drops_the_oldest_snapshot_and_its_rollouts() -> None:
    """Beyond max_samplers the oldest snapshot's rollouts leave and its column is reused."""
    rng = np.random.default_rng(4)
    store = EpisodeStore(max_samplers=2, horizon=50)
    store.add_demos([demo(rng, 10)])
    scorers = {}
    for k in range(3):
        scorers[k] = gaussian_scorer(0.1 * k)
        store.add_sampler(scorers[k])
        store.add_rollouts([episode(rng, 6 + 3 * k)], k, {j: scorers[j] for j in store.slot_of})
    assert store.live_samplers == [1, 2]
    assert {e.owner for e in store.samples} == {1, 2}
    batch = store.sample(1, 4, 3, np.random.default_rng(0))
    assert np.isfinite(batch.log_q.numpy()).all()
    # The evicted snapshot leaves the mixture: q = (7 q_1 + 10 q_2) / 17 (window starts).
    weights = {1: 7 / 17, 2: 10 / 17}
    for i in range(5):
        m = batch.mask[i].numpy()
        obs, acts = batch.obs[i].numpy()[m], batch.acts[i].numpy()[m]
        terms = [math.log(w) + scorers[k](obs, acts).sum() for k, w in weights.items()]
        want = np.logaddexp.reduce(terms)
        assert batch.log_q[i].item() == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_window_batch_is_frozen_and_has_no_reset_flag() -> None:
    """Batches are values: a changed copy comes from dataclasses.replace."""
    rng = np.random.default_rng(8)
    store = EpisodeStore(max_samplers=1, horizon=50)
    store.add_demos([demo(rng, 10)])
    s = gaussian_scorer(0.0)
    store.add_sampler(s)
    store.add_rollouts([episode(rng, 6)], 0, {0: s})
    batch = store.sample(2, 2, 3, np.random.default_rng(0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch.obs = batch.obs.double()  # type: ignore[misc]
    double = dataclasses.replace(batch, obs=batch.obs.double())
    assert double.obs.dtype == torch.float64 and batch.obs.dtype == torch.float32
    assert "at_reset" not in {f.name for f in dataclasses.fields(batch)}


def test_terminated_windows_are_padded_with_absorbing_steps_to_the_horizon() -> None:
    """A window running past a termination gets the missing steps, then the tail to T."""
    rng = np.random.default_rng(5)
    store = EpisodeStore(max_samplers=1, horizon=100, absorbing=True)
    store.add_demos([demo(rng, 30)])
    s = gaussian_scorer(0.0)
    store.add_sampler(s)
    store.add_rollouts([episode(rng, 4, terminated=True)], 0, {0: s})
    batch = store.sample(1, 1, 10, np.random.default_rng(0))
    assert batch.mask[1].sum().item() == 4
    assert batch.n_absorbing[1].item() == 6  # window of 10, 4 real steps
    assert batch.absorbing_tail[1].item() == 100 - 4 - 6
    assert not batch.end_alive[1].item()
    assert batch.end_alive[0].item()  # the demo was truncated, not terminated


def test_state_arrays_round_trip() -> None:
    """What a checkpoint saves restores the same windows and densities."""
    rng = np.random.default_rng(6)
    store = EpisodeStore(max_samplers=2, horizon=50)
    store.add_demos([demo(rng, 12), demo(rng, 9)])
    store.add_demos([demo(rng, 11)], heldout=True)
    s = {0: gaussian_scorer(0.3)}
    store.add_sampler(s[0])
    store.add_rollouts([episode(rng, 7), episode(rng, 5, terminated=True)], 0, s)
    copy = EpisodeStore(max_samplers=2, horizon=50)
    copy.load_state_arrays(store.state_arrays())
    a = store.sample(3, 3, 4, np.random.default_rng(9))
    b = copy.sample(3, 3, 4, np.random.default_rng(9))
    for name in ("obs", "acts", "mask", "log_q", "n_absorbing", "absorbing_tail"):
        assert np.array_equal(getattr(a, name).numpy(), getattr(b, name).numpy()), name
    h1 = store.sample_heldout(2, 2, 4, np.random.default_rng(1), 0)
    h2 = copy.sample_heldout(2, 2, 4, np.random.default_rng(1), 0)
    assert np.array_equal(h1.log_q.numpy(), h2.log_q.numpy())


def test_unregistered_or_unscored_sampler_is_refused() -> None:
    """Rollouts of an unknown snapshot, or without a scorer for a live one, raise clearly."""
    rng = np.random.default_rng(7)
    store = EpisodeStore(max_samplers=2, horizon=50)
    with pytest.raises(ValueError, match="not registered"):
        store.add_rollouts([episode(rng, 3)], 0, {})
    store.add_sampler(gaussian_scorer(0.0))
    with pytest.raises(ValueError, match="no log-prob function"):
        store.add_rollouts([episode(rng, 3)], 0, {})


def test_absorbing_fraction_counts_visits_up_to_the_horizon() -> None:
    """Terminated episodes stay absorbing until the horizon; batches carry the visit shares."""
    rng = np.random.default_rng(6)
    store = EpisodeStore(max_samplers=1, horizon=100, absorbing=True)
    store.add_demos([demo(rng, 100)])
    s = gaussian_scorer(0.0)
    store.add_sampler(s)
    eps = [episode(rng, 20, terminated=True), episode(rng, 40), episode(rng, 60, terminated=True)]
    store.add_rollouts(eps, 0, {0: s})
    # real 20 + 40 + 60 = 120; absorbing 80 + 40 = 120 (the truncated episode has none)
    assert store.absorbing_fraction(store.samples) == pytest.approx(0.5)
    batch = store.sample(2, 2, 1, np.random.default_rng(0))
    assert batch.absorbing_frac == (0.0, pytest.approx(0.5))
    off = EpisodeStore(max_samplers=1, horizon=100, absorbing=False)
    off.add_sampler(s)
    off.add_rollouts(eps, 0, {0: s})
    assert off.absorbing_fraction(off.samples) == 0.0


def test_a_fixed_sampler_is_fused_and_never_evicted() -> None:
    """A fixed sampler's rollouts stay through evictions and weigh in the balance heuristic by
    their window starts like a snapshot's; its id survives a state round trip."""
    rng = np.random.default_rng(5)
    store = EpisodeStore(max_samplers=2, horizon=50, fixed_samplers=1)
    store.add_demos([demo(rng, 10)])
    scorers = {0: gaussian_scorer(0.7)}
    assert store.add_sampler(scorers[0], fixed=True) == 0
    store.add_rollouts([episode(rng, 12)], 0, scorers)
    with pytest.raises(ValueError, match="at most 1 fixed"):
        store.add_sampler(scorers[0], fixed=True)
    for k in (1, 2, 3):
        scorers[k] = gaussian_scorer(0.1 * k)
        store.add_sampler(scorers[k])
        store.add_rollouts([episode(rng, 5 + k)], k, {j: scorers[j] for j in store.slot_of})
    assert store.live_samplers == [0, 2, 3] and store.fixed == {0}
    assert {e.owner for e in store.samples} == {0, 2, 3}
    # Window starts of length-3 windows: fixed 10, snapshot 2 5, snapshot 3 6.
    weights = {0: 10 / 21, 2: 5 / 21, 3: 6 / 21}
    batch = store.sample(2, 10, 3, np.random.default_rng(0))
    for i in range(12):
        m = batch.mask[i].numpy()
        obs, acts = batch.obs[i].numpy()[m], batch.acts[i].numpy()[m]
        terms = [math.log(w) + scorers[k](obs, acts).sum() for k, w in weights.items()]
        assert batch.log_q[i].item() == pytest.approx(np.logaddexp.reduce(terms), abs=1e-9)
    copy = EpisodeStore(max_samplers=2, horizon=50, fixed_samplers=1)
    copy.load_state_arrays(store.state_arrays())
    assert copy.fixed == {0} and copy.live_samplers == [0, 2, 3]
    with pytest.raises(ValueError, match="fixed sampler ids"):
        EpisodeStore(max_samplers=2, horizon=50).load_state_arrays(store.state_arrays())


def test_uniform_policy_density_and_random_coverage_episodes() -> None:
    """The uniform policy's log-density is −Σ log(high − low) on the box and −inf off it; the
    coverage episodes are seeded, and a stored Gaussian step off the box leaves q finite."""
    import gymnasium as gym

    space = gym.spaces.Box(low=np.float32([-1.0, 0.0]), high=np.float32([1.0, 0.5]))
    score = uniform_log_prob(space)
    got = score(np.zeros((3, 4)), np.array([[0.0, 0.25], [1.0, 0.5], [1.01, 0.2]]))
    assert got[:2].tolist() == pytest.approx([-math.log(2 * 0.5)] * 2)
    assert got[2] == -np.inf
    with pytest.raises(ValueError, match="bounded action box"):
        uniform_log_prob(gym.spaces.Box(low=-np.inf, high=np.inf, shape=(2,)))

    one = random_episodes("Pendulum-v1", {"max_episode_steps": 20}, 2, seed=3)
    two = random_episodes("Pendulum-v1", {"max_episode_steps": 20}, 2, seed=3)
    assert [len(a) for _, a, _, _ in one.episodes] == [20, 20]
    assert all(
        np.array_equal(a1, a2)
        for (_, a1, _, _), (_, a2, _, _) in zip(one.episodes, two.episodes, strict=True)
    )
    # Pendulum's box is [-2, 2]: a Gaussian snapshot's steps off it have uniform density 0.
    rng = np.random.default_rng(6)
    store = EpisodeStore(max_samplers=1, horizon=20, fixed_samplers=1)
    obs, acts, _, _ = one.episodes[0]
    store.add_demos(
        [Trajectory(obs, acts, np.zeros(20, np.float32), np.zeros(20, bool), np.arange(20) == 19)]
    )
    sid = store.add_sampler(one.log_prob, fixed=True)
    store.add_rollouts(one.episodes, sid, {sid: one.log_prob})
    wide = gaussian_scorer(0.0)
    store.add_sampler(wide)
    off_box = (obs, (3.0 * rng.normal(size=(20, 1))).astype(np.float32), False, 0.0)
    assert np.isneginf(one.log_prob(obs[:-1], off_box[1])).any()
    store.add_rollouts([off_box], 1, {sid: one.log_prob, 1: wide})
    batch = store.sample(2, 20, 5, np.random.default_rng(1))
    assert np.isfinite(batch.log_q.numpy()).all()
