"""Reward-distance metrics: EPIC (Gleave et al. 2020) and DARD (Wulfe et al. 2022).

Both compare rewards R_A, R_B up to potential shaping R' = R + γΦ(s') − Φ(s) and positive
rescaling (which keep the optimal policy): each reward is *canonicalised* (mapped to a
representative of its shaping class), then the canonical rewards are compared by the Pearson
distance D_ρ(X, Y) = √((1 − ρ(X, Y)) / 2) ∈ [0, 1] over a set of transitions: 0 for equivalent
rewards, 1 for a reward and its negation, √½ ≈ 0.707 for uncorrelated ones.

A reward is a callable ``reward(obs [N,d], acts [N,a], next_obs [N,d]) -> [N]`` (numpy or a
tensor), always called with three positional arguments, so the toolkit's learned rewards (with
an optional ``terminated``) fit as they are. Arithmetic is float64; callables are evaluated in
chunks of at most ``chunk_size`` rows, so memory stays bounded. Expectations use *common random
numbers*: every point and both rewards share the same (A, S') pairs (EPIC) or successor samples
(DARD), so shaping terms cancel exactly in the estimate (up to a constant D_ρ ignores) and a
reward and its shaped, rescaled version are at distance 0 up to rounding even with few samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "RewardFn",
    "SuccessorFn",
    "canonicalize",
    "dard_canonicalize",
    "dard_distance",
    "epic_distance",
    "pearson_distance",
]

RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Any]
"""``reward(obs [N,d], acts [N,a], next_obs [N,d]) -> [N]`` rewards."""
SuccessorFn = Callable[[np.ndarray, np.ndarray], Any]
"""``successors(obs [N,d], acts [N,a]) -> next_obs [N,d]``: one sample of S' ~ T(·|s,a) per row."""

DEFAULT_CHUNK = 1 << 16
# Centred spread below this fraction of the values' scale counts as "constant": canonicalising a
# constant (or pure-shaping) reward leaves rounding residue of ~1e-16 relative to the reward.
_CONST_RTOL = 1e-10


# --- Validation and evaluation helpers -----------------------------------------------------------
def _as_2d(name: str, x: Any, dim: int | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"irl/metrics.py: {name} must be a non-empty [N, dim] array: {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"irl/metrics.py: {name} has dimension {arr.shape[1]}, expected {dim}")
    if not np.isfinite(arr).all():
        raise ValueError(f"irl/metrics.py: {name} contains NaN or inf")
    return arr


def _check_transitions(
    obs: Any, acts: Any, next_obs: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    o, a, n = _as_2d("obs", obs), _as_2d("acts", acts), _as_2d("next_obs", next_obs)
    if not (o.shape[0] == a.shape[0] == n.shape[0]):
        raise ValueError(
            "irl/metrics.py: obs, acts, next_obs must have the same number of rows, got "
            f"{o.shape[0]}, {a.shape[0]}, {n.shape[0]}"
        )
    if o.shape != n.shape:
        raise ValueError(f"irl/metrics.py: obs {o.shape} and next_obs {n.shape} differ in shape")
    return o, a, n


def _check_gamma(gamma: float, chunk: int) -> float:
    g = float(gamma)
    if not 0.0 <= g <= 1.0 or chunk < 1:
        raise ValueError(f"irl/metrics.py: need 0 ≤ gamma ≤ 1, chunk_size ≥ 1: {gamma}, {chunk}")
    return g


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, possibly requiring grad or on an accelerator
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _chunked(
    what: str, fn: Callable[..., Any], args: Sequence[np.ndarray], tail: tuple[int, ...], chunk: int
) -> np.ndarray:
    """Call ``fn`` on row chunks of ``args`` (each ``[N, ·]``); float64 ``[N, *tail]`` output."""
    n = args[0].shape[0]
    out = np.empty((n, *tail), dtype=np.float64)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        r = _to_numpy(fn(*(x[lo:hi] for x in args)))
        if r.shape != (hi - lo, *tail) and not (tail == () and r.shape == (hi - lo, 1)):
            raise ValueError(
                f"irl/metrics.py: {what} returned shape {r.shape} for {hi - lo} rows;"
                f" expected {(hi - lo, *tail)}"
            )
        out[lo:hi] = r.reshape(hi - lo, *tail)
    if not np.isfinite(out).all():
        raise ValueError(f"irl/metrics.py: {what} returned NaN or inf")
    return out


def _call_reward(
    reward: RewardFn, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, chunk: int
) -> np.ndarray:
    """Evaluate ``reward`` on ``[N]`` rows in chunks of ``chunk``; returns float64 ``[N]``."""
    return _chunked("the reward", reward, (obs, acts, next_obs), (), chunk)


def _call_successors(
    successors: SuccessorFn, obs: np.ndarray, acts: np.ndarray, chunk: int
) -> np.ndarray:
    """Sample one successor per row in chunks; returns float64 ``[N, d]``."""
    return _chunked("successors", successors, (obs, acts), (obs.shape[1],), chunk)


def _unique_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``[N, d]`` and the ``[N]`` index of each row's copy (rows as bytes)."""
    rows = np.ascontiguousarray(x).view(np.dtype((np.void, x.dtype.itemsize * x.shape[1])))
    _, first, inverse = np.unique(rows.ravel(), return_index=True, return_inverse=True)
    return x[first], inverse.reshape(-1)


# --- Pearson distance ----------------------------------------------------------------------------
def _pearson(x: np.ndarray, y: np.ndarray, scale_x: float, scale_y: float) -> float:
    """Pearson distance with constancy judged against the given value scales."""
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"irl/metrics.py: x and y must be 1-D of equal length: {x.shape}, {y.shape}"
        )
    if x.shape[0] < 2:
        raise ValueError("irl/metrics.py: the Pearson distance needs at least 2 values")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("irl/metrics.py: the Pearson distance got NaN or inf values")
    xc, yc = x - x.mean(), y - y.mean()
    for name, c, scale in (("first", xc, scale_x), ("second", yc, scale_y)):
        spread = float(np.abs(c).max())
        if spread <= _CONST_RTOL * scale or spread == 0.0:
            raise ValueError(
                f"irl/metrics.py: the {name} (canonicalised) reward is constant over the "
                "transitions (constant up to potential shaping): Pearson ρ is undefined"
            )
    # Normalise by the max before the dot products: no overflow, no underflow.
    xs, ys = xc / np.abs(xc).max(), yc / np.abs(yc).max()
    rho = float(xs @ ys) / (float(np.linalg.norm(xs)) * float(np.linalg.norm(ys)))
    rho = min(1.0, max(-1.0, rho))
    return float(np.sqrt(max(0.0, (1.0 - rho) / 2.0)))


def pearson_distance(x: Any, y: Any) -> float:
    """Pearson distance D_ρ(x, y) = √((1 − ρ(x, y)) / 2) of two equally long samples.

    Args:
        x: ``[N]`` values (N ≥ 2).
        y: ``[N]`` values paired with ``x``.

    Returns:
        A float in [0, 1]: 0 when y = a·x + b with a > 0, 1 when a < 0, √½ when uncorrelated.

    Raises:
        ValueError: on mismatched shapes, NaN/inf, or a constant input (ρ undefined).
    """
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    scale_x = float(np.abs(xa).max()) if xa.size and np.isfinite(xa).all() else 0.0
    scale_y = float(np.abs(ya).max()) if ya.size and np.isfinite(ya).all() else 0.0
    return _pearson(xa, ya, scale_x, scale_y)


# --- EPIC ----------------------------------------------------------------------------------------
def _epic_pairs(
    state_samples: np.ndarray,
    action_samples: np.ndarray,
    n_mean_samples: int | None,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (A, S') pairs of the inner expectation and the states S of the constant term.

    ``None``: the full product D_A × D_S (exact for the empirical distributions) and all states.
    Otherwise ``n_mean_samples`` pairs and states drawn i.i.d. (with replacement).
    """
    n_s, n_a = state_samples.shape[0], action_samples.shape[0]
    if n_mean_samples is None:
        ia, is_ = np.repeat(np.arange(n_a), n_s), np.tile(np.arange(n_s), n_a)
        return action_samples[ia], state_samples[is_], state_samples
    if n_mean_samples < 1:
        raise ValueError(f"irl/metrics.py: n_mean_samples must be ≥ 1, got {n_mean_samples}")
    gen = np.random.default_rng(0) if rng is None else rng
    ia, is_ = gen.integers(n_a, size=n_mean_samples), gen.integers(n_s, size=n_mean_samples)
    i_const = gen.integers(n_s, size=n_mean_samples)
    return action_samples[ia], state_samples[is_], state_samples[i_const]


def _mean_over_pairs(
    reward: RewardFn, points: np.ndarray, pair_acts: np.ndarray, pair_next: np.ndarray, chunk: int
) -> np.ndarray:
    """m(x) = (1/M) Σ_j R(x, A_j, S'_j) for each of the ``[P, d]`` points; returns ``[P]``."""
    n_p, m = points.shape[0], pair_acts.shape[0]
    q = -(-m // -(-m // chunk))  # pairs per piece: ≤ chunk, pieces of near-equal size
    per = max(1, chunk // q)  # points per reward call
    sums = np.zeros(n_p, dtype=np.float64)
    for lo in range(0, n_p, per):
        hi = min(lo + per, n_p)
        for plo in range(0, m, q):
            acts_q, next_q = pair_acts[plo : plo + q], pair_next[plo : plo + q]
            k = acts_q.shape[0]
            obs_b = np.repeat(points[lo:hi], k, axis=0)
            acts_b, next_b = np.tile(acts_q, (hi - lo, 1)), np.tile(next_q, (hi - lo, 1))
            r = _call_reward(reward, obs_b, acts_b, next_b, chunk)
            sums[lo:hi] += r.reshape(hi - lo, k).sum(axis=1)
    return sums / m


def _epic_canonical_many(
    rewards: Sequence[RewardFn],
    transitions: tuple[Any, Any, Any],
    samples: tuple[Any, Any],
    gamma: float,
    n_mean_samples: int | None,
    rng: np.random.Generator | None,
    chunk: int,
) -> list[tuple[np.ndarray, float]]:
    """Validate, then canonical values ``[N]`` and scale (max |R| seen) for each reward."""
    obs, acts, next_obs = _check_transitions(*transitions)
    states = _as_2d("state_samples", samples[0], obs.shape[1])
    actions = _as_2d("action_samples", samples[1], acts.shape[1])
    g = _check_gamma(gamma, chunk)
    pair_acts, pair_next, const_states = _epic_pairs(states, actions, n_mean_samples, rng)
    n = obs.shape[0]
    # m(·) is needed at obs, next_obs and the constant term's states: evaluate each distinct
    # point once (tabular data repeats states a lot).
    points = np.concatenate([obs, next_obs, const_states], axis=0)
    uniq, inverse = _unique_rows(points)
    out = []
    for reward in rewards:
        m = _mean_over_pairs(reward, uniq, pair_acts, pair_next, chunk)[inverse]
        r = _call_reward(reward, obs, acts, next_obs, chunk)
        canon = r + g * m[n : 2 * n] - m[:n] - g * m[2 * n :].mean()
        out.append((canon, max(float(np.abs(r).max()), float(np.abs(m).max()))))
    return out


def canonicalize(
    reward: RewardFn,
    obs: Any,
    acts: Any,
    next_obs: Any,
    state_samples: Any,
    action_samples: Any,
    gamma: float,
    *,
    n_mean_samples: int | None = None,
    rng: np.random.Generator | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> np.ndarray:
    """EPIC canonically shaped reward on the given transitions.

    C(R)(s,a,s') = R(s,a,s') + E[γR(s',A,S') − R(s,A,S') − γR(S,A,S')],
    S, S' ~ D_S and A ~ D_A independent. Writing m(x) = E_{A,S'}[R(x,A,S')], this is
    R(s,a,s') + γm(s') − m(s) − γE_S[m(S)]. C(R + γΦ(s') − Φ(s)) = C(R) (exactly, when the
    expectations are over the same samples) and C(λR) = λC(R).

    Args:
        reward: ``reward(obs [N,d], acts [N,a], next_obs [N,d]) -> [N]``.
        obs: ``[N, d]`` states s of the transitions to canonicalise.
        acts: ``[N, a]`` actions a.
        next_obs: ``[N, d]`` next states s'.
        state_samples: ``[Ns, d]`` samples of the state coverage distribution D_S (repeat a
            state to weight it).
        action_samples: ``[Na, a]`` samples of the action coverage distribution D_A.
        gamma: discount γ in [0, 1].
        n_mean_samples: ``None``: m(x) averages over all Na·Ns pairs (exact for the empirical
            D_A × D_S; Na·Ns reward calls per distinct state). Otherwise the number of (A, S')
            pairs (and of S for the constant) drawn i.i.d., shared by every point.
        rng: generator for those draws (default ``np.random.default_rng(0)``).
        chunk_size: maximum rows per reward call.

    Returns:
        ``[N]`` float64 canonical rewards.

    Raises:
        ValueError: on mismatched shapes, NaN/inf, or a reward output of the wrong shape.
    """
    return _epic_canonical_many(
        [reward], (obs, acts, next_obs), (state_samples, action_samples), gamma, n_mean_samples,
        rng, int(chunk_size),
    )[0][0]  # fmt: skip


def epic_distance(
    reward_a: RewardFn,
    reward_b: RewardFn,
    *,
    obs: Any,
    acts: Any,
    next_obs: Any,
    state_samples: Any,
    action_samples: Any,
    gamma: float,
    n_mean_samples: int | None = None,
    rng: np.random.Generator | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> float:
    """EPIC pseudometric D_EPIC(R_A, R_B) = D_ρ(C(R_A)(s,a,s'), C(R_B)(s,a,s')).

    The canonicalisation C (see :func:`canonicalize`) uses the coverage samples; the Pearson
    distance D_ρ = √((1 − ρ)/2) is over the given transitions (uniformly weighted). Both
    rewards share the Monte-Carlo pairs, so shaping and positive scaling give 0 up to rounding
    even with ``n_mean_samples`` set.

    Args:
        reward_a: first reward callable (see :data:`RewardFn`).
        reward_b: second reward callable.
        obs: ``[N, d]`` states of the transitions the distance is measured on (N ≥ 2);
            ``acts`` ``[N, a]``, ``next_obs`` ``[N, d]`` and the remaining arguments are as in
            :func:`canonicalize`.

    Returns:
        The distance, a Python float in [0, 1].

    Raises:
        ValueError: on mismatched shapes, NaN/inf, or a reward that is constant up to shaping.
    """
    (ca, sa), (cb, sb) = _epic_canonical_many(
        [reward_a, reward_b], (obs, acts, next_obs), (state_samples, action_samples), gamma,
        n_mean_samples, rng, int(chunk_size),
    )  # fmt: skip
    return _pearson(ca, cb, sa, sb)


# --- DARD ----------------------------------------------------------------------------------------
def _dard_block(
    rewards: Sequence[RewardFn],
    s: np.ndarray,
    s2: np.ndarray,
    acts_m: np.ndarray,
    successors: SuccessorFn,
    gamma: float,
    chunk: int,
) -> list[np.ndarray]:
    """E[γR(s',A,X'') − R(s,A,X') − γR(X',A,X'')] for a block of ``[b, d]`` (s, s') pairs.

    ``acts_m`` ``[M, a]`` holds the actions (each repeated once per successor draw); rows are
    laid out (point, m) and every reward sees the same X' ~ T(s,A), X'' ~ T(s',A).
    """
    b, m = s.shape[0], acts_m.shape[0]
    big_s, big_s2 = np.repeat(s, m, axis=0), np.repeat(s2, m, axis=0)
    big_a = np.tile(acts_m, (b, 1))
    x1 = _call_successors(successors, big_s, big_a, chunk)
    x2 = _call_successors(successors, big_s2, big_a, chunk)
    out = []
    for reward in rewards:
        term = (
            gamma * _call_reward(reward, big_s2, big_a, x2, chunk)
            - _call_reward(reward, big_s, big_a, x1, chunk)
            - gamma * _call_reward(reward, x1, big_a, x2, chunk)
        )
        out.append(term.reshape(b, m).mean(axis=1))
    return out


def _dard_canonical_many(
    rewards: Sequence[RewardFn],
    transitions: tuple[Any, Any, Any],
    action_samples: Any,
    successors: SuccessorFn,
    gamma: float,
    n_samples: tuple[int | None, int],
    rng: np.random.Generator | None,
    chunk: int,
) -> list[tuple[np.ndarray, float]]:
    """Validate, then DARD canonical values ``[N]`` and scale for each reward (shared samples)."""
    obs, acts, next_obs = _check_transitions(*transitions)
    actions = _as_2d("action_samples", action_samples, acts.shape[1])
    g = _check_gamma(gamma, chunk)
    n_act, n_succ = n_samples
    if (n_act is not None and n_act < 1) or n_succ < 1:
        raise ValueError(f"irl/metrics.py: sample counts must be ≥ 1, got {n_act}, {n_succ}")
    if n_act is not None:
        gen = np.random.default_rng(0) if rng is None else rng
        actions = actions[gen.integers(actions.shape[0], size=n_act)]
    acts_m = np.repeat(actions, n_succ, axis=0)
    # The expectation depends on (s, s') only: evaluate each distinct pair once.
    d = obs.shape[1]
    uniq, inverse = _unique_rows(np.concatenate([obs, next_obs], axis=1))
    per = max(1, chunk // acts_m.shape[0])
    means = [np.empty(uniq.shape[0], dtype=np.float64) for _ in rewards]
    for lo in range(0, uniq.shape[0], per):
        hi = min(lo + per, uniq.shape[0])
        block = _dard_block(rewards, uniq[lo:hi, :d], uniq[lo:hi, d:], acts_m, successors, g, chunk)
        for mean, vals in zip(means, block, strict=True):
            mean[lo:hi] = vals
    out = []
    for reward, mean in zip(rewards, means, strict=True):
        r = _call_reward(reward, obs, acts, next_obs, chunk)
        scale = max(float(np.abs(r).max()), float(np.abs(mean).max()))
        out.append((r + mean[inverse], scale))
    return out


def dard_canonicalize(
    reward: RewardFn,
    obs: Any,
    acts: Any,
    next_obs: Any,
    action_samples: Any,
    successors: SuccessorFn,
    gamma: float,
    *,
    n_action_samples: int | None = None,
    n_successor_samples: int = 1,
    rng: np.random.Generator | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> np.ndarray:
    """DARD (dynamics-aware) canonically shaped reward on the given transitions.

    C_T(R)(s,a,s') = R(s,a,s') + E[γR(s',A,S'') − R(s,A,S') − γR(S',A,S'')],
    A ~ D_A, S' ~ T(·|s,A), S'' ~ T(·|s',A), one A shared by the three terms. The first two
    terms query only transitions the dynamics allow; the third, (S', A, S''), joins two
    successors: "nearby", not guaranteed feasible. C_T(R + γΦ(s') − Φ(s)) = C_T(R) exactly,
    also for the Monte-Carlo estimate, since each S' (S'') sample enters two terms.

    The dynamics are a sampler ``successors(obs [M,d], acts [M,a]) -> next_obs [M,d]`` drawing
    one S' ~ T(·|s,a) per row (a known or learned model): one interface for continuous and
    stochastic dynamics. For deterministic dynamics (e.g. a tabular gridworld) with
    ``n_action_samples=None`` the result is exact for the empirical D_A; for stochastic ones it
    converges as ``n_successor_samples`` grows.

    Args:
        reward: ``reward(obs [N,d], acts [N,a], next_obs [N,d]) -> [N]``.
        obs: ``[N, d]`` states s.
        acts: ``[N, a]`` actions a.
        next_obs: ``[N, d]`` next states s'.
        action_samples: ``[Na, a]`` samples of D_A.
        successors: the dynamics sampler described above.
        gamma: discount γ in [0, 1].
        n_action_samples: ``None``: average over all Na action samples; otherwise draw this
            many (shared by all transitions).
        n_successor_samples: successor draws per (transition, action sample).
        rng: generator for the action draws (default ``np.random.default_rng(0)``); the
            successor sampler uses its own randomness.
        chunk_size: maximum rows per reward or successor call.

    Returns:
        ``[N]`` float64 canonical rewards.

    Raises:
        ValueError: on mismatched shapes, NaN/inf, or callables returning wrong shapes.
    """
    return _dard_canonical_many(
        [reward], (obs, acts, next_obs), action_samples, successors, gamma,
        (n_action_samples, n_successor_samples), rng, int(chunk_size),
    )[0][0]  # fmt: skip


def dard_distance(
    reward_a: RewardFn,
    reward_b: RewardFn,
    *,
    obs: Any,
    acts: Any,
    next_obs: Any,
    action_samples: Any,
    successors: SuccessorFn,
    gamma: float,
    n_action_samples: int | None = None,
    n_successor_samples: int = 1,
    rng: np.random.Generator | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> float:
    """DARD pseudometric D_DARD(R_A, R_B) = D_ρ(C_T(R_A)(s,a,s'), C_T(R_B)(s,a,s')).

    C_T (see :func:`dard_canonicalize`) follows the dynamics, so rewards that agree on (and
    near) feasible transitions but differ on impossible ones are close under DARD though EPIC
    may call them far apart. D_ρ = √((1 − ρ)/2) is over the given transitions (uniformly
    weighted; feasible ones, e.g. from rollouts). Both rewards see the same successor samples.

    Args:
        reward_a: first reward callable (see :data:`RewardFn`).
        reward_b: second reward callable.
        obs: ``[N, d]`` states of the transitions the distance is measured on (N ≥ 2);
            ``acts`` ``[N, a]``, ``next_obs`` ``[N, d]`` and the remaining arguments are as in
            :func:`dard_canonicalize`.

    Returns:
        The distance, a Python float in [0, 1].

    Raises:
        ValueError: on mismatched shapes, NaN/inf, or a reward that is constant up to shaping.
    """
    (ca, sa), (cb, sb) = _dard_canonical_many(
        [reward_a, reward_b], (obs, acts, next_obs), action_samples, successors, gamma,
        (n_action_samples, n_successor_samples), rng, int(chunk_size),
    )  # fmt: skip
    return _pearson(ca, cb, sa, sb)
