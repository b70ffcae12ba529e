"""Sample fusion over past samplers: the cached log-density matrix of SPEC §2.4."""

from __future__ import annotations

import torch
from torch import Tensor

from irl.objectives import fused_log_q

__all__ = ["FusionCache"]


class FusionCache:
    """Cache of L[j, k] = Σ_t log π_k(u_t^j | x_t^j) for every stored item j and sampler snapshot k.

    Items are demos (owner ``-1``: they count towards no sampler) or rollouts of sampler k. When
    a new sampler arrives, the caller evaluates every stored item under it once
    (:meth:`add_sampler`); new rollouts are evaluated under every stored snapshot once
    (:meth:`add_items`). :meth:`log_q` then gives the balance-heuristic density
    q_bg = Σ_k (n_k/n) q_k, with n_k the number of *current* items from sampler k.
    """

    def __init__(self) -> None:
        self.L = torch.zeros(0, 0, dtype=torch.float64)
        self.owner = torch.zeros(0, dtype=torch.long)

    @property
    def n_samplers(self) -> int:
        """Number of sampler snapshots registered."""
        return int(self.L.shape[1])

    def __len__(self) -> int:
        return int(self.L.shape[0])

    def counts(self) -> Tensor:
        """Items currently held from each sampler, ``[K]``."""
        owned = self.owner[self.owner >= 0]
        return torch.bincount(owned, minlength=self.n_samplers).to(torch.float64)

    def add_sampler(self, log_prob_existing: Tensor) -> int:
        """Register a sampler from its log-density of each stored item ``[len]``; returns its id."""
        if log_prob_existing.shape != (len(self),):
            raise ValueError(
                f"expected [{len(self)}] log-densities, got {tuple(log_prob_existing.shape)}"
            )
        column = log_prob_existing.detach().to(torch.float64)[:, None]
        self.L = torch.cat([self.L, column], dim=1)
        return self.n_samplers - 1

    def add_items(self, log_prob_all: Tensor, owner: int) -> Tensor:
        """Store items from their log-densities under every sampler ``[n, K]``; returns indices."""
        if log_prob_all.dim() != 2 or log_prob_all.shape[1] != self.n_samplers:
            raise ValueError(f"expected [n, {self.n_samplers}], got {tuple(log_prob_all.shape)}")
        if not -1 <= owner < self.n_samplers:
            raise ValueError(f"owner must be -1 (demo) or a registered sampler, got {owner}")
        start = len(self)
        self.L = torch.cat([self.L, log_prob_all.detach().to(torch.float64)], dim=0)
        self.owner = torch.cat([self.owner, torch.full((log_prob_all.shape[0],), owner)])
        return torch.arange(start, len(self))

    def evict(self, indices: Tensor) -> None:
        """Drop items (their rows; the counts n_k shrink accordingly)."""
        keep = torch.ones(len(self), dtype=torch.bool)
        keep[indices] = False
        self.L, self.owner = self.L[keep], self.owner[keep]

    def log_q(self, indices: Tensor | None = None) -> Tensor:
        """Fused log q_bg of the given items (default: all), ``[n]``."""
        rows = self.L if indices is None else self.L[indices]
        return fused_log_q(rows, self.counts())
