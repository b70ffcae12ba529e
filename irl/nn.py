"""Cost networks c_θ(x, u) and small torch utilities shared by the trainers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["MLPCost", "QuadraticFeatureCost", "frozen"]


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


class MLPCost(nn.Module):
    """Per-step cost c_θ(x[, u]) as an MLP; ``forward`` maps ``[..., obs(+act)] -> [...]``."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int = 0,
        hidden: Sequence[int] = (64, 64),
        state_only: bool = False,
    ) -> None:
        super().__init__()
        self.state_only = state_only
        in_dim = obs_dim + (0 if state_only else act_dim)
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(in_dim, width), nn.ReLU()]
            in_dim = width
        layers.append(nn.Linear(in_dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: Tensor, act: Tensor | None = None) -> Tensor:
        """Per-step cost, shape of ``obs`` without its last axis."""
        x = obs if self.state_only or act is None else torch.cat([obs, act], dim=-1)
        return self.net(x).squeeze(-1)


class QuadraticFeatureCost(nn.Module):
    """GCL's cost ‖A f_θ(x) + b‖² + w_u ‖u‖², f_θ a ReLU MLP initialised to the identity."""

    def __init__(self, obs_dim: int, n_layers: int = 2, torque_weight: float = 1e-3) -> None:
        super().__init__()
        width = 2 * obs_dim
        first = nn.Linear(obs_dim, width)
        with torch.no_grad():
            # [I; -I] then ReLU keeps x's positive and negative parts; the next layer recombines.
            first.weight.copy_(torch.cat([torch.eye(obs_dim), -torch.eye(obs_dim)]))
            first.bias.zero_()
        layers: list[nn.Module] = [first, nn.ReLU()]
        for _ in range(n_layers - 1):
            hidden = nn.Linear(width, width)
            with torch.no_grad():
                hidden.weight.copy_(torch.eye(width))
                hidden.bias.zero_()
            layers += [hidden, nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.A = nn.Linear(width, obs_dim)
        with torch.no_grad():
            self.A.weight.copy_(torch.cat([torch.eye(obs_dim), -torch.eye(obs_dim)], dim=1))
            self.A.bias.zero_()
        self.torque_weight = torque_weight

    def forward(self, obs: Tensor, act: Tensor | None = None) -> Tensor:
        """Non-negative per-step cost."""
        c = self.A(self.features(obs)).square().sum(-1)
        if act is not None:
            c = c + self.torque_weight * act.square().sum(-1)
        return c
