"""Losses and estimators of GCL, GAN-GCL, AIRL and GAIL, all in log space (docs/math.md).

Conventions (docs/math.md, "Notation"):
- Tensors of shape ``[M]`` range over a pooled batch of M trajectories; ``is_demo`` marks the demos.
- ``cost`` is the trajectory cost C_θ(τ) = Σ_t m_t c_θ(x_t, u_t) (see :func:`trajectory_cost`).
- ``log_q`` is the sampler's *reduced* log-density Σ_t log π(u_t|x_t): the dynamics factor cancels
  in every ratio below, so it is never evaluated.
- ``log_z`` is b = log Z, a scalar tensor (learned or estimated).
- D(τ) is the probability that τ is a demo (expert label = 1).

Nothing here exponentiates a trajectory-level quantity: with T = 1000 steps, |C| and |log q|
reach 1e3–1e6, far past exp's overflow at 88 (float32) / 709 (float64). Only logsumexp,
logaddexp, softplus and log-sigmoid are used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

GeneratorKind = Literal["original", "alternative", "combined"]

__all__ = [
    "GeneratorKind",
    "discriminator_logits",
    "discriminator_loss",
    "effective_sample_size",
    "fused_log_q",
    "gail_reward",
    "gcl_cost_loss",
    "generator_loss",
    "generator_reward",
    "importance_log_weights",
    "importance_log_z",
    "lcr_penalty",
    "mono_penalty",
    "optimal_log_z",
    "trajectory_cost",
    "transition_discriminator_loss",
]


def _softplus(x: Tensor) -> Tensor:
    """Exact log(1 + e^x). F.softplus returns x itself above x = 20 (error e^-20 ≈ 2e-9)."""
    return -F.logsigmoid(-x)


# ----------------------------------------------------------------------------------------------
# Trajectory sums
# ----------------------------------------------------------------------------------------------
def trajectory_cost(step_cost: Tensor, mask: Tensor | None = None, gamma: float = 1.0) -> Tensor:
    """Masked, optionally discounted sum over time: C = Σ_t γ^(t-1) m_t c_t, ``[M, T] -> [M]``.

    With γ < 1 the same discounting must be used in the discriminator, the loss and the RL
    reward (docs/math.md, "The generator's reward"). Masked steps add exactly 0, also when
    their cost is inf or NaN padding.
    """
    if step_cost.dim() != 2:
        raise ValueError(f"step_cost must be [M, T], got shape {tuple(step_cost.shape)}")
    terms = step_cost
    if gamma != 1.0:
        t = torch.arange(step_cost.shape[1], dtype=step_cost.dtype, device=step_cost.device)
        terms = terms * gamma**t
    if mask is not None:
        if mask.shape != step_cost.shape:
            raise ValueError(
                f"mask shape {tuple(mask.shape)} != step_cost {tuple(step_cost.shape)}"
            )
        # where() rather than multiply: 0 * inf would be NaN for padded steps.
        terms = torch.where(mask.bool(), terms, torch.zeros((), dtype=terms.dtype))
    return terms.sum(dim=1)


# ----------------------------------------------------------------------------------------------
# GCL: importance-sampled partition function (docs/math.md, "Importance-sampled log Z")
# ----------------------------------------------------------------------------------------------
def _counts(is_demo: Tensor) -> tuple[int, int]:
    is_demo = is_demo.bool()
    n_demo = int(is_demo.sum())
    return n_demo, int(is_demo.numel()) - n_demo


def _check_batch(cost: Tensor, log_q: Tensor, is_demo: Tensor) -> None:
    if cost.dim() != 1 or log_q.shape != cost.shape or is_demo.shape != cost.shape:
        raise ValueError(
            "cost, log_q and is_demo must all be [M]; got "
            f"{tuple(cost.shape)}, {tuple(log_q.shape)}, {tuple(is_demo.shape)}"
        )


def _log_mixture(
    cost: Tensor, log_q: Tensor, is_demo: Tensor, log_z: Tensor, log_p_demo: Tensor | None
) -> Tensor:
    """log µ̃ = log((N_d/M) p̃ + (N_s/M) q) per item, with p̃ = exp(-C - b) unless given."""
    n_demo, n_samp = _counts(is_demo)
    m = n_demo + n_samp
    log_p = -cost - log_z if log_p_demo is None else log_p_demo
    # log(0) = -inf is fine: logaddexp(-inf, x) = x, so an all-sample batch reduces to plain IS.
    log_frac_d = math.log(n_demo / m) if n_demo else -math.inf
    log_frac_s = math.log(n_samp / m) if n_samp else -math.inf
    return torch.logaddexp(log_p + log_frac_d, log_q + log_frac_s)


def importance_log_weights(
    cost: Tensor,
    log_q: Tensor,
    is_demo: Tensor,
    log_z: Tensor | float,
    log_p_demo: Tensor | None = None,
) -> Tensor:
    """Log importance weights a_j = -C_j - sg(log µ̃_j) over the pooled batch, ``[M]``.

    µ̃ = (N_d/M) p̃ + (N_s/M) q, p̃ = exp(-C - b) (option a) or, when ``log_p_demo`` is
    given, a per-step demo density Σ_t log p̂(u_t|x_t) (option c). The stop-gradient keeps
    µ̃ constant, as the GCL gradient requires (docs/math.md, "Claim 2").
    """
    _check_batch(cost, log_q, is_demo)
    log_z_t = torch.as_tensor(log_z, dtype=cost.dtype, device=cost.device)
    log_mu = _log_mixture(cost, log_q, is_demo, log_z_t, log_p_demo)
    return -cost - log_mu.detach()


def importance_log_z(
    cost: Tensor,
    log_q: Tensor,
    is_demo: Tensor,
    log_z: Tensor | float,
    log_p_demo: Tensor | None = None,
) -> Tensor:
    """Log of the µ-mixture importance-sampling estimate of Z: LSE_j(a_j) - log M (scalar)."""
    log_w = importance_log_weights(cost, log_q, is_demo, log_z, log_p_demo)
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.numel())


def effective_sample_size(log_w: Tensor) -> Tensor:
    """Kish effective sample size 1/Σ w̄² of normalised weights given in log space (scalar)."""
    log_w = log_w.detach()
    return torch.exp(2.0 * torch.logsumexp(log_w, 0) - torch.logsumexp(2.0 * log_w, 0))


def pairwise_rank_loss(energy: Tensor, is_demo: Tensor) -> Tensor:
    """Mean over (demo, sample) pairs of softplus(E_demo − E_sample): the logistic
    (Bradley–Terry) loss of ranking each demo window below each sample window by the cost
    alone, a smooth surrogate of 1 − the cost's AUC (scalar; zero without both classes).

    GAN-GCL's logit −E − b − log q can separate the classes through log q alone: a sampler whose
    mean actions left the demos' gives their windows a log q hundreds of nats below its own, D
    saturates and the cost gets no gradient (docs/math.md#a-ranking-term-on-the-cost). This term
    does not saturate on the cost's own mistakes; it has zero expected gradient when demos and
    samples have one distribution."""
    demo = is_demo.bool()
    d, s = energy[demo], energy[~demo]
    if d.numel() == 0 or s.numel() == 0:
        return energy.sum() * 0.0
    return _softplus(d[:, None] - s[None, :]).mean()


def gcl_cost_loss(
    cost: Tensor,
    log_q: Tensor,
    is_demo: Tensor,
    log_z: Tensor | float,
    log_p_demo: Tensor | None = None,
) -> Tensor:
    """GCL cost loss: mean demo cost + log Ẑ, with µ̃ held constant in the gradient.

    Its gradient is (1/N_d) Σ_demo ∇C_i − Σ_j w̄_j ∇C_j with w̄ = softmax(a): push demo costs
    down and the importance-weighted costs of the pooled batch up.
    """
    _check_batch(cost, log_q, is_demo)
    n_demo, _ = _counts(is_demo)
    if n_demo == 0:
        raise ValueError("gcl_cost_loss needs at least one demonstration in the batch")
    mean_demo_cost = cost[is_demo.bool()].mean()
    return mean_demo_cost + importance_log_z(cost, log_q, is_demo, log_z, log_p_demo)


def fused_log_q(log_prob_matrix: Tensor, counts: Tensor) -> Tensor:
    """Balance-heuristic log-density of past samplers: LSE_k(log(n_k/n) + L[j,k]).

    Args:
        log_prob_matrix: ``[M, K]``, L[j,k] = Σ_t log π_k(u_t^j|x_t^j) of item j under sampler k.
        counts: ``[K]`` draws held from each sampler: stored trajectories, or window start
            positions when windows are drawn uniformly over starts (zeros allowed: that
            sampler's column is ignored, even if it holds NaN or inf).

    Returns:
        ``[M]`` log q_bg of every item, in the dtype of ``log_prob_matrix``.
    """
    if log_prob_matrix.dim() != 2 or counts.shape != (log_prob_matrix.shape[1],):
        raise ValueError(
            f"need L [M, K] and counts [K]; got {tuple(log_prob_matrix.shape)}, "
            f"{tuple(counts.shape)}"
        )
    counts = counts.to(log_prob_matrix.dtype)
    if bool((counts < 0).any()) or float(counts.sum()) <= 0:
        raise ValueError("sampler counts must be non-negative with a positive total")
    log_frac = torch.log(counts) - torch.log(counts.sum())  # log 0 = -inf drops empty samplers
    # An unused sampler may have -inf or garbage rows; mask it out rather than add -inf + inf.
    terms = torch.where(counts > 0, log_prob_matrix + log_frac, torch.tensor(-math.inf))
    return torch.logsumexp(terms.to(log_prob_matrix.dtype), dim=1)


# ----------------------------------------------------------------------------------------------
# GCL regularisers (docs/math.md, "Cost regularisers")
# ----------------------------------------------------------------------------------------------
def _masked_pairs(mask: Tensor | None, like: Tensor, k: int) -> Tensor:
    """Mask of valid length-(k+1) windows: all of their steps are valid."""
    if mask is None:
        return torch.ones(like.shape[0], like.shape[1] - k, dtype=torch.bool, device=like.device)
    m = mask.bool()
    valid = m[:, k:]
    for i in range(k):
        valid = valid & m[:, i : m.shape[1] - k + i]
    return valid


def lcr_penalty(step_cost: Tensor, mask: Tensor | None = None) -> Tensor:
    """Local-constant-rate penalty Σ_t [(c_{t+1} - c_t) - (c_t - c_{t-1})]² per trajectory, [M]."""
    second_diff = step_cost[:, 2:] - 2.0 * step_cost[:, 1:-1] + step_cost[:, :-2]
    valid = _masked_pairs(mask, step_cost, 2)
    return torch.where(valid, second_diff.square(), torch.zeros((), dtype=step_cost.dtype)).sum(1)


def mono_penalty(step_cost: Tensor, mask: Tensor | None = None, margin: float = 1.0) -> Tensor:
    """Monotonic-progress penalty Σ_t max(0, c_t - c_{t-1} - margin)², per trajectory ``[M]``.

    ``margin = 1`` is the formula printed in the GCL paper (increases below 1 are free); a
    negative margin enforces a strict decrease. Apply to demonstrations only.
    """
    hinge = F.relu(step_cost[:, 1:] - step_cost[:, :-1] - margin)
    valid = _masked_pairs(mask, step_cost, 1)
    return torch.where(valid, hinge.square(), torch.zeros((), dtype=step_cost.dtype)).sum(1)


# ----------------------------------------------------------------------------------------------
# GAN-GCL discriminator and generator (docs/math.md, "The discriminator")
# ----------------------------------------------------------------------------------------------
def discriminator_logits(
    cost: Tensor, log_q: Tensor, log_z: Tensor | float, prior_offset: float = 0.0
) -> Tensor:
    """GAN-GCL logit l = -C - b - log q + log(N_d/N_s), so that D = σ(l) = p̃/(p̃ + q), ``[M]``."""
    return -cost - log_z - log_q + prior_offset


def discriminator_loss(
    cost: Tensor, log_q: Tensor, is_demo: Tensor, log_z: Tensor | float
) -> Tensor:
    """GAN-GCL discriminator loss (demos labelled 1), summed over both classes and divided by N_d.

    L = (1/N_d) [Σ_demo softplus(-l) + Σ_samp softplus(l)] with the prior offset log(N_d/N_s)
    in l. With this normaliser the minimiser over b is the importance-sampling log Z and the
    θ-gradient there equals that of :func:`gcl_cost_loss`, balanced or not (docs/math.md,
    "Claim 1" and "Claim 2").
    ``log_q`` is detached: q is "filled in", so this loss never moves the sampler.
    """
    _check_batch(cost, log_q, is_demo)
    n_demo, n_samp = _counts(is_demo)
    if n_demo == 0 or n_samp == 0:
        raise ValueError(
            f"discriminator_loss needs demos and samples in the batch (got {n_demo} demos, "
            f"{n_samp} samples)"
        )
    logits = discriminator_logits(cost, log_q.detach(), log_z, math.log(n_demo / n_samp))
    demo = is_demo.bool()
    # -log D = softplus(-l), -log(1 - D) = softplus(l): never form D itself.
    per_item = torch.where(demo, _softplus(-logits), _softplus(logits))
    return per_item.sum() / n_demo


def _lower_bracket(h: Callable[[float], float], hi: float, max_steps: int = 2100) -> float:
    """Step down from ``hi`` until ``h(lo) > 0``; return ``lo``.

    The first step is 1 nat, or a few float64 ulps of ``hi`` when that is larger (at |hi| ~ 1e16,
    ``hi - 1.0 == hi`` and a fixed step never moves); the distance then triples each step, so
    the whole float64 range is covered in about 650 steps and the search always ends.
    """
    step = max(1.0, 4.0 * math.ulp(hi))
    for _ in range(max_steps):
        lo = hi - step
        if not math.isfinite(lo):
            break
        if h(lo) > 0:
            return lo
        step *= 3.0
    raise ValueError(f"optimal_log_z could not bracket the root below b = {hi!r}")


def optimal_log_z(
    cost: Tensor,
    log_q: Tensor,
    is_demo: Tensor,
    tol: float = 1e-13,
    max_iter: int = 200,
) -> Tensor:
    """argmin_b of :func:`discriminator_loss` (= self-consistent IS log Z), by safeguarded Newton.

    The stationarity condition Σ_j D_j(b) = N_d is solved for h(b) = log Σ_j D_j - log N_d,
    which is strictly decreasing in b; Newton steps are clipped to a bisection bracket.
    Returns a detached scalar in the dtype of ``cost``; the relative accuracy is ``tol``.

    Raises:
        ValueError: the batch lacks demos or samples, or ``cost``/``log_q`` holds NaN or inf
            (or ``-cost - log_q`` overflows float64): no finite b exists then.
    """
    _check_batch(cost, log_q, is_demo)
    n_demo, n_samp = _counts(is_demo)
    if n_demo == 0 or n_samp == 0:
        raise ValueError("optimal_log_z needs both demos and samples")
    c = cost.detach().double()
    lq = log_q.detach().double()
    for name, x in (("cost", c), ("log_q", lq)):
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise ValueError(f"optimal_log_z: {name} has {bad} non-finite values (NaN/inf)")
    base = -c - lq + math.log(n_demo / n_samp)  # logit = base - b
    if not bool(torch.isfinite(base).all()):
        raise ValueError("optimal_log_z: -cost - log_q overflows float64")
    log_nd = math.log(n_demo)

    def h_and_slope(b: float) -> tuple[float, float]:
        logits = base - b
        log_d = F.logsigmoid(logits)
        lse = torch.logsumexp(log_d, 0)
        # dh/db = -Σ D(1-D) / Σ D, computed as a softmax-weighted mean of (1 - D).
        weights = torch.softmax(log_d, 0)
        slope = -(weights * torch.sigmoid(-logits)).sum()
        return float(lse) - log_nd, float(slope)

    # Bracket: σ(x) < e^x gives Σ D_j < N_d at b = LSE(base) - log N_d, so h < 0 there;
    # step down until h > 0 (h -> log(M/N_d) > 0 as b -> -inf).
    hi = float(torch.logsumexp(base, 0)) - log_nd
    lo = _lower_bracket(lambda b: h_and_slope(b)[0], hi)
    b = 0.5 * lo + 0.5 * hi  # = (lo + hi) / 2 exactly, without overflow near ±1.8e308
    for _ in range(max_iter):
        h, slope = h_and_slope(b)
        if h > 0:
            lo = b
        else:
            hi = b
        step = -h / slope if slope < 0 else math.inf
        b_new = b + step
        if not (lo < b_new < hi):
            b_new = 0.5 * lo + 0.5 * hi
        if abs(b_new - b) < tol * max(1.0, abs(b)) or hi - lo < tol * max(1.0, abs(b)):
            b = b_new
            break
        b = b_new
    return torch.tensor(b, dtype=cost.dtype)


def generator_loss(
    cost: Tensor, log_q: Tensor, log_z: Tensor | float, kind: GeneratorKind = "combined"
) -> Tensor:
    """Per-trajectory generator loss ``[M]`` (docs/math.md, "Claim 3"; b held fixed).

    - ``"original"``:    log(1 - D)   = -softplus(l)   (saturates when D rejects samples)
    - ``"alternative"``: -log D       =  softplus(-l)
    - ``"combined"``:    log((1-D)/D) = -l = C + b + log q  (= KL(q‖p_θ) in expectation)

    ``log_z`` is detached. ``cost`` is used as given so that reparameterised samplers get a
    gradient through their samples; freeze the cost network (:func:`irl.nn.frozen`) so this loss
    moves no cost parameter.
    """
    logits = discriminator_logits(cost, log_q, torch.as_tensor(log_z).detach())
    if kind == "original":
        return -_softplus(logits)
    if kind == "alternative":
        return _softplus(-logits)
    if kind == "combined":
        return -logits
    raise ValueError(f"unknown generator loss kind {kind!r}; use original, alternative or combined")


def generator_reward(step_cost: Tensor, step_log_pi: Tensor, alpha: float = 1.0) -> Tensor:
    """Per-step MaxEnt RL reward r_t = -c_θ(x_t,u_t) - α log π(u_t|x_t), without gradient.

    Summed over a trajectory this is -(C + log q) = l + b: maximising its return is minimising
    the combined generator loss (docs/math.md, "The generator's reward"). Use α = 1 for the
    exact equivalence and turn the RL algorithm's own entropy bonus off.
    """
    return (-step_cost - alpha * step_log_pi).detach()


# ----------------------------------------------------------------------------------------------
# Per-transition baselines: AIRL and GAIL (docs/math.md, "AIRL and GAIL")
# ----------------------------------------------------------------------------------------------
def transition_discriminator_loss(logits: Tensor, is_expert: Tensor) -> Tensor:
    """Balanced BCE of a per-transition discriminator (expert label 1): per-class means, summed."""
    expert = is_expert.bool()
    if not bool(expert.any()) or bool(expert.all()):
        raise ValueError("transition_discriminator_loss needs expert and policy transitions")
    return _softplus(-logits[expert]).mean() + _softplus(logits[~expert]).mean()


def absorbing_transition_discriminator_loss(
    logits: Tensor,
    is_expert: Tensor,
    absorbing_logit: Tensor,
    frac_expert: float,
    frac_policy: float,
) -> Tensor:
    """Balanced BCE over the occupancy of real *and* absorbing states (DAC), per class.

    A class that spends a fraction f of its visits in the absorbing state (after terminations,
    up to the horizon) weights its real-step BCE by 1 − f and the absorbing state's by f; with
    f = 0 on both sides this is :func:`transition_discriminator_loss`.
    """
    expert = is_expert.bool()
    if not bool(expert.any()) or bool(expert.all()):
        raise ValueError("transition_discriminator_loss needs expert and policy transitions")
    for f in (frac_expert, frac_policy):
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"absorbing fractions must be in [0, 1], got {f}")
    lab = absorbing_logit.to(logits.dtype)
    real = (1.0 - frac_expert) * _softplus(-logits[expert]).mean() + (
        1.0 - frac_policy
    ) * _softplus(logits[~expert]).mean()
    return real + frac_expert * _softplus(-lab) + frac_policy * _softplus(lab)


def gail_reward(logits: Tensor) -> Tensor:
    """GAIL policy reward log D = -softplus(-l) (expert label 1), without gradient."""
    return (-_softplus(-logits)).detach()
