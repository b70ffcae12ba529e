"""Cost networks c_θ(x, u) and small torch utilities shared by the trainers and samplers."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["MLPCost", "RunningNorm", "frozen"]


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Turn off a module's parameter gradients inside the block (the cost in a generator step)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


class RunningNorm(nn.Module):
    """Running mean/std of inputs (demos and samples), applied as (x − µ)/σ clipped to ±10.

    The cost's input normalisation and, with ``sampler.obs_norm``, the PPO policy's."""

    mean: Tensor
    var: Tensor
    count: Tensor

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.eps = eps

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        """Fold a batch ``[N, dim]`` into the statistics (Chan et al. parallel update)."""
        x = x.reshape(-1, x.shape[-1]).double()
        n = float(x.shape[0])
        if n == 0:
            return
        m, v = x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        delta = m - self.mean
        self.mean += delta * n / total
        self.var.copy_(
            (self.var * self.count + v * n + delta.square() * self.count * n / total) / total
        )
        self.count.copy_(total)

    def forward(self, x: Tensor) -> Tensor:
        """Normalised input in the dtype of ``x``."""
        std = (self.var + self.eps).sqrt().to(x.dtype)
        return ((x - self.mean.to(x.dtype)) / std).clamp(-10.0, 10.0)


# w_u at initialisation of the learned torque term, softplus(ρ), unless a cost is given another
# (cost.torque_init).
TORQUE_WEIGHT_INIT = 0.1


class MLPCost(nn.Module):
    """Per-step cost c_θ(x[, u]) as an MLP; ``forward`` maps ``[..., obs(+act)] -> [...]``.

    With ``torque_term`` the cost gains GCL's torque penalty, c(x, u) = f(x[, u]) + w_u‖u‖²
    (Finn et al. 2016, GCL's cost form), here with w_u = softplus(ρ) ≥ 0 learned with the rest:
    a state-only f plus the torque term prices effort without tying the reward to the dynamics
    (docs/math.md#a-torque-term).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int = 0,
        hidden: Sequence[int] = (64, 64),
        state_only: bool = False,
        torque_term: bool = False,
        torque_init: float = TORQUE_WEIGHT_INIT,
    ) -> None:
        super().__init__()
        if torque_term and act_dim <= 0:
            raise ValueError("a torque term needs actions (act_dim > 0)")
        if not (math.isfinite(torque_init) and torque_init > 0):
            raise ValueError(f"the torque term's initial weight must be > 0, got {torque_init}")
        self.state_only = state_only
        self.torque_term = torque_term
        in_dim = obs_dim + (0 if state_only else act_dim)
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(in_dim, width), nn.ReLU()]
            in_dim = width
        layers.append(nn.Linear(in_dim, 1))
        self.net = nn.Sequential(*layers)
        if torque_term:
            rho = math.log(math.expm1(torque_init))  # softplus⁻¹(w_u)
            self.torque_rho = nn.Parameter(torch.tensor(rho))

    def torque_weight(self) -> Tensor:
        """w_u of the torque term (0 without one)."""
        if not self.torque_term:
            return torch.zeros(())
        return nn.functional.softplus(self.torque_rho)

    def forward(self, obs: Tensor, act: Tensor | None = None) -> Tensor:
        """Per-step cost, shape of ``obs`` without its last axis."""
        x = obs if self.state_only or act is None else torch.cat([obs, act], dim=-1)
        cost = self.net(x).squeeze(-1)
        if self.torque_term and act is not None:
            cost = cost + self.torque_weight().to(cost) * act.square().sum(-1)
        return cost
