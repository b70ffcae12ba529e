"""Grid-quadrature metrics of the energy-based view (docs/ebm.md, "Metrics").

Midpoint quadrature on [-4, 4]² gives exact references for log Z, KL(p‖p_θ) and the held-out
NLL of an energy E_θ, and scores a sampler by reverse KL and mode coverage.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from irl.ebm_data import Dataset
from irl.ebm_models import Sampler

__all__ = ["Grid", "evaluate", "grid_images"]


class Grid:
    """Midpoint quadrature grid on [-lim, lim]², ``n`` points a side.

    Args:
        lim: Half-width of the square.
        n: Points per side (``n²`` cells in all).
    """

    def __init__(self, lim: float = 4.0, n: int = 400) -> None:
        edges = torch.linspace(-lim, lim, n + 1, dtype=torch.float64)
        mids = 0.5 * (edges[1:] + edges[:-1])
        xx, yy = torch.meshgrid(mids, mids, indexing="xy")
        self.points = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
        self.log_cell = 2 * math.log(2 * lim / n)
        self.n = n
        self.lim = lim

    def log_integral(self, log_f: Tensor) -> Tensor:
        """log ∫ exp(log_f) over the grid's square.

        Args:
            log_f: Log of the integrand at every grid point, ``[n²]``.

        Returns:
            The scalar log-integral (float64).
        """
        return torch.logsumexp(log_f.double(), 0) + self.log_cell

    def energy(self, energy: nn.Module) -> Tensor:
        """E_θ on every grid point (float32 network, float64 result).

        Args:
            energy: Maps ``[N, 2]`` points to ``[N]`` energies.

        Returns:
            The energies, ``[n²]`` (float64).
        """
        with torch.no_grad():
            return torch.cat([energy(p.float()) for p in self.points.split(20_000)]).double()


def _modes_covered(samples: Tensor, data: Dataset) -> tuple[int, float]:
    """Modes holding ≥ 1 % of samples within the radius; fraction of samples near any mode."""
    d = (samples.double()[:, None, :] - data.modes[None]).norm(dim=-1)
    near = d < data.mode_radius
    per_mode = near.float().mean(0)
    return int((per_mode >= 0.01).sum()), float(near.any(1).float().mean())


def _sampler_metrics(
    sampler: Sampler, data: Dataset, test_x: Tensor, n_samples: int, log_p_peak: float
) -> dict[str, float]:
    """Reverse KL(q‖p), held-out NLL under q, mode coverage and mass between modes of a sampler."""
    out: dict[str, float] = {}
    with torch.no_grad():
        xs = sampler.sample(n_samples)
        log_q = sampler.log_prob(xs).double()
        log_p_s = data.log_prob(xs)
    finite = torch.isfinite(log_p_s)
    out["sampler_reverse_kl"] = (
        float((log_q[finite] - log_p_s[finite]).mean()) if bool(finite.all()) else math.inf
    )
    out["sampler_heldout_nll"] = float(-sampler.log_prob(test_x.float()).mean().detach())
    out["modes_covered"], out["frac_near_modes"] = _modes_covered(xs, data)
    # Mass between modes: fraction of samples where the true density is < 1 % of its peak.
    out["frac_between_modes"] = float((log_p_s < log_p_peak + math.log(0.01)).float().mean())
    return out


def evaluate(
    energy: nn.Module,
    sampler: Sampler | None,
    data: Dataset,
    test_x: Tensor,
    grid: Grid,
    log_z_estimate: float | None = None,
    n_samples: int = 10_000,
    log_p_grid: Tensor | None = None,
    mass_outside: bool = False,
) -> dict[str, float]:
    """Grid-exact metrics of the energy (log Z, NLL, KL) and of the sampler (reverse KL, modes).

    Args:
        energy: E_θ, mapping ``[N, 2]`` points to ``[N]`` energies.
        sampler: The learned sampler, or None (its metrics are then left out).
        data: The true distribution.
        test_x: Held-out data, ``[N_test, 2]``.
        grid: The quadrature grid.
        log_z_estimate: The run's log Z estimate; adds ``log_z`` and ``log_z_error``.
        n_samples: Sampler points drawn for the sampler metrics.
        log_p_grid: The true log-density on ``grid.points`` (``[n²]``), when precomputed.
        mass_outside: Also estimate the mass of exp(-E_θ) outside the grid (a second pass).

    Returns:
        Metric name to value (nats; counts and fractions as floats or ints).
    """
    e_grid = grid.energy(energy)
    log_z_grid = float(grid.log_integral(-e_grid))
    # The true density on the grid is fixed: callers evaluating repeatedly pass it in (for
    # two_moons it costs 160k x 4000 distances per call).
    log_p = data.log_prob(grid.points) if log_p_grid is None else log_p_grid
    log_p_theta = -e_grid - log_z_grid
    p = torch.exp(log_p) * math.exp(grid.log_cell)
    support = p > 0
    kl = float((p[support] * (log_p[support] - log_p_theta[support])).sum() / p.sum())
    with torch.no_grad():
        e_test = energy(test_x.float()).double()
    # Modes of the model: p_θ mass within each mode's radius (a mode counts with ≥ 1 % mass).
    near = (grid.points[:, None, :] - data.modes[None]).norm(dim=-1) < data.mode_radius
    p_theta_cells = torch.exp(log_p_theta + grid.log_cell)
    mass = (p_theta_cells[:, None] * near).sum(0)
    out: dict[str, float] = {
        "model_modes_covered": int((mass >= 0.01).sum()),
        "log_z_grid": log_z_grid,
        "kl_grid": kl,
        "heldout_nll": float(e_test.mean()) + log_z_grid,
        "true_entropy": float(-data.log_prob(test_x).mean()),
    }
    if mass_outside:
        # Mass of exp(-E) outside the box, which the quadrature reference does not see (a
        # second 400² energy pass, so only for final metrics).
        wide = Grid(lim=3 * grid.lim, n=grid.n)
        log_z_wide = float(wide.log_integral(-wide.energy(energy)))
        out["mass_outside_grid"] = max(0.0, 1.0 - math.exp(log_z_grid - log_z_wide))
    if log_z_estimate is not None:
        out["log_z"] = log_z_estimate
        out["log_z_error"] = abs(log_z_estimate - log_z_grid)
    if sampler is not None:
        out.update(_sampler_metrics(sampler, data, test_x, n_samples, float(log_p.max())))
    return out


def grid_images(energy: nn.Module, data: Dataset, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """True density and exp(-E_θ)/Z on the grid, for plotting.

    Args:
        energy: E_θ, mapping ``[N, 2]`` points to ``[N]`` energies.
        data: The true distribution.
        grid: The quadrature grid.

    Returns:
        ``(true, model)`` densities, each an ``[n, n]`` array (rows along y).
    """
    e = grid.energy(energy)
    log_model = -e - grid.log_integral(-e)
    true = torch.exp(data.log_prob(grid.points))
    return true.view(grid.n, grid.n).numpy(), torch.exp(log_model).view(grid.n, grid.n).numpy()
