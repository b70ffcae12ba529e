"""Regressions of the redesign and reliability issues: checkpoint kill windows, config
validation, the divergence guard, irl-report's view of runs that never started."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from irl.checkpoint import read_checkpoint, recover_checkpoint, write_checkpoint
from irl.cli import CONF_DIR
from irl.validate import ConfigError, validate_train_config


def _cfg(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out


def _write(d: Path, value: float) -> None:
    write_checkpoint(d, {"value": torch.tensor(value)}, {"a": np.array([value])})


def _value(d: Path) -> float:
    state, arrays = read_checkpoint(d)
    assert float(arrays["a"][0]) == float(state["value"])
    return float(state["value"])


def test_kill_between_the_renames_keeps_the_newest_whole_checkpoint(tmp_path: Path) -> None:
    final = tmp_path / "checkpoint"
    _write(final, 1.0)
    _write(final, 2.0)  # the previous one is replaced whole
    assert _value(final) == 2.0
    # A kill after `checkpoint` -> `checkpoint.old` and before `.tmp` -> `checkpoint`:
    _write(tmp_path / "next", 3.0)
    (tmp_path / "next").rename(final.with_name("checkpoint.tmp"))
    final.rename(final.with_name("checkpoint.old"))
    assert not final.exists()
    assert recover_checkpoint(final) == final
    assert _value(final) == 3.0  # the whole new one wins; the old one is gone only now
    assert not final.with_name("checkpoint.old").exists()


def test_kill_while_writing_keeps_the_old_checkpoint(tmp_path: Path) -> None:
    final = tmp_path / "checkpoint"
    _write(final, 1.0)
    final.rename(final.with_name("checkpoint.old"))
    partial = final.with_name("checkpoint.tmp")
    partial.mkdir()
    (partial / "state.pt").write_bytes(b"half a file")  # no COMPLETE marker
    assert recover_checkpoint(final) == final
    assert _value(final) == 1.0
    assert not partial.exists()
    _write(final, 2.0)  # and writing carries on from there
    assert _value(final) == 2.0


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("total_env_steps=0", "total_env_steps"),
        ("checkpoint_every_iters=0", "checkpoint_every_iters"),
        ("eval.every_iters=0", "eval.every_iters"),
        ("n_demos=0", "n_demos"),
        ("seed=-1", "seed"),
        ("sampler.n_envs=0", "sampler.n_envs"),
        ("algo.batch_size=0", "algo.batch_size"),
        ("algo.fusion=bogus", "algo.fusion"),
        ("sampler.policy_ema=1.0", "sampler.policy_ema"),
        ("algo.lr=nan", "algo.lr"),
        ("cost.rank_loss=-1", "cost.rank_loss"),
    ],
)
def test_bad_config_values_get_one_clear_error(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key}=.*not allowed; use "):
        validate_train_config(_cfg(override))


def test_every_preset_config_validates() -> None:
    for env in ("hopper", "halfcheetah", "walker2d", "ant", "inverted_pendulum", "pendulum"):
        for sampler in ("ppo", "sac"):
            validate_train_config(_cfg(f"env={env}", f"sampler={sampler}"))


def test_irl_report_help_prints_a_plain_percent(capsys: pytest.CaptureFixture[str]) -> None:
    from irl.cli.report import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "95% CI" in out and "%%" not in out


def test_irl_report_tells_a_run_that_never_started(tmp_path: Path) -> None:
    from irl.report import collect_runs

    run = tmp_path / "0"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (info,) = collect_runs(tmp_path)
    assert not info.finished
    assert info.error is not None and "before training started" in info.error


@pytest.mark.timeout(600)
@pytest.mark.parametrize("override", ["algo.lr=1e6", "sampler.learning_rate=3"])
def test_a_diverging_run_stops_with_a_message_and_keeps_its_last_good_checkpoint(
    tmp_path: Path, override: str
) -> None:
    import json
    import os
    import subprocess
    import sys

    from irl.checkpoint import read_checkpoint, recover_checkpoint

    run_dir, records = tmp_path / "run", tmp_path / "records.jsonl"
    args = [
        "env=pendulum",
        "debug=tiny",
        "total_env_steps=1024",  # 8 iterations: the blow-up comes long before the end
        override,
        "video.enabled=false",
        f"hydra.run.dir={run_dir}",
        f"record.path={records}",
    ]
    env = {**os.environ, "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "irl.cli.train", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0
    assert "training diverged at iteration" in proc.stderr
    assert "last good checkpoint is kept at" in proc.stderr
    (record,) = [json.loads(line) for line in records.read_text().splitlines()]
    assert record["status"] == "diverged"
    assert not (run_dir / "result.json").exists()
    ckpt = recover_checkpoint(run_dir / "checkpoint")
    assert ckpt is not None
    state, _ = read_checkpoint(ckpt)
    assert state["iteration"] < 8  # a good state from before the blow-up, resumable


def _eval_cfg(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("eval", overrides=["run_dir=/nowhere", *overrides])
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("episodes=0", "episodes"),
        ("reopt_steps=-1", "reopt_steps"),
        ("reopt_algo=td3", "reopt_algo"),
        ("reopt_reward=bogus", "reopt_reward"),
        ("reopt_net_arch=[0]", "reopt_net_arch"),
        ("random_episodes=0", "random_episodes"),
        ("reopt_normalize_reward=sometimes", "reopt_normalize_reward"),
    ],
)
def test_bad_irl_eval_values_get_one_clear_error(override: str, key: str) -> None:
    from irl.validate import validate_eval_config

    validate_eval_config(_eval_cfg())  # the defaults pass
    with pytest.raises(ConfigError, match=rf"{key}=.*not allowed; use "):
        validate_eval_config(_eval_cfg(override))


def test_a_bad_sampler_net_arch_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"sampler.net_arch=.*positive integers"):
        validate_train_config(_cfg("sampler.net_arch=[64,-1]"))
