"""benchmarks/mujoco.sh: it passes no recipe of its own (the task presets and the defaults of
``env=<task>`` are the recipe), keeps its CLI (STEPS, SEEDS, SAMPLER, EXTRA, REOPT_STEPS, RERUN),
and each ablation row changes exactly one setting of the recipe (Hydra refuses a key given twice,
and a row that sets a default would mislabel the row)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from test_config import RECIPE, recipe

from irl.cli import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "mujoco.sh"
# What the script passes besides the cell's choices: bookkeeping, never a setting of the run.
BOOKKEEPING = ("progress_bar", "hydra.run.dir", "record.path", "record.suite")


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


def _compose(*overrides: str) -> dict[str, object]:
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=list(overrides))
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out  # type: ignore[return-value]


def test_the_script_holds_no_copy_of_the_recipe() -> None:
    """No RECIPE variable and none of the recipe's keys in the script's text."""
    text = SCRIPT.read_text()
    assert "RECIPE" not in text
    for key in ("cost_action=drawn", "bc_warmstart_epochs=50", "normalize_reward=true"):
        assert key not in text, key
    assert "policy_ema=0.9" not in text and "learning_rate" not in text


@pytest.mark.parametrize("preset", ["hopper", "halfcheetah", "walker2d", "ant", "hopper_ablation"])
def test_task_presets_compose_to_the_recipe(preset: str) -> None:
    """experiment=<task> is env=<task> (the recipe) plus its record suite."""
    task = preset.removesuffix("_ablation")
    cfg = _compose(f"experiment={preset}")
    for key, value in recipe(task).items():
        assert OmegaConf.select(OmegaConf.create(cfg), key) == value, key
    plain = _compose(f"env={task}", "algo=gan_gcl")
    record = cfg.pop("record")
    plain.pop("record")
    assert cfg == plain
    assert isinstance(record, dict) and str(record["suite"]).startswith("mujoco-")


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


def _settings(call: list[str]) -> dict[str, str]:
    """A call's overrides without the bookkeeping ones, as key -> value text."""
    pairs = dict(a.split("=", 1) for a in call if "=" in a)
    return {k: v for k, v in pairs.items() if k not in BOOKKEEPING}


@pytest.mark.parametrize("part", ["quick", "hopper", "halfcheetah"])
def test_a_part_passes_the_cell_and_nothing_of_the_recipe(part: str, tmp_path: Path) -> None:
    """Each call names its cell (env, algo, sampler, seed) and nothing else: the defaults of
    env=<task> are the recipe, and the task's own budget is used unless STEPS is set."""
    calls = _train_calls(part, tmp_path, SEEDS="0 1", ALGOS="gan_gcl bc")
    env = "inverted_pendulum" if part == "quick" else part
    assert [_settings(c) for c in calls] == [
        {"env": env, "algo": algo, "sampler": "ppo", "seed": seed}
        for seed in ("0", "1")
        for algo in ("gan_gcl", "bc")
    ]
    for call in calls:
        keys = [a.split("=", 1)[0] for a in call if "=" in a]
        assert len(keys) == len(set(keys)) and set(BOOKKEEPING) <= set(keys), call


def test_ablation_rows_change_one_recipe_setting_each(tmp_path: Path) -> None:
    """Row 1 is the recipe (no setting passed); every other row sets one key, to a value other
    than the default, and each of the recipe's measures is switched off by one row."""
    calls = _train_calls("ablation", tmp_path, SEEDS="0")
    base = _compose("env=hopper", "algo=gan_gcl")
    rows = [_settings(c) for c in calls]
    for call in calls:
        keys = [a.split("=", 1)[0] for a in call if "=" in a]
        assert len(keys) == len(set(keys)), f"a key given twice: {call}"
    changed = []
    for row in rows:
        assert {k: row.pop(k) for k in ("env", "algo", "sampler", "seed")} == {
            "env": "hopper",
            "algo": "gan_gcl",
            "sampler": "ppo",
            "seed": "0",
        }
        assert all("." in k for k in row), row
        for key, value in row.items():
            default = OmegaConf.select(OmegaConf.create(base), key)
            assert _value(value) != default, f"{key}={value} is the default: a mislabelled row"
        changed.append(sorted(row))
    assert changed[0] == []
    assert all(len(keys) == 1 for keys in changed[1:]), changed
    assert len({tuple(k) for k in changed}) == len(changed)  # no row twice
    measures = {k for k in RECIPE if k not in ("sampler.name", "total_env_steps", "n_demos")}
    measures.discard("sampler.learning_rate")  # a per-task value, not a measure to switch off
    assert measures <= {keys[0] for keys in changed[1:]}


@pytest.mark.parametrize("task", ["hopper", "halfcheetah"])
def test_steps_and_extra_reach_the_irl_runs_and_bc_takes_no_extra(
    task: str, tmp_path: Path
) -> None:
    """STEPS sets every run's budget; EXTRA adds overrides to the IRL runs, never to BC (no
    sampler or cost to set); SAMPLER picks the sampler."""
    extra = "algo.absorbing_floor=0.5 sampler.policy_ema=null"
    calls = _train_calls(
        task, tmp_path, SEEDS="0", ALGOS="gan_gcl bc", STEPS="1000", EXTRA=extra, SAMPLER="sac"
    )
    irl, bc = (_settings(c) for c in calls)
    assert irl["total_env_steps"] == bc["total_env_steps"] == "1000"
    assert irl["sampler"] == bc["sampler"] == "sac"
    assert irl["algo.absorbing_floor"] == "0.5" and irl["sampler.policy_ema"] == "null"
    assert not [k for k in bc if "." in k], bc
    # Every IRL call composes (the keys exist and are given once).
    _compose(*(a for a in calls[0] if not a.startswith(("hydra.", "record."))))
