"""benchmarks/transfer.sh: each cell's irl-train call composes, the irl-eval call re-optimises
in the part's target, and a rerun skips what finished (RERUN=1 runs it again)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from irl.cli import CONF_DIR

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "transfer.sh"


def _fake_bin(tmp_path: Path) -> tuple[Path, Path]:
    """irl-train / irl-eval stand-ins that log their arguments and leave the file each writes
    when it finishes (result.json; eval.json with the budget and the target, as irl-eval's)."""
    log = tmp_path / "calls.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, key, out in (
        ("irl-train", "hydra.run.dir", "result.json"),
        ("irl-eval", "run_dir", "eval.json"),
    ):
        exe = bin_dir / name
        exe.write_text(
            f'#!/usr/bin/env bash\necho "{name} $*" >> "{log}"\nr=0; t=\n'
            f'for a in "$@"; do case $a in {key}=*) d=${{a#*=}};; reopt_steps=*) r=${{a#*=}};; '
            "reopt_env=*) t=${a#*=};; esac; done\n"
            f'mkdir -p "$d"; printf \'{{"reoptimized_steps": %s.0, "target_env": "%s"}}\' '
            f'"$r" "$t" > "$d/{out}"\n'
        )
        exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return bin_dir, log


def _calls(part: str, tmp_path: Path, **env: str) -> list[list[str]]:
    bin_dir, log = _fake_bin(tmp_path)
    log.unlink(missing_ok=True)
    subprocess.run(
        ["bash", str(SCRIPT), part],
        env={**os.environ, "BIN": str(bin_dir), "BENCH_DIR": str(tmp_path / "bench"), **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return [ln.split() for ln in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize(
    ("part", "target"),
    [("maze", "irl/PointMazeRight-v0"), ("ant", "irl/DisabledAnt-v5"), ("pendulum", None)],
)
def test_cells_compose_and_evaluate_in_the_target(
    part: str, target: str | None, tmp_path: Path
) -> None:
    calls = _calls(part, tmp_path, SEEDS="0", REOPT_STEPS="100")
    trains = [c[1:] for c in calls if c[0] == "irl-train"]
    evals = [c[1:] for c in calls if c[0] == "irl-eval"]
    assert trains and len(trains) == len(evals)
    for call in trains:
        overrides = [a for a in call if not a.startswith(("hydra.", "record.", "progress_bar"))]
        with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
            compose("train", overrides=overrides)  # every key exists, none given twice
    for call in evals:
        assert "reopt_steps=100" in call
        assert (f"reopt_env={target}" in call) == (target is not None)
        # A transfer keeps its control in the shared cache (docs/transfer.md).
        cached = "reopt_control_cache=outputs/control_cache" in call
        assert cached == (target is not None)
    if target is not None:  # CONTROL_CACHE=none: the control is computed in every job
        (tmp_path / "none").mkdir()
        plain = _calls(
            part, tmp_path / "none", SEEDS="0", VARIANTS="gan_gcl:state", CONTROL_CACHE="none"
        )
        [uncached] = [c for c in plain if c[0] == "irl-eval"]
        assert "reopt_control_cache=null" in uncached
    if part == "ant":  # the AIRL paper's rows: state-only and state-action GAN-GCL, AIRL
        cells = {(a.split("=")[1], b.split("=")[1]) for a, b in _cells(trains)}
        assert cells == {("gan_gcl", "true"), ("gan_gcl", "false"), ("airl_state", "true")}


def _cells(trains: list[list[str]]) -> list[tuple[str, str]]:
    return [
        (
            next(a for a in call if a.startswith("algo=")),
            next(a for a in call if a.startswith("cost.state_only=")),
        )
        for call in trains
    ]


def test_a_rerun_skips_finished_runs_and_a_new_budget_re_evaluates(tmp_path: Path) -> None:
    env = {"SEEDS": "0", "VARIANTS": "gan_gcl:state", "REOPT_STEPS": "100"}
    assert [c[0] for c in _calls("maze", tmp_path, **env)] == ["irl-train", "irl-eval"]
    assert _calls("maze", tmp_path, **env) == []
    again = _calls("maze", tmp_path, **{**env, "REOPT_STEPS": "200"})
    assert [c[0] for c in again] == ["irl-eval"]
    rerun = _calls("maze", tmp_path, **{**env, "REOPT_STEPS": "200", "RERUN": "1"})
    assert [c[0] for c in rerun] == ["irl-train", "irl-eval"]
