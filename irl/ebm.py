"""The energy-based view: a 2-D EBM trained with a learned sampler of tractable density.

The math is in docs/math.md, "Energy-based models"; the experiments in docs/ebm.md.

p_θ(x) = exp(-E_θ(x)) / Z. The recipe is GAN-GCL's with trajectories replaced by points:
(i) log Z is learned as the discriminator bias b (or estimated by µ-mixture importance sampling),
(ii) θ minimises the discriminator loss with logit -E_θ(x) - b - log q(x), which has the GCL
gradient mean_data ∇E - E_{p_θ}[∇E] at the optimal b, and (iii) the sampler minimises
E_q[E_θ(x) + log q(x)] = KL(q‖p_θ) + const by reparameterisation. No MCMC.

This module holds the training loop; the data sets are in irl.ebm_data, the networks in
irl.ebm_models and the grid-quadrature metrics (exact references for log Z, KL and NLL) in
irl.ebm_metrics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from irl import objectives as obj
from irl.ebm_data import Dataset, make_dataset
from irl.ebm_metrics import Grid, evaluate
from irl.ebm_models import AffineCouplingFlow, EnergyMLP, GaussianMixture, Sampler
from irl.nn import frozen

__all__ = ["EBMConfig", "EBMResult", "discriminator_batch", "train"]


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

    energy: nn.Module  # EnergyMLP, or the MLE baselines' sampler scored as E = -log q
    sampler: Sampler | None
    log_z: float | None
    metrics: dict[str, float]
    history: list[dict[str, float]]


class _DensityAsEnergy(nn.Module):
    """E(x) = -log q(x), so a normalised sampler can be scored with the EBM metrics (log Z = 0)."""

    def __init__(self, sampler: Sampler) -> None:
        super().__init__()
        self.sampler = sampler

    def forward(self, x: Tensor) -> Tensor:
        return -self.sampler.log_prob(x)


def _make_sampler(cfg: EBMConfig) -> Sampler:
    """The tractable sampler named by ``cfg.sampler`` (flow or mixture, adversarial or MLE)."""
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
    """Pooled energy-step batch: the data first, then ``n_samples`` sampler points.

    q is evaluated on both (docs/math.md, "The discriminator").

    Args:
        energy: E_θ, mapping ``[N, 2]`` points to ``[N]`` energies.
        sampler: The tractable sampler q.
        x_data: Data points, ``[N_data, 2]``.
        n_samples: Sampler points to draw.

    Returns:
        ``(E_θ(x) [M], detached log q(x) [M], is_demo [M] bool)`` with ``M = N_data + n_samples``.
    """
    x = torch.cat([x_data, sampler.sample(n_samples)])
    with torch.no_grad():
        log_q = sampler.log_prob(x)
    is_demo = torch.arange(x.shape[0]) < x_data.shape[0]
    return energy(x), log_q, is_demo


@dataclass
class _Run:
    """Data, networks, optimisers and the mutable state of one training run."""

    cfg: EBMConfig
    g: torch.Generator  # data draws, minibatch indices, chain restarts
    data: Dataset
    train_x: Tensor  # [n_train, 2] float32
    test_x: Tensor  # [n_test, 2] float64
    grid: Grid
    log_p_grid: Tensor  # true log-density on grid.points, [grid_n²]
    energy: EnergyMLP
    opt_e: torch.optim.Optimizer
    sampler: Sampler | None  # None for pcd
    opt_q: torch.optim.Optimizer | None
    b: Tensor  # learned log Z (discriminator bias), or the latest IS estimate
    opt_b: torch.optim.Optimizer
    chains: Tensor = field(default_factory=lambda: torch.empty(0, 2))  # pcd persistent chains
    # The last energy batch (cost [M], log q [M], is_demo [M]), for the logged ESS.
    last_batch: tuple[Tensor, Tensor, Tensor] | None = None
    base_lrs: list[list[float]] = field(default_factory=list)

    @property
    def mle(self) -> bool:
        """Whether the run is an MLE baseline (the sampler alone)."""
        return self.cfg.sampler.startswith("mle_")

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimisers the learning-rate schedule drives."""
        return [o for o in (self.opt_e, self.opt_q, self.opt_b) if o is not None]


def _setup(cfg: EBMConfig) -> _Run:
    """Seed, draw the data, build the grid reference, the networks and their optimisers."""
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
    run = _Run(
        cfg, g, data, train_x, test_x, grid, log_p_grid, energy, opt_e, sampler, opt_q, b, opt_b
    )
    run.base_lrs = [[group["lr"] for group in o.param_groups] for o in run.optimizers]
    run.chains = 4 * torch.rand(cfg.batch * 4, 2) - 2  # persistent chains (pcd)
    return run


def _set_learning_rates(run: _Run, progress: float) -> None:
    """Cosine decay from the initial rates to ``lr_floor`` times them over ``progress`` in [0, 1].

    The energy's sharp modes and b = log Z settle only once the steps shrink.
    """
    p = min(1.0, progress)
    factor = run.cfg.lr_floor + (1 - run.cfg.lr_floor) * 0.5 * (1 + math.cos(math.pi * p))
    for o, lrs in zip(run.optimizers, run.base_lrs, strict=True):
        for group, lr in zip(o.param_groups, lrs, strict=True):
            group["lr"] = lr * factor


def _mle_step(run: _Run, x_data: Tensor) -> dict[str, float]:
    """One maximum-likelihood step of the sampler alone (the MLE baselines)."""
    assert run.sampler is not None and run.opt_q is not None
    loss_q = -run.sampler.log_prob(x_data).mean()
    run.opt_q.zero_grad()
    loss_q.backward()
    run.opt_q.step()
    return {"sampler/nll": float(loss_q.detach())}


def _pcd_step(run: _Run, x_data: Tensor) -> dict[str, float]:
    """One persistent-contrastive-divergence step: Langevin chains, then the energy update."""
    cfg, energy = run.cfg, run.energy
    chains = run.chains
    for _ in range(cfg.langevin_steps):
        chains.requires_grad_(True)
        (grad,) = torch.autograd.grad(energy(chains).sum(), chains)
        noise = torch.randn_like(chains) * math.sqrt(2 * cfg.langevin_step_size)
        chains = (chains - cfg.langevin_step_size * grad + noise).detach().clamp(-4, 4)
    neg = chains[torch.randint(0, chains.shape[0], (cfg.batch,), generator=run.g)]
    e_pos, e_neg = energy(x_data), energy(neg)
    # Du & Mordatch (2019): without a penalty on energy magnitudes the contrastive loss
    # is unbounded and the energies diverge; restarting a few chains keeps them mixing.
    loss_e = (
        e_pos.mean()
        - e_neg.mean()
        + cfg.pcd_energy_reg * (e_pos.square().mean() + e_neg.square().mean())
    )
    n_restart = int(cfg.pcd_restart_frac * chains.shape[0])
    chains[:n_restart] = 4 * torch.rand(n_restart, 2, generator=run.g) - 2
    run.chains = chains
    run.opt_e.zero_grad()
    loss_e.backward()
    run.opt_e.step()
    return {"energy/cd_loss": float(loss_e.detach())}


def _energy_step(run: _Run, x_data: Tensor) -> Tensor:
    """One discriminator step on θ (and on b when log Z is learned); returns the loss.

    With ``log_z=importance`` b is set to the batch's µ-mixture importance-sampling estimate and
    θ follows the GCL cost loss instead.
    """
    assert run.sampler is not None
    cost, log_q, is_demo = discriminator_batch(run.energy, run.sampler, x_data, run.cfg.batch)
    run.last_batch = (cost, log_q, is_demo)
    if run.cfg.log_z == "learned":
        loss_e = obj.discriminator_loss(cost, log_q, is_demo, run.b)
        run.opt_b.zero_grad()
    else:
        b_hat = obj.optimal_log_z(cost.detach(), log_q, is_demo).float()
        loss_e = obj.gcl_cost_loss(cost, log_q, is_demo, b_hat)
        with torch.no_grad():
            run.b.copy_(b_hat)
    run.opt_e.zero_grad()
    loss_e.backward()
    run.opt_e.step()
    if run.cfg.log_z == "learned":
        run.opt_b.step()
    return loss_e


def _sampler_step(run: _Run, alpha: float) -> Tensor:
    """One generator step: the sampler minimises E_q[E_θ + α log q]; returns the loss."""
    assert run.sampler is not None and run.opt_q is not None
    loss_q = _sampler_loss(run.sampler, run.energy, run.cfg.batch, alpha)
    run.opt_q.zero_grad()
    loss_q.backward()
    run.opt_q.step()
    return loss_q


def _adversarial_step(run: _Run, x_data: Tensor, progress: float) -> dict[str, float]:
    """``disc_steps`` energy steps, then ``sampler_steps`` sampler steps at the annealed α.

    α goes linearly from ``sampler_entropy_start`` to 1 over the first ``entropy_anneal_frac``
    of training, measured like the learning rates (so a time budget also anneals α).
    """
    cfg = run.cfg
    for _ in range(cfg.disc_steps):
        loss_e = _energy_step(run, x_data)
    row = {"energy/loss": float(loss_e.detach()), "energy/log_z": float(run.b.detach())}
    frac = min(1.0, progress / cfg.entropy_anneal_frac)
    alpha = cfg.sampler_entropy_start + (1.0 - cfg.sampler_entropy_start) * frac
    for _ in range(cfg.sampler_steps):
        loss_q = _sampler_step(run, alpha)
    row["sampler/loss"] = float(loss_q.detach())
    row["sampler/entropy_weight"] = alpha
    return row


def _train_step(run: _Run, x_data: Tensor, progress: float) -> dict[str, float]:
    """One iteration of the run's method; returns its logged losses."""
    if run.mle:
        return _mle_step(run, x_data)
    if run.sampler is None:
        return _pcd_step(run, x_data)
    return _adversarial_step(run, x_data, progress)


def _evaluation_row(run: _Run) -> dict[str, float]:
    """Logged metrics: ESS of the last energy batch and the grid metrics (not for MLE runs)."""
    row: dict[str, float] = {}
    if run.mle:
        return row
    if run.sampler is not None:
        # ESS of the last energy batch, computed only when it is logged.
        assert run.last_batch is not None
        cost, log_q, is_demo = run.last_batch
        log_w = obj.importance_log_weights(cost.detach(), log_q, is_demo, run.b.detach())
        row["energy/ess_frac"] = float(obj.effective_sample_size(log_w)) / log_w.numel()
    est = float(run.b.detach()) if run.sampler is not None else None
    row.update(
        evaluate(run.energy, run.sampler, run.data, run.test_x, run.grid, est, 2000, run.log_p_grid)
    )
    return row


def _final_log_z(run: _Run) -> tuple[float, float]:
    """The discriminator-optimal log Z on a fresh batch, and that batch's ESS fraction.

    By claim 1 the optimal bias is the µ-mixture importance-sampling estimate; on a large fresh
    batch it beats the online b, which lags the moving energy.
    """
    assert run.sampler is not None
    n = run.cfg.final_log_z_batch
    idx = torch.randint(0, run.cfg.n_train, (n,), generator=run.g)
    with torch.no_grad():
        cost, log_q, is_demo = discriminator_batch(run.energy, run.sampler, run.train_x[idx], n)
    log_z_est = float(obj.optimal_log_z(cost.double(), log_q.double(), is_demo))
    log_w = obj.importance_log_weights(cost.double(), log_q.double(), is_demo, log_z_est)
    return log_z_est, float(obj.effective_sample_size(log_w)) / log_w.numel()


def _final_metrics(run: _Run) -> tuple[nn.Module, float | None, dict[str, float]]:
    """The scored model (energy), its log Z estimate and the final grid-exact metrics."""
    energy: nn.Module = run.energy
    log_z_est: float | None = None
    adversarial = run.sampler is not None and not run.mle
    if run.mle:
        assert run.sampler is not None
        # The MLE baselines are the sampler alone: score its own density as the model.
        energy = _DensityAsEnergy(run.sampler)
        log_z_est = 0.0
    elif adversarial:
        log_z_est, final_ess_frac = _final_log_z(run)
    metrics = evaluate(
        energy,
        run.sampler,
        run.data,
        run.test_x,
        run.grid,
        log_z_est,
        log_p_grid=run.log_p_grid,
        mass_outside=True,
    )
    if adversarial:
        metrics["ess_frac"] = final_ess_frac
        metrics["log_z_online"] = float(run.b.detach())
        metrics["log_z_online_error"] = abs(float(run.b.detach()) - metrics["log_z_grid"])
    return energy, log_z_est, metrics


def train(
    cfg: EBMConfig, progress: Callable[[int, dict[str, float]], None] | None = None
) -> EBMResult:
    """Train one EBM (or a baseline) and return it with grid-exact metrics.

    Learning rates decay on a cosine by steps, or by wall-clock when ``cfg.max_wall_clock_s``
    is set (equal-time comparisons); such a budget also stops the run early.

    Args:
        cfg: The run's settings (``cfg.sampler`` picks the method: adversarial flow or mixture,
            their MLE baselines, or persistent contrastive divergence).
        progress: Called with ``(step, row)`` at every logged evaluation.

    Returns:
        The trained modules, the final metrics and the logged history (one row per evaluation).
    """
    run = _setup(cfg)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    progress_frac = 0.0  # by steps, or by wall-clock under a time budget
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, cfg.n_train, (cfg.batch,), generator=run.g)
        row = _train_step(run, run.train_x[idx], progress_frac)
        elapsed = time.perf_counter() - t0
        progress_frac = step / cfg.steps
        if cfg.max_wall_clock_s is not None:
            progress_frac = max(progress_frac, elapsed / cfg.max_wall_clock_s)
        _set_learning_rates(run, progress_frac)
        stop = cfg.max_wall_clock_s is not None and elapsed >= cfg.max_wall_clock_s
        if step % cfg.eval_every == 0 or step == cfg.steps or stop:
            row.update({"step": step, "time_s": elapsed})
            row.update(_evaluation_row(run))
            history.append(row)
            if progress is not None:
                progress(step, row)
        if stop:
            break
    energy, log_z_est, metrics = _final_metrics(run)
    metrics["wall_clock_s"] = time.perf_counter() - t0
    metrics["steps"] = float(step)
    return EBMResult(energy, run.sampler, log_z_est, metrics, history)
