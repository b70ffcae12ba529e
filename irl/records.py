"""Benchmark records: one JSON object per line under ``benchmarks/results/`` (BENCHMARKS.md)."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "DEFAULTS_ERAS",
    "ERA_ADDITIONS",
    "append_record",
    "cpu_description",
    "git_commit",
    "machine_description",
]

REPO_ROOT = Path(__file__).resolve().parents[1]

# The additions to the recipe that a task's env config can turn on, each since it became some
# tasks' default: the companion sampler from scratch (env.companion), the ranking loss on the cost
# (env.cost_rank_loss > 0), GCL's torque term (env.cost_torque_term) and the torque term's own
# initial weight w_u (env.cost_torque_init, in place of 0.1).
ERA_ADDITIONS = ("companion", "rank", "torque", "wu")
# The "defaults" values a record can carry (irl.cli.train.defaults_era): "recipe" (the defaults
# since the redesign) with the additions its task turns on, in ERA_ADDITIONS' order
# ("recipe+companion+rank").
DEFAULTS_ERAS = tuple(
    "+".join(["recipe", *(a for i, a in enumerate(ERA_ADDITIONS) if mask >> i & 1)])
    for mask in range(2 ** len(ERA_ADDITIONS))
)


# A copy of a checkout without its .git (synced to another machine to run there) names the commit
# it was copied from in this variable; git's own answer wins wherever there is one.
SOURCE_COMMIT_VAR = "IRL_SOURCE_COMMIT"


def git_commit(root: Path = REPO_ROOT) -> str:
    """Short hash of HEAD, with ``-dirty`` when the tree has uncommitted changes; outside a git
    checkout the value of ``$IRL_SOURCE_COMMIT`` (a copied tree's commit), else ``unknown``."""
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
        return os.environ.get(SOURCE_COMMIT_VAR, "").strip() or "unknown"
    return head + ("-dirty" if dirty else "")


def machine_description() -> str:
    """CPU count, processor and Python version of this machine, e.g. ``2 cpu x86_64 py3.11``."""
    py = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return f"{os.cpu_count()} cpu {platform.machine()} {py}"


# The widest vector extension first: the one math kernels dispatch on, so runs of one config
# on CPUs that differ here round differently (and part from the first evaluation on).
_VECTOR_FLAGS = ("avx512f", "avx2", "avx", "sse4_2", "asimd", "neon")


def cpu_description(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU model and its widest vector extension, e.g. ``AMD EPYC, avx512f``: a run is
    deterministic on one machine but not across CPUs that round differently, and
    :func:`machine_description` cannot tell such machines apart. ``unknown`` where
    ``cpuinfo`` cannot be read (not Linux)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return "unknown"
    model, flags = "unknown", set[str]()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name in ("model name", "cpu model") and model == "unknown":
            model = value.strip() or "unknown"
        elif name in ("flags", "features") and not flags:
            flags = set(value.split())
    widest = next((f for f in _VECTOR_FLAGS if f in flags), "no vector flags")
    return f"{model}, {widest}"


def _find_record(fh: BinaryIO, key: str) -> dict[str, Any] | None:
    """The first record in ``fh`` whose ``record_key`` is ``key`` (unparsable lines skipped)."""
    fh.seek(0)
    for raw in fh:
        try:
            rec = json.loads(raw)
        except ValueError:  # a line torn by a crash elsewhere: not ours to judge here
            continue
        if isinstance(rec, dict) and rec.get("record_key") == key:
            return rec
    return None


def append_record(
    path: str | Path,
    record: dict[str, Any],
    command: str | None = None,
    commit: str | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """Append ``record`` with commit, machine and command to a JSON-lines file; return the line.

    The append holds an exclusive ``flock`` on the file and is flushed and fsync'ed before the
    lock is released, so concurrent writers (also on NFS, where Linux maps flock to POSIX
    locks) never interleave lines. With ``key`` (a run's unique id, e.g. its run directory and
    env steps), the record is stored with ``"record_key": key`` and appended at most once: when
    a line with that key already exists, nothing is written and that existing record is returned.
    """
    full = {
        **record,
        # Pass the commit read when the run started: HEAD may move during a long run.
        "commit": commit if commit is not None else git_commit(),
        "machine": machine_description(),
        "cpu": cpu_description(),
        "command": command
        if command is not None
        else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    if key is not None:
        full["record_key"] = key
    line = (json.dumps(full, sort_keys=True) + "\n").encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        if key is not None and (existing := _find_record(fh, key)) is not None:
            return existing
        end = fh.seek(0, os.SEEK_END)
        if end > 0:
            fh.seek(end - 1)
            if fh.read(1) != b"\n":  # a torn last line: keep ours on a line of its own
                line = b"\n" + line
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    return full
