"""The energy network and the tractable-density samplers of the energy-based view.

E_θ(x) is a small MLP; the samplers (a Gaussian mixture and a RealNVP flow on R²) draw points
and evaluate their exact log-density q(x), which the discriminator of docs/math.md, "The
discriminator", needs on data and samples alike. The experiments are in docs/ebm.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["AffineCouplingFlow", "EnergyMLP", "GaussianMixture", "Sampler"]


def _silu_mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """An ``in_dim``-hidden-hidden-``out_dim`` MLP with SiLU activations."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden),
        nn.SiLU(),
        nn.Linear(hidden, hidden),
        nn.SiLU(),
        nn.Linear(hidden, out_dim),
    )


class EnergyMLP(nn.Module):
    """E_θ(x): a 2-128-128-1 MLP with SiLU activations, ``[N, 2] -> [N]``.

    Args:
        hidden: Width of the two hidden layers.
    """

    def __init__(self, hidden: int = 128) -> None:
        super().__init__()
        self.net = _silu_mlp(2, hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Energy of each point.

        Args:
            x: Points, ``[N, 2]``.

        Returns:
            E_θ(x), ``[N]`` (nats; p_θ ∝ exp(-E_θ)).
        """
        return self.net(x).squeeze(-1)


class Sampler(nn.Module):
    """A sampler with a tractable density: ``sample(n)`` without gradient and exact ``log_prob``."""

    def sample(self, n: int) -> Tensor:
        """Draw points without gradient.

        Args:
            n: Number of points.

        Returns:
            ``[n, 2]`` points.
        """
        raise NotImplementedError

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density.

        Args:
            x: Points, ``[N, 2]``.

        Returns:
            log q(x), ``[N]`` (nats).
        """
        raise NotImplementedError


class GaussianMixture(Sampler):
    """Mixture of K diagonal Gaussians: exact log-density, per-component reparameterisation.

    Args:
        k: Number of components.
        init_scale: Standard deviation of the random initial means.
        seed: Seed of the initial means (the global RNG is left alone).
    """

    def __init__(self, k: int = 8, init_scale: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.means = nn.Parameter(init_scale * torch.randn(k, 2, generator=g))
        self.log_stds = nn.Parameter(torch.zeros(k, 2))
        self.logits = nn.Parameter(torch.zeros(k))

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact mixture log-density, by log-sum-exp over components.

        Args:
            x: Points, ``[N, 2]``.

        Returns:
            log q(x), ``[N]`` (nats).
        """
        z = (x[:, None, :] - self.means) / self.log_stds.exp()
        log_n = -0.5 * z.square().sum(-1) - self.log_stds.sum(-1) - math.log(2 * math.pi)
        return torch.logsumexp(torch.log_softmax(self.logits, 0) + log_n, 1)

    def sample(self, n: int) -> Tensor:
        """Draw from the mixture (no gradient through the discrete choice).

        Args:
            n: Number of points.

        Returns:
            ``[n, 2]`` points.
        """
        with torch.no_grad():
            k = torch.multinomial(torch.softmax(self.logits, 0), n, replacement=True)
            return self.means[k] + self.log_stds[k].exp() * torch.randn(n, 2)

    def expectation(self, f: Callable[[Tensor], Tensor], n_per_component: int) -> Tensor:
        """E_q[f(x)] = Σ_k w_k E_{N_k}[f], reparameterised per component (no discrete draw).

        Args:
            f: Maps ``[M, 2]`` points to ``[M]`` values.
            n_per_component: Monte Carlo draws per component.

        Returns:
            The scalar estimate, differentiable in the mixture's parameters.
        """
        eps = torch.randn(self.means.shape[0], n_per_component, 2)
        x = self.means[:, None, :] + self.log_stds.exp()[:, None, :] * eps
        vals = f(x.reshape(-1, 2)).view(self.means.shape[0], n_per_component).mean(1)
        return (torch.softmax(self.logits, 0) * vals).sum()


class _Coupling(nn.Module):
    """One affine coupling: the unmasked coordinate is scaled and shifted given the masked one."""

    mask: Tensor

    def __init__(self, mask: Tensor, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = _silu_mlp(2, hidden, 4)
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)  # start at the identity map
        nn.init.zeros_(last.bias)
        self.scale = nn.Parameter(torch.ones(2))

    def _st(self, x_masked: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self.net(x_masked).chunk(2, dim=-1)
        s = self.scale * torch.tanh(s)  # bounded log-scales keep the flow well conditioned
        keep = 1 - self.mask
        return s * keep, t * keep

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Forward map: ``([N, 2] -> [N, 2], log|det J| [N])``."""
        s, t = self._st(z * self.mask)
        return z * torch.exp(s) + t, s.sum(-1)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Inverse map: ``([N, 2] -> [N, 2], log|det J⁻¹| [N])``."""
        s, t = self._st(x * self.mask)
        return (x - t) * torch.exp(-s), -s.sum(-1)


class AffineCouplingFlow(Sampler):
    """RealNVP on R²: affine couplings over a Gaussian (or K-Gaussian) base; exact log q.

    With ``base_k > 1`` the base is an equal-weight mixture of K learned diagonal Gaussians: a
    flow from a single Gaussian must stretch thin bridges between separated modes, which
    reverse-KL training then abandons. Fixed equal weights keep the draw gradient-free.

    Args:
        n_couplings: Number of affine couplings (alternating masks).
        hidden: Width of each coupling's MLP.
        base_scale: Standard deviation of the base (its components' spread when ``base_k > 1``).
        base_k: Gaussians in the base distribution.
        seed: Seed of the base means (the couplings draw from the global RNG).
    """

    def __init__(
        self,
        n_couplings: int = 8,
        hidden: int = 64,
        base_scale: float = 2.0,
        base_k: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        masks = [
            torch.tensor([1.0, 0.0]) if i % 2 == 0 else torch.tensor([0.0, 1.0])
            for i in range(n_couplings)
        ]
        self.couplings = nn.ModuleList(_Coupling(m, hidden) for m in masks)
        g = torch.Generator().manual_seed(seed)
        spread = base_scale if base_k > 1 else 0.0
        self.base_means = nn.Parameter(spread * torch.randn(base_k, 2, generator=g))
        scale = base_scale / 2 if base_k > 1 else base_scale
        self.base_log_stds = nn.Parameter(torch.full((base_k, 2), math.log(scale)))

    def _base_log_prob(self, z: Tensor) -> Tensor:
        eps = (z[:, None, :] - self.base_means) / self.base_log_stds.exp()
        log_n = -0.5 * eps.square().sum(-1) - self.base_log_stds.sum(-1) - math.log(2 * math.pi)
        return torch.logsumexp(log_n, 1) - math.log(self.base_means.shape[0])

    def rsample_with_log_prob(self, n: int) -> tuple[Tensor, Tensor]:
        """Reparameterised samples and their log-density by the forward pass.

        Args:
            n: Number of points.

        Returns:
            ``(x [n, 2], log q(x) [n])``, both differentiable in the flow's parameters.
        """
        k = torch.randint(0, self.base_means.shape[0], (n,))
        z = self.base_means[k] + self.base_log_stds[k].exp() * torch.randn(n, 2)
        log_q = self._base_log_prob(z)
        for layer in self.couplings:
            z, log_det = layer(z)
            log_q = log_q - log_det
        return z, log_q

    def sample(self, n: int) -> Tensor:
        """Draw points without gradient.

        Args:
            n: Number of points.

        Returns:
            ``[n, 2]`` points.
        """
        with torch.no_grad():
            return self.rsample_with_log_prob(n)[0]

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density by the inverse pass.

        Args:
            x: Points, ``[N, 2]``.

        Returns:
            log q(x), ``[N]`` (nats).
        """
        log_det_total = torch.zeros(x.shape[0], dtype=x.dtype)
        z = x
        for layer in reversed(self.couplings):
            assert isinstance(layer, _Coupling)
            z, log_det = layer.inverse(z)
            log_det_total = log_det_total + log_det
        return self._base_log_prob(z) + log_det_total
