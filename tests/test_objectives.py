"""Tests T1–T5 (docs/math.md, "What the tests check") and the numerical contracts of
irl.objectives (float64 unless stated)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
import torch
from torch import nn

from irl import objectives as obj
from irl.nn import MLPCost, frozen

N_B, T, D_FEAT = 64, 1000, 4


def _linear_batch(n_demo: int, n_samp: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Reference run: linear cost θ·φ over T = 1000 steps, log q ~ N(-1400, 30²)."""
    g = torch.Generator().manual_seed(seed)
    m = n_demo + n_samp
    # Per-trajectory offsets give trajectory costs spread over tens of nats, like log q.
    offset = 0.02 * torch.randn(m, 1, D_FEAT, generator=g, dtype=torch.float64)
    offset[:n_demo] -= 0.01  # demos are cheaper
    phi = 1.0 + offset + 0.3 * torch.randn(m, T, D_FEAT, generator=g, dtype=torch.float64)
    log_q = -1400.0 + 30.0 * torch.randn(m, generator=g, dtype=torch.float64)
    is_demo = torch.zeros(m, dtype=torch.bool)
    is_demo[:n_demo] = True
    theta = torch.full((D_FEAT,), 0.35, dtype=torch.float64, requires_grad=True)
    return {"phi": phi, "log_q": log_q, "is_demo": is_demo, "theta": theta}


def _cost(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return obj.trajectory_cost(batch["phi"] @ batch["theta"])


def _grad(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


# --------------------------------------------------------------------------------------------
# T1: the optimal b is the importance-sampling estimate of log Z
# --------------------------------------------------------------------------------------------
def test_t1_optimal_log_z_is_importance_estimate() -> None:
    batch = _linear_batch(N_B, N_B)
    cost, lq, is_demo = _cost(batch).detach(), batch["log_q"], batch["is_demo"]
    b_star = obj.optimal_log_z(cost, lq, is_demo)
    # b* is a stationary point of the discriminator loss itself ...
    b = b_star.clone().requires_grad_(True)
    (db,) = torch.autograd.grad(obj.discriminator_loss(cost, lq, is_demo, b), b)
    assert abs(float(db)) < 1e-10
    # ... and a minimum (convex in b).
    for delta in (-1e-3, 1e-3):
        assert obj.discriminator_loss(cost, lq, is_demo, b_star + delta) > obj.discriminator_loss(
            cost, lq, is_demo, b_star
        )
    log_z_hat = obj.importance_log_z(cost, lq, is_demo, b_star)
    assert abs(float(b_star - log_z_hat)) < 1e-8
    # The weights are not degenerate in this reference run (otherwise the test proves little).
    ess = obj.effective_sample_size(obj.importance_log_weights(cost, lq, is_demo, b_star))
    assert 2.0 < float(ess) < 2 * N_B


def test_t1_fixed_point_map_converges_to_b_star() -> None:
    batch = _linear_batch(N_B, N_B)
    cost, lq, is_demo = _cost(batch).detach(), batch["log_q"], batch["is_demo"]
    b_star = float(obj.optimal_log_z(cost, lq, is_demo))
    # Warm start with plain IS over the policy samples (a cold start needs ~3000 steps).
    samp = ~is_demo
    b = float(torch.logsumexp(-cost[samp] - lq[samp], 0) - math.log(int(samp.sum())))
    for _ in range(20_000):
        b_new = float(obj.importance_log_z(cost, lq, is_demo, b))
        if abs(b_new - b) < 1e-12:
            break
        b = b_new
    assert abs(b_new - b_star) < 1e-8


# --------------------------------------------------------------------------------------------
# T2: at b*, grad_θ L_disc == grad_θ L_cost; negative controls
# --------------------------------------------------------------------------------------------
def test_t2_gradient_equality_linear_cost_and_negative_controls() -> None:
    batch = _linear_batch(N_B, N_B)
    theta, lq, is_demo = batch["theta"], batch["log_q"], batch["is_demo"]
    b_star = obj.optimal_log_z(_cost(batch).detach(), lq, is_demo)

    g_disc = _grad(obj.discriminator_loss(_cost(batch), lq, is_demo, b_star), [theta])
    g_cost = _grad(obj.gcl_cost_loss(_cost(batch), lq, is_demo, b_star), [theta])
    torch.testing.assert_close(g_disc, g_cost, rtol=1e-6, atol=1e-9 * float(g_cost.norm()))
    assert float(g_cost.norm()) > 1.0  # a real gradient, not two zeros

    # (i) away from b* the gradients differ by more than 1 %.
    g_disc_off = _grad(obj.discriminator_loss(_cost(batch), lq, is_demo, b_star + 1), [theta])
    g_cost_off = _grad(obj.gcl_cost_loss(_cost(batch), lq, is_demo, b_star + 1), [theta])
    assert _rel(g_disc_off, g_cost_off) > 0.01

    # (ii) without the stop-gradient on µ̃ the GCL gradient changes.
    cost = _cost(batch)
    n_d = int(is_demo.sum())
    m = cost.numel()
    log_mu = torch.logaddexp(-cost - b_star + math.log(n_d / m), lq + math.log((m - n_d) / m))
    no_sg = cost[is_demo].mean() + torch.logsumexp(-cost - log_mu, 0) - math.log(m)
    g_no_sg = _grad(no_sg, [theta])
    assert _rel(g_no_sg, g_cost) > 0.01


def _linear_system_batch(n_demo: int, n_samp: int, horizon: int, seed: int = 0):
    """Rollouts of a random stable linear system under two Gaussian linear policies."""
    g = torch.Generator().manual_seed(seed)
    dx, du = 3, 2
    A = 0.9 * torch.eye(dx, dtype=torch.float64) + 0.05 * torch.randn(
        dx, dx, generator=g, dtype=torch.float64
    )
    B = 0.3 * torch.randn(dx, du, generator=g, dtype=torch.float64)
    K_expert = -0.5 * torch.randn(du, dx, generator=g, dtype=torch.float64)
    K_sampler = torch.zeros(du, dx, dtype=torch.float64)
    sigma = 0.5

    def rollout(K: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.ones(n, dx, dtype=torch.float64)
        xs, us = [], []
        for _ in range(horizon):
            u = x @ K.T + sigma * torch.randn(n, du, generator=g, dtype=torch.float64)
            xs.append(x)
            us.append(u)
            x = x @ A.T + u @ B.T
        return torch.stack(xs, 1), torch.stack(us, 1)

    xd, ud = rollout(K_expert, n_demo)
    xs, us = rollout(K_sampler, n_samp)
    x, u = torch.cat([xd, xs]), torch.cat([ud, us])
    # Real log-density of every trajectory (demos too) under the sampler q.
    dist = torch.distributions.Normal(x @ K_sampler.T, sigma)
    log_q = dist.log_prob(u).sum((1, 2))
    is_demo = torch.zeros(n_demo + n_samp, dtype=torch.bool)
    is_demo[:n_demo] = True
    return x, u, log_q, is_demo


@pytest.mark.parametrize(("n_demo", "n_samp"), [(32, 32), (16, 48)])
def test_t2_gradient_equality_mlp_cost_real_rollouts(n_demo: int, n_samp: int) -> None:
    torch.manual_seed(0)
    x, u, lq, is_demo = _linear_system_batch(n_demo, n_samp, horizon=50)
    cost_net = MLPCost(3, 2, hidden=(16, 16)).double()
    params = list(cost_net.parameters())

    def cost() -> torch.Tensor:
        return obj.trajectory_cost(cost_net(x, u))

    b_star = obj.optimal_log_z(cost().detach(), lq, is_demo)
    g_disc = _grad(obj.discriminator_loss(cost(), lq, is_demo, b_star), params)
    g_cost = _grad(obj.gcl_cost_loss(cost(), lq, is_demo, b_star), params)
    torch.testing.assert_close(g_disc, g_cost, rtol=1e-6, atol=1e-9 * float(g_cost.norm()))
    g_off = _grad(obj.discriminator_loss(cost(), lq, is_demo, b_star + 1), params)
    assert _rel(g_off, _grad(obj.gcl_cost_loss(cost(), lq, is_demo, b_star + 1), params)) > 0.01


# --------------------------------------------------------------------------------------------
# T3: generator loss = sampler loss (+ b)
# --------------------------------------------------------------------------------------------
def test_t3_generator_identity_per_sample() -> None:
    batch = _linear_batch(N_B, N_B)
    cost, lq = _cost(batch).detach(), batch["log_q"]
    b = torch.tensor(-5.0, dtype=torch.float64)
    log_ratio = obj.generator_loss(cost, lq, b, "original") + obj.generator_loss(
        cost, lq, b, "alternative"
    )
    expected = cost + b + lq
    assert float((log_ratio - expected).abs().max()) < 1e-9
    assert float((obj.generator_loss(cost, lq, b, "combined") - expected).abs().max()) == 0.0
    # The original loss saturates where D confidently rejects samples; the alternative does not.
    b_reject = b + 300.0
    assert float(obj.discriminator_logits(cost, lq, b_reject).max()) < -50
    c = cost.clone().requires_grad_(True)
    (g_org,) = torch.autograd.grad(obj.generator_loss(c, lq, b_reject, "original").sum(), c)
    (g_alt,) = torch.autograd.grad(obj.generator_loss(c, lq, b_reject, "alternative").sum(), c)
    assert float(g_org.abs().max()) < 1e-20 and float(g_alt.abs().min()) > 0.999


def test_t3_generator_gradient_matches_maxent_sampler_gradient() -> None:
    """Reparameterised MC gradient of E_q[-l] vs analytic ∇(E_q[C] - H(q)), q = N(m, s²)."""
    k, u0, b = 1.5, 0.7, 2.0
    mean = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    log_std = torch.tensor(math.log(0.8), dtype=torch.float64, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    n_batches, per_batch = 100, 1000  # 1e5 samples
    grads = []
    for _ in range(n_batches):
        eps = torch.randn(per_batch, generator=g, dtype=torch.float64)
        std = log_std.exp()
        u = mean + std * eps
        cost = k * (u - u0) ** 2  # T = 1
        log_q = torch.distributions.Normal(mean, std).log_prob(u)  # D recomputed from φ
        loss = obj.generator_loss(cost, log_q, b, "combined").mean()
        grads.append(torch.stack(torch.autograd.grad(loss, [mean, log_std])))
        # L_gen - L_sampler = b exactly, for every φ.
        assert torch.allclose(
            obj.generator_loss(cost, log_q, b) - (cost + log_q),
            torch.tensor(b, dtype=torch.float64),
        )
    grads_t = torch.stack(grads)
    mc, se = grads_t.mean(0), grads_t.std(0) / math.sqrt(n_batches)
    s = float(log_std.detach().exp())
    # E[C] = k((m-u0)² + s²), H = ½ log(2πe s²): d/dm = 2k(m-u0); d/dlog s = 2k s² - 1.
    analytic = torch.tensor([2 * k * (0.2 - u0), 2 * k * s**2 - 1.0], dtype=torch.float64)
    assert bool(((mc - analytic).abs() < 3 * se).all()), (mc, analytic, se)


# --------------------------------------------------------------------------------------------
# T4: stability at T = 1000 in float32
# --------------------------------------------------------------------------------------------
def test_t4_float32_1000_steps_large_costs_finite_where_naive_overflows() -> None:
    g = torch.Generator().manual_seed(0)
    m, n_d = 32, 8
    step_cost = (1e3 * torch.rand(m, T, generator=g)).requires_grad_(True)  # up to 1e3 per step
    log_pi = (-5.0 + torch.randn(m, T, generator=g)).requires_grad_(True)
    is_demo = torch.zeros(m, dtype=torch.bool)
    is_demo[:n_d] = True
    b = torch.tensor(-3e5, requires_grad=True)
    cost, lq = obj.trajectory_cost(step_cost), obj.trajectory_cost(log_pi)
    assert cost.dtype == torch.float32

    # Naive: D = e^{-C-b} / (e^{-C-b} + q) overflows/underflows to nan at this scale.
    with torch.no_grad():
        p_naive = torch.exp(-cost - b)
        d_naive = p_naive / (p_naive + torch.exp(lq))
        naive_loss = -(torch.log(d_naive[is_demo]).mean() + torch.log(1 - d_naive[~is_demo]).mean())
        naive_z = torch.log(torch.mean(torch.exp(-cost) / (0.5 * p_naive + 0.5 * torch.exp(lq))))
    assert not bool(torch.isfinite(naive_loss)) and not bool(torch.isfinite(naive_z))

    losses = {
        "gcl": obj.gcl_cost_loss(cost, lq, is_demo, b),
        "disc": obj.discriminator_loss(cost, lq, is_demo, b),
        "gen": obj.generator_loss(cost, lq, b, "original").mean()
        + obj.generator_loss(cost, lq, b, "alternative").mean(),
        "reg": obj.lcr_penalty(step_cost).mean() + obj.mono_penalty(step_cost).mean(),
    }
    for name, loss in losses.items():
        grads = torch.autograd.grad(loss, [step_cost, log_pi, b], allow_unused=True)
        assert bool(torch.isfinite(loss)), name
        assert all(gr is None or bool(torch.isfinite(gr).all()) for gr in grads), name
    log_w = obj.importance_log_weights(cost, lq, is_demo, b)
    assert 1.0 <= float(obj.effective_sample_size(log_w)) <= m
    assert math.isfinite(float(obj.optimal_log_z(cost, lq, is_demo)))


# --------------------------------------------------------------------------------------------
# T5: unbalanced batches (N_s = 3 N_d)
# --------------------------------------------------------------------------------------------
def test_t5_unbalanced_prior_offset() -> None:
    batch = _linear_batch(32, 96)
    theta, lq, is_demo = batch["theta"], batch["log_q"], batch["is_demo"]
    cost = _cost(batch).detach()
    b_star = obj.optimal_log_z(cost, lq, is_demo)
    b = b_star.clone().requires_grad_(True)
    (db,) = torch.autograd.grad(obj.discriminator_loss(cost, lq, is_demo, b), b)
    assert abs(float(db)) < 1e-10
    # µ̃ = (N_d p̃ + N_s q)/M, written out independently of the library.
    log_p = -cost - b_star
    log_mu = torch.logaddexp(log_p + math.log(32), lq + math.log(96)) - math.log(128)
    log_z_hat = torch.logsumexp(-cost - log_mu, 0) - math.log(128)
    assert abs(float(b_star - log_z_hat)) < 1e-9
    g_disc = _grad(obj.discriminator_loss(_cost(batch), lq, is_demo, b_star), [theta])
    g_cost = _grad(obj.gcl_cost_loss(_cost(batch), lq, is_demo, b_star), [theta])
    torch.testing.assert_close(g_disc, g_cost, rtol=1e-6, atol=1e-9 * float(g_cost.norm()))


def test_plain_bce_mean_breaks_claim_two() -> None:
    """The normaliser matters: a BCE mean over all M items halves the balanced gradient."""
    batch = _linear_batch(N_B, N_B)
    theta, lq, is_demo = batch["theta"], batch["log_q"], batch["is_demo"]
    b_star = obj.optimal_log_z(_cost(batch).detach(), lq, is_demo)
    logits = obj.discriminator_logits(_cost(batch), lq, b_star)
    bce = nn.functional.binary_cross_entropy_with_logits(logits, is_demo.double())
    g_bce = _grad(bce, [theta])
    g_cost = _grad(obj.gcl_cost_loss(_cost(batch), lq, is_demo, b_star), [theta])
    torch.testing.assert_close(2 * g_bce, g_cost, rtol=1e-6, atol=1e-9 * float(g_cost.norm()))


# --------------------------------------------------------------------------------------------
# Gradient isolation: which loss moves which parameters
# --------------------------------------------------------------------------------------------
class _GaussianPolicy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mean = nn.Linear(3, 2)
        self.log_std = nn.Parameter(torch.zeros(2))

    def dist(self, x: torch.Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(self.mean(x), self.log_std.exp())


def _has_grad(module: nn.Module) -> bool:
    return any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in module.parameters())


def test_gradient_isolation_disc_moves_cost_only_generator_moves_policy_only() -> None:
    torch.manual_seed(0)
    policy, cost_net = _GaussianPolicy(), MLPCost(3, 2, hidden=(8,))
    x = torch.randn(12, 20, 3)
    is_demo = torch.arange(12) < 4

    dist = policy.dist(x)
    u = dist.sample()  # recorded actions are data; log q still carries the policy's graph
    log_q = dist.log_prob(u).sum((1, 2))
    assert log_q.requires_grad
    b = torch.zeros((), requires_grad=True)
    obj.discriminator_loss(obj.trajectory_cost(cost_net(x, u)), log_q, is_demo, b).backward()
    assert _has_grad(cost_net) and b.grad is not None
    assert not _has_grad(policy)

    policy.zero_grad(set_to_none=True)
    cost_net.zero_grad(set_to_none=True)
    b.grad = None
    dist = policy.dist(x)
    u = dist.rsample()
    with frozen(cost_net):
        cost = obj.trajectory_cost(cost_net(x, u))
        gen = obj.generator_loss(cost, dist.log_prob(u).sum((1, 2)), b, "combined").mean()
    gen.backward()
    assert _has_grad(policy)
    assert not _has_grad(cost_net) and b.grad is None
    assert all(p.requires_grad for p in cost_net.parameters())  # restored after the block

    step_reward = obj.generator_reward(cost_net(x, u), dist.log_prob(u).sum(-1))
    assert not step_reward.requires_grad


# --------------------------------------------------------------------------------------------
# Option (c), fusion, ESS, regularisers, GAIL, errors
# --------------------------------------------------------------------------------------------
def test_option_c_uses_given_demo_density() -> None:
    cost = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    lq = torch.tensor([-1.0, -2.0, -0.5, -3.0], dtype=torch.float64)
    lp = torch.tensor([-0.2, -4.0, -1.0, -1.5], dtype=torch.float64)
    is_demo = torch.tensor([True, True, False, False])
    got = obj.importance_log_z(cost, lq, is_demo, 0.0, log_p_demo=lp)
    mu = 0.5 * lp.exp() + 0.5 * lq.exp()
    assert abs(float(got) - math.log(float((torch.exp(-cost) / mu).mean()))) < 1e-12


def test_fused_log_q_matches_brute_force_mixture() -> None:
    """log Σ_k (n_k/n) q_k(τ) written out with exp in float64, for moderate log-densities; a
    sampler with no draws (count 0) drops out even when its column holds NaN or inf."""
    g = torch.Generator().manual_seed(0)
    means = [0.0, 1.0, -2.0]
    samplers = [torch.distributions.Normal(mu, 1.0) for mu in means]
    demos = torch.randn(5, 10, generator=g, dtype=torch.float64) + 0.5
    rollouts = [
        mu + torch.randn(3 + k, 10, generator=g, dtype=torch.float64) for k, mu in enumerate(means)
    ]
    everything = torch.cat([demos, *rollouts])
    matrix = torch.stack([s.log_prob(everything).sum(1) for s in samplers], 1)

    def brute(counts: torch.Tensor) -> torch.Tensor:
        mix = sum(
            n / counts.sum() * s.log_prob(everything).sum(1).exp()
            for n, s in zip(counts, samplers, strict=True)
        )
        return torch.log(mix)

    counts = torch.tensor([3.0, 4.0, 5.0], dtype=torch.float64)
    torch.testing.assert_close(
        obj.fused_log_q(matrix, counts), brute(counts), rtol=1e-12, atol=1e-12
    )
    # Fewer draws from sampler 0 lower its weight to 1/10.
    counts = torch.tensor([1.0, 4.0, 5.0], dtype=torch.float64)
    torch.testing.assert_close(
        obj.fused_log_q(matrix, counts), brute(counts), rtol=1e-12, atol=1e-12
    )
    # A retired sampler's column may be garbage: a zero count masks it out.
    garbage = torch.cat([matrix, torch.full((len(matrix), 1), math.nan, dtype=torch.float64)], 1)
    garbage[0, 3] = math.inf
    padded = torch.cat([counts, torch.zeros(1, dtype=torch.float64)])
    torch.testing.assert_close(
        obj.fused_log_q(garbage, padded), brute(counts), rtol=1e-12, atol=1e-12
    )
    with pytest.raises(ValueError, match="positive total"):
        obj.fused_log_q(matrix, torch.zeros(3, dtype=torch.float64))


def test_effective_sample_size_limits() -> None:
    assert abs(float(obj.effective_sample_size(torch.zeros(50))) - 50.0) < 1e-4
    assert abs(float(obj.effective_sample_size(torch.tensor([0.0, -1e4, -1e4]))) - 1.0) < 1e-6


def test_trajectory_cost_mask_and_discount() -> None:
    step = torch.tensor([[1.0, 2.0, 3.0], [4.0, float("inf"), float("nan")]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    torch.testing.assert_close(
        obj.trajectory_cost(step, mask), torch.tensor([6.0, 4.0], dtype=torch.float64)
    )
    torch.testing.assert_close(
        obj.trajectory_cost(step[:1], None, gamma=0.5),
        torch.tensor([1 + 1 + 0.75], dtype=torch.float64),
    )


def test_regularisers_against_hand_values() -> None:
    c = torch.tensor([[0.0, 1.0, 3.0, 3.5, 1.0]], dtype=torch.float64)
    # second differences: (3-1)-(1-0)=1, (3.5-3)-(3-1)=-1.5, (1-3.5)-(3.5-3)=-3
    assert float(obj.lcr_penalty(c)) == pytest.approx(1 + 2.25 + 9)
    # increases 1, 2, 0.5, -2.5; margin 1: only 2-1 = 1 counts
    assert float(obj.mono_penalty(c, margin=1.0)) == pytest.approx(1.0)
    # margin -0.5 (strict decrease): 1.5² + 2.5² + 1² ; -2.5+0.5 < 0 free
    assert float(obj.mono_penalty(c, margin=-0.5)) == pytest.approx(2.25 + 6.25 + 1.0)
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    assert float(obj.lcr_penalty(c, mask)) == pytest.approx(1.0)
    assert float(obj.mono_penalty(c, mask, margin=0.0)) == pytest.approx(1.0 + 4.0)


def test_gail_reward_and_transition_loss() -> None:
    rew = obj.gail_reward(torch.tensor([0.0, 30.0]))
    torch.testing.assert_close(rew, torch.tensor([math.log(0.5), 0.0]), atol=1e-12, rtol=0)
    loss = obj.transition_discriminator_loss(torch.tensor([2.0, -2.0]), torch.tensor([True, False]))
    assert float(loss) == pytest.approx(2 * math.log1p(math.exp(-2.0)))


def test_clear_errors() -> None:
    c = torch.zeros(4)
    with pytest.raises(ValueError, match="at least one demonstration"):
        obj.gcl_cost_loss(c, c, torch.zeros(4, dtype=torch.bool), 0.0)
    with pytest.raises(ValueError, match="demos and samples"):
        obj.discriminator_loss(c, c, torch.ones(4, dtype=torch.bool), 0.0)
    with pytest.raises(ValueError, match=r"must all be \[M\]"):
        obj.importance_log_z(c, torch.zeros(3), torch.ones(4, dtype=torch.bool), 0.0)
    with pytest.raises(ValueError, match="unknown generator loss kind"):
        obj.generator_loss(c, c, 0.0, "wasserstein")  # type: ignore[arg-type]


def test_absorbing_discriminator_loss_is_the_bce_over_materialised_absorbing_visits() -> None:
    """Weighting by absorbing shares equals the balanced BCE on a data set that holds the
    absorbing visits; zero shares give the plain loss; the optimum is D = f_e / (f_e + f_p)."""
    logits = torch.tensor([1.5, -0.3, 0.7, -2.0, 0.1], dtype=torch.float64)
    expert = torch.tensor([True, True, False, False, False])
    lab = torch.tensor(-1.2, dtype=torch.float64)
    # Expert: 2 real visits + 2 absorbing (f = 1/2); policy: 3 real + 1 absorbing (f = 1/4).
    explicit = obj.transition_discriminator_loss(
        torch.cat([logits[:2], lab.repeat(2), logits[2:], lab.repeat(1)]),
        torch.tensor([True] * 4 + [False] * 4),
    )
    got = obj.absorbing_transition_discriminator_loss(logits, expert, lab, 0.5, 0.25)
    assert float(got) == pytest.approx(float(explicit), abs=1e-12)
    plain = obj.transition_discriminator_loss(logits, expert)
    zero = obj.absorbing_transition_discriminator_loss(logits, expert, lab, 0.0, 0.0)
    assert float(zero) == pytest.approx(float(plain), abs=1e-12)
    a = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([a], max_iter=100, tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = obj.absorbing_transition_discriminator_loss(logits, expert, a, 0.1, 0.4)
        loss.backward()
        return loss

    opt.step(closure)
    assert float(a.detach()) == pytest.approx(math.log(0.1 / 0.4), abs=1e-6)
    with pytest.raises(ValueError, match=r"absorbing fractions must be in \[0, 1\]"):
        obj.absorbing_transition_discriminator_loss(logits, expert, lab, 1.5, 0.0)


# --------------------------------------------------------------------------------------------
# optimal_log_z under huge or non-finite costs (issue #20): it must end, never spin forever
# --------------------------------------------------------------------------------------------
def _shift_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    cost = torch.tensor([0.0, 2.0, 4.0, 6.0, 8.0, 10.0], dtype=torch.float64)
    log_q = torch.tensor([-1.0, 0.0, 1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    return cost, log_q, torch.tensor([True, True, False, False, False, False])


@pytest.mark.timeout(5)
@pytest.mark.parametrize("shift", [1e16, 1e300, -1e300])
def test_optimal_log_z_ends_for_huge_costs(shift: float) -> None:
    """At |cost| >= 1e16, `hi - 1.0 == hi`: the old fixed bracket step never moved (a hang).

    Shifting every cost by K shifts b* by -K exactly, so b* must land at b*(0) - K to the
    documented relative accuracy.
    """
    cost, lq, is_demo = _shift_batch()
    b0 = float(obj.optimal_log_z(cost, lq, is_demo))
    b = float(obj.optimal_log_z(cost + shift, lq, is_demo))
    assert math.isfinite(b)
    assert abs(b - (b0 - shift)) <= 1e-12 * abs(shift)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("where", ["cost", "log_q"])
def test_optimal_log_z_refuses_non_finite_input(bad: float, where: str) -> None:
    cost, lq, is_demo = _shift_batch()
    (cost if where == "cost" else lq)[3] = bad
    with pytest.raises(ValueError, match=f"{where} has 1 non-finite values"):
        obj.optimal_log_z(cost, lq, is_demo)


@pytest.mark.timeout(5)
def test_optimal_log_z_refuses_overflowing_logits() -> None:
    cost, lq, is_demo = _shift_batch()
    with pytest.raises(ValueError, match="overflows float64"):
        obj.optimal_log_z(cost - 1e308, lq - 1e308, is_demo)
