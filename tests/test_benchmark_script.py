"""benchmarks/mujoco.sh: its RECIPE is what the task presets set, and each ablation row changes
exactly one key of it (Hydra refuses a key given twice, and a silent duplicate would mislabel
a row)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from irl.cli import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "mujoco.sh"


def _value(text: str) -> object:
    """An override's value as Hydra reads it (YAML, plus floats such as 1e-4 that YAML 1.1 keeps
    as strings)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def recipe(task: str | None = None) -> dict[str, object]:
    """RECIPE's overrides (plus RECIPE_<TASK>'s), read from the script, as key -> YAML value."""
    text = SCRIPT.read_text()
    m = re.search(r'^RECIPE="([^"]*)"$', text, re.MULTILINE)
    assert m is not None, "RECIPE=... not found in benchmarks/mujoco.sh"
    words = m.group(1).split()
    if task is not None:
        extra = re.search(rf'^RECIPE_{task.upper()}="([^"]*)"$', text, re.MULTILINE)
        words += extra.group(1).split() if extra else []
    pairs = [o.split("=", 1) for o in words]
    return {k: _value(v) for k, v in pairs}


@pytest.mark.parametrize("preset", ["hopper", "halfcheetah", "walker2d", "ant", "hopper_ablation"])
def test_task_presets_set_the_benchmark_recipe(preset: str) -> None:
    """experiment=<task> composes to the settings the benchmark records were measured with."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=[f"experiment={preset}"])
    assert len(recipe()) == 4
    for key, value in recipe(preset.removesuffix("_ablation")).items():
        assert OmegaConf.select(cfg, key) == value, key
    if preset != "halfcheetah":  # the one task with its own additions so far
        assert cfg.sampler.learning_rate == 3e-4
    assert cfg.sampler.name == "ppo" and cfg.total_env_steps == 300_000 and cfg.n_demos == 16


def _fake_bin(tmp_path: Path) -> tuple[Path, Path]:
    """irl-train / irl-eval stand-ins that log their arguments, one line per call, and write
    the file each leaves in its run directory when it finishes (result.json / eval.json)."""
    log = tmp_path / "calls.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, key, out in (
        ("irl-train", "hydra.run.dir", "result.json"),
        ("irl-eval", "run_dir", "eval.json"),
    ):
        exe = bin_dir / name
        exe.write_text(
            f'#!/usr/bin/env bash\necho "{name} $*" >> "{log}"\nr=0\n'
            f'for a in "$@"; do case $a in {key}=*) d=${{a#*=}};; reopt_steps=*) r=${{a#*=}};; '
            "esac; done\n"
            f'mkdir -p "$d"; echo "{{\\"reoptimized_steps\\": $r.0,}}" > "$d/{out}"\n'
        )
        exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return bin_dir, log


def _calls(part: str, tmp_path: Path, **env: str) -> list[str]:
    """Every stand-in call of one run of the script, run directories under tmp_path/bench."""
    bin_dir, log = _fake_bin(tmp_path)
    log.unlink(missing_ok=True)  # this run's calls only
    subprocess.run(
        ["bash", str(SCRIPT), part],
        env={**os.environ, "BIN": str(bin_dir), "BENCH_DIR": str(tmp_path / "bench"), **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return log.read_text().splitlines() if log.exists() else []


def test_a_rerun_skips_what_finished_and_reoptimises_on_request(tmp_path: Path) -> None:
    """A killed sweep continues: trained runs are not retrained, evaluated ones not
    re-evaluated unless REOPT_STEPS asks for it; RERUN=1 runs everything again."""
    env = {"SEEDS": "0", "ALGOS": "gan_gcl bc", "REOPT_STEPS": "0"}
    first = _calls("hopper", tmp_path, **env)
    assert [c.split()[0] for c in first] == ["irl-train", "irl-eval"] * 2
    # The BC run was killed before its evaluation finished.
    (bc_eval,) = (tmp_path / "bench").glob("*/*algo_bc*/eval.json")
    bc_eval.unlink()
    again = _calls("hopper", tmp_path, **env)
    assert len(again) == 1 and again[0].startswith("irl-eval") and "algo_bc" in again[0]
    reopt = _calls("hopper", tmp_path, **{**env, "REOPT_STEPS": "1000"})
    assert [c.split()[0] for c in reopt] == ["irl-eval", "irl-eval"]
    assert all("reopt_steps=1000" in c for c in reopt)
    # That re-optimisation is done: the same budget again runs nothing.
    assert _calls("hopper", tmp_path, **{**env, "REOPT_STEPS": "1000"}) == []
    rerun = _calls("hopper", tmp_path, **env, RERUN="1")
    assert [c.split()[0] for c in rerun] == ["irl-train", "irl-eval"] * 2


def _train_calls(part: str, tmp_path: Path, **env: str) -> list[list[str]]:
    lines = _calls(part, tmp_path, **env)
    return [ln.split()[1:] for ln in lines if ln.startswith("irl-train ")]


def test_ablation_rows_change_one_recipe_key_each(tmp_path: Path) -> None:
    """Row 1 is the recipe; every other row sets its key once, and keeps the rest of the recipe."""
    calls = _train_calls("ablation", tmp_path, SEEDS="0")
    base = recipe()
    rows = [{k: v for k, v in (a.split("=", 1) for a in c if "=" in a)} for c in calls]
    for call, row in zip(calls, rows, strict=True):
        keys = [a.split("=", 1)[0] for a in call if "=" in a]
        assert len(keys) == len(set(keys)), f"a key given twice: {call}"
        assert row["env"] == "hopper" and row["algo"] == "gan_gcl" and row["sampler"] == "ppo"
    changed = []
    for row in rows:
        dotted = {
            k: _value(v)
            for k, v in row.items()
            if "." in k and not k.startswith(("hydra.", "record."))
        }
        diff = [k for k in base if k not in dotted]
        diff += [k for k, v in dotted.items() if k not in base or base[k] != v]
        changed.append(diff)
    assert changed[0] == []
    assert all(len(d) == 1 for d in changed[1:]), changed
    # Each recipe measure is switched off by one row.
    assert {d[0] for d in changed[1:]} >= set(base)
    assert len(calls) == len({tuple(d) for d in changed})


@pytest.mark.parametrize("task", ["hopper", "halfcheetah"])
def test_task_part_runs_bc_without_the_sampler_recipe(task: str, tmp_path: Path) -> None:
    """IRL algorithms get the task's recipe, BC (no sampler) none of it; EXTRA= empties it."""
    calls = _train_calls(task, tmp_path, SEEDS="0", ALGOS="gan_gcl bc")
    parsed = {k: _value(v) for k, v in (a.split("=", 1) for a in calls[0] if "=" in a)}
    assert {k: parsed.get(k) for k in recipe(task)} == recipe(task)
    assert ("sampler.learning_rate" in parsed) == (task == "halfcheetah")
    assert "algo=gan_gcl" in calls[0] and "algo=bc" in calls[1]
    assert not set(recipe(task)) & {a.split("=", 1)[0] for a in calls[1]}
    plain = _train_calls(task, tmp_path / "plain", SEEDS="0", ALGOS="gan_gcl", EXTRA="")
    assert not set(recipe(task)) & {a.split("=", 1)[0] for a in plain[0]}
