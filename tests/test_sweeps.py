"""Sweeps: every config option composes and builds, experiment presets multirun through joblib,
submitit's local launcher runs a sweep, and irl-report summarises a sweep with a crashed run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from irl.build import build_trainer
from irl.cli import CONF_DIR
from irl.paths import demo_stem
from irl.report import bootstrap_ci, interquartile_mean, write_report
from irl.rollouts import random_policy, record_policy_demos

ROOT = Path(__file__).resolve().parents[1]
CONF = Path(CONF_DIR)
BIN = Path(sys.executable).parent
ENV_IDS = {
    p.stem: str(OmegaConf.select(OmegaConf.load(p), "id"))
    for p in sorted((CONF / "env").glob("*.yaml"))
}


def options(group: str) -> list[str]:
    """The options of a config group (file stems)."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shipped demos where they exist, short random-policy demo files for the other tasks."""
    d = tmp_path_factory.mktemp("demos")
    for env_id in ENV_IDS.values():
        shipped = ROOT / "demos" / f"{env_id}.npz"
        if shipped.exists():
            (d / shipped.name).symlink_to(shipped)
        else:
            # Random stand-ins, whose random baseline is set below them so scores are defined
            # (a random baseline measured by chance above random demos is refused).
            record_policy_demos(
                random_policy, d / f"{demo_stem(env_id)}.npz", env_id, 4, 0, "test",
                random_episodes=2,
                extra_metadata={"random_return_mean": -1e6},
            )  # fmt: skip
    return d


def compose_train(*overrides: str) -> dict[str, Any]:
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=list(overrides))
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out  # type: ignore[return-value]


@pytest.mark.parametrize(
    "override",
    [f"env={o}" for o in options("env")]
    + [f"algo={o}" for o in options("algo")]
    + [f"sampler={o}" for o in options("sampler")]
    + [f"cost={o}" for o in options("cost")]
    + [f"experiment={o}" for o in options("experiment")]
    + [f"debug={o}" for o in options("debug")]
    + [
        "experimental.ppo_squash=true",
        "experimental.grad_penalty=10.0",
        "experimental.lambda_lcr=0.1",
        "experimental.lambda_mono=0.1",
    ],
)
def test_every_config_option_composes_and_instantiates(
    override: str, demo_dir: Path, tmp_path: Path
) -> None:
    """Each option of each irl-train group (and each experimental option) builds a Trainer:
    env, demos, sampler and cost."""
    cfg = compose_train(override, f"demo_dir={demo_dir}", "n_demos=2")
    trainer = build_trainer(cfg, tmp_path, log=False)
    assert trainer.s.env_id == cfg["env"]["id"]
    assert trainer.sampler.kind == cfg["sampler"]["name"]
    assert (trainer.cost is None) == (cfg["algo"]["name"] == "bc")
    assert trainer.s.n_iters >= (0 if cfg["algo"]["name"] == "bc" else 1)
    if override == "experimental.ppo_squash=true":
        assert trainer.sampler.squashed
    if override.startswith("experimental.") and trainer.cost is not None:
        key = override.split(".", 1)[1].split("=")[0]
        if key != "ppo_squash":
            assert getattr(trainer.cost, key) == float(override.split("=")[1])


@pytest.mark.parametrize(
    "override",
    [
        "hydra/launcher=local",
        "hydra/launcher=slurm",
        "hydra/launcher=submitit_local_irl",
        "hydra/sweeper=gan_gcl_optuna",
    ],
)
def test_launcher_and_sweeper_presets_compose(override: str) -> None:
    """The Slurm, local and Optuna presets resolve to their plugins' classes."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=[override], return_hydra_config=True)
    group, name = override.split("=")
    node = cfg.hydra.launcher if "launcher" in group else cfg.hydra.sweeper
    target = {
        "local": "JoblibLauncher",
        "slurm": "SlurmLauncher",
        "submitit_local_irl": "LocalLauncher",
        "gan_gcl_optuna": "OptunaSweeper",
    }[name]
    assert node._target_.endswith(target)
    if name == "slurm":
        assert node.cpus_per_task == 1 and node.gpus_per_node == 0
    if name == "gan_gcl_optuna":
        assert node.direction == "maximize" and "algo.lr" in node.params


def _multirun(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [str(BIN / "irl-train"), "-m", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_every_experiment_preset_multiruns_through_joblib(demo_dir: Path, tmp_path: Path) -> None:
    """All presets with the debug overrides, 2 jobs at once: each run has metrics + checkpoint."""
    presets = options("experiment")
    proc = _multirun(
        [
            "hydra/launcher=local",
            "hydra.launcher.n_jobs=2",
            f"experiment={','.join(presets)}",
            "debug=tiny",
            f"demo_dir={demo_dir}",
            f"hydra.sweep.dir={tmp_path}",
        ],
        ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [d for d in tmp_path.iterdir() if d.is_dir()]
    assert len(runs) == len(presets)
    for run in runs:
        header = (run / "progress.csv").read_text().splitlines()[0]
        assert "disc/loss" in header or "bc/nll" in header, run
        assert (run / "checkpoint" / "state.pt").exists(), run
        assert (run / "artifacts.json").exists(), run
        assert math.isfinite(json.loads((run / "result.json").read_text())["return_mean"])


def test_submitit_local_launcher_runs_a_two_job_sweep(tmp_path: Path) -> None:
    """submitit's local executor (the Slurm code path) runs 2 jobs and returns their results."""
    proc = _multirun(
        [
            "hydra/launcher=submitit_local_irl",
            "debug=tiny",
            "seed=0,1",
            f"hydra.sweep.dir={tmp_path}",
        ],
        ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sorted(tmp_path.glob("*/result.json"))
    assert len(results) == 2
    assert {json.loads(r.read_text())["seed"] for r in results} == {0, 1}


def _fake_run(root: Path, overrides: list[str], result: dict[str, Any] | None) -> Path:
    run = root / ",".join(overrides)
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(overrides))
    (run / "config.yaml").write_text("seed: 0\n")
    rows = ["time/iteration,time/env_steps,eval/normalized_return"]
    rows += [f"{i},{i * 100},{0.1 * i}" for i in range(1, 4)]
    (run / "progress.csv").write_text("\n".join(rows) + "\n")
    if result is not None:
        (run / "result.json").write_text(json.dumps(result))
    return run


def test_irl_report_summarises_a_sweep_and_lists_a_crashed_run(tmp_path: Path) -> None:
    """Mean ± std, IQM and bootstrap CI per configuration; the crashed run is named, not fatal."""
    scores = {"algo=gan_gcl": [0.9, 0.8, 0.7], "algo=airl": [0.5, 0.6]}
    for group, vals in scores.items():
        for seed, v in enumerate(vals):
            _fake_run(
                tmp_path,
                [group, f"seed={seed}"],
                {
                    "normalized_return": v,
                    "wall_clock_s": 10.0,
                    "steps_per_s": 100.0,
                    "env_steps": 300,
                },
            )
    crashed = _fake_run(tmp_path, ["algo=airl", "seed=2"], None)
    proc = subprocess.run(
        [str(BIN / "irl-report"), str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert "algo=gan_gcl | 3 (3) | 0.800 ± 0.100 | 0.800 |" in proc.stdout
    assert "algo=airl | 3 (2) | 0.550 ± 0.071 |" in proc.stdout
    assert str(crashed) in proc.stdout and "no result.json" in proc.stdout
    csv_text = (tmp_path / "report.csv").read_text().splitlines()
    assert csv_text[0].startswith("group,n_runs,n_finished,mean")
    assert len(csv_text) == 3
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_irl_report_refuses_a_directory_without_runs(tmp_path: Path) -> None:
    """An empty directory is a one-line error naming it."""
    proc = subprocess.run([str(BIN / "irl-report"), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert str(tmp_path) in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "missing")


def test_interquartile_mean_and_bootstrap_interval() -> None:
    """IQM trims a quarter from each end; the bootstrap interval brackets the mean, seeded."""
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0])
    assert interquartile_mean(x) == pytest.approx(3.5)
    assert interquartile_mean(np.array([1.0, 2.0, 3.0])) == pytest.approx(2.0)
    lo, hi = bootstrap_ci(np.array([0.7, 0.8, 0.9, 1.0]))
    assert lo < 0.85 < hi and (lo, hi) == bootstrap_ci(np.array([0.7, 0.8, 0.9, 1.0]))
    assert bootstrap_ci(np.array([0.5])) == (0.5, 0.5)
