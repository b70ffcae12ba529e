"""Reward models of the MuJoCo loop, scoring windows drawn from :class:`irl.buffer.EpisodeStore`.

One energy covers GCL, GAN-GCL and AIRL (docs/math.md, "The discriminator", "AIRL and GAIL",
"Windows and the start-state potential"): a window w of L steps scores

    E(w) = Σ_t c_θ(x_t, u_t) + c_abs · (absorbing steps) + h(s_start) − h_end,

with h_end = γ^L-free potential h(s_end) when the window ends alive and the absorbing
continuation's value −c_abs·(steps to the horizon) when it ends terminated. L = horizon and no h
is trajectory-level GAN-GCL; L = 1 with a learned h is AIRL's shaped f = −E. The discriminator
logit is −E − b − log q (b = log Z: learned for GAN-GCL, the per-batch self-consistent IS estimate
for GCL, absent for AIRL whose h absorbs it). GAIL is a free classifier of (s, a) that, with
absorbing states, also classifies the absorbing state (DAC) and prices a termination by its log D.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from irl import objectives as O
from irl.buffer import WindowBatch
from irl.nn import TORQUE_WEIGHT_INIT, MLPCost, RunningNorm

__all__ = ["ALGOS", "Discriminator", "RunningNorm"]

ALGOS = ("gan_gcl", "gcl", "airl", "airl_state", "gail")


class Discriminator(nn.Module):
    """Cost c_θ(x,u), absorbing cost, optional potential h(s) and log Z of one IRL algorithm."""

    log_z_initialised: Tensor
    abs_floor: Tensor

    def __init__(
        self,
        algo: str,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (64, 64),
        use_h: bool = False,
        gamma: float = 1.0,
        absorbing: bool = True,
        normalize_inputs: bool = True,
        lambda_lcr: float = 0.0,
        lambda_mono: float = 0.0,
        mono_margin: float = 1.0,
        weight_decay_l2: float = 0.0,
        state_only: bool = False,
        grad_penalty: float = 0.0,
        absorbing_floor: bool = False,
        torque_term: bool = False,
        torque_init: float = TORQUE_WEIGHT_INIT,
        rank_loss: float = 0.0,
    ) -> None:
        super().__init__()
        if algo not in ALGOS:
            raise ValueError(f"unknown algo {algo!r}; choose one of {', '.join(ALGOS)}")
        self.algo = algo
        self.state_only = state_only or algo == "airl_state"
        self.use_h = use_h or algo in ("airl", "airl_state")
        self.gamma = gamma
        self.absorbing = absorbing
        self.lambda_lcr, self.lambda_mono, self.mono_margin = lambda_lcr, lambda_mono, mono_margin
        self.l2 = weight_decay_l2
        self.grad_penalty = grad_penalty
        self.rank_loss = rank_loss
        self.obs_norm = RunningNorm(obs_dim) if normalize_inputs else None
        self._obs_dim, self._act_dim = obs_dim, act_dim
        # One extra input flags the absorbing state (DAC): its cost is an output of the same
        # network, so it moves as fast as any other cost (an Adam-trained scalar moves only
        # lr per step and left the policy a cheap way out by dying).
        self.cost = MLPCost(
            obs_dim + 1,
            act_dim,
            hidden,
            state_only=self.state_only,
            torque_term=torque_term,
            torque_init=torque_init,
        )
        self.h = MLPCost(obs_dim, 0, hidden, state_only=True) if self.use_h else None
        # GAN-GCL learns b; GCL re-estimates it per batch; AIRL/GAIL have none.
        self.log_z = nn.Parameter(torch.zeros(()), requires_grad=algo == "gan_gcl")
        self.register_buffer("log_z_initialised", torch.zeros((), dtype=torch.bool))
        if absorbing_floor and algo == "gail":
            raise ValueError(
                "absorbing_floor applies to cost-based algos, not gail (log D prices it)"
            )
        self.absorbing_floor = absorbing_floor and absorbing
        if self.absorbing_floor:
            # A lower bound on c_abs that the trainer sets from the sampler's own step prices
            # (set_absorbing_floor); −inf until it does.
            self.register_buffer("abs_floor", torch.tensor(-math.inf, dtype=torch.float64))

    # ------------------------------------------------------------------ per-step pieces
    def _norm(self, obs: Tensor) -> Tensor:
        return obs if self.obs_norm is None else self.obs_norm(obs)

    def step_cost(self, obs: Tensor, acts: Tensor) -> Tensor:
        """c_θ(x, u) for ``[..., d]`` observations and ``[..., a]`` actions (GAIL: −logit)."""
        x = self._norm(obs)
        return self.cost(torch.cat([x, torch.zeros_like(x[..., :1])], -1), acts)

    def absorbing_cost(self) -> Tensor:
        """Cost of one step in the absorbing state (scalar)."""
        p = next(self.cost.parameters())
        x = torch.zeros(1, self._obs_dim + 1, dtype=p.dtype)
        x[0, -1] = 1.0
        c = self.cost(x, torch.zeros(1, self._act_dim, dtype=p.dtype))[0]
        if self.absorbing_floor:
            # A copy: the buffer is overwritten after the energy that backward still needs.
            c = torch.maximum(c, self.abs_floor.to(c).clone())
        return c

    @torch.no_grad()
    def set_absorbing_floor(self, value: float) -> None:
        """Make ``value`` the lower bound of the absorbing cost (needs ``absorbing_floor``)."""
        if not self.absorbing_floor:
            raise RuntimeError("this discriminator was built without absorbing_floor")
        self.abs_floor.fill_(value)

    def potential(self, obs: Tensor) -> Tensor:
        """h(s) (zero without a potential)."""
        if self.h is None:
            return torch.zeros(obs.shape[:-1], dtype=obs.dtype)
        return self.h(self._norm(obs))

    def _discount_sum(self, n: Tensor, gamma: float | None = None) -> Tensor:
        """Σ_{i<n} γ^i (γ: the cost's own discount unless given)."""
        gamma = self.gamma if gamma is None else gamma
        if gamma == 1.0:
            return n
        return (1.0 - gamma**n) / (1.0 - gamma)

    def absorbing_price(self, floor: float | None = None) -> Tensor:
        """The absorbing cost a reward pays per step: c_abs, raised to ``floor`` when given
        (`irl.reward.LearnedReward.termination_floor`); float64 scalar."""
        c = self.absorbing_cost().double()
        if floor is None:
            return c
        return torch.clamp(c, min=float(floor))

    def _absorbing_value(
        self, n: Tensor, gamma: float | None = None, floor: float | None = None
    ) -> Tensor:
        """Discounted cost of n absorbing steps, Σ_{i<n} γ^i c_abs (c_abs floored at ``floor``)."""
        return self.absorbing_price(floor) * self._discount_sum(n, gamma)

    # ------------------------------------------------------------------ windows
    def energy(self, batch: WindowBatch) -> tuple[Tensor, Tensor]:
        """Window energies E [B] (float64) and the per-step costs [B, L] (zero where masked)."""
        steps = self.step_cost(batch.obs, batch.acts)
        steps = torch.where(batch.mask, steps, torch.zeros((), dtype=steps.dtype))
        length = batch.mask.shape[1]
        energy = O.trajectory_cost(steps.double(), batch.mask, self.gamma)
        real = batch.mask.sum(1).double()
        if self.absorbing:
            # Absorbing steps inside the window, then (only for terminated windows) its value
            # up to the horizon, folded in as the end-of-window potential.
            energy = energy + self.gamma**real * self._absorbing_value(batch.n_absorbing)
            energy = energy + self.gamma ** float(length) * self._absorbing_value(
                batch.absorbing_tail
            )
        if self.h is not None:
            h_start = self.potential(batch.start_obs).double()
            h_end = torch.where(
                batch.end_alive,
                self.potential(batch.end_obs).double(),
                torch.zeros((), dtype=torch.float64),
            )
            energy = energy + h_start - self.gamma**real * h_end
        return energy, steps

    def loss(self, batch: WindowBatch) -> tuple[Tensor, dict[str, float]]:
        """The algorithm's discriminator/cost loss on a batch and its diagnostics."""
        is_demo = batch.is_demo
        stats: dict[str, float] = {}
        if self.algo == "gail":
            logits = self.step_cost(batch.obs[:, 0], batch.acts[:, 0]).neg().double()
            if self.absorbing:
                # DAC: D also classifies the absorbing state, weighted by each side's share of
                # absorbing visits, so ending an episode early has a learned price.
                f_d, f_s = batch.absorbing_frac
                abs_logit = self.absorbing_cost().neg().double()
                loss = O.absorbing_transition_discriminator_loss(
                    logits, is_demo, abs_logit, f_d, f_s
                )
                stats["disc/absorbing_log_d"] = float(-F.softplus(-abs_logit.detach()))
            else:
                loss = O.transition_discriminator_loss(logits, is_demo)
            acc = ((logits > 0) == is_demo).double().mean()
            loss = self._penalised(loss, batch, stats)
            stats.update({"disc/loss": float(loss.detach()), "disc/accuracy": float(acc)})
            return loss, stats
        energy, steps = self.energy(batch)
        log_q = batch.log_q.double()
        if self.algo == "gan_gcl":
            if not bool(self.log_z_initialised):
                # Start b at its optimum on the first batch: b is O(window) and Adam moves a
                # scalar by about its learning rate per step.
                with torch.no_grad():
                    self.log_z.copy_(O.optimal_log_z(energy.detach(), log_q, is_demo))
                    self.log_z_initialised.fill_(True)
            b = self.log_z.double()
            loss = O.discriminator_loss(energy, log_q, is_demo, b)
        elif self.algo == "gcl":
            b = O.optimal_log_z(energy, log_q, is_demo).double()
            loss = O.gcl_cost_loss(energy, log_q, is_demo, b)
            with torch.no_grad():
                self.log_z.copy_(b.float())
        else:  # AIRL: logit f − log π with f = −E, no separate log Z
            b = torch.zeros((), dtype=torch.float64)
            logits = -energy - log_q
            loss = O.transition_discriminator_loss(logits, is_demo)
        with torch.no_grad():
            n_d = int(is_demo.sum())
            n_s = int(is_demo.numel() - n_d)
            logits = O.discriminator_logits(energy, log_q, b, math.log(n_d / n_s))
            acc = ((logits > 0) == is_demo).double().mean()
            log_w = O.importance_log_weights(energy, log_q, is_demo, b)
            ess = O.effective_sample_size(log_w) / log_w.numel()
            # The samples' own share: the quantity that collapses to 1 window over long
            # trajectories when the importance set holds samples only (AIRL paper, GAN-GCL).
            ess_s = O.effective_sample_size(log_w[~is_demo]) / max(n_s, 1)
            stats.update(
                {
                    "disc/accuracy": float(acc),
                    "disc/log_z": float(b),
                    "disc/ess_frac": float(ess),
                    "disc/ess_frac_samples": float(ess_s),
                    "disc/demo_energy": float(energy[is_demo].mean()),
                    "disc/sample_energy": float(energy[~is_demo].mean()),
                    "disc/optimal_log_z": float(O.optimal_log_z(energy, log_q, is_demo)),
                }
            )
        if self.rank_loss > 0:
            rank = O.pairwise_rank_loss(energy, is_demo)
            stats["disc/rank_loss"] = float(rank.detach())
            loss = loss + self.rank_loss * rank
        if self.lambda_lcr > 0:
            loss = loss + self.lambda_lcr * O.lcr_penalty(steps, batch.mask).mean()
        if self.lambda_mono > 0:
            mono = O.mono_penalty(steps[is_demo], batch.mask[is_demo], self.mono_margin)
            loss = loss + self.lambda_mono * mono.mean()
        if self.l2 > 0:
            loss = loss + self.l2 * sum(p.square().sum() for p in self.cost.parameters())
        loss = self._penalised(loss, batch, stats)
        if self.cost.torque_term:
            stats["disc/torque_weight"] = float(self.cost.torque_weight().detach())
        stats["disc/loss"] = float(loss.detach())
        return loss, stats

    def _penalised(self, loss: Tensor, batch: WindowBatch, stats: dict[str, float]) -> Tensor:
        """``loss`` plus the weighted gradient penalty when one is set (logged in ``stats``)."""
        if self.grad_penalty <= 0:
            return loss
        gp = self.gradient_penalty(batch)
        stats["disc/grad_penalty"] = float(gp.detach())
        return loss + self.grad_penalty * gp

    def gradient_penalty(self, batch: WindowBatch, max_points: int = 256) -> Tensor:
        """Mean ‖∇c‖² over the cost's inputs at points between demo and sample steps."""
        # Zero-centred (Mescheder et al. 2018) on interpolates (as DAC): a perfectly separating
        # cost may otherwise be a cliff between demos and samples, flat on both sides, which
        # tells the sampler nothing about where to go.
        mask = batch.mask
        demo = mask & batch.is_demo[:, None]
        samp = mask & ~batch.is_demo[:, None]
        dt = next(self.cost.parameters()).dtype
        x_d, u_d = self._norm(batch.obs[demo].to(dt)), batch.acts[demo].to(dt)
        x_s, u_s = self._norm(batch.obs[samp].to(dt)), batch.acts[samp].to(dt)
        n = min(len(x_d), len(x_s), max_points)
        if n == 0:
            return torch.zeros((), dtype=torch.float64)
        i_d = torch.randperm(len(x_d))[:n]
        i_s = torch.randperm(len(x_s))[:n]
        eps = torch.rand(n, 1, dtype=x_d.dtype)
        x = (eps * x_d[i_d] + (1 - eps) * x_s[i_s]).detach().requires_grad_(True)
        u = (eps * u_d[i_d] + (1 - eps) * u_s[i_s]).detach().requires_grad_(True)
        c = self.cost(torch.cat([x, torch.zeros_like(x[:, :1])], -1), u)
        gx, gu = torch.autograd.grad(c.sum(), (x, u), create_graph=True, allow_unused=True)
        sq = gx.square().sum(-1)
        if gu is not None:
            sq = sq + gu.square().sum(-1)
        return sq.mean().double()

    @torch.no_grad()
    def classify(self, batch: WindowBatch) -> dict[str, float]:
        """Held-out diagnostics of a batch: D's accuracy (D > ½ ⇔ demo) and the cost's AUC.

        ``cost_auc`` is P(E(demo window) < E(sample window)), ties counted half: the learned
        cost alone, without the −log q term that lets D tell samples apart from the start.
        """
        is_demo = batch.is_demo
        if self.algo == "gail":
            logits = self.step_cost(batch.obs[:, 0], batch.acts[:, 0]).neg().double()
            energy = -logits
        else:
            energy, _ = self.energy(batch)
            log_q = batch.log_q.double()
            if self.algo == "gan_gcl" and bool(self.log_z_initialised):
                b = self.log_z.double()
            elif self.algo in ("gan_gcl", "gcl"):
                b = O.optimal_log_z(energy, log_q, is_demo).double()
            else:
                b = torch.zeros((), dtype=torch.float64)
            n_d = int(is_demo.sum())
            prior = math.log(n_d / (len(is_demo) - n_d))
            logits = O.discriminator_logits(energy, log_q, b, prior)
        e_d, e_s = energy[is_demo], energy[~is_demo]
        below = (e_d[:, None] < e_s[None, :]).double().mean()
        ties = (e_d[:, None] == e_s[None, :]).double().mean()
        return {
            "accuracy": float(((logits > 0) == is_demo).double().mean()),
            "cost_auc": float(below + 0.5 * ties),
        }

    # ------------------------------------------------------------------ policy reward
    @torch.no_grad()
    def reward(
        self,
        obs: Tensor,
        acts: Tensor,
        next_obs: Tensor,
        terminated: Tensor,
        absorbing_steps: Tensor,
        shaping: bool = True,
        tail_gamma: float | None = None,
        termination_floor: float | None = None,
    ) -> Tensor:
        """Per-step policy reward without the entropy term, ``[N]`` float64.

        ``tail_gamma``: the discount of the absorbing tail (default: the cost's own γ). An
        optimiser that discounts by γ' sees the tail as the absorbing state it stands for only
        when the tail is discounted by γ' too. ``termination_floor``: the absorbing step is
        priced at no less than this cost (None: c_abs as learned; `irl.reward`).

        −c_θ(x,u) (GAIL: log D) plus, at a terminated step, the discounted value of the
        absorbing steps up to the horizon, and with a potential the shaping γh(s') − h(s)
        (AIRL's f). Subtract α log π separately (on-policy) or let SAC's soft backup do it.
        """
        g = self.gamma if tail_gamma is None else tail_gamma  # the absorbing tail's discount
        if self.algo == "gail":
            r = O.gail_reward(self.step_cost(obs, acts).neg().double())
            if self.absorbing:
                # log D of the absorbing state for each step left to the horizon (DAC).
                log_d_abs = O.gail_reward(self.absorbing_price(termination_floor).neg())
                r = r + torch.where(
                    terminated.bool(),
                    g * log_d_abs * self._discount_sum(absorbing_steps.double(), g),
                    torch.zeros((), dtype=torch.float64),
                )
            return r
        r = -self.step_cost(obs, acts).double()
        term = terminated.bool()
        if self.absorbing:
            r = r - torch.where(
                term,
                g * self._absorbing_value(absorbing_steps.double(), g, termination_floor),
                torch.zeros((), dtype=torch.float64),
            )
        if self.h is not None and shaping:
            h_next = torch.where(
                term, torch.zeros((), dtype=torch.float64), self.potential(next_obs).double()
            )
            r = r + self.gamma * h_next - self.potential(obs).double()
        return r

    def param_groups(self, lr: float, log_z_lr: float) -> list[dict[str, Any]]:
        """Optimiser groups: the networks at ``lr``, the scalar log Z at ``log_z_lr``."""
        nets = [p for n, p in self.named_parameters() if p.requires_grad and n != "log_z"]
        groups: list[dict[str, Any]] = [{"params": nets, "lr": lr}]
        if self.log_z.requires_grad:
            groups.append({"params": [self.log_z], "lr": log_z_lr})
        return groups
