"""The energy-based view: a 2-D EBM trained with a learned sampler of tractable density.

The math is in docs/math.md, "Energy-based models"; the experiments in docs/ebm.md.

p_θ(x) = exp(-E_θ(x)) / Z. The recipe is GAN-GCL's with trajectories replaced by points:
(i) log Z is learned as the discriminator bias b (or estimated by µ-mixture importance sampling),
(ii) θ minimises the discriminator loss with logit -E_θ(x) - b - log q(x), which has the GCL
gradient mean_data ∇E - E_{p_θ}[∇E] at the optimal b, and (iii) the sampler minimises
E_q[E_θ(x) + log q(x)] = KL(q‖p_θ) + const by reparameterisation. No MCMC.

Grid quadrature on [-4, 4]² gives exact references for log Z, KL and NLL.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from irl import objectives as obj
from irl.nn import frozen

__all__ = [
    "DATASETS",
    "AffineCouplingFlow",
    "Dataset",
    "EBMConfig",
    "EnergyMLP",
    "GaussianMixture",
    "Grid",
    "Sampler",
    "discriminator_batch",
    "evaluate",
    "make_dataset",
    "train",
]


# ----------------------------------------------------------------------------------------------
# Data sets with closed-form (or quadrature-exact) densities
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """A 2-D toy distribution: a sampler, its log-density, and its modes (for coverage)."""

    name: str
    sample: Callable[[int, torch.Generator], Tensor]
    log_prob: Callable[[Tensor], Tensor]
    modes: Tensor  # [K, 2] centres used for "modes covered"
    mode_radius: float  # a sample within this distance of a centre counts for that mode


def _eight_gaussians() -> Dataset:
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
    """The named 2-D data set (``8gaussians``, ``two_moons`` or ``checkerboard``)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]()


# ----------------------------------------------------------------------------------------------
# Energy and samplers
# ----------------------------------------------------------------------------------------------
def _silu_mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden),
        nn.SiLU(),
        nn.Linear(hidden, hidden),
        nn.SiLU(),
        nn.Linear(hidden, out_dim),
    )


class EnergyMLP(nn.Module):
    """E_θ(x): a 2-128-128-1 MLP with SiLU activations, ``[N, 2] -> [N]``."""

    def __init__(self, hidden: int = 128) -> None:
        super().__init__()
        self.net = _silu_mlp(2, hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Energy of each point."""
        return self.net(x).squeeze(-1)


class Sampler(nn.Module):
    """A sampler with a tractable density: ``sample(n)`` without gradient and exact ``log_prob``."""

    def sample(self, n: int) -> Tensor:
        """n points, ``[n, 2]``, without gradient."""
        raise NotImplementedError

    def log_prob(self, x: Tensor) -> Tensor:
        """log q(x), ``[N]``."""
        raise NotImplementedError


class GaussianMixture(Sampler):
    """Mixture of K diagonal Gaussians: exact log-density, per-component reparameterisation."""

    def __init__(self, k: int = 8, init_scale: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.means = nn.Parameter(init_scale * torch.randn(k, 2, generator=g))
        self.log_stds = nn.Parameter(torch.zeros(k, 2))
        self.logits = nn.Parameter(torch.zeros(k))

    def log_prob(self, x: Tensor) -> Tensor:
        """log q(x), ``[N]``."""
        z = (x[:, None, :] - self.means) / self.log_stds.exp()
        log_n = -0.5 * z.square().sum(-1) - self.log_stds.sum(-1) - math.log(2 * math.pi)
        return torch.logsumexp(torch.log_softmax(self.logits, 0) + log_n, 1)

    def sample(self, n: int) -> Tensor:
        """n points drawn from the mixture (no gradient through the discrete choice)."""
        with torch.no_grad():
            k = torch.multinomial(torch.softmax(self.logits, 0), n, replacement=True)
            return self.means[k] + self.log_stds[k].exp() * torch.randn(n, 2)

    def expectation(self, f: Callable[[Tensor], Tensor], n_per_component: int) -> Tensor:
        """E_q[f(x)] = Σ_k w_k E_{N_k}[f], reparameterised per component (no discrete draw)."""
        eps = torch.randn(self.means.shape[0], n_per_component, 2)
        x = self.means[:, None, :] + self.log_stds.exp()[:, None, :] * eps
        vals = f(x.reshape(-1, 2)).view(self.means.shape[0], n_per_component).mean(1)
        return (torch.softmax(self.logits, 0) * vals).sum()


class _Coupling(nn.Module):
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
        s, t = self._st(z * self.mask)
        return z * torch.exp(s) + t, s.sum(-1)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self._st(x * self.mask)
        return (x - t) * torch.exp(-s), -s.sum(-1)


class AffineCouplingFlow(Sampler):
    """RealNVP on R²: affine couplings over a Gaussian (or K-Gaussian) base; exact log q.

    With ``base_k > 1`` the base is an equal-weight mixture of K learned diagonal Gaussians: a
    flow from a single Gaussian must stretch thin bridges between separated modes, which
    reverse-KL training then abandons. Fixed equal weights keep the draw gradient-free.
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
        """n reparameterised samples and their log q, ``([n, 2], [n])``."""
        k = torch.randint(0, self.base_means.shape[0], (n,))
        z = self.base_means[k] + self.base_log_stds[k].exp() * torch.randn(n, 2)
        log_q = self._base_log_prob(z)
        for layer in self.couplings:
            z, log_det = layer(z)
            log_q = log_q - log_det
        return z, log_q

    def sample(self, n: int) -> Tensor:
        """n samples without gradient."""
        with torch.no_grad():
            return self.rsample_with_log_prob(n)[0]

    def log_prob(self, x: Tensor) -> Tensor:
        """log q(x) by the inverse pass, ``[N]``."""
        log_det_total = torch.zeros(x.shape[0], dtype=x.dtype)
        z = x
        for layer in reversed(self.couplings):
            assert isinstance(layer, _Coupling)
            z, log_det = layer.inverse(z)
            log_det_total = log_det_total + log_det
        return self._base_log_prob(z) + log_det_total


# ----------------------------------------------------------------------------------------------
# Grid quadrature metrics (docs/ebm.md, "Metrics")
# ----------------------------------------------------------------------------------------------
class Grid:
    """Midpoint quadrature grid on [-lim, lim]², ``n`` points a side."""

    def __init__(self, lim: float = 4.0, n: int = 400) -> None:
        edges = torch.linspace(-lim, lim, n + 1, dtype=torch.float64)
        mids = 0.5 * (edges[1:] + edges[:-1])
        xx, yy = torch.meshgrid(mids, mids, indexing="xy")
        self.points = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
        self.log_cell = 2 * math.log(2 * lim / n)
        self.n = n
        self.lim = lim

    def log_integral(self, log_f: Tensor) -> Tensor:
        """log ∫ exp(log_f) over the grid's square."""
        return torch.logsumexp(log_f.double(), 0) + self.log_cell

    def energy(self, energy: nn.Module) -> Tensor:
        """E_θ on every grid point (float32 network, float64 result)."""
        with torch.no_grad():
            return torch.cat([energy(p.float()) for p in self.points.split(20_000)]).double()


def _modes_covered(samples: Tensor, data: Dataset) -> tuple[int, float]:
    """Modes holding ≥ 1 % of samples within the radius; fraction of samples near any mode."""
    d = (samples.double()[:, None, :] - data.modes[None]).norm(dim=-1)
    near = d < data.mode_radius
    per_mode = near.float().mean(0)
    return int((per_mode >= 0.01).sum()), float(near.any(1).float().mean())


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
    """Grid-exact metrics of the energy (log Z, NLL, KL) and of the sampler (reverse KL, modes)."""
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
        peak = float(log_p.max())
        out["frac_between_modes"] = float((log_p_s < peak + math.log(0.01)).float().mean())
    return out


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
@dataclass
class EBMConfig:
    """Settings of one EBM run (plain keyword arguments; the Hydra app maps its config here)."""

    dataset: str = "8gaussians"
    sampler: str = "flow"  # flow | mog | mle_flow | mle_mog | pcd
    mog_k: int = 8
    flow_couplings: int = 8
    flow_base_k: int = 1  # Gaussians in the flow's base distribution
    log_z: str = "learned"  # learned (discriminator bias) | importance (µ-mixture IS estimate)
    steps: int = 16000
    batch: int = 256
    disc_steps: int = 1  # energy (discriminator) steps per iteration
    sampler_steps: int = 1  # sampler (generator) steps per iteration
    sampler_entropy_start: float = 3.0  # sampler entropy weight α at step 0, annealed linearly to 1
    entropy_anneal_frac: float = 0.75  # fraction of the steps over which α reaches 1
    lr_energy: float = 2e-3
    lr_sampler: float = 5e-4
    lr_log_z: float = 1e-2
    lr_floor: float = 0.02  # final learning rate as a fraction of the initial one
    n_train: int = 50_000
    n_test: int = 10_000
    seed: int = 0
    max_wall_clock_s: float | None = None
    eval_every: int = 500
    langevin_steps: int = 20  # pcd only
    langevin_step_size: float = 0.01
    pcd_energy_reg: float = 0.1  # pcd only: α (E(x+)² + E(x-)²)
    pcd_restart_frac: float = 0.05  # pcd only: chains restarted from uniform noise per step
    grid_n: int = 400
    final_log_z_batch: int = 8192  # data and sampler points for the final log Z estimate


@dataclass
class EBMResult:
    """Trained modules, final metrics and the logged curve."""

    energy: EnergyMLP
    sampler: Sampler | None
    log_z: float | None
    metrics: dict[str, float]
    history: list[dict[str, float]]


def _make_sampler(cfg: EBMConfig) -> Sampler:
    if cfg.sampler in ("flow", "mle_flow"):
        return AffineCouplingFlow(cfg.flow_couplings, base_k=cfg.flow_base_k, seed=cfg.seed)
    if cfg.sampler in ("mog", "mle_mog"):
        return GaussianMixture(cfg.mog_k, seed=cfg.seed)
    raise ValueError(f"no tractable sampler for {cfg.sampler!r}")


def _sampler_loss(sampler: Sampler, energy: EnergyMLP, batch: int, alpha: float = 1.0) -> Tensor:
    """E_q[E_θ(x) + α log q(x)] by reparameterisation, with the energy frozen.

    α = 1 is KL(q‖p_θ) + const (the generator loss); α > 1 targets the flatter p_θ^(1/α), which
    keeps a reverse-KL sampler from dropping modes while the energy is still forming.
    """
    with frozen(energy):
        if isinstance(sampler, GaussianMixture):
            k = sampler.means.shape[0]
            return sampler.expectation(
                lambda x: energy(x) + alpha * sampler.log_prob(x), max(batch // k, 8)
            )
        assert isinstance(sampler, AffineCouplingFlow)
        x, log_q = sampler.rsample_with_log_prob(batch)
        # generator_loss(kind="combined") = E + b + log q; b is a constant for the sampler.
        return obj.generator_loss(energy(x), alpha * log_q, 0.0, "combined").mean()


def discriminator_batch(
    energy: nn.Module, sampler: Sampler, x_data: Tensor, n_samples: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Pooled energy-step batch: (E_θ(x) ``[M]``, detached log q(x) ``[M]``, is_demo ``[M]``).

    Data first, then ``n_samples`` sampler points; q is evaluated on both
    (docs/math.md#the-discriminator).
    """
    x = torch.cat([x_data, sampler.sample(n_samples)])
    with torch.no_grad():
        log_q = sampler.log_prob(x)
    is_demo = torch.arange(x.shape[0]) < x_data.shape[0]
    return energy(x), log_q, is_demo


def train(
    cfg: EBMConfig, progress: Callable[[int, dict[str, float]], None] | None = None
) -> EBMResult:
    """Train one EBM (or a baseline) and return it with grid-exact metrics."""
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    data = make_dataset(cfg.dataset)
    train_x = data.sample(cfg.n_train, g).float()
    test_x = data.sample(cfg.n_test, g)
    grid = Grid(n=cfg.grid_n)
    log_p_grid = data.log_prob(grid.points)
    energy = EnergyMLP()
    opt_e = torch.optim.Adam(energy.parameters(), lr=cfg.lr_energy, betas=(0.5, 0.999))
    sampler = None if cfg.sampler == "pcd" else _make_sampler(cfg)
    opt_q = None if sampler is None else torch.optim.Adam(sampler.parameters(), lr=cfg.lr_sampler)
    b = torch.zeros((), requires_grad=True)
    opt_b = torch.optim.Adam([b], lr=cfg.lr_log_z)
    # Cosine decay: the energy's sharp modes and b = log Z settle only once the steps shrink.
    # Progress is by steps, or by wall-clock when a time budget is set (equal-time comparisons).
    optimizers = [o for o in (opt_e, opt_q, opt_b) if o is not None]
    base_lrs = [[group["lr"] for group in o.param_groups] for o in optimizers]

    def set_learning_rates(progress: float) -> None:
        p = min(1.0, progress)
        factor = cfg.lr_floor + (1 - cfg.lr_floor) * 0.5 * (1 + math.cos(math.pi * p))
        for o, lrs in zip(optimizers, base_lrs, strict=True):
            for group, lr in zip(o.param_groups, lrs, strict=True):
                group["lr"] = lr * factor

    log_z_est: float | None = None
    chains = 4 * torch.rand(cfg.batch * 4, 2) - 2  # persistent chains (pcd)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    mle = cfg.sampler.startswith("mle_")

    progress_frac = 0.0  # by steps, or by wall-clock under a time budget
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, cfg.n_train, (cfg.batch,), generator=g)
        x_data = train_x[idx]
        row: dict[str, float] = {}
        if mle:
            assert sampler is not None and opt_q is not None
            loss_q = -sampler.log_prob(x_data).mean()
            opt_q.zero_grad()
            loss_q.backward()
            opt_q.step()
            row["sampler/nll"] = float(loss_q.detach())
        elif sampler is None:
            # Persistent contrastive divergence with Langevin dynamics (slide 6).
            for _ in range(cfg.langevin_steps):
                chains.requires_grad_(True)
                (grad,) = torch.autograd.grad(energy(chains).sum(), chains)
                noise = torch.randn_like(chains) * math.sqrt(2 * cfg.langevin_step_size)
                chains = (chains - cfg.langevin_step_size * grad + noise).detach().clamp(-4, 4)
            neg = chains[torch.randint(0, chains.shape[0], (cfg.batch,), generator=g)]
            e_pos, e_neg = energy(x_data), energy(neg)
            # Du & Mordatch (2019): without a penalty on energy magnitudes the contrastive loss
            # is unbounded and the energies diverge; restarting a few chains keeps them mixing.
            loss_e = (
                e_pos.mean()
                - e_neg.mean()
                + cfg.pcd_energy_reg * (e_pos.square().mean() + e_neg.square().mean())
            )
            n_restart = int(cfg.pcd_restart_frac * chains.shape[0])
            chains[:n_restart] = 4 * torch.rand(n_restart, 2, generator=g) - 2
            opt_e.zero_grad()
            loss_e.backward()
            opt_e.step()
            row["energy/cd_loss"] = float(loss_e.detach())
        else:
            assert opt_q is not None
            for _ in range(cfg.disc_steps):
                cost, log_q, is_demo = discriminator_batch(energy, sampler, x_data, cfg.batch)
                if cfg.log_z == "learned":
                    loss_e = obj.discriminator_loss(cost, log_q, is_demo, b)
                    opt_b.zero_grad()
                else:
                    b_hat = obj.optimal_log_z(cost.detach(), log_q, is_demo).float()
                    loss_e = obj.gcl_cost_loss(cost, log_q, is_demo, b_hat)
                    with torch.no_grad():
                        b.copy_(b_hat)
                opt_e.zero_grad()
                loss_e.backward()
                opt_e.step()
                if cfg.log_z == "learned":
                    opt_b.step()
            row["energy/loss"] = float(loss_e.detach())
            row["energy/log_z"] = float(b.detach())
            # Same progress measure as the learning rates, so a time budget also anneals α.
            frac = min(1.0, progress_frac / cfg.entropy_anneal_frac)
            alpha = cfg.sampler_entropy_start + (1.0 - cfg.sampler_entropy_start) * frac
            for _ in range(cfg.sampler_steps):
                loss_q = _sampler_loss(sampler, energy, cfg.batch, alpha)
                opt_q.zero_grad()
                loss_q.backward()
                opt_q.step()
            row["sampler/loss"] = float(loss_q.detach())
            row["sampler/entropy_weight"] = alpha
        elapsed = time.perf_counter() - t0
        progress_frac = step / cfg.steps
        if cfg.max_wall_clock_s is not None:
            progress_frac = max(progress_frac, elapsed / cfg.max_wall_clock_s)
        set_learning_rates(progress_frac)
        stop = cfg.max_wall_clock_s is not None and elapsed >= cfg.max_wall_clock_s
        if step % cfg.eval_every == 0 or step == cfg.steps or stop:
            row.update({"step": step, "time_s": elapsed})
            if sampler is not None and not mle:
                # ESS of the last energy batch, computed only when it is logged.
                log_w = obj.importance_log_weights(cost.detach(), log_q, is_demo, b.detach())
                row["energy/ess_frac"] = float(obj.effective_sample_size(log_w)) / log_w.numel()
            if not mle:
                est = float(b.detach()) if sampler is not None else None
                row.update(evaluate(energy, sampler, data, test_x, grid, est, 2000, log_p_grid))
            history.append(row)
            if progress is not None:
                progress(step, row)
        if stop:
            break

    if mle:
        assert sampler is not None
        # The MLE baselines are the sampler alone: score its own density as the model.
        energy = _DensityAsEnergy(sampler)  # type: ignore[assignment]
        log_z_est = 0.0
    elif sampler is not None:
        # Final log Z: the discriminator-optimal bias on a large fresh batch, which by claim 1 is
        # the µ-mixture importance-sampling estimate (the online b lags the moving energy).
        idx = torch.randint(0, cfg.n_train, (cfg.final_log_z_batch,), generator=g)
        with torch.no_grad():
            cost, log_q, is_demo = discriminator_batch(
                energy, sampler, train_x[idx], cfg.final_log_z_batch
            )
        log_z_est = float(obj.optimal_log_z(cost.double(), log_q.double(), is_demo))
        log_w = obj.importance_log_weights(cost.double(), log_q.double(), is_demo, log_z_est)
        final_ess_frac = float(obj.effective_sample_size(log_w)) / log_w.numel()
    metrics = evaluate(
        energy, sampler, data, test_x, grid, log_z_est, log_p_grid=log_p_grid, mass_outside=True
    )
    if sampler is not None and not mle:
        metrics["ess_frac"] = final_ess_frac
        metrics["log_z_online"] = float(b.detach())
        metrics["log_z_online_error"] = abs(float(b.detach()) - metrics["log_z_grid"])
    metrics["wall_clock_s"] = time.perf_counter() - t0
    metrics["steps"] = float(step)
    return EBMResult(energy, sampler, log_z_est, metrics, history)


class _DensityAsEnergy(nn.Module):
    """E(x) = -log q(x), so a normalised sampler can be scored with the EBM metrics (log Z = 0)."""

    def __init__(self, sampler: Sampler) -> None:
        super().__init__()
        self.sampler = sampler

    def forward(self, x: Tensor) -> Tensor:
        return -self.sampler.log_prob(x)


def grid_images(energy: nn.Module, data: Dataset, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """True density and exp(-E_θ)/Z on the grid, as ``[n, n]`` arrays for plotting."""
    e = grid.energy(energy)
    log_model = -e - grid.log_integral(-e)
    true = torch.exp(data.log_prob(grid.points))
    return true.view(grid.n, grid.n).numpy(), torch.exp(log_model).view(grid.n, grid.n).numpy()
