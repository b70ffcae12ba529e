"""Pickle-free, atomic resume checkpoints of an SB3 SAC expert run.

A run directory holds whole checkpoints ``checkpoint-<seq>/`` (``seq`` counts up, six digits),
each with two files, and a pointer ``checkpoint.json`` naming the newest:

* ``state.pt``: ``torch.save`` of a dict of tensors and plain values, read back with
  ``torch.load(..., weights_only=True)``: the policy's state dict (actor, critic, critic target),
  the optimizers' state dicts, the entropy coefficient and its optimizer, the step and update
  counters, the current observation, the RNG states (torch; numpy's global legacy generator,
  python's ``random``, the action space's and the env's generators as JSON), the training env's
  state (wrappers' counters and the simulator state) and the run's progress record as JSON.
* ``replay_buffer.npz``: ``np.savez`` of the replay buffer's arrays up to its write position,
  read back with ``allow_pickle=False`` after checking each array's header.

A checkpoint is written into a hidden sibling temp directory, flushed to disk and renamed into
place; only then does the pointer move (``os.replace``) and older checkpoints get deleted, so a
kill at any moment leaves the last whole checkpoint. Loading picks the newest whole checkpoint
and checks every key, type and shape against the live model; any problem raises one
`CheckpointError` naming the file. SB3's own pickle-based ``checkpoint.zip`` and
``replay_buffer.pkl`` (written by older versions) are never opened.

A *portable checkpoint* is ``state.pt`` alone, as one file (`save_portable_checkpoint`): the
same state without the replay buffer, small enough to commit (a Humanoid expert's is about
2 MB; its replay buffer grows to 0.4 GB). It carries a long run across machines or sessions
whose run directory is lost; continuing from it is not exact, since the replay buffer starts
empty (`irl.experts.train_sac` refills it with the policy's own steps before updating again).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from irl.checkpoint import fsync_dir
from irl.env_snapshot import env_snapshot, restore_env

FORMAT = "irl-sac-checkpoint"
VERSION = 1
POINTER = "checkpoint.json"
STATE_FILE = "state.pt"
BUFFER_FILE = "replay_buffer.npz"
LEGACY_FILES = ("checkpoint.zip", "replay_buffer.pkl")  # pickle: never loaded
_NAME = re.compile(r"checkpoint-(\d{6,})")
_BUFFER_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
_STATE_TYPES: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "version": int,
    "policy": dict,
    "actor_optimizer": dict,
    "critic_optimizer": dict,
    "log_ent_coef": (torch.Tensor, type(None)),
    "ent_coef_optimizer": (dict, type(None)),
    "num_timesteps": int,
    "n_updates": int,
    "episode_num": int,
    "last_obs": torch.Tensor,
    "last_episode_starts": torch.Tensor,
    "rng": dict,
    "env": dict,
    "record": str,
}
_RNG_TYPES = {"torch": torch.Tensor, "numpy": str, "python": str, "action_space": str}


class CheckpointError(ValueError):
    """A run directory's checkpoint is missing, corrupt, hostile or does not fit the model."""


# --------------------------------------------------------------------------------------------
# Model state <-> plain data


def _rng_state(model: Any) -> dict[str, Any]:
    # SB3 samples replay batches from numpy's global legacy generator: its state is saved.
    legacy: Any = np.random.get_state(legacy=True)  # noqa: NPY002
    name, keys, pos, has_gauss, cached = legacy
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": json.dumps([name, keys.tolist(), int(pos), int(has_gauss), float(cached)]),
        "python": json.dumps([version, list(internal), gauss]),
        "action_space": json.dumps(model.action_space.np_random.bit_generator.state),
    }


def _restore_rng(model: Any, rng: dict[str, Any]) -> None:
    """Set the global and action-space RNGs (raises ValueError/TypeError on a bad state)."""
    name, keys, pos, has_gauss, cached = json.loads(rng["numpy"])
    if name != "MT19937" or len(keys) != 624:
        raise ValueError("numpy RNG state is not a 624-word MT19937 state")
    np_state = (name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached))
    version, internal, gauss = json.loads(rng["python"])
    bit_state = json.loads(rng["action_space"])
    generator = model.action_space.np_random.bit_generator
    if (
        not isinstance(bit_state, dict)
        or bit_state.get("bit_generator") != type(generator).__name__
    ):
        raise ValueError("action-space RNG state is for another bit generator")
    torch.set_rng_state(rng["torch"])
    np.random.set_state(np_state)  # noqa: NPY002
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    generator.state = bit_state


def _model_state(model: Any, record: dict[str, Any]) -> dict[str, Any]:
    if model.env.num_envs != 1:
        raise CheckpointError("only single-env SAC runs can be checkpointed")
    ent_opt = model.ent_coef_optimizer
    return {
        "format": FORMAT,
        "version": VERSION,
        "policy": dict(model.policy.state_dict()),
        "actor_optimizer": model.actor.optimizer.state_dict(),
        "critic_optimizer": model.critic.optimizer.state_dict(),
        "log_ent_coef": None if ent_opt is None else model.log_ent_coef.detach().clone(),
        "ent_coef_optimizer": None if ent_opt is None else ent_opt.state_dict(),
        "num_timesteps": int(model.num_timesteps),
        "n_updates": int(model._n_updates),
        "episode_num": int(model._episode_num),
        "last_obs": torch.from_numpy(np.array(model._last_obs)),
        "last_episode_starts": torch.from_numpy(np.array(model._last_episode_starts, dtype=bool)),
        "rng": _rng_state(model),
        "env": env_snapshot(model.env.envs[0]),
        "record": json.dumps(record),
    }


def _check_optimizer(sd: Any, optimizer: torch.optim.Optimizer, name: str) -> None:
    """Raise ValueError unless ``sd`` is a state dict of ``optimizer``'s shape."""
    if not isinstance(sd, dict) or set(sd) != {"state", "param_groups"}:
        raise ValueError(f"{name}: not an optimizer state dict")
    groups, state = sd["param_groups"], sd["state"]
    params = [p for g in optimizer.param_groups for p in g["params"]]
    ok = isinstance(groups, list) and len(groups) == len(optimizer.param_groups)
    ok = ok and all(
        isinstance(g, dict) and isinstance(g.get("params"), list) and len(g["params"]) == len(o)
        for g, o in zip(groups, (og["params"] for og in optimizer.param_groups), strict=False)
    )
    ok = ok and all(
        set(g) == set(og) and all(_same_kind(g[k], og[k]) for k in og if k != "params")
        for g, og in zip(groups, optimizer.param_groups, strict=False)
    )
    if not ok or not isinstance(state, dict):
        raise ValueError(f"{name}: parameter groups do not match the model")
    for idx, entry in state.items():
        if type(idx) is not int or not 0 <= idx < len(params) or not isinstance(entry, dict):
            raise ValueError(f"{name}: bad state entry {idx!r}")
        for key, value in entry.items():
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"{name}: state {idx}.{key} is not a tensor")
            if value.dim() > 0 and value.shape != params[idx].shape:
                raise ValueError(f"{name}: state {idx}.{key} has shape {list(value.shape)}")


def _check_policy(sd: dict[str, Any], live: Mapping[str, torch.Tensor]) -> None:
    """Raise ValueError unless ``sd`` has the live policy's tensor names and shapes."""
    if set(sd) != set(live):
        diff = sorted(set(sd) ^ set(live))[:4]
        raise ValueError(f"policy tensors differ from the model's (e.g. {diff})")
    for name, like in live.items():
        value = sd[name]
        if not isinstance(value, torch.Tensor) or value.shape != like.shape:
            got = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(
                f"policy tensor {name} is {got}, the model's is {list(like.shape)} "
                "(other SAC settings, e.g. net_arch?)"
            )


def _same_kind(value: Any, like: Any) -> bool:
    """Whether a loaded hyperparameter has the type of the live one (ints and floats mix)."""
    if isinstance(like, bool) or like is None:
        return type(value) is type(like)
    if isinstance(like, int | float):
        return type(value) in (int, float)
    if isinstance(like, tuple):
        return isinstance(value, tuple) and len(value) == len(like)
    return type(value) is type(like)


def _check_types(state: Any) -> None:
    if not isinstance(state, dict) or set(state) != set(_STATE_TYPES):
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"keys {keys} are not the checkpoint's {sorted(_STATE_TYPES)}")
    for key, types in _STATE_TYPES.items():
        if not isinstance(state[key], types) or isinstance(state[key], bool):
            raise ValueError(f"{key} has type {type(state[key]).__name__}")
    if state["format"] != FORMAT or state["version"] != VERSION:
        raise ValueError(f"unsupported checkpoint format {state['format']!r} v{state['version']}")
    rng = state["rng"]
    if set(rng) != set(_RNG_TYPES) or not all(isinstance(rng[k], t) for k, t in _RNG_TYPES.items()):
        raise ValueError("rng states are malformed")


def _apply_state(model: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Load a type-checked checkpoint dict into ``model``; returns the progress record.

    Raises ValueError, TypeError, KeyError or RuntimeError when it does not fit the model.
    """
    obs_shape = (model.env.num_envs, *model.observation_space.shape)
    if tuple(state["last_obs"].shape) != obs_shape:
        raise ValueError(f"observation shape {list(state['last_obs'].shape)} != {list(obs_shape)}")
    if tuple(state["last_episode_starts"].shape) != (model.env.num_envs,):
        raise ValueError("last_episode_starts does not match the number of envs")
    has_ent_opt = model.ent_coef_optimizer is not None
    if (state["ent_coef_optimizer"] is not None) != has_ent_opt or (
        state["log_ent_coef"] is not None
    ) != has_ent_opt:
        raise ValueError("entropy coefficient: learned in one, fixed in the other")
    _check_policy(state["policy"], model.policy.state_dict())
    _check_optimizer(state["actor_optimizer"], model.actor.optimizer, "actor_optimizer")
    _check_optimizer(state["critic_optimizer"], model.critic.optimizer, "critic_optimizer")
    if has_ent_opt:
        _check_optimizer(state["ent_coef_optimizer"], model.ent_coef_optimizer, "ent_coef")
        if state["log_ent_coef"].shape != model.log_ent_coef.shape:
            raise ValueError("log_ent_coef has the wrong shape")
    record = json.loads(state["record"])
    if not isinstance(record, dict) or not isinstance(record.get("evals"), list):
        raise ValueError("the progress record is not a JSON object with evals")
    model.policy.load_state_dict(state["policy"], strict=True)
    model.actor.optimizer.load_state_dict(state["actor_optimizer"])
    model.critic.optimizer.load_state_dict(state["critic_optimizer"])
    if has_ent_opt:
        with torch.no_grad():
            model.log_ent_coef.copy_(state["log_ent_coef"])
        model.ent_coef_optimizer.load_state_dict(state["ent_coef_optimizer"])
    model.num_timesteps = state["num_timesteps"]
    model._n_updates = state["n_updates"]
    model._episode_num = state["episode_num"]
    restored = restore_env(model.env.envs[0], state["env"])
    obs = state["last_obs"].numpy().astype(model.observation_space.dtype)
    model._last_obs = obs if restored else None  # None: learn() resets the env
    model._last_episode_starts = state["last_episode_starts"].numpy().astype(bool)
    _restore_rng(model, state["rng"])
    return record


# --------------------------------------------------------------------------------------------
# Replay buffer <-> .npz


def _buffer_names(rb: Any) -> list[str]:
    if not isinstance(getattr(rb, "observations", None), np.ndarray):
        raise CheckpointError("only SB3's ReplayBuffer (array observations) can be checkpointed")
    return [n for n in _BUFFER_ARRAYS if getattr(rb, n, None) is not None]


def _save_buffer(rb: Any, path: Path) -> None:
    n = rb.buffer_size if rb.full else rb.pos
    arrays = {name: getattr(rb, name)[:n] for name in _buffer_names(rb)}
    with path.open("wb") as f:
        np.savez(f, pos=np.int64(rb.pos), full=np.bool_(rb.full), **arrays)
        _flush(f)


def _npy_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Shape and dtype of every ``.npy`` member, read from the headers only."""
    headers = {}
    with zipfile.ZipFile(path) as zf:
        for member in zf.namelist():
            if not member.endswith(".npy"):
                raise ValueError(f"unexpected member {member!r}")
            with zf.open(member) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            headers[member[: -len(".npy")]] = (tuple(shape), dtype)
    return headers


def _load_buffer(rb: Any, path: Path) -> None:
    names = _buffer_names(rb)
    try:
        headers = _npy_headers(path)
        if set(headers) != {"pos", "full", *names}:
            raise ValueError(
                f"arrays {sorted(headers)}, expected {sorted(['pos', 'full', *names])}"
            )
        with np.load(path, allow_pickle=False) as z:
            pos, full = z["pos"], z["full"]
            if pos.shape != () or pos.dtype != np.int64 or full.shape != () or full.dtype != bool:
                raise ValueError("pos / full are not an int64 and a bool scalar")
            pos_i, full_b = int(pos), bool(full)
            if not 0 <= pos_i < rb.buffer_size:
                raise ValueError(f"write position {pos_i} outside [0, {rb.buffer_size})")
            n = rb.buffer_size if full_b else pos_i
            for name in names:
                target = getattr(rb, name)
                shape, dtype = headers[name]
                if shape != (n, *target.shape[1:]) or dtype != target.dtype:
                    raise ValueError(
                        f"{name} is {dtype} {list(shape)}, expected "
                        f"{target.dtype} {[n, *target.shape[1:]]}"
                    )
                target[:n] = z[name]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise CheckpointError(f"{path}: corrupt or mismatched replay buffer ({e})") from e
    rb.pos, rb.full = pos_i, full_b


# --------------------------------------------------------------------------------------------
# Files: atomic writes, pointer, recovery


def _flush(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


def _whole_checkpoints(run_dir: Path) -> list[Path]:
    """Renamed-into-place checkpoint directories, oldest first (by sequence number)."""
    found = [
        p
        for p in run_dir.glob("checkpoint-*")
        if _NAME.fullmatch(p.name) and p.is_dir() and not p.is_symlink()
    ]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(model: Any, run_dir: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write a whole new checkpoint of ``model`` and ``record``, then move the pointer to it.

    Returns:
        The new checkpoint directory.
    """
    out = Path(run_dir)
    existing = _whole_checkpoints(out)
    seq = int(existing[-1].name.split("-")[1]) + 1 if existing else 1
    final = out / f"checkpoint-{seq:06d}"
    tmp = out / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with (tmp / STATE_FILE).open("wb") as f:
        torch.save(_model_state(model, record), f)
        _flush(f)
    _save_buffer(model.replay_buffer, tmp / BUFFER_FILE)
    os.rename(tmp, final)
    fsync_dir(out)
    pointer = {"format": FORMAT, "version": VERSION, "checkpoint": final.name}
    pointer["num_timesteps"] = int(model.num_timesteps)
    with (out / (POINTER + ".tmp")).open("w") as f:
        f.write(json.dumps(pointer, indent=1) + "\n")
        _flush(f)
    os.replace(out / (POINTER + ".tmp"), out / POINTER)
    fsync_dir(out)
    for old in [*existing, *out.glob(".checkpoint-*.tmp")]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def find_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest whole checkpoint directory of ``run_dir``, or None if there is none.

    A checkpoint renamed into place but not yet named by the pointer (a kill between the two)
    is whole and is used.

    Raises:
        CheckpointError: the pointer is malformed or names a missing checkpoint, or only legacy
            pickle checkpoints exist (they are never loaded).
    """
    out = Path(run_dir)
    whole = _whole_checkpoints(out)
    pointer = out / POINTER
    if pointer.exists():
        try:
            if pointer.stat().st_size > 4096:
                raise ValueError("larger than 4 kB")
            raw = json.loads(pointer.read_text())
            name = raw["checkpoint"] if isinstance(raw, dict) else None
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ValueError("no valid 'checkpoint' name")
        except (ValueError, KeyError, UnicodeDecodeError, RecursionError) as e:
            raise CheckpointError(f"{pointer}: malformed checkpoint pointer ({e})") from e
        if (out / name) not in whole:
            raise CheckpointError(f"{pointer}: names {name}, which is not a checkpoint directory")
    if whole:
        return whole[-1]
    legacy = [out / n for n in LEGACY_FILES if (out / n).exists()]
    if legacy:
        raise CheckpointError(
            f"{legacy[0]}: a pickle-based SB3 checkpoint from an older version; it is never "
            "loaded (loading pickle can run code). Delete it, or train with resume=false."
        )
    return None


def _load_state(model: Any, state_file: Path) -> dict[str, Any]:
    """Check ``state_file`` against ``model`` and load it; returns the progress record."""
    try:
        state = torch.load(state_file, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise CheckpointError(f"{state_file}: missing") from e
    except Exception as e:
        raise CheckpointError(f"{state_file}: not a readable weights-only checkpoint ({e})") from e
    try:
        _check_types(state)
        record = _apply_state(model, state)
    except (ValueError, TypeError, KeyError, RuntimeError, IndexError, AttributeError) as e:
        raise CheckpointError(f"{state_file}: corrupt or mismatched checkpoint ({e})") from e
    return record


def load_checkpoint(model: Any, checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    """Restore ``model`` (built with the run's settings) from a checkpoint directory.

    Returns:
        The run's progress record stored with the checkpoint.

    Raises:
        CheckpointError: a file is missing, corrupt, hostile or does not fit ``model``.
    """
    directory = Path(checkpoint)
    record = _load_state(model, directory / STATE_FILE)
    if not (directory / BUFFER_FILE).exists():
        raise CheckpointError(f"{directory / BUFFER_FILE}: missing")
    _load_buffer(model.replay_buffer, directory / BUFFER_FILE)
    return record


def save_portable_checkpoint(
    model: Any, path: str | os.PathLike[str], record: dict[str, Any]
) -> Path:
    """Atomically write ``model``'s state without its replay buffer to the file ``path``.

    Returns:
        ``path``, as written.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("wb") as f:
        torch.save(_model_state(model, record), f)
        _flush(f)
    os.replace(tmp, out)
    fsync_dir(out.parent)
    return out


def load_portable_checkpoint(model: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Restore ``model`` from a portable checkpoint; its replay buffer is left as it is (empty).

    Returns:
        The run's progress record stored with the checkpoint.

    Raises:
        CheckpointError: the file is missing, corrupt, hostile or does not fit ``model``.
    """
    return _load_state(model, Path(path))
