"""Tests E1–E7: the sample-based estimators against exact tabular references.

docs/math.md, "Tabular reference" and "What the tests check".
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from irl import objectives as obj
from irl import tabular as tb


def _corner_start(n: int) -> torch.Tensor:
    rho = torch.zeros(n, dtype=torch.float64)
    rho[0] = 1.0
    return rho


def _traj_cost(cost: torch.Tensor, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    return obj.trajectory_cost(cost[states, actions])


def _counts(states: torch.Tensor, actions: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """[n, S, A] visit counts per trajectory."""
    n = states.shape[0]
    flat = states * shape[1] + actions
    out = torch.zeros(n, shape[0] * shape[1], dtype=torch.float64)
    out.scatter_add_(1, flat, torch.ones_like(flat, dtype=torch.float64))
    return out.view(n, *shape)


# --------------------------------------------------------------------------------------------
# E1: enumeration
# --------------------------------------------------------------------------------------------
def test_e1_log_partition_matches_enumeration_and_visitation_is_its_gradient() -> None:
    rng = np.random.default_rng(0)
    n_s, n_a, horizon = 6, 3, 4
    P = torch.as_tensor(rng.dirichlet(np.ones(n_s), size=(n_s, n_a)))
    rho0 = torch.as_tensor(rng.dirichlet(np.ones(n_s)))
    cost = torch.as_tensor(rng.uniform(0, 2, size=(n_s, n_a)))
    total = torch.zeros((), dtype=torch.float64)
    for seq in itertools.product(range(n_a), repeat=horizon):
        alpha = rho0.clone()  # states marginalised by a forward pass for this action sequence
        for a in seq:
            alpha = (alpha * torch.exp(-cost[:, a])) @ P[:, a, :]
        total = total + alpha.sum()
    log_z = tb.log_partition(P, rho0, cost, horizon)
    assert abs(float(log_z - torch.log(total))) < 1e-10

    d = tb.visitation(P, rho0, cost, horizon)
    torch.testing.assert_close(
        d.sum((1, 2)), torch.ones(horizon, dtype=torch.float64), rtol=0, atol=1e-12
    )
    c = cost.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(tb.log_partition(P, rho0, c, horizon), c)
    torch.testing.assert_close(grad, -d.sum(0), rtol=0, atol=1e-12)  # ∂logZ/∂c = -Σ_t D_t


# --------------------------------------------------------------------------------------------
# E2: the soft-optimal sampler is a zero-variance importance sampler
# --------------------------------------------------------------------------------------------
def test_e2_zero_variance_sampler_on_deterministic_grid() -> None:
    P = tb.gridworld(5)
    rho0, horizon = _corner_start(25), 8
    cost = torch.rand(25, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    policy = tb.soft_value_iteration(P, cost, horizon).policy
    states, actions, log_pi = tb.sample_trajectories(
        P, rho0, policy, 200, horizon, torch.Generator().manual_seed(2)
    )
    C, lq = _traj_cost(cost, states, actions), log_pi.sum(1)
    log_w = obj.importance_log_weights(C, lq, torch.zeros(200, dtype=torch.bool), 0.0)
    log_z = float(tb.log_partition(P, rho0, cost, horizon))
    assert float(log_w.max() - log_w.min()) < 1e-10
    assert abs(float(log_w.mean()) - log_z) < 1e-10
    assert abs(float(obj.effective_sample_size(log_w)) - 200) < 1e-6


# --------------------------------------------------------------------------------------------
# E3/E4: consistency rate and Jensen bias of the IS estimator (uniform sampler)
# --------------------------------------------------------------------------------------------
def _uniform_batch(
    cost: torch.Tensor, n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    P, rho0, horizon = tb.gridworld(5), _corner_start(25), 8
    uniform = torch.full((25, 5), 0.2, dtype=torch.float64)
    states, actions, log_pi = tb.sample_trajectories(
        P, rho0, uniform, n, horizon, torch.Generator().manual_seed(seed)
    )
    return states, actions, log_pi.sum(1)


def test_e3_importance_gradient_converges_at_root_m_rate() -> None:
    P, rho0, horizon = tb.gridworld(5), _corner_start(25), 8
    cost = torch.rand(25, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    exact = -tb.visitation(P, rho0, cost, horizon).sum(0)  # ∂logZ/∂c
    medians, ess_fracs = [], []
    for m in (1_000, 10_000, 100_000):
        errors = []
        for seed in range(10):
            states, actions, lq = _uniform_batch(cost, m, seed)
            c = cost.clone().requires_grad_(True)
            log_w = obj.importance_log_weights(
                _traj_cost(c, states, actions), lq, torch.zeros(m, dtype=torch.bool), 0.0
            )
            log_z_hat = torch.logsumexp(log_w, 0) - math.log(m)
            (grad,) = torch.autograd.grad(log_z_hat, c)
            errors.append(float((grad - exact).norm() / exact.norm()))
            ess_fracs.append(float(obj.effective_sample_size(log_w.detach())) / m)
        medians.append(float(np.median(errors)))
    assert medians[0] < 0.10 and medians[1] < 0.035 and medians[2] < 0.012, medians
    slope = np.polyfit(np.log([1e3, 1e4, 1e5]), np.log(medians), 1)[0]
    assert -0.65 < slope < -0.35, slope
    assert 0.2 < float(np.mean(ess_fracs)) < 0.7


def test_e4_jensen_bias_is_negative_and_shrinks_like_one_over_m() -> None:
    P, rho0, horizon = tb.gridworld(5), _corner_start(25), 8
    cost = torch.rand(25, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    log_z = float(tb.log_partition(P, rho0, cost, horizon))
    # 8000 repetitions: with 2000 the standard error at M = 100 is half the bias itself.
    n_seeds, biases, ses, predicted = 8000, [], [], []
    for m in (25, 100):
        states, actions, lq = _uniform_batch(cost, n_seeds * m, seed=10 + m)
        C = _traj_cost(cost, states, actions).view(n_seeds, m)
        lq = lq.view(n_seeds, m)
        no_demo = torch.zeros(m, dtype=torch.bool)
        err = (
            torch.stack([obj.importance_log_z(C[i], lq[i], no_demo, 0.0) for i in range(n_seeds)])
            - log_z
        )
        biases.append(float(err.mean()))
        ses.append(float(err.std() / math.sqrt(n_seeds)))
        # Delta method: E[log Ẑ] - log Z ≈ -Var(w/Z) / (2M).
        predicted.append(-float(torch.exp(-C - lq - log_z).var()) / (2 * m))
    assert biases[0] + 3 * ses[0] < 0, (biases, ses)  # log of an unbiased Ẑ underestimates
    assert 2.0 < biases[0] / biases[1] < 8.0, biases  # ~4x smaller at 4x the samples
    for bias, se, pred in zip(biases, ses, predicted, strict=True):
        assert abs(bias - pred) < 3 * se, (biases, predicted, ses)


# --------------------------------------------------------------------------------------------
# E5: demos from the model itself -> zero GCL gradient at the true parameters
# --------------------------------------------------------------------------------------------
def test_e5_gcl_gradient_vanishes_at_true_parameters_on_mixture_path() -> None:
    P, rho0, horizon, n = tb.gridworld(5), _corner_start(25), 8, 20_000
    true_cost = torch.rand(25, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    model_policy = tb.soft_value_iteration(P, true_cost, horizon).policy
    ds, da, _ = tb.sample_trajectories(
        P, rho0, model_policy, n, horizon, torch.Generator().manual_seed(5)
    )
    ss, sa, _ = tb.sample_trajectories(
        P,
        rho0,
        torch.full((25, 5), 0.2, dtype=torch.float64),
        n,
        horizon,
        torch.Generator().manual_seed(6),
    )
    states, actions = torch.cat([ds, ss]), torch.cat([da, sa])
    lq = torch.full((2 * n,), horizon * math.log(0.2), dtype=torch.float64)  # q = uniform sampler
    is_demo = torch.arange(2 * n) < n
    demo_counts = _counts(ds, da, (25, 5)).mean(0)

    def gcl_grad(cost: torch.Tensor) -> torch.Tensor:
        c = cost.clone().requires_grad_(True)
        log_z = tb.log_partition(P, rho0, cost, horizon)  # p̃ = the current model at its own log Z
        loss = obj.gcl_cost_loss(_traj_cost(c, states, actions), lq, is_demo, log_z)
        return torch.autograd.grad(loss, c)[0]

    at_truth = float(gcl_grad(true_cost).norm() / demo_counts.norm())
    perturbed = true_cost + 0.5 * torch.rand(
        25, 5, generator=torch.Generator().manual_seed(7), dtype=torch.float64
    )
    away = float(gcl_grad(perturbed).norm() / demo_counts.norm())
    assert at_truth < 0.03, at_truth
    assert away > 5 * at_truth, (at_truth, away)


# --------------------------------------------------------------------------------------------
# E6: exact-visitation MaxEnt IRL recovers AIRL's tabular reward
# --------------------------------------------------------------------------------------------
def test_e6_maxent_irl_recovers_state_only_reward_and_expert_return() -> None:
    P = tb.random_mdp(16, 4, branching=2, seed=0)
    rho0 = torch.zeros(16, dtype=torch.float64)
    rho0[1] = 1.0  # start in state 1
    reward = torch.zeros(16, dtype=torch.float64)
    reward[0] = 1.0  # reward 1 for any action in state 0
    r_sa = reward[:, None].expand(16, 4)
    gamma = 0.9
    expert = tb.soft_value_iteration(P, -r_sa, None, gamma=gamma, alpha=1.0).policy
    demo_visits = tb.discounted_state_visitation(P, rho0, expert, gamma, None)
    result = tb.maxent_irl(P, rho0, demo_visits, gamma=gamma, lr=0.01, n_iters=1000)
    err = ((result.reward - result.reward.mean()) - (reward - reward.mean())).abs().max()
    assert float(err) < 0.05, float(err)
    ratio = tb.expected_return(P, rho0, result.policy, r_sa, gamma) / tb.expected_return(
        P, rho0, expert, r_sa, gamma
    )
    assert ratio >= 0.99, ratio
    # Negative control: the same budget with a 100x smaller step has not recovered it.
    short = tb.maxent_irl(P, rho0, demo_visits, gamma=gamma, lr=1e-4, n_iters=1000)
    assert (
        float(((short.reward - short.reward.mean()) - (reward - reward.mean())).abs().max()) > 0.5
    )


# --------------------------------------------------------------------------------------------
# E7: full GCL / GAN-GCL loops with an exact soft-VI sampler
# --------------------------------------------------------------------------------------------
def _full_loop(kind: str) -> tuple[float, float]:
    P, rho0, horizon = tb.gridworld(5), _corner_start(25), 8
    g = torch.Generator().manual_seed(8)
    true_cost = 2.0 * torch.rand(25, 5, generator=g, dtype=torch.float64)
    expert = tb.soft_value_iteration(P, true_cost, horizon).policy
    n_demo = 20_000  # the KL floor of the empirical MLE is ~(visited parameters)/(2 n_demo)
    ds, da, _ = tb.sample_trajectories(P, rho0, expert, n_demo, horizon, g)
    theta = torch.zeros(25, 5, dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([theta, b], lr=0.05)
    n_iters = 400
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - 0.9 * i / n_iters)
    kl0 = tb.trajectory_kl(P, rho0, true_cost, theta.detach(), horizon)
    n_b = 256
    for _ in range(n_iters):
        with torch.no_grad():
            sampler = tb.soft_value_iteration(P, theta, horizon).policy
        ss, sa, _ = tb.sample_trajectories(P, rho0, sampler, n_b, horizon, g)
        idx = torch.randint(0, n_demo, (n_b,), generator=g)
        states, actions = torch.cat([ds[idx], ss]), torch.cat([da[idx], sa])
        # The sampler's log-density of every item, demos included (recomputed each iteration).
        pi_t = sampler[torch.arange(horizon)[None, :], states, actions]
        lq = torch.log(pi_t).sum(1)
        is_demo = torch.arange(2 * n_b) < n_b
        cost = _traj_cost(theta, states, actions)
        if kind == "gcl":
            log_z = obj.optimal_log_z(cost.detach(), lq, is_demo)
            loss = obj.gcl_cost_loss(cost, lq, is_demo, log_z)
        else:
            loss = obj.discriminator_loss(cost, lq, is_demo, b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return kl0, tb.trajectory_kl(P, rho0, true_cost, theta.detach(), horizon)


def test_e7_gcl_full_loop_drives_kl_to_zero() -> None:
    kl0, kl = _full_loop("gcl")
    assert kl < 0.05 and kl < 0.02 * kl0, (kl0, kl)


def test_e7_gan_gcl_full_loop_drives_kl_to_zero() -> None:
    kl0, kl = _full_loop("gan_gcl")
    assert kl < 0.05 and kl < 0.02 * kl0, (kl0, kl)
