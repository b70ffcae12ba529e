"""A cache of transfer controls: RL on a target's true reward, run once for all the runs it serves.

A transfer's control (`irl.transfer`) is a fresh optimiser trained on the target's **true**
reward. Nothing of the run being evaluated enters it but the target's env kwargs: with the same
target, optimiser settings, budget and seed it is the same computation for every run, and on one
machine it gives the same numbers (Disabled Ant, 1M PPO steps: 741 for the runs of seeds 0, 1
and 2 alike). At 1M PPO steps it is half of a transfer job's time.

``irl-eval reopt_control_cache=<dir>`` keeps each control once, keyed by :func:`control_key`:
the settings that decide it (target, its kwargs, optimiser, budget, seed, evaluation episodes,
torch's thread count), the CPU (runs are deterministic on one machine only), the versions of the
libraries that compute it and a digest of the project's code that does
(:data:`CONTROL_SOURCES`). Any change of these is a new key, so a cached control is never one
the current code would not reproduce. A hit copies the control's files (actor, curve, periodic
evaluations) into the transfer's ``true/`` folder and its record fields into the record, with
``control_cached_key`` saying so; ``control_last10_learned_return`` (the evaluated run's learned
reward along the control's training episodes) belongs to the run that computed it and is left
out (None).

The cache holds JSON and safetensors written by this project; a damaged entry is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from irl.records import cpu_description

__all__ = ["CONTROL_SOURCES", "ControlCache", "control_key"]

_ROOT = Path(__file__).resolve().parent
# The project's code a control runs through: the optimisers, their evaluation, the reward
# wrapper that pays the true reward, seeding, rollouts and the target envs.
CONTROL_SOURCES = (
    *(
        _ROOT / f"{m}.py"
        for m in (
            "ars",
            "checkpoint",
            "maze_planner",
            "reopt_eval",
            "reoptimize",
            "reoptimize_ars",
            "rollouts",
            "sb3_adapter",
            "seeding",
            "transfer",
            "wrappers",
        )
    ),
    _ROOT / "cli" / "evaluate.py",
)
_LIBRARIES = ("torch", "stable-baselines3", "gymnasium", "mujoco", "numpy")
FIELDS_FILE = "control_fields.json"
# Files of the control's folder that are kept; its checkpoint folder is not.
KEPT_SUFFIXES = (".csv", ".safetensors", ".json", ".mp4")
# Record fields that belong to the evaluated run, not to the control.
RUN_SPECIFIC = ("control_last10_learned_return",)


def _env_sources() -> list[Path]:
    import irl_envs

    return sorted(Path(irl_envs.__file__).resolve().parent.glob("*.py"))


def source_digest(paths: list[Path] | None = None) -> str:
    """SHA-256 of the control's code (:data:`CONTROL_SOURCES` and the target envs' modules)."""
    h = hashlib.sha256()
    for p in paths if paths is not None else [*CONTROL_SOURCES, *_env_sources()]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def control_key(settings: Mapping[str, Any]) -> str:
    """The cache key of a control: a digest of ``settings`` (what decides the control: target,
    its kwargs, optimiser settings, budget, seed, episodes), this CPU, the libraries' versions
    and the project's code that runs it."""
    payload = {
        "settings": dict(settings),
        "cpu": cpu_description(),
        "versions": _versions(),
        "code": source_digest(),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class ControlCache:
    """One control's slot in a cache folder: ``root/key/``."""

    root: Path
    key: str

    @property
    def entry(self) -> Path:
        return self.root / self.key

    def load(self, out_dir: Path) -> dict[str, Any] | None:
        """The cached control's record fields, its files copied into ``out_dir``; None on a miss
        (no entry, or one that cannot be read: it is computed again and replaced)."""
        try:
            fields = json.loads((self.entry / FIELDS_FILE).read_text())
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(fields, dict):
            return None
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in sorted(self.entry.iterdir()):
            if f.is_file() and f.name != FIELDS_FILE and f.suffix in KEPT_SUFFIXES:
                shutil.copy2(f, out_dir / f.name)
        fields.update({k: None for k in RUN_SPECIFIC if k in fields})
        fields["control_cached_key"] = self.key
        return fields

    def store(self, fields: Mapping[str, Any], out_dir: Path) -> None:
        """Keep a control just computed: its files from ``out_dir`` and its record fields. The
        fields file is written last and atomically, so an interrupted store is a miss."""
        tmp = self.root / f".{self.key}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in sorted(out_dir.iterdir()):
            if f.is_file() and f.suffix in KEPT_SUFFIXES:
                shutil.copy2(f, tmp / f.name)
        (tmp / FIELDS_FILE).write_text(json.dumps(dict(fields), sort_keys=True, default=str))
        shutil.rmtree(self.entry, ignore_errors=True)
        os.replace(tmp, self.entry)
