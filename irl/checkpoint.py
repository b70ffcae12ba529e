"""Pickle-free, crash-safe checkpoints: ``state.pt`` (tensors and plain data, read with
``weights_only=True``) and ``arrays.npz`` (read with ``allow_pickle=False``) in one directory.

Writing protocol (no moment at which a kill loses the last whole checkpoint):
1. the new checkpoint is written whole into ``<name>.tmp/`` and a ``COMPLETE`` marker is written
   last (fsynced);
2. the old ``<name>/`` is renamed to ``<name>.old/``, then ``<name>.tmp/`` to ``<name>/``;
3. ``<name>.old/`` is deleted.
:func:`recover_checkpoint` runs before every read and write: if ``<name>/`` is missing after a
kill between the renames, the whole ``<name>.tmp/`` (or else ``<name>.old/``) becomes
``<name>/``; a partial ``<name>.tmp/`` is discarded only once a whole checkpoint is in place.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CheckpointError",
    "fsync_dir",
    "load_replay_arrays",
    "read_checkpoint",
    "recover_checkpoint",
    "replay_arrays",
    "rng_state",
    "set_rng_state",
    "write_checkpoint",
]

COMPLETE = "COMPLETE"
# SB3 replay-buffer arrays a checkpoint keeps (up to the write position).
REPLAY_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (corrupt, or from another configuration)."""


def _is_whole(d: Path) -> bool:
    return d.is_dir() and (d / COMPLETE).is_file()


def recover_checkpoint(final: Path) -> Path | None:
    """Make ``final`` the newest whole checkpoint after a crash; returns it (None if none)."""
    tmp = final.with_name(final.name + ".tmp")
    old = final.with_name(final.name + ".old")
    if not _is_whole(final):
        for candidate in (tmp, old):
            if _is_whole(candidate):
                if final.exists():
                    shutil.rmtree(final)
                candidate.rename(final)
                break
    if _is_whole(final):
        for d in (tmp, old):
            if d.exists():
                shutil.rmtree(d)
        return final
    # Checkpoints written before the COMPLETE marker existed: whole if both files are there.
    if final.is_dir() and (final / "state.pt").is_file() and (final / "arrays.npz").is_file():
        return final
    return None


def fsync_dir(d: Path) -> None:
    """Flush a directory's entries (renames, new files) to disk."""
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(
    final: Path, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> None:
    """Write a checkpoint directory atomically (see the module's protocol)."""
    recover_checkpoint(final)
    tmp = final.with_name(final.name + ".tmp")
    old = final.with_name(final.name + ".old")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    torch.save(dict(state), tmp / "state.pt")
    np.savez(tmp / "arrays.npz", **arrays)  # type: ignore[arg-type]
    for name in ("state.pt", "arrays.npz"):
        with open(tmp / name, "rb+") as fh:
            os.fsync(fh.fileno())
    (tmp / COMPLETE).write_text("ok\n")
    fsync_dir(tmp)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    fsync_dir(final.parent)
    if old.exists():
        shutil.rmtree(old)


def read_checkpoint(d: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A checkpoint directory's state and arrays, read without pickle."""
    try:
        state = torch.load(d / "state.pt", weights_only=True)
        with np.load(d / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise CheckpointError(
            f"{d}: cannot read checkpoint ({exc.__class__.__name__}: {exc})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{d}: state.pt does not hold a checkpoint mapping")
    return state, arrays


def _jsonable(x: Any) -> Any:
    return x.tolist() if isinstance(x, np.ndarray) else int(x)


def rng_state() -> dict[str, Any]:
    """The global torch, numpy (legacy: SB3 samples from it) and Python RNG states."""
    return {
        "torch": torch.get_rng_state(),
        "numpy": json.dumps(np.random.get_state(legacy=False), default=_jsonable),  # noqa: NPY002
        "python": json.dumps(random.getstate()),
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    np_state = json.loads(state["numpy"])
    np_state["state"]["key"] = np.asarray(np_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(np_state)  # noqa: NPY002
    py = json.loads(state["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))


def generator_state(gen: np.random.Generator) -> str:
    """A numpy Generator's state as JSON."""
    return json.dumps(gen.bit_generator.state, default=_jsonable)


def replay_arrays(rb: Any) -> dict[str, np.ndarray]:
    """An SB3 replay buffer's contents up to its write position, as named arrays."""
    used = rb.buffer_size if rb.full else rb.pos  # only what was written
    arrays = {f"replay/{name}": getattr(rb, name)[:used] for name in REPLAY_FIELDS}
    arrays["replay/pos_full"] = np.array([rb.pos, int(rb.full)], np.int64)
    return arrays


def load_replay_arrays(rb: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Refill an SB3 replay buffer from :func:`replay_arrays`' output."""
    for name in REPLAY_FIELDS:
        saved = arrays[f"replay/{name}"]
        getattr(rb, name)[: len(saved)] = saved
    rb.pos, full = (int(x) for x in arrays["replay/pos_full"])
    rb.full = bool(full)
