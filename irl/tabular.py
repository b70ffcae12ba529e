"""Exact tabular MaxEnt IRL: the ground truth for the sample-based estimators.

The equations are in docs/math.md, "Tabular reference".

Shapes: ``P[s, a, s']`` transition probabilities, ``rho0[s]`` start distribution, ``cost[s, a]``
(reward = -cost). Everything is computed in float64 log space with forward-backward passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "MaxEntIRLResult",
    "SoftVIResult",
    "discounted_state_visitation",
    "expected_return",
    "gridworld",
    "log_partition",
    "maxent_irl",
    "random_mdp",
    "sample_trajectories",
    "soft_value_iteration",
    "trajectory_kl",
    "visitation",
]

ArrayLike = Tensor | np.ndarray


def _t(x: ArrayLike) -> Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def _check(P: Tensor, cost: Tensor, rho0: Tensor | None = None) -> None:
    s, a, s2 = P.shape
    if s != s2 or cost.shape != (s, a):
        raise ValueError(
            f"P must be [S,A,S] and cost [S,A]; got {tuple(P.shape)}, {tuple(cost.shape)}"
        )
    if rho0 is not None and rho0.shape != (s,):
        raise ValueError(f"rho0 must be [S]; got {tuple(rho0.shape)}")


def _backward(log_p: Tensor, cost: Tensor, horizon: int) -> tuple[Tensor, Tensor]:
    # log P has -inf for impossible transitions: logsumexp handles them exactly.
    """logB[t,s,a] = LSE_s'[log P + logW_{t+1}], logW[t,s] = LSE_a[-c + logB_t] (t = 0..T)."""
    n_s, n_a, _ = log_p.shape
    log_w = torch.zeros(horizon + 1, n_s, dtype=torch.float64)
    log_b = torch.zeros(horizon, n_s, n_a, dtype=torch.float64)
    for t in range(horizon - 1, -1, -1):
        log_b[t] = torch.logsumexp(log_p + log_w[t + 1][None, None, :], dim=2)
        log_w[t] = torch.logsumexp(-cost + log_b[t], dim=1)
    return log_b, log_w


def log_partition(P: ArrayLike, rho0: ArrayLike, cost: ArrayLike, horizon: int) -> Tensor:
    """Exact trajectory-level log Z = log Σ_τ ρ0 Π P exp(-Σ_t c(s_t,a_t)) over T steps."""
    P_, rho_, c_ = _t(P), _t(rho0), _t(cost)
    _check(P_, c_, rho_)
    _, log_w = _backward(torch.log(P_), c_, horizon)
    return torch.logsumexp(torch.log(rho_) + log_w[0], dim=0)


def visitation(P: ArrayLike, rho0: ArrayLike, cost: ArrayLike, horizon: int) -> Tensor:
    """Per-step state-action visitation D[t,s,a] of the trajectory MaxEnt model."""
    P_, rho_, c_ = _t(P), _t(rho0), _t(cost)
    _check(P_, c_, rho_)
    log_p = torch.log(P_)
    log_b, log_w = _backward(log_p, c_, horizon)
    log_z = torch.logsumexp(torch.log(rho_) + log_w[0], dim=0)
    n_s, n_a = c_.shape
    out = torch.empty(horizon, n_s, n_a, dtype=torch.float64)
    log_alpha = torch.log(rho_)
    for t in range(horizon):
        out[t] = torch.exp(log_alpha[:, None] - c_ + log_b[t] - log_z)
        # log α_{t+1}(s') = LSE_{s,a}[log α_t(s) - c(s,a) + log P(s'|s,a)]
        log_alpha = torch.logsumexp((log_alpha[:, None] - c_)[:, :, None] + log_p, dim=(0, 1))
    return out


@dataclass(frozen=True)
class SoftVIResult:
    """Soft value iteration output: Q [T,S,A] or [S,A], V [T+1,S] or [S], π shaped like Q."""

    Q: Tensor
    V: Tensor
    policy: Tensor


def soft_value_iteration(
    P: ArrayLike,
    cost: ArrayLike,
    horizon: int | None,
    gamma: float = 1.0,
    alpha: float = 1.0,
    tol: float = 1e-10,
    max_iter: int = 100_000,
    init_value: Tensor | None = None,
) -> SoftVIResult:
    """Maximum-causal-entropy soft value iteration with reward -cost.

    The recursion is in docs/math.md#tabular-reference.

    With an integer ``horizon``: the finite-horizon recursion Q_t = -c + γ P V_{t+1},
    V_t = α LSE(Q_t/α), V_T = 0, and a time-indexed policy. With ``horizon=None``: the
    discounted infinite-horizon fixed point (γ < 1), iterated until the sup-norm change < tol,
    starting from ``init_value`` (a warm start) or zero.
    """
    P_, c_ = _t(P), _t(cost)
    _check(P_, c_)
    n_s, n_a = c_.shape
    if horizon is not None:
        V = torch.zeros(horizon + 1, n_s, dtype=torch.float64)
        Q = torch.zeros(horizon, n_s, n_a, dtype=torch.float64)
        for t in range(horizon - 1, -1, -1):
            Q[t] = -c_ + gamma * P_ @ V[t + 1]
            V[t] = alpha * torch.logsumexp(Q[t] / alpha, dim=1)
        return SoftVIResult(Q, V, torch.exp((Q - V[:-1, :, None]) / alpha))
    if not gamma < 1.0:
        raise ValueError("an infinite-horizon soft value iteration needs gamma < 1")
    v = torch.zeros(n_s, dtype=torch.float64) if init_value is None else _t(init_value).clone()
    for _ in range(max_iter):
        q = -c_ + gamma * P_ @ v
        v_new = alpha * torch.logsumexp(q / alpha, dim=1)
        done = float((v_new - v).abs().max()) < tol
        v = v_new
        if done:
            break
    else:
        raise RuntimeError(f"soft value iteration did not converge in {max_iter} iterations")
    q = -c_ + gamma * P_ @ v
    return SoftVIResult(q, v, torch.exp((q - v[:, None]) / alpha))


def discounted_state_visitation(
    P: ArrayLike, rho0: ArrayLike, policy: ArrayLike, gamma: float, horizon: int | None
) -> Tensor:
    """Σ_{t<T} γ^t Pr(s_t = s) under a stationary policy ``[S,A]``, ``[S]`` (T = ∞ if None)."""
    P_, rho_, pi = _t(P), _t(rho0), _t(policy)
    if horizon is None:
        # d = ρ0 + γ P_πᵀ d  =>  (I - γ P_πᵀ) d = ρ0
        P_pi = torch.einsum("sa,sak->sk", pi, P_)
        eye = torch.eye(P_pi.shape[0], dtype=torch.float64)
        return torch.linalg.solve(eye - gamma * P_pi.T, rho_)
    d = rho_.clone()
    total = torch.zeros_like(d)
    for t in range(horizon):
        total = total + gamma**t * d
        d = torch.einsum("s,sa,sak->k", d, pi, P_)
    return total


def expected_return(
    P: ArrayLike,
    rho0: ArrayLike,
    policy: ArrayLike,
    reward: ArrayLike,
    gamma: float,
    horizon: int | None = None,
) -> float:
    """Expected discounted return Σ_t γ^t E[r(s_t,a_t)] of a stationary policy, reward ``[S,A]``."""
    d = discounted_state_visitation(P, rho0, policy, gamma, horizon)
    return float((d[:, None] * _t(policy) * _t(reward)).sum())


@dataclass(frozen=True)
class MaxEntIRLResult:
    """Recovered reward ([S] or [S,A]), its soft-optimal policy and the gradient-norm history."""

    reward: Tensor
    policy: Tensor
    grad_norms: list[float]


def maxent_irl(
    P: ArrayLike,
    rho0: ArrayLike,
    demo_visitation: ArrayLike,
    *,
    state_only: bool = True,
    gamma: float = 0.9,
    alpha: float = 1.0,
    horizon: int | None = None,
    lr: float = 0.01,
    n_iters: int = 1000,
) -> MaxEntIRLResult:
    """Exact-visitation MaxEnt IRL (Ziebart; AIRL's tabular setup): fit a reward table by Adam.

    The model is the discounted maximum-causal-entropy policy of the current reward; the
    log-likelihood gradient w.r.t. r(s) (or r(s,a)) is demo visitation minus model visitation,
    both discounted over ``horizon`` steps (None: the exact infinite sum).
    ``demo_visitation`` is ``[S]`` for a state-only reward or ``[S,A]`` for a state-action one.
    """
    P_, rho_, mu_d = _t(P), _t(rho0), _t(demo_visitation)
    n_s, n_a, _ = P_.shape
    shape = (n_s,) if state_only else (n_s, n_a)
    if mu_d.shape != shape:
        raise ValueError(f"demo_visitation must have shape {shape}, got {tuple(mu_d.shape)}")
    reward = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([reward], lr=lr)
    grad_norms: list[float] = []

    def table(r: Tensor) -> Tensor:
        return r[:, None].expand(n_s, n_a) if state_only else r

    value: Tensor | None = None
    for _ in range(n_iters):
        with torch.no_grad():
            # Warm start: the reward moves by ~lr per step, so V barely changes between steps.
            vi = soft_value_iteration(P_, -table(reward), None, gamma, alpha, init_value=value)
            value, pi = vi.V, vi.policy
            d_s = discounted_state_visitation(P_, rho_, pi, gamma, horizon)
            model = d_s if state_only else d_s[:, None] * pi
        # Ascent on the log-likelihood = descent on (model - demo) visitation.
        reward.grad = model - mu_d
        grad_norms.append(float(reward.grad.norm()))
        opt.step()
    with torch.no_grad():
        pi = soft_value_iteration(P_, -table(reward), None, gamma, alpha).policy
    return MaxEntIRLResult(reward.detach().clone(), pi, grad_norms)


def trajectory_kl(
    P: ArrayLike, rho0: ArrayLike, cost_p: ArrayLike, cost_q: ArrayLike, horizon: int
) -> float:
    """Exact KL(p‖q) between two trajectory MaxEnt models with the same dynamics (nats)."""
    d_p = visitation(P, rho0, cost_p, horizon)
    diff = _t(cost_q) - _t(cost_p)
    kl = (d_p.sum(0) * diff).sum() + log_partition(P, rho0, cost_q, horizon)
    return float(kl - log_partition(P, rho0, cost_p, horizon))


# ----------------------------------------------------------------------------------------------
# Builders and samplers for tests and demos
# ----------------------------------------------------------------------------------------------
def gridworld(size: int = 5) -> Tensor:
    """Deterministic size×size grid, actions stay/N/S/E/W, walls clip: P ``[S,5,S]``."""
    n = size * size
    P = torch.zeros(n, 5, n, dtype=torch.float64)
    moves = [(0, 0), (-1, 0), (1, 0), (0, 1), (0, -1)]
    for s in range(n):
        r, c = divmod(s, size)
        for a, (dr, dc) in enumerate(moves):
            r2 = min(max(r + dr, 0), size - 1)
            c2 = min(max(c + dc, 0), size - 1)
            P[s, a, r2 * size + c2] = 1.0
    return P


def random_mdp(n_states: int = 16, n_actions: int = 4, branching: int = 2, seed: int = 0) -> Tensor:
    """Random sparse stochastic MDP (AIRL's tabular setup): (s,a) reaches ``branching`` states."""
    rng = np.random.default_rng(seed)
    P = np.zeros((n_states, n_actions, n_states))
    for s in range(n_states):
        for a in range(n_actions):
            nxt = rng.choice(n_states, size=branching, replace=False)
            P[s, a, nxt] = rng.dirichlet(np.ones(branching))
    return torch.as_tensor(P)


def sample_trajectories(
    P: ArrayLike,
    rho0: ArrayLike,
    policy: ArrayLike,
    n: int,
    horizon: int,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor]:
    """Sample n trajectories: states ``[n,T]``, actions ``[n,T]``, log π(a_t|s_t) ``[n,T]``.

    ``policy`` is ``[S,A]`` (stationary) or ``[T,S,A]`` (time-indexed).
    """
    P_, rho_, pi = _t(P), _t(rho0), _t(policy)
    states = torch.empty(n, horizon, dtype=torch.long)
    actions = torch.empty(n, horizon, dtype=torch.long)
    log_pi = torch.empty(n, horizon, dtype=torch.float64)
    s = torch.multinomial(rho_.expand(n, -1), 1, generator=generator).squeeze(1)
    for t in range(horizon):
        pi_t = pi[t] if pi.dim() == 3 else pi
        probs = pi_t[s]
        a = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        states[:, t], actions[:, t] = s, a
        log_pi[:, t] = torch.log(probs.gather(1, a[:, None]).squeeze(1))
        s = torch.multinomial(P_[s, a], 1, generator=generator).squeeze(1)
    return states, actions, log_pi
