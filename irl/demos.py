"""Expert demonstrations: a validated trajectory type and a pickle-free `.npz` demo file format.

File layout (one self-contained ``.npz`` per demo set, written with ``np.savez_compressed`` and
read back without pickle). ``N`` is the total number of steps and ``n`` the number of episodes:

====================  =================  =======  ==============================================
array                 shape              dtype    meaning
====================  =================  =======  ==============================================
observations          (N, obs_dim)       float32  observation before each step
final_observations    (n, obs_dim)       float32  observation after the last step of each episode
actions               (N, act_dim)       float32  action taken
rewards               (N,)               float32  true environment reward
terminated            (N,)               bool     MDP termination after this step
truncated             (N,)               bool     time-limit truncation after this step
episode_lengths       (n,)               int64    steps per episode, in order
metadata              ()                 unicode  JSON object (see ``REQUIRED_METADATA``)
====================  =================  =======  ==============================================

Next observations are not stored: within an episode they are the following row of
``observations`` and after its last step they are that episode's ``final_observations`` row.

Files are untrusted input. Loading opens only regular files, refuses unknown or duplicate
members, checks every size a zip or `.npy` header declares against the ``MAX_*`` limits and
against each other before inflating or allocating, inflates in bounded steps, validates the
metadata (bounded JSON nesting, finite returns with expert above random) and turns every
failure into one `DemoFileError` naming the file and the problem.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from irl.demo_archive import (
    MAX_MEMBER_BYTES as MAX_MEMBER_BYTES,  # re-exported: the archive size limits
)
from irl.demo_archive import (
    MAX_TOTAL_BYTES as MAX_TOTAL_BYTES,
)
from irl.demo_archive import (
    DemoFileError,
    parse_json_object,
    read_archive,
)
from irl.demo_spaces import BOUNDS_ATOL as BOUNDS_ATOL
from irl.demo_spaces import _bounds, _check_against_env, _check_bounds
from irl.demo_spaces import describe_space as describe_space
from irl.types import Trajectory, returns

FORMAT_VERSION = 1
# Archive size limits live in irl.demo_archive (MAX_MEMBER_BYTES, MAX_TOTAL_BYTES, ...).
MAX_METADATA_CHARS = 1 << 20  # metadata JSON text
RETURN_GAP_RTOL = 1e-6  # expert - random must exceed this times max(1, |expert|, |random|)

ARRAY_DTYPES: dict[str, np.dtype[Any]] = {
    "observations": np.dtype(np.float32),
    "final_observations": np.dtype(np.float32),
    "actions": np.dtype(np.float32),
    "rewards": np.dtype(np.float32),
    "terminated": np.dtype(np.bool_),
    "truncated": np.dtype(np.bool_),
    "episode_lengths": np.dtype(np.int64),
}
REQUIRED_METADATA: dict[str, type | tuple[type, ...]] = {
    "format_version": int,
    "env_id": str,
    "env_kwargs": dict,
    "gymnasium_version": str,
    "mujoco_version": str,
    "observation_space": dict,
    "action_space": dict,
    "n_trajectories": int,
    "n_steps": int,
    "expert_return_mean": (int, float),
    "expert_return_std": (int, float),
    "random_return_mean": (int, float),
    "random_return_std": (int, float),
    "seed": int,
    "command": str,
}
NULL_WITHOUT_REWARDS = ("expert_return_mean", "expert_return_std")
_NDIM = {"observations": 2, "final_observations": 2, "actions": 2, "metadata": 0}


# --------------------------------------------------------------------------------------------
# Saving


def save_demos(
    path: str | os.PathLike[str],
    trajectories: Sequence[Trajectory],
    metadata: Mapping[str, Any],
) -> dict[str, Any]:
    """Write trajectories and metadata to one compressed `.npz`; return the metadata written.

    ``metadata`` must hold the keys of ``REQUIRED_METADATA`` except those computed here
    (``format_version``, ``n_trajectories``, ``n_steps``, ``expert_return_mean``/``_std``).
    The file is written atomically (temporary file, then rename) and validated by reading it back.
    """
    if not trajectories:
        raise ValueError("refusing to save zero trajectories")
    rets = returns(trajectories)
    meta: dict[str, Any] = dict(metadata)
    has_rewards = rewards_available(meta)
    meta.update(
        format_version=FORMAT_VERSION,
        n_trajectories=len(trajectories),
        n_steps=int(sum(len(t) for t in trajectories)),
        expert_return_mean=float(rets.mean()) if has_rewards else None,
        expert_return_std=float(rets.std()) if has_rewards else None,
    )
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise ValueError(f"metadata lacks {missing}")
    text = json.dumps(meta, sort_keys=True, allow_nan=False)
    arrays = {
        "observations": np.concatenate([t.obs[:-1] for t in trajectories]),
        "final_observations": np.stack([t.obs[-1] for t in trajectories]),
        "actions": np.concatenate([t.acts for t in trajectories]),
        "rewards": np.concatenate([t.rews for t in trajectories]),
        "terminated": np.concatenate([t.terminated for t in trajectories]),
        "truncated": np.concatenate([t.truncated for t in trajectories]),
        "episode_lengths": np.array([len(t) for t in trajectories], dtype=np.int64),
        "metadata": np.array(text),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp.npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
        load_demos(tmp)  # never leave an invalid file behind
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return json.loads(text)


# --------------------------------------------------------------------------------------------
# Loading


def _check_header(path: str, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
    """Refuse wrong dtypes and wrong ranks before any payload is read."""
    if name == "metadata":
        if shape != () or dtype.kind != "U":
            raise DemoFileError(
                path, f"array 'metadata' must be a 0-d unicode string, got {dtype} {shape}"
            )
        if dtype.itemsize > 4 * MAX_METADATA_CHARS:
            raise DemoFileError(path, f"metadata is too long ({dtype.itemsize // 4} chars)")
    elif dtype != ARRAY_DTYPES[name]:
        raise DemoFileError(
            path, f"array {name!r} has dtype {dtype}, expected {ARRAY_DTYPES[name]}"
        )
    if len(shape) != _NDIM.get(name, 1):
        raise DemoFileError(
            path, f"wrong shape: array {name!r} is {shape}, expected {_NDIM.get(name, 1)}-D"
        )


def _read_archive(path: str) -> dict[str, np.ndarray]:
    return read_archive(path, {*ARRAY_DTYPES, "metadata"}, _check_header)


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def rewards_available(meta: Mapping[str, Any]) -> bool:
    """Whether the demos carry true rewards (``rewards_available``; files before it all did)."""
    return meta.get("rewards_available", True) is not False


def _check_returns(path: str, meta: Mapping[str, Any]) -> None:
    """Returns are finite, stds non-negative, and expert - random > 0 so scores are defined.

    Demos without rewards (``rewards_available: false``) store ``null`` expert returns.
    """
    if not rewards_available(meta):
        for key in ("expert_return_mean", "expert_return_std"):
            if meta[key] is not None:
                raise DemoFileError(path, f"{key} must be null: the demos carry no rewards")
    keys = ["random_return_mean", "random_return_std"]
    if rewards_available(meta):
        keys = ["expert_return_mean", "expert_return_std", *keys]
    for key in keys:
        if not _finite(meta[key]) or (key.endswith("std") and meta[key] < 0):
            raise DemoFileError(path, f"metadata {key}={meta[key]} is not a finite mean / std")
    if not rewards_available(meta):
        return
    expert, random = float(meta["expert_return_mean"]), float(meta["random_return_mean"])
    if not expert - random > RETURN_GAP_RTOL * max(1.0, abs(expert), abs(random)):
        raise DemoFileError(
            path,
            f"metadata expert_return_mean={expert} must exceed random_return_mean={random} "
            "(normalised scores divide by their difference)",
        )


def _parse_metadata(path: str, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    if "metadata" not in arrays:
        raise DemoFileError(path, "missing array 'metadata'")
    meta = parse_json_object(path, str(arrays["metadata"][()]))
    if not isinstance(meta.get("rewards_available", True), bool):
        raise DemoFileError(path, "metadata key 'rewards_available' must be true or false")
    for key, kind in REQUIRED_METADATA.items():
        if key not in meta:
            raise DemoFileError(path, f"metadata lacks key {key!r}")
        if key in NULL_WITHOUT_REWARDS and not rewards_available(meta):
            continue  # checked by _check_returns
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise DemoFileError(path, f"metadata key {key!r} has wrong type {type(meta[key])}")
    if meta["format_version"] != FORMAT_VERSION:
        raise DemoFileError(
            path, f"format_version {meta['format_version']} is not supported ({FORMAT_VERSION})"
        )
    for key in ("observation_space", "action_space"):
        space = meta[key]
        shape = space.get("shape")
        if (
            not isinstance(shape, list)
            or len(shape) != 1
            or type(shape[0]) is not int
            or shape[0] < 1
            or not isinstance(space.get("low"), list)
            or not isinstance(space.get("high"), list)
        ):
            raise DemoFileError(path, f"metadata {key} must be a 1-D Box with shape/low/high")
    _check_returns(path, meta)
    return meta


def load_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the metadata dict stored inside a demo file (the file is fully validated)."""
    return _load(str(path), env_id=None)[1]


def load_demos(path: str | os.PathLike[str], env_id: str | None = None) -> list[Trajectory]:
    """Load and validate demonstrations; with ``env_id`` also check them against that env.

    Raises:
        DemoFileError: the file is missing, corrupt or inconsistent with itself or the env.
    """
    return _load(str(path), env_id)[0]


def load_demos_with_metadata(
    path: str | os.PathLike[str], env_id: str | None = None
) -> tuple[list[Trajectory], dict[str, Any]]:
    """Like `load_demos`, also returning the metadata."""
    return _load(str(path), env_id)


def _load(path: str, env_id: str | None) -> tuple[list[Trajectory], dict[str, Any]]:
    try:
        return _load_checked(path, env_id)
    except DemoFileError:
        raise
    except Exception as e:  # whatever else a hostile file provokes still names the file
        raise DemoFileError(path, f"invalid demo file ({type(e).__name__}: {e})") from e


def _episode_layout(path: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> int:
    """Check episode lengths and every array shape against each other; return total steps."""
    lengths = arrays["episode_lengths"]
    n, rows = lengths.shape[0], arrays["observations"].shape[0]
    if n == 0:
        raise DemoFileError(path, "zero trajectories")
    if (lengths < 1).any():
        raise DemoFileError(path, "episode_lengths contains a length < 1")
    longest = int(lengths.max())
    # Checked before summing: n episodes of at most `rows` steps sum without int64 overflow.
    if n > rows or longest > rows or n * longest >= 1 << 63:
        raise DemoFileError(
            path,
            f"episode_lengths ({n} episodes, longest {longest} steps) do not fit the "
            f"{rows} rows of 'observations'",
        )
    total = int(lengths.sum())
    obs_dim, act_dim = meta["observation_space"]["shape"][0], meta["action_space"]["shape"][0]
    expected = {
        "observations": (total, obs_dim),
        "final_observations": (n, obs_dim),
        "actions": (total, act_dim),
        "rewards": (total,),
        "terminated": (total,),
        "truncated": (total,),
    }
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise DemoFileError(
                path, f"wrong shape: array {name!r} is {arrays[name].shape}, expected {shape}"
            )
    return total


def _load_checked(path: str, env_id: str | None) -> tuple[list[Trajectory], dict[str, Any]]:
    arrays = _read_archive(path)
    meta = _parse_metadata(path, arrays)
    for name in ARRAY_DTYPES:
        if name not in arrays:
            raise DemoFileError(path, f"missing array {name!r}")
    total = _episode_layout(path, arrays, meta)
    obs, final_obs = arrays["observations"], arrays["final_observations"]
    acts, rews = arrays["actions"], arrays["rewards"]
    term, trunc, lengths = arrays["terminated"], arrays["truncated"], arrays["episode_lengths"]
    for name in ("observations", "final_observations", "actions", "rewards"):
        bad = ~np.isfinite(arrays[name])
        if bad.any():
            raise DemoFileError(path, f"array {name!r} has {bad.sum()} non-finite values (NaN/inf)")
    n = lengths.shape[0]
    if meta["n_trajectories"] != n:
        raise DemoFileError(
            path, f"metadata n_trajectories={meta['n_trajectories']} but file holds {n}"
        )
    if meta["n_steps"] != total:
        raise DemoFileError(path, f"metadata n_steps={meta['n_steps']} but file holds {total}")
    ends = np.cumsum(lengths) - 1
    not_end = np.ones(total, dtype=bool)
    not_end[ends] = False
    if (term & not_end).any() or (trunc & not_end).any():
        raise DemoFileError(path, "terminated/truncated set in the middle of an episode")

    try:
        obs_low, obs_high = _bounds(meta["observation_space"], obs.shape[1])
        act_low, act_high = _bounds(meta["action_space"], acts.shape[1])
    except (TypeError, ValueError, OverflowError) as e:
        raise DemoFileError(path, f"metadata space bounds are invalid ({e})") from e
    _check_bounds(path, "observations", obs, obs_low, obs_high, "recorded observation space")
    _check_bounds(path, "final_observations", final_obs, obs_low, obs_high, "recorded")
    _check_bounds(path, "actions", acts, act_low, act_high, "recorded action space")

    rets = np.add.reduceat(rews.astype(np.float64), np.concatenate([[0], ends[:-1] + 1]))
    mean = float(rets.mean())
    if rewards_available(meta) and not math.isclose(
        mean, meta["expert_return_mean"], rel_tol=1e-6, abs_tol=1e-3
    ):
        raise DemoFileError(
            path,
            f"metadata expert_return_mean={meta['expert_return_mean']} disagrees with the "
            f"stored rewards (mean return {mean})",
        )
    if env_id is not None:
        if meta["env_id"] != env_id:
            raise DemoFileError(path, f"recorded for env {meta['env_id']!r}, not {env_id!r}")
        _check_against_env(path, env_id, obs, final_obs, acts)

    starts = np.concatenate([[0], ends[:-1] + 1]).tolist()
    trajectories = [
        Trajectory(
            obs=np.concatenate([obs[a : a + k], final_obs[i : i + 1]]),
            acts=acts[a : a + k],
            rews=rews[a : a + k],
            terminated=term[a : a + k],
            truncated=trunc[a : a + k],
        )
        for i, (a, k) in enumerate(zip(starts, lengths.tolist(), strict=True))
    ]
    return trajectories, meta


# --------------------------------------------------------------------------------------------
# Scores


def normalized_return(
    ret: float | np.ndarray, metadata_or_path: Mapping[str, Any] | str | os.PathLike[str]
) -> float | np.ndarray:
    """Expert-normalised score (return - random) / (expert - random), from demo metadata.

    Raises:
        ValueError: the expert/random returns are non-finite or equal, or the demos carry no
            rewards (the score is undefined); `normalized_score` returns ``None`` instead.
    """
    meta = (
        metadata_or_path
        if isinstance(metadata_or_path, Mapping)
        else load_metadata(metadata_or_path)
    )
    if not rewards_available(meta):
        raise ValueError("the demos carry no rewards: normalised score unavailable")
    expert, random = meta["expert_return_mean"], meta["random_return_mean"]
    if not (_finite(expert) and _finite(random) and math.isfinite(float(expert) - float(random))):
        raise ValueError(
            f"expert ({expert}) and random ({random}) returns must be finite: "
            "normalised score undefined"
        )
    if float(expert) == float(random):
        raise ValueError("expert and random returns are equal: normalised score undefined")
    out = (np.asarray(ret, dtype=np.float64) - float(random)) / (float(expert) - float(random))
    return float(out) if out.ndim == 0 else out


def normalized_score(ret: float, meta: Mapping[str, Any]) -> float | None:
    """`normalized_return` of one return, or ``None`` when the demos carry no rewards."""
    return float(normalized_return(ret, meta)) if rewards_available(meta) else None


# --------------------------------------------------------------------------------------------
# Selection


DEMO_EPISODES = ("all", "not_terminated")


def eligible_episodes(trajectories: Sequence[Trajectory], which: str = "all") -> list[int]:
    """Indices of the episodes a run may train on: ``"all"``, or ``"not_terminated"`` (those
    that ran to the time limit: an expert's falls are left out, so that the absorbing state
    after a termination is never a demo state)."""
    if which == "all":
        return list(range(len(trajectories)))
    if which == "not_terminated":
        return [i for i, t in enumerate(trajectories) if not bool(t.terminated[-1])]
    raise ValueError(f"demo_episodes={which!r}: expected one of {', '.join(DEMO_EPISODES)}")


def select_demos(
    trajectories: Sequence[Trajectory],
    n: int,
    seed: int,
    path: str | os.PathLike[str] | None = None,
    episodes: str = "all",
) -> tuple[list[Trajectory], list[Trajectory], list[int]]:
    """Pick ``n`` demos by seed; return (training, held-out, sorted training indices).

    The selection is the first ``n`` entries of ``np.random.default_rng(seed).permutation``
    over the eligible episodes (:func:`eligible_episodes` of ``episodes``), sorted; the rest
    of the eligible ones, sorted, are held out. Indices count every episode of the file.

    Raises:
        DemoFileError: ``n`` is out of range and ``path`` names the demo file.
        ValueError: ``n`` is out of range and no ``path`` is given.
    """
    pool = eligible_episodes(trajectories, episodes)
    k = len(pool)
    which = "" if episodes == "all" else f" {episodes}"
    problem = None
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        problem = f"n_demos must be an integer, got {n!r}"
    elif n < 1:
        problem = f"n_demos={n} must be at least 1"
    elif n > k:
        problem = f"the demo file holds {k}{which} episodes; n_demos={n} asks for more"
    if problem is not None:
        raise ValueError(problem) if path is None else DemoFileError(path, problem)
    order = [pool[i] for i in np.random.default_rng(seed).permutation(k)]
    train = sorted(order[:n])
    held = sorted(order[n:])
    return [trajectories[i] for i in train], [trajectories[i] for i in held], train


# --------------------------------------------------------------------------------------------
# Ways in from other sources (imported lazily: they build envs and may need optional extras)

_LAZY = {
    "from_arrays": "irl.demo_arrays",
    "split_episode_ends": "irl.demo_arrays",
    "DemoArrayError": "irl.demo_arrays",
    "from_imitation": "irl.demo_formats",
    "from_minari": "irl.demo_formats",
    "to_imitation": "irl.demo_formats",
    "to_minari": "irl.demo_formats",
    "record": "irl.rollouts",
}


def __getattr__(name: str) -> Any:
    """``irl.demos.from_arrays`` / ``from_imitation`` / ``from_minari`` / ``record``, lazily."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'irl.demos' has no attribute {name!r}")
