"""Benchmark records: one JSON object per line under ``benchmarks/results/`` (BENCHMARKS.md)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["append_record", "git_commit", "machine_description"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def git_commit(root: Path = REPO_ROOT) -> str:
    """Short hash of HEAD, with ``-dirty`` when the tree has uncommitted changes, or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            # Records appended under benchmarks/results/ by a running benchmark are not code
            # changes: without the exclusion every run after the first was marked -dirty.
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)benchmarks/results",
            ],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def machine_description() -> str:
    """CPU count, processor and Python version of this machine, e.g. ``2 cpu x86_64 py3.11``."""
    py = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return f"{os.cpu_count()} cpu {platform.machine()} {py}"


def append_record(
    path: str | Path, record: dict[str, Any], command: str | None = None, commit: str | None = None
) -> dict[str, Any]:
    """Append ``record`` with commit, machine and command to a JSON-lines file; return the line."""
    full = {
        **record,
        # Pass the commit read when the run started: HEAD may move during a long run.
        "commit": commit if commit is not None else git_commit(),
        "machine": machine_description(),
        "command": command
        if command is not None
        else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(full, sort_keys=True) + "\n")
    return full
