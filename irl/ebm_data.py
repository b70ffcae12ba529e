"""2-D toy data sets for the energy-based view, with closed-form or quadrature-exact densities.

Used by irl.ebm (training) and irl.ebm_metrics (grid-exact references); see docs/ebm.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["DATASETS", "Dataset", "make_dataset"]


@dataclass(frozen=True)
class Dataset:
    """A 2-D toy distribution: a sampler, its log-density, and its modes (for coverage).

    Attributes:
        name: The data set's name (a key of ``DATASETS``).
        sample: ``sample(n, generator)`` draws ``[n, 2]`` float64 points.
        log_prob: ``log_prob(x)`` maps ``[N, 2]`` points to their log-density ``[N]`` (float64).
        modes: ``[K, 2]`` centres used for "modes covered".
        mode_radius: A sample within this distance of a centre counts for that mode.
    """

    name: str
    sample: Callable[[int, torch.Generator], Tensor]
    log_prob: Callable[[Tensor], Tensor]
    modes: Tensor  # [K, 2] centres used for "modes covered"
    mode_radius: float  # a sample within this distance of a centre counts for that mode


def _eight_gaussians() -> Dataset:
    """Eight N(c, 0.1²) components, equally weighted, on the circle of radius 2."""
    radius, sigma = 2.0, 0.1
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    centres = radius * torch.stack([angles.cos(), angles.sin()], 1)

    def sample(n: int, g: torch.Generator) -> Tensor:
        k = torch.randint(0, 8, (n,), generator=g)
        return centres[k] + sigma * torch.randn(n, 2, generator=g, dtype=torch.float64)

    def log_prob(x: Tensor) -> Tensor:
        d2 = (x.double()[:, None, :] - centres[None]).square().sum(-1)
        log_n = -d2 / (2 * sigma**2) - math.log(2 * math.pi * sigma**2)
        return torch.logsumexp(log_n, 1) - math.log(8)

    return Dataset("8gaussians", sample, log_prob, centres, 3 * sigma)


def _two_moons() -> Dataset:
    """Uniform on two half-circle arcs convolved with N(0, σ²); density by quadrature on the arc."""
    sigma = 0.1
    u = (torch.arange(2000, dtype=torch.float64) + 0.5) / 2000 * math.pi
    upper = torch.stack([u.cos(), u.sin()], 1)
    lower = torch.stack([1 - u.cos(), 0.5 - u.sin()], 1)
    arc = torch.cat([upper, lower]) - torch.tensor([0.5, 0.25], dtype=torch.float64)
    arc = arc * 1.5  # spread over [-2.2, 2.2]

    def sample(n: int, g: torch.Generator) -> Tensor:
        t = torch.rand(n, generator=g, dtype=torch.float64) * math.pi
        which = torch.rand(n, generator=g) < 0.5
        pts = torch.where(
            which[:, None],
            torch.stack([t.cos(), t.sin()], 1),
            torch.stack([1 - t.cos(), 0.5 - t.sin()], 1),
        )
        pts = (pts - torch.tensor([0.5, 0.25], dtype=torch.float64)) * 1.5
        return pts + sigma * torch.randn(n, 2, generator=g, dtype=torch.float64)

    def log_prob(x: Tensor) -> Tensor:
        out = []
        for chunk in x.double().split(4096):
            d2 = (chunk[:, None, :] - arc[None]).square().sum(-1)
            log_n = -d2 / (2 * sigma**2) - math.log(2 * math.pi * sigma**2)
            out.append(torch.logsumexp(log_n, 1) - math.log(arc.shape[0]))
        return torch.cat(out)

    modes = torch.stack([arc[1000], arc[3000]])  # arc midpoints: one per moon
    return Dataset("two_moons", sample, log_prob, modes, 1.5)


def _checkerboard() -> Dataset:
    """Uniform on the 8 black unit squares of a 4×4 board on [-2, 2]²."""
    cells = torch.tensor(
        [(i, j) for i in range(-2, 2) for j in range(-2, 2) if (i + j) % 2 == 0],
        dtype=torch.float64,
    )

    def sample(n: int, g: torch.Generator) -> Tensor:
        k = torch.randint(0, 8, (n,), generator=g)
        return cells[k] + torch.rand(n, 2, generator=g, dtype=torch.float64)

    def log_prob(x: Tensor) -> Tensor:
        fl = torch.floor(x.double())
        inside = (fl.abs() <= 2) & (fl >= -2) & (fl <= 1)
        black = (fl.sum(1) % 2 == 0) & inside.all(1)
        return torch.where(black, torch.tensor(math.log(1 / 8), dtype=torch.float64), -math.inf)

    return Dataset("checkerboard", sample, log_prob, cells + 0.5, 0.5)


DATASETS: dict[str, Callable[[], Dataset]] = {
    "8gaussians": _eight_gaussians,
    "two_moons": _two_moons,
    "checkerboard": _checkerboard,
}


def make_dataset(name: str) -> Dataset:
    """The named 2-D data set.

    Args:
        name: ``8gaussians``, ``two_moons`` or ``checkerboard``.

    Returns:
        The data set, freshly built.

    Raises:
        ValueError: ``name`` is not a known data set.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]()
