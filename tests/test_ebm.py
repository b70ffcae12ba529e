"""The energy-based view (irl.ebm, irl-ebm): claim 1 here, exact flow densities, app runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.image as mpimg
import pytest
import torch
from hydra import compose, initialize_config_dir

from irl import objectives as obj
from irl.cli import EBM_CONF_DIR
from irl.cli.ebm import run
from irl.ebm import EBMConfig, discriminator_batch, train
from irl.ebm_data import make_dataset
from irl.ebm_metrics import Grid
from irl.ebm_models import AffineCouplingFlow, EnergyMLP, GaussianMixture


def _random_flow(seed: int, base_k: int = 1) -> AffineCouplingFlow:
    torch.manual_seed(seed)
    flow = AffineCouplingFlow(n_couplings=6, hidden=32, base_scale=0.6, base_k=base_k, seed=seed)
    with torch.no_grad():
        for layer in flow.couplings:
            layer.net[-1].weight.normal_(0.0, 0.3)  # type: ignore[index,union-attr]
            layer.net[-1].bias.normal_(0.0, 0.1)  # type: ignore[index,union-attr]
    return flow


@pytest.mark.parametrize("base_k", [1, 4])
def test_flow_log_density_integrates_to_one_and_matches_its_samples(base_k: int) -> None:
    flow = _random_flow(0, base_k)
    grid = Grid(lim=4.0, n=400)
    with torch.no_grad():
        log_q = torch.cat([flow.log_prob(p.float()) for p in grid.points.split(20_000)]).double()
        x, log_q_fwd = flow.rsample_with_log_prob(2000)
        log_q_inv = flow.log_prob(x)
    assert abs(math.exp(float(grid.log_integral(log_q))) - 1.0) < 1e-3
    torch.testing.assert_close(log_q_fwd, log_q_inv, rtol=0, atol=1e-4)  # forward vs inverse pass
    assert float(x.abs().max()) < 4.0  # the grid holds the mass being integrated


def test_mixture_log_density_integrates_to_one() -> None:
    mog = GaussianMixture(k=3, init_scale=1.0, seed=1)
    with torch.no_grad():
        mog.log_stds.fill_(math.log(0.4))
        log_q = mog.log_prob(Grid(n=400).points.float()).double()
    assert abs(math.exp(float(Grid(n=400).log_integral(log_q))) - 1.0) < 1e-3


def test_claim1_learned_bias_equals_importance_estimate_on_2d_batch() -> None:
    """Minimising the discriminator loss over b alone lands on the µ-mixture IS log Z."""
    torch.manual_seed(0)
    data = make_dataset("8gaussians")
    x_data = data.sample(256, torch.Generator().manual_seed(0)).float()
    energy, sampler = EnergyMLP(), _random_flow(1)
    cost, log_q, is_demo = discriminator_batch(energy, sampler, x_data, 256)
    cost, log_q = cost.detach().double(), log_q.double()
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([b], lr=1.0, max_iter=200, tolerance_grad=1e-14, tolerance_change=1e-16)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = obj.discriminator_loss(cost, log_q, is_demo, b)
        loss.backward()
        return loss

    opt.step(closure)
    is_estimate = obj.importance_log_z(cost, log_q, is_demo, b.detach())
    assert abs(float(b.detach()) - float(is_estimate)) < 1e-8
    assert abs(float(b.detach()) - float(obj.optimal_log_z(cost, log_q, is_demo))) < 1e-8


def test_short_adversarial_training_reduces_kl() -> None:
    cfg = EBMConfig(
        sampler="mog", mog_k=8, steps=600, eval_every=100, grid_n=160, n_train=5000, n_test=2000
    )
    result = train(cfg)
    first, last = result.history[0], result.history[-1]
    assert last["kl_grid"] < 0.67 * first["kl_grid"], (first["kl_grid"], last["kl_grid"])
    assert last["energy/ess_frac"] > 0.1  # the importance weights have not collapsed
    assert math.isfinite(result.metrics["heldout_nll"])


def test_importance_sampled_log_z_mode_trains() -> None:
    """log_z=importance: b is the per-batch µ-mixture IS estimate, θ follows the GCL loss."""
    cfg = EBMConfig(
        sampler="mog",
        log_z="importance",
        steps=400,
        eval_every=100,
        grid_n=100,
        n_train=3000,
        n_test=500,
    )
    result = train(cfg)
    assert result.history[-1]["kl_grid"] < 0.9 * result.history[0]["kl_grid"]
    assert math.isfinite(result.metrics["log_z_error"])


def test_time_budget_anneals_sampler_entropy_like_steps() -> None:
    """Under a wall-clock budget the entropy weight still reaches 1 (it once stayed at 3)."""
    cfg = EBMConfig(
        sampler="mog",
        steps=10**6,
        max_wall_clock_s=4.0,
        eval_every=20,
        grid_n=60,
        n_train=2000,
        n_test=500,
        sampler_entropy_start=3.0,
        entropy_anneal_frac=0.5,
    )
    result = train(cfg)
    weights = [h["sampler/entropy_weight"] for h in result.history]
    assert weights[0] > 2.0 and weights[-1] == 1.0
    assert result.metrics["steps"] < 10**6


@pytest.mark.parametrize("sampler", ["flow", "mle_mog", "pcd"])
def test_irl_ebm_app_writes_figure_metrics_and_record(tmp_path: Path, sampler: str) -> None:
    record_file = tmp_path / "ebm.jsonl"
    overrides = [
        f"sampler={sampler}",
        "steps=30",
        "eval_every=10",
        "grid_n=60",
        "n_train=2000",
        "n_test=500",
        "langevin_steps=2",
        f"record={record_file}",
    ]
    with initialize_config_dir(config_dir=EBM_CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    out = tmp_path / "run"
    run(cfg, out, "irl-ebm " + " ".join(overrides))
    image = mpimg.imread(out / "figure.png")
    assert image.shape[0] == 320 and image.shape[1] == 1280  # 4 panels, 16x4 in at 80 dpi
    assert image[..., :3].std() > 0.05  # not a blank canvas
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # header + evaluations at steps 10, 20, 30
    (line,) = record_file.read_text().splitlines()
    rec = json.loads(line)
    for key in (
        "suite",
        "dataset",
        "sampler",
        "seed",
        "log_z_error",
        "kl_grid",
        "heldout_nll",
        "modes_covered",
        "wall_clock_s",
        "commit",
        "command",
        "machine",
    ):
        assert key in rec, key
    assert rec["suite"] == "ebm" and rec["sampler"] == sampler and math.isfinite(rec["kl_grid"])
    assert rec["command"].startswith("irl-ebm sampler=")


def test_unknown_dataset_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'spiral'"):
        make_dataset("spiral")
