"""``irl-ebm``: train a 2-D EBM with a learned sampler or a baseline; write metrics, a figure."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import hydra
import matplotlib
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import save_file
from tqdm import tqdm

from irl.cli import EBM_CONF_DIR
from irl.ebm import EBMConfig, EBMResult, train
from irl.ebm_data import make_dataset
from irl.ebm_metrics import Grid, grid_images
from irl.records import REPO_ROOT, append_record, git_commit

matplotlib.use("Agg")

# The code this process executes: a multirun's later jobs must not pick up a HEAD that moved.
LOADED_COMMIT = git_commit()


def config_from(cfg: DictConfig) -> EBMConfig:
    """Map the Hydra config onto the library's plain dataclass."""
    names = {f.name for f in dataclasses.fields(EBMConfig)}
    values: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    return EBMConfig(**{k: v for k, v in values.items() if k in names})


def save_figure(result: EBMResult, cfg: EBMConfig, path: Path) -> None:
    """True density, exp(-E_θ)/Z, sampler samples and training curves in one PNG."""
    import matplotlib.pyplot as plt

    data = make_dataset(cfg.dataset)
    grid = Grid(n=200)
    true, model = grid_images(result.energy, data, grid)
    ext = (-grid.lim, grid.lim, -grid.lim, grid.lim)
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    axes[0].imshow(true, origin="lower", extent=ext, cmap="viridis")
    axes[0].set_title(f"true density ({cfg.dataset})")
    axes[1].imshow(model, origin="lower", extent=ext, cmap="viridis")
    axes[1].set_title(f"exp(-E)/Z  KL={result.metrics['kl_grid']:.3f}")
    if result.sampler is not None:
        xs = result.sampler.sample(3000).numpy()
        axes[2].scatter(xs[:, 0], xs[:, 1], s=1, alpha=0.4)
        axes[2].set_xlim(-grid.lim, grid.lim)
        axes[2].set_ylim(-grid.lim, grid.lim)
        axes[2].set_aspect("equal")
    axes[2].set_title(f"sampler samples ({cfg.sampler})")
    steps = [h["step"] for h in result.history if "kl_grid" in h]
    if steps:
        axes[3].semilogy(
            steps, [h["kl_grid"] for h in result.history if "kl_grid" in h], label="grid KL(p‖p_θ)"
        )
        errs = [h.get("log_z_error", math.nan) for h in result.history if "kl_grid" in h]
        axes[3].semilogy(steps, errs, label="|log Z error|")
        axes[3].legend()
    axes[3].set_xlabel("step")
    axes[3].set_title("training curves")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run(cfg: DictConfig, out_dir: Path, command: str) -> dict[str, Any]:
    """Train, then write metrics.csv, result.json, weights and figure.png into ``out_dir``."""
    torch.set_num_threads(int(cfg.threads))
    ecfg = config_from(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(
        total=ecfg.steps, desc=f"ebm {ecfg.dataset}/{ecfg.sampler}", unit="step", leave=False
    )
    last = [0]

    def progress(step: int, row: dict[str, float]) -> None:
        bar.update(step - last[0])
        last[0] = step
        bar.set_postfix(
            kl=f"{row.get('kl_grid', math.nan):.3f}",
            logZerr=f"{row.get('log_z_error', math.nan):.3f}",
        )

    result = train(ecfg, progress)
    bar.close()
    keys = sorted({k for row in result.history for k in row})
    with (out_dir / "metrics.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(result.history)
    save_file(
        {k: v.contiguous() for k, v in result.energy.state_dict().items()},
        str(out_dir / "energy.safetensors"),
    )
    if result.sampler is not None:
        state = {k: v.contiguous() for k, v in result.sampler.state_dict().items()}
        save_file(state, str(out_dir / "sampler.safetensors"))
    save_figure(result, ecfg, out_dir / "figure.png")
    record = {
        "suite": "ebm",
        "dataset": ecfg.dataset,
        "sampler": ecfg.sampler,
        "mog_k": ecfg.mog_k if "mog" in ecfg.sampler else None,
        "log_z_mode": ecfg.log_z,
        "seed": ecfg.seed,
        **{
            k: result.metrics.get(k)
            for k in (
                "log_z_error",
                "log_z_online_error",
                "mass_outside_grid",
                "kl_grid",
                "heldout_nll",
                "true_entropy",
                "modes_covered",
                "model_modes_covered",
                "ess_frac",
                "frac_between_modes",
                "sampler_reverse_kl",
                "wall_clock_s",
                "steps",
            )
        },
    }
    (out_dir / "result.json").write_text(json.dumps(record, indent=2))
    if cfg.record:
        path = Path(cfg.record)
        append_record(
            path if path.is_absolute() else REPO_ROOT / path, record, command, LOADED_COMMIT
        )
    return record


@hydra.main(version_base="1.3", config_path=EBM_CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    """Entry point of ``irl-ebm``."""
    hc = HydraConfig.get()
    command = " ".join(["irl-ebm", *hc.overrides.task])
    record = run(cfg, Path(hc.runtime.output_dir), command)
    width = max(len(k) for k in record)
    for key, value in record.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"  {key:<{width}}  {shown}")
    print(f"  run directory: {hc.runtime.output_dir}")


if __name__ == "__main__":
    main()
