"""EPIC and DARD reward distances (irl/metrics.py), checked against their definitions.

Tabular rewards use one-hot encoded states and actions; the closed-form references below
enumerate every (s, a, s') with numpy and share no code with the module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from irl.metrics import (
    canonicalize,
    dard_canonicalize,
    dard_distance,
    epic_distance,
    pearson_distance,
)
from irl.tabular import gridworld, random_mdp

GAMMA = 0.9
# Float-error tolerance for "distance = 0": with exact arithmetic ρ = 1; rounding leaves
# 1 − ρ ~ 1e-15, and D = √((1 − ρ)/2) turns that into ~2e-8. 1e-6 leaves a wide margin while a
# genuinely different reward (tested alongside) gives distances ≥ 1e-2.
ZERO_TOL = 1e-6


class TableReward:
    """R[s, a, s'] looked up from one-hot rows; takes the toolkit's optional ``terminated``."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table

    def __call__(
        self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, terminated: object = None
    ) -> np.ndarray:
        return self.table[obs.argmax(1), acts.argmax(1), next_obs.argmax(1)]


def enumerate_all(n_s: int, n_a: int) -> dict[str, Any]:
    """Every (s, a, s') as one-hot arrays, in C order of the [S, A, S] table."""
    s, a, s2 = (g.reshape(-1) for g in np.meshgrid(*map(np.arange, (n_s, n_a, n_s)), indexing="ij"))
    eye_s, eye_a = np.eye(n_s), np.eye(n_a)
    return {"obs": eye_s[s], "acts": eye_a[a], "next_obs": eye_s[s2]}


def closed_form_epic_canon(table: np.ndarray, w_s: np.ndarray, gamma: float) -> np.ndarray:
    """C(R)[s,a,s'] = R + γ m[s'] − m[s] − γ Σ_S w_S m[S], m[x] = Σ_{A,S'} w_A w_S' R[x,A,S']."""
    w_a = np.full(table.shape[1], 1.0 / table.shape[1])
    m = np.einsum("xaz,a,z->x", table, w_a, w_s)
    return table + gamma * m[None, None, :] - m[:, None, None] - gamma * (w_s @ m)


def closed_form_pearson(x: np.ndarray, y: np.ndarray) -> float:
    rho = np.corrcoef(x.ravel(), y.ravel())[0, 1]
    return float(np.sqrt((1.0 - rho) / 2.0))


def shaped(table: np.ndarray, phi: np.ndarray, gamma: float) -> np.ndarray:
    return table + gamma * phi[None, None, :] - phi[:, None, None]


# ----------------------------------------------------------------------------------------------
# EPIC
# ----------------------------------------------------------------------------------------------
def test_epic_shaping_and_scaling_exact_coverage() -> None:
    """Enumerated coverage: the canonicalisation is exact, so the distance is 0 to float error."""
    rng = np.random.default_rng(0)
    n_s, n_a = 7, 3
    table, phi = rng.normal(size=(n_s, n_a, n_s)), np.asarray(5.0 * rng.normal(size=n_s))
    kw: dict[str, Any] = dict(
        **enumerate_all(n_s, n_a),
        state_samples=np.eye(n_s),
        action_samples=np.eye(n_a),
        gamma=GAMMA,
    )
    base = TableReward(table)
    assert epic_distance(base, TableReward(3.7 * shaped(table, phi, GAMMA)), **kw) < ZERO_TOL
    assert epic_distance(base, TableReward(0.01 * table), **kw) < ZERO_TOL
    # The test can fail: a non-shaping perturbation of the same size is far from 0.
    other = table + 0.5 * rng.normal(size=table.shape)
    assert epic_distance(base, TableReward(other), **kw) > 0.05


def _continuous_reward(w: np.ndarray) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    def reward(obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        return np.sin(obs @ w[:3]) * np.cos(acts @ w[3:5]) + np.tanh(next_obs @ w[5:8]) ** 2

    return reward


def test_epic_shaping_monte_carlo_samples() -> None:
    """Continuous states, 64 Monte-Carlo (A, S') pairs.

    The MC estimate of E[R(x, A, S')] has an O(σ_R/√64) error, but the same pairs are used at
    every point and for both rewards (common random numbers), so the shaping terms cancel
    exactly in the estimate, leaving a constant γ(Ê_S Φ − Ê_S' Φ) that Pearson ignores. Hence
    the same float-error tolerance ZERO_TOL as with exact coverage, not a sampling tolerance.
    """
    rng = np.random.default_rng(1)
    w = rng.normal(size=8)
    base = _continuous_reward(w)
    u = rng.normal(size=3)

    def phi(x: np.ndarray) -> np.ndarray:
        return 3.0 * np.cos(x @ u) + x[:, 0] ** 2

    def shaped_reward(obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        return 2.5 * (base(obs, acts, next_obs) + GAMMA * phi(next_obs) - phi(obs))

    n = 500
    kw: dict[str, Any] = dict(
        obs=rng.normal(size=(n, 3)),
        acts=rng.uniform(-1, 1, size=(n, 2)),
        next_obs=rng.normal(size=(n, 3)),
        state_samples=rng.normal(size=(300, 3)),
        action_samples=rng.uniform(-1, 1, size=(300, 2)),
        gamma=GAMMA,
        n_mean_samples=64,
        rng=np.random.default_rng(2),
        chunk_size=4096,  # forces several chunks per evaluation
    )
    assert epic_distance(base, shaped_reward, **kw) < ZERO_TOL
    other = _continuous_reward(w + 0.5 * rng.normal(size=8))
    assert epic_distance(base, other, **kw) > 0.05


def test_epic_negation_gives_one() -> None:
    rng = np.random.default_rng(3)
    table = rng.normal(size=(5, 2, 5))
    kw: dict[str, Any] = dict(
        **enumerate_all(5, 2), state_samples=np.eye(5), action_samples=np.eye(2), gamma=GAMMA
    )
    d = epic_distance(TableReward(table), TableReward(-2.0 * table), **kw)
    assert isinstance(d, float)
    assert abs(d - 1.0) < 1e-12  # C is linear: C(−2R) = −2C(R) and ρ = −1 to rounding


def test_epic_independent_rewards_near_sqrt_half() -> None:
    """Independent N(0,1) tables on 30 states × 4 actions, all N = 3600 transitions.

    C(R) ≈ R up to the m-terms (means over 120 entries), so ρ is close to a sample correlation
    of N independent pairs: mean 0, sd ≈ 1/√N ≈ 0.017. D = √((1 − ρ)/2) has slope −1/(2√2) ≈
    −0.354 at ρ = 0, so sd(D) ≈ 0.006; the tolerance 0.03 is 5 sd.
    """
    n_s, n_a = 30, 4
    kw: dict[str, Any] = dict(
        **enumerate_all(n_s, n_a),
        state_samples=np.eye(n_s),
        action_samples=np.eye(n_a),
        gamma=GAMMA,
    )
    for seed in range(3):
        rng = np.random.default_rng(10 + seed)
        a, b = rng.normal(size=(2, n_s, n_a, n_s))
        assert abs(epic_distance(TableReward(a), TableReward(b), **kw) - np.sqrt(0.5)) < 0.03


@pytest.mark.parametrize("weighted", [False, True])
def test_epic_matches_closed_form_on_tabular_mdp(weighted: bool) -> None:
    """Closed-form canonicalisation over all (s,a,s') of a random MDP's state/action sets.

    ``weighted``: D_S non-uniform, encoded by repeating states in ``state_samples``.
    """
    n_s, n_a = int(random_mdp(6, 3).shape[0]), 3
    rng = np.random.default_rng(4)
    ta, tb = rng.normal(size=(2, n_s, n_a, n_s))
    counts = rng.integers(1, 4, size=n_s) if weighted else np.ones(n_s, dtype=int)
    states = np.repeat(np.eye(n_s), counts, axis=0)
    w_s = counts / counts.sum()
    trans = enumerate_all(n_s, n_a)
    ca, cb = (closed_form_epic_canon(t, w_s, GAMMA) for t in (ta, tb))
    # chunk_size=5 < the 18+ (A, S') pairs: exercises the split of pairs across reward calls.
    got_canon = canonicalize(TableReward(ta), **trans, state_samples=states,
                             action_samples=np.eye(n_a), gamma=GAMMA, chunk_size=5)  # fmt: skip
    np.testing.assert_allclose(got_canon, ca.ravel(), rtol=0, atol=1e-10)
    got = epic_distance(
        TableReward(ta), TableReward(tb), **trans, state_samples=states,
        action_samples=np.eye(n_a), gamma=GAMMA, chunk_size=50,
    )  # fmt: skip
    assert abs(got - closed_form_pearson(ca, cb)) < 1e-10


# ----------------------------------------------------------------------------------------------
# DARD
# ----------------------------------------------------------------------------------------------
def grid_setup(
    size: int = 4,
) -> tuple[np.ndarray, dict[str, Any], Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """Deterministic gridworld: next-state table f[s,a], its feasible transitions, successors."""
    f = gridworld(size).numpy().argmax(axis=2)
    n_s, n_a = f.shape
    s, a = (g.reshape(-1) for g in np.meshgrid(np.arange(n_s), np.arange(n_a), indexing="ij"))
    eye_s, eye_a = np.eye(n_s), np.eye(n_a)
    trans = {"obs": eye_s[s], "acts": eye_a[a], "next_obs": eye_s[f[s, a]]}

    def successors(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        return eye_s[f[obs.argmax(1), acts.argmax(1)]]

    return f, trans, successors


def closed_form_dard_canon(table: np.ndarray, f: np.ndarray, gamma: float) -> np.ndarray:
    """Deterministic T, uniform D_A: C_T[s,a,s'] = R + mean_A[γR(s',A,f(s',A)) − R(s,A,f(s,A))
    − γR(f(s,A),A,f(s',A))], for every (s, a, s') in the table."""
    n_s, n_a = f.shape
    out = np.empty_like(table)
    for s in range(n_s):
        for s2 in range(n_s):
            terms = [
                gamma * table[s2, b, f[s2, b]]
                - table[s, b, f[s, b]]
                - gamma * table[f[s, b], b, f[s2, b]]
                for b in range(n_a)
            ]
            out[s, :, s2] = table[s, :, s2] + np.mean(terms)
    return out


def feasible_values(table: np.ndarray, f: np.ndarray) -> np.ndarray:
    s, a = np.meshgrid(np.arange(f.shape[0]), np.arange(f.shape[1]), indexing="ij")
    return table[s, a, f[s, a]].ravel()


def test_dard_shaping_invariance_exact_successors() -> None:
    f, trans, successors = grid_setup()
    n_s, n_a = f.shape
    rng = np.random.default_rng(5)
    table, phi = rng.normal(size=(n_s, n_a, n_s)), np.asarray(4.0 * rng.normal(size=n_s))
    kw: dict[str, Any] = dict(
        **trans, action_samples=np.eye(n_a), successors=successors, gamma=GAMMA
    )
    base = TableReward(table)
    assert dard_distance(base, TableReward(0.3 * shaped(table, phi, GAMMA)), **kw) < ZERO_TOL
    assert dard_distance(base, TableReward(table + rng.normal(size=table.shape)), **kw) > 0.05
    assert abs(dard_distance(base, TableReward(-table), **kw) - 1.0) < 1e-12


def test_dard_shaping_invariance_sampled_stochastic_successors() -> None:
    """Stochastic random MDP, 3 successor samples per action: the S' (S'') sample enters two
    terms each, so shaping cancels exactly in the estimate (same ZERO_TOL as exact)."""
    P = random_mdp(8, 3, branching=3, seed=1).numpy()
    n_s, n_a, _ = P.shape
    cdf = np.cumsum(P, axis=2)
    eye_s = np.eye(n_s)
    gen = np.random.default_rng(6)

    def successors(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        c = cdf[obs.argmax(1), acts.argmax(1)]
        idx = (gen.uniform(size=(len(c), 1)) * c[:, -1:] > c).sum(axis=1)
        return eye_s[np.minimum(idx, n_s - 1)]

    rng = np.random.default_rng(7)
    s, a = rng.integers(n_s, size=200), rng.integers(n_a, size=200)
    obs, acts = eye_s[s], np.eye(n_a)[a]
    table, phi = rng.normal(size=(n_s, n_a, n_s)), np.asarray(4.0 * rng.normal(size=n_s))
    kw: dict[str, Any] = dict(
        obs=obs,
        acts=acts,
        next_obs=successors(obs, acts),
        action_samples=np.eye(n_a),
        successors=successors,
        gamma=GAMMA,
        n_successor_samples=3,
        chunk_size=100,
    )
    base = TableReward(table)
    assert dard_distance(base, TableReward(2.0 * shaped(table, phi, GAMMA)), **kw) < ZERO_TOL
    assert dard_distance(base, TableReward(table + rng.normal(size=table.shape)), **kw) > 0.05


def test_dard_matches_brute_force_on_gridworld() -> None:
    f, trans, successors = grid_setup()
    n_s, n_a = f.shape
    rng = np.random.default_rng(8)
    ta, tb = rng.normal(size=(2, n_s, n_a, n_s))
    kw: dict[str, Any] = dict(
        **trans, action_samples=np.eye(n_a), successors=successors, gamma=GAMMA
    )
    ca, cb = (closed_form_dard_canon(t, f, GAMMA) for t in (ta, tb))
    got_canon = dard_canonicalize(TableReward(ta), **trans, action_samples=np.eye(n_a),
                                  successors=successors, gamma=GAMMA, chunk_size=7)  # fmt: skip
    np.testing.assert_allclose(got_canon, feasible_values(ca, f), rtol=0, atol=1e-10)
    expected = closed_form_pearson(feasible_values(ca, f), feasible_values(cb, f))
    assert abs(dard_distance(TableReward(ta), TableReward(tb), **kw) - expected) < 1e-10


def test_epic_fooled_by_impossible_transitions_dard_not() -> None:
    """R_B = R_A wherever s' is reachable from s in one grid move, arbitrary elsewhere.

    EPIC's canonicalisation averages R(s, A, S') over all S' ~ D_S, mostly unreachable, so it
    sees the difference. DARD only queries (s,A,f(s,A)), (s',A,f(s',A)) and (f(s,A),A,f(s',A));
    on a grid with clipped walls f(s',A) − f(s,A) is a single move or 0 whenever s' = f(s,a),
    so every queried pair is reachable and DARD sees R_A = R_B: distance 0.
    """
    f, trans, successors = grid_setup()
    n_s, n_a = f.shape
    reachable = np.zeros((n_s, n_s), dtype=bool)
    reachable[np.arange(n_s)[:, None], f] = True
    rng = np.random.default_rng(9)
    ta = rng.normal(size=(n_s, n_a, n_s))
    tb = np.where(reachable[:, None, :], ta, 20.0 * rng.normal(size=ta.shape))
    # EPIC's brute-force reference over the feasible transitions (DARD's is 0, argued above).
    w_s = np.full(n_s, 1.0 / n_s)
    epic_ref = closed_form_pearson(
        *(feasible_values(closed_form_epic_canon(t, w_s, GAMMA), f) for t in (ta, tb))
    )
    epic = epic_distance(TableReward(ta), TableReward(tb), **trans, state_samples=np.eye(n_s),
                         action_samples=np.eye(n_a), gamma=GAMMA)  # fmt: skip
    dard = dard_distance(TableReward(ta), TableReward(tb), **trans, action_samples=np.eye(n_a),
                         successors=successors, gamma=GAMMA)  # fmt: skip
    assert abs(epic - epic_ref) < 1e-10
    assert epic > 0.4  # 0.52 here; 0.25 with 5x noise, 0.63 with 50x
    assert dard < ZERO_TOL


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------
def test_pearson_distance_basics_and_errors() -> None:
    x = np.arange(10.0)
    assert pearson_distance(x, 3 * x + 1) < 1e-7
    assert abs(pearson_distance(x, -x) - 1.0) < 1e-12
    with pytest.raises(ValueError, match="constant"):
        pearson_distance(x, np.full(10, 2.0))
    with pytest.raises(ValueError, match="equal length"):
        pearson_distance(x, x[:-1])
    with pytest.raises(ValueError, match="NaN"):
        pearson_distance(x, np.where(x > 5, np.nan, x))


def test_torch_tensor_rewards_accepted() -> None:
    """Rewards may return tensors (even requiring grad); the result equals the numpy one."""
    import torch

    n_s, n_a = 5, 2
    table = np.random.default_rng(13).normal(size=(n_s, n_a, n_s))
    kw: dict[str, Any] = dict(
        **enumerate_all(n_s, n_a),
        state_samples=np.eye(n_s),
        action_samples=np.eye(n_a),
        gamma=GAMMA,
    )
    weights = torch.tensor(table, requires_grad=True)

    def tensor_reward(obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray) -> torch.Tensor:
        return 2.0 * weights[obs.argmax(1), acts.argmax(1), next_obs.argmax(1)]

    other = TableReward(table + np.random.default_rng(14).normal(size=table.shape))
    expected = epic_distance(TableReward(table), other, **kw)
    assert abs(epic_distance(tensor_reward, other, **kw) - expected) < 1e-12


def test_epic_errors() -> None:
    n_s, n_a = 4, 2
    trans = enumerate_all(n_s, n_a)
    kw: dict[str, Any] = dict(
        **trans, state_samples=np.eye(n_s), action_samples=np.eye(n_a), gamma=GAMMA
    )
    rng = np.random.default_rng(11)
    table = rng.normal(size=(n_s, n_a, n_s))
    good = TableReward(table)
    with pytest.raises(ValueError, match="constant"):
        epic_distance(good, TableReward(np.full_like(table, 3.0)), **kw)
    pure_shaping = shaped(np.zeros_like(table), rng.normal(size=n_s), GAMMA)
    with pytest.raises(ValueError, match="constant"):
        epic_distance(TableReward(pure_shaping), good, **kw)
    with pytest.raises(ValueError, match="same number of rows"):
        epic_distance(good, good, **{**kw, "acts": trans["acts"][:-1]})
    with pytest.raises(ValueError, match="state_samples has dimension"):
        epic_distance(good, good, **{**kw, "state_samples": np.eye(n_s + 1)})
    with pytest.raises(ValueError, match="gamma"):
        epic_distance(good, good, **{**kw, "gamma": 1.5})
    with pytest.raises(ValueError, match="chunk_size"):
        epic_distance(good, good, **{**kw, "chunk_size": 0})
    with pytest.raises(ValueError, match="returned shape"):
        epic_distance(good, lambda o, a, n: np.zeros((len(o), 2)), **kw)
    with pytest.raises(ValueError, match="NaN"):
        epic_distance(good, lambda o, a, n: np.full(len(o), np.nan), **kw)


def test_dard_errors() -> None:
    f, trans, successors = grid_setup(3)
    n_s, n_a = f.shape
    kw: dict[str, Any] = dict(
        **trans, action_samples=np.eye(n_a), successors=successors, gamma=GAMMA
    )
    good = TableReward(np.random.default_rng(12).normal(size=(n_s, n_a, n_s)))
    with pytest.raises(ValueError, match="constant"):
        dard_distance(good, TableReward(np.ones((n_s, n_a, n_s))), **kw)
    with pytest.raises(ValueError, match="successors returned shape"):
        dard_distance(good, good, **{**kw, "successors": lambda o, a: o[:, :2]})
    with pytest.raises(ValueError, match="action_samples has dimension"):
        dard_distance(good, good, **{**kw, "action_samples": np.eye(n_a + 1)})
