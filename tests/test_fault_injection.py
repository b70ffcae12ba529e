"""Fault injection: an ``irl-train`` process killed with SIGKILL at random moments, some of them
inside checkpoint writing (between its two renames), and resumed each time, ends with the same
weights, the same result and the same metrics rows as an uninterrupted run of the same seed."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

OVERRIDES = [
    "env=pendulum",
    "debug=tiny",
    "seed=3",
    "total_env_steps=1536",  # 12 iterations of 128 steps, a checkpoint after each
    "n_demos=2",
]

# Runs irl-train's code in-process. With FAULT_DIR set it announces each iteration (file
# "iter") and, inside checkpoint writing, right after the old checkpoint was renamed away and
# before the new one takes its place, announces "ckpt" and waits: the kill window of the old
# protocol.
DRIVER = r"""
import os, sys, time, pathlib
fault = os.environ.get("FAULT_DIR")
if fault:
    fault = pathlib.Path(fault)
    import irl.trainer as T
    _iterate = T.Trainer.iterate
    def iterate(self):
        (fault / "iter").write_text(str(self.iteration))
        return _iterate(self)
    T.Trainer.iterate = iterate
    _rename = pathlib.Path.rename
    def rename(self, target):
        out = _rename(self, target)
        if self.name == "checkpoint" and pathlib.Path(target).name == "checkpoint.old":
            (fault / "ckpt").write_text("1")
            time.sleep(0.5)
        return out
    pathlib.Path.rename = rename
from irl.cli.train import compose_config, run_training
cfg, _ = compose_config(sys.argv[2:])
run_training(cfg, sys.argv[1])
"""

TIME_COLUMNS = ("time/", "train/learning_rate")


def _run(run_dir: Path, fault_dir: Path | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}
    if fault_dir is not None:
        env["FAULT_DIR"] = str(fault_dir)
    args = [sys.executable, "-c", DRIVER, str(run_dir), *OVERRIDES, "video.enabled=false"]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise TimeoutError(f"{path} never appeared")


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    return [
        {k: v for k, v in r.items() if not k.startswith(TIME_COLUMNS) and "fps" not in k}
        for r in rows
    ]


def _result(run_dir: Path) -> dict[str, object]:
    result = json.loads((run_dir / "result.json").read_text())
    for k in ("wall_clock_s", "steps_per_s"):
        result.pop(k)
    # Timings differ between runs; where they were taken may not, and a resumed run keeps the
    # BC warm start's seconds from the process that ran it.
    result["curve_wall_clock_s"] = [k for k, _ in result["curve_wall_clock_s"]]
    result["warmstart_s"] = result["warmstart_s"] > 0
    # Where the run started and was resumed: compared on its own (a killed run has more).
    result.pop("segments")
    return result


@pytest.mark.timeout(900)
def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    rng = random.Random(0)
    reference = tmp_path / "reference"
    proc = _run(reference)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode() if proc.stderr else ""

    killed = tmp_path / "killed"
    kills = in_checkpoint = 0
    plan = ["ckpt", "iter"] * 3 + ["iter", "ckpt", "iter", "iter"]  # 10 kills, 4 in writing
    for moment in plan:
        fault = tmp_path / f"fault{kills}"
        fault.mkdir()
        proc = _run(killed, fault)
        if not _wait_for(fault / moment, proc):
            break  # the run finished before this moment came
        if moment == "iter":
            time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            in_checkpoint += moment == "ckpt"
    assert kills >= 10 and in_checkpoint >= 2, (kills, in_checkpoint)
    proc = _run(killed)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode() if proc.stderr else ""

    for name in ("policy.safetensors", "cost.safetensors"):
        assert (killed / name).read_bytes() == (reference / name).read_bytes(), name
    assert _result(killed) == _result(reference)
    # The resumed run says where it resumed: after its start, at increasing env steps.
    segments = json.loads((killed / "result.json").read_text())["segments"]
    reference_segments = json.loads((reference / "result.json").read_text())["segments"]
    assert [s["env_steps"] for s in reference_segments] == [0]
    at = [s["env_steps"] for s in segments]
    assert len(at) >= 2 and at[0] == 0 and at == sorted(at)
    rows = _rows(killed)
    assert rows == _rows(reference)
    # SB3's own train/* metrics are in every row, replayed ones included.
    assert all(r["train/loss"] not in ("", None) for r in rows)
    assert len(list(killed.glob("events.out.tfevents.*"))) == 1
