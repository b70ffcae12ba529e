"""Cost networks c_θ(x, u) and small torch utilities shared by the trainers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["MLPCost", "frozen"]


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
