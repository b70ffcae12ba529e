"""Demonstrations saved by the ``imitation`` library: `from_imitation` and `to_imitation`.

Two on-disk layouts are read, neither by importing ``imitation`` (it pins gymnasium 0.29) nor
``datasets``, and neither with pickle:

- the HuggingFace ``datasets`` folder that ``imitation.data.serialize.save`` writes
  (imitation >= 1.0, ``Dataset.save_to_disk``): ``state.json`` (whose ``_data_files`` list the
  shards in order), ``dataset_info.json`` and Arrow IPC stream shards ``data-*.arrow`` holding
  one row per trajectory with columns ``obs`` (``T + 1`` observations), ``acts`` (``T``),
  ``infos`` (``T`` jsonpickled strings, not read), ``terminal`` (bool) and, for
  ``TrajectoryWithRew``, ``rews`` (``T``);
- the older ``.npz`` (``np.savez_compressed``): ``obs`` (all trajectories' ``T + 1``
  observations back to back), ``acts``, ``terminal`` (one per trajectory), ``indices`` (where
  to split ``acts``: the running step count before each trajectory but the first), ``rews`` and
  ``infos`` (an object array, skipped unread). The oldest pickled ``.pkl`` files are refused.

``imitation`` keeps one ``terminal`` flag per trajectory; `irl.demo_formats.episode_ends`
turns it into terminated vs truncated: with ``end_rule="time_limit"`` an episode as long as the
time limit was truncated and any other ending a termination (a trajectory with ``terminal``
false, a fragment, is a truncation too); ``"terminated"`` / ``"truncated"`` force every end one
way. The rule used is recorded in the demo file's metadata (``episode_ends``, ``end_rule``,
``time_limit``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from irl.demo_archive import (
    MAX_TOTAL_BYTES,
    DemoFileError,
    read_archive,
)
from irl.demo_arrays import from_arrays
from irl.demo_formats import (
    env_time_limit,
    episode_ends,
    read_json_file,
    regular_file_size,
    split_observations,
)
from irl.demos import load_demos_with_metadata, rewards_available
from irl.types import Trajectory

__all__ = ["from_imitation", "to_imitation"]

_NPZ_MEMBERS = {"obs", "acts", "infos", "terminal", "indices", "rews"}


# --------------------------------------------------------------------------------------------
# HuggingFace datasets folder


def _column_values(path: Path, table: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A list column: (per-row lengths, values ``(sum, dim)`` or ``(sum,)``), types checked."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = table.column(name)
    levels, t = 0, col.type
    while pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        levels, t = levels + 1, t.value_type
    if pa.types.is_struct(t) or pa.types.is_map(t) or pa.types.is_dictionary(t):
        raise DemoFileError(
            path,
            f"column {name!r} holds dicts ({col.type}): dict observations/actions are not "
            "supported (flatten them to one vector per step first)",
        )
    numeric = pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t)
    if not numeric or levels not in (1, 2):
        raise DemoFileError(
            path,
            f"column {name!r} has Arrow type {col.type}: expected a list per trajectory "
            "of numbers or of 1-D number vectors",
        )
    arr = col.combine_chunks()
    rows = pc.list_value_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)
    inner = arr.flatten()
    dim = None
    if levels == 2:
        if col.null_count or inner.null_count:
            raise DemoFileError(path, f"column {name!r} has null entries")
        dims = pc.list_value_length(inner).to_numpy(zero_copy_only=False)
        if len(dims) and (dims.min() != dims.max() or dims.min() < 1):
            sizes = sorted({int(d) for d in dims})
            raise DemoFileError(path, f"column {name!r} mixes vector sizes {sizes}")
        dim = int(dims[0]) if len(dims) else 1
        inner = inner.flatten()
    if col.null_count or inner.null_count:
        raise DemoFileError(path, f"column {name!r} has null entries")
    values = inner.to_numpy(zero_copy_only=False)
    return rows, values if dim is None else values.reshape(-1, dim)


def _read_shards(folder: Path) -> Any:
    """The Arrow table of a ``save_to_disk`` folder, shard sizes bounded before reading."""
    import pyarrow as pa
    import pyarrow.ipc

    if (folder / "dataset_dict.json").exists():
        raise DemoFileError(folder, "is a DatasetDict (dataset_dict.json): pass one split's folder")
    if not (folder / "state.json").exists():
        raise DemoFileError(
            folder,
            "is not an imitation trajectories folder (no state.json; expected the "
            "folder that imitation's serialize.save wrote)",
        )
    state = read_json_file(folder / "state.json", "state.json")
    files = state.get("_data_files")
    if not isinstance(files, list) or not files:
        raise DemoFileError(folder / "state.json", "has no _data_files list")
    shards = []
    for entry in files:
        name = entry.get("filename") if isinstance(entry, dict) else None
        if not isinstance(name, str) or Path(name).name != name or not name.endswith(".arrow"):
            raise DemoFileError(folder / "state.json", f"bad _data_files entry {entry!r}")
        shards.append(folder / name)
    total = sum(regular_file_size(p, "Arrow shard") for p in shards)
    if total > MAX_TOTAL_BYTES:
        raise DemoFileError(folder, f"shards hold {total} bytes, over the limit {MAX_TOTAL_BYTES}")
    tables, held = [], 0
    for shard in shards:
        try:
            with pa.OSFile(str(shard), "rb") as f:
                reader = pa.ipc.open_stream(f)
                batches = []
                for batch in reader:
                    held += batch.nbytes
                    if held > MAX_TOTAL_BYTES:
                        raise DemoFileError(shard, f"inflates past {MAX_TOTAL_BYTES} bytes")
                    batches.append(batch)
                tables.append(pa.Table.from_batches(batches, schema=reader.schema))
        except DemoFileError:
            raise
        except (pa.ArrowException, OSError) as e:
            raise DemoFileError(shard, f"not a readable Arrow IPC stream ({e})") from e
    try:
        return pa.concat_tables(tables)
    except pa.ArrowException as e:
        raise DemoFileError(folder, f"shards have different columns ({e})") from e


def _read_folder(folder: Path) -> dict[str, Any]:
    """Flat arrays (``all_obs``, ``acts``, ``lengths``, ``terminal``, ``rews``) of a folder."""
    import pyarrow as pa

    table = _read_shards(folder)
    for name in ("obs", "acts", "terminal"):
        if name not in table.column_names:
            raise DemoFileError(folder, f"has no {name!r} column (columns: {table.column_names})")
    if table.num_rows == 0:
        raise DemoFileError(folder, "holds no trajectories")
    obs_rows, all_obs = _column_values(folder, table, "obs")
    lengths, acts = _column_values(folder, table, "acts")
    rews = None
    if "rews" in table.column_names:
        rew_rows, rews = _column_values(folder, table, "rews")
        if rews.ndim != 1 or not np.array_equal(rew_rows, lengths):
            raise DemoFileError(folder, "rews must hold one number per action in each row")
    bad = np.flatnonzero(obs_rows != lengths + 1)
    if bad.size:
        i = int(bad[0])
        raise DemoFileError(
            folder,
            f"trajectory {i} has {obs_rows[i]} observations for {lengths[i]} actions "
            "(imitation stores one more observation than actions)",
        )
    term = table.column("terminal")
    if not (pa.types.is_boolean(term.type) and term.null_count == 0):
        raise DemoFileError(folder, f"column 'terminal' must be non-null bool, got {term.type}")
    terminal = term.to_numpy(zero_copy_only=False).astype(bool)
    return {
        "all_obs": all_obs,
        "acts": acts,
        "lengths": lengths,
        "terminal": terminal,
        "rews": rews,
    }


# --------------------------------------------------------------------------------------------
# Old .npz layout (and the pickled one, refused)


def _check_npz_header(path: str, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
    # imitation's indices of a single trajectory are np.cumsum([]): an empty float64 array.
    kinds = {"terminal": "b", "indices": "iuf"}.get(name, "biuf")
    if dtype.kind not in kinds:
        raise DemoFileError(path, f"array {name!r} has dtype {dtype}, expected kind {kinds!r}")
    ranks = (1, 2) if name in ("obs", "acts") else (1,)
    if len(shape) not in ranks:
        raise DemoFileError(path, f"array {name!r} has shape {shape}, expected rank {ranks}")


def _read_npz(path: Path) -> dict[str, Any]:
    """Flat arrays of the old ``.npz`` layout, read without pickle (``infos`` skipped)."""
    # infos holds jsonpickled/pickled dicts: allowed in the archive, never read (no unpickling).
    arrays = read_archive(str(path), _NPZ_MEMBERS, _check_npz_header, skip={"infos"})
    missing = [k for k in ("obs", "acts", "terminal", "indices") if k not in arrays]
    if missing:
        raise DemoFileError(path, f"is not imitation's .npz layout (lacks {missing})")
    acts, indices, terminal = arrays["acts"], arrays["indices"], arrays["terminal"]
    if not (np.isfinite(indices).all() and np.array_equal(indices, np.floor(indices))):
        raise DemoFileError(path, "indices must be whole numbers of steps")
    indices = indices.astype(np.int64)
    bounds = np.concatenate([[0], indices, [len(acts)]])
    lengths = np.diff(bounds)
    if len(terminal) != len(lengths) or (lengths < 1).any():
        raise DemoFileError(
            path,
            f"indices ({len(indices)}) and terminal ({len(terminal)}) do not describe "
            f"trajectories of at least one step over {len(acts)} actions",
        )
    if len(arrays["obs"]) != len(acts) + len(lengths):
        raise DemoFileError(
            path,
            f"obs has {len(arrays['obs'])} rows, expected actions + trajectories = "
            f"{len(acts) + len(lengths)}",
        )
    rews = arrays.get("rews")
    if rews is not None and rews.shape != (len(acts),):
        raise DemoFileError(path, f"rews has shape {rews.shape}, expected ({len(acts)},)")
    return {
        "all_obs": arrays["obs"],
        "acts": acts,
        "lengths": lengths,
        "terminal": terminal.astype(bool),
        "rews": rews,
    }


def _read_imitation(path: Path) -> tuple[dict[str, Any], str]:
    """Flat arrays from either layout and the layout's name."""
    if path.is_dir():
        return _read_folder(path), "imitation datasets folder"
    regular_file_size(path, "imitation trajectories")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic.startswith(b"\x80") or path.suffix in (".pkl", ".pickle"):
        raise DemoFileError(
            path,
            "is a pickle file: pickled trajectories are refused (unpickling runs "
            "arbitrary code). Where you trust the file, load it with imitation and save it with "
            "imitation.data.serialize.save (a datasets folder), then import that folder",
        )
    if magic != b"PK\x03\x04":
        raise DemoFileError(path, "is neither an imitation datasets folder nor an .npz archive")
    return _read_npz(path), "imitation npz"


# --------------------------------------------------------------------------------------------
# Public API


def from_imitation(
    path: str | os.PathLike[str],
    env_id: str,
    *,
    out: str | os.PathLike[str] | None = None,
    time_limit: int | None = None,
    end_rule: str = "time_limit",
    **from_arrays_kwargs: Any,
) -> list[Trajectory]:
    """Validated demonstrations from ``imitation``'s saved trajectories; with ``out``, a file.

    Args:
        path: the folder ``imitation.data.serialize.save`` wrote, or an old ``.npz``.
        env_id: the gymnasium env the trajectories come from (dims and bounds are checked).
        out: where to write our demo file (`irl.demos` format); None: validate only.
        time_limit: the episode length that counts as truncation; None: the env's registered
            ``max_episode_steps`` (or ``env_kwargs['max_episode_steps']``).
        end_rule: ``"time_limit"`` (see the module docstring), ``"terminated"`` or
            ``"truncated"`` (every episode end recorded as that).
        **from_arrays_kwargs: passed to `irl.demo_arrays.from_arrays` (``env_kwargs``,
            ``env_module``, ``random_episodes``, ``seed``, ``extra_metadata``).

    Raises:
        DemoFileError: the files are missing, pickled, corrupt, oversized or not this layout.
        DemoArrayError: the data does not fit the env (dims, bounds, NaN).
    """
    src = Path(path)
    if not src.exists():
        raise DemoFileError(src, "not found (expected imitation's saved trajectories)")
    data, layout = _read_imitation(src)
    if data["all_obs"].dtype.kind == "b" or data["acts"].dtype.kind == "b":
        raise DemoFileError(src, "obs and acts must be numbers, not booleans")
    if time_limit is not None and (isinstance(time_limit, bool) or int(time_limit) < 1):
        raise ValueError(f"time_limit must be a positive number of steps, got {time_limit!r}")
    kw = dict(from_arrays_kwargs)
    limit = time_limit
    if limit is None and end_rule == "time_limit":
        limit = env_time_limit(env_id, kw.get("env_kwargs"), kw.get("env_module"))
    terminated, truncated, rule = episode_ends(data["lengths"], data["terminal"], limit, end_rule)
    obs, next_obs = split_observations(np.asarray(data["all_obs"]), data["lengths"])
    extra = {
        "imported_from": str(src.resolve()),
        "import_format": layout,
        "end_rule": end_rule,
        "time_limit": limit,
        "episode_ends": rule,
        "imitation_fragments": int((~data["terminal"]).sum()),
        **dict(kw.pop("extra_metadata", None) or {}),
    }
    return from_arrays(
        obs,
        data["acts"],
        episode_lengths=data["lengths"],
        env_id=env_id,
        next_obs=next_obs,
        rews=data["rews"],
        terminated=terminated,
        truncated=truncated,
        path=out,
        source="imitation",
        extra_metadata=extra,
        **kw,
    )


def _list_array(rows: Sequence[np.ndarray]) -> Any:
    """An Arrow ``list<list<x>>`` (rows of 2-D arrays) or ``list<x>`` (rows of 1-D arrays)."""
    import pyarrow as pa

    flat = np.concatenate(rows)
    if flat.ndim == 2:
        dim = flat.shape[1]
        offsets = np.arange(0, flat.size + 1, dim, dtype=np.int32)
        values = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat.reshape(-1)))
    else:
        values = pa.array(flat)
    outer = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(outer), values)


def _feature(dtype: str, levels: int) -> dict[str, Any]:
    """A ``datasets`` feature as ``dataset_info.json`` spells it (Sequence of ... Value)."""
    feat: dict[str, Any] = {"dtype": dtype, "id": None, "_type": "Value"}
    for _ in range(levels):
        feat = {"feature": feat, "length": -1, "id": None, "_type": "Sequence"}
    return feat


def to_imitation(
    trajectories_or_demo_path: Sequence[Trajectory] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    rewards: bool | None = None,
) -> Path:
    """Write demonstrations as the folder ``imitation.data.serialize.save`` writes.

    The folder (``data-00000-of-00001.arrow``, ``state.json``, ``dataset_info.json``) is what
    ``imitation.data.serialize.load`` (``datasets.load_from_disk``) reads: one row per episode
    with ``obs``, ``acts``, ``infos`` (empty dicts), ``terminal`` (true: every episode ended)
    and, with rewards, ``rews``. Termination vs truncation is not kept (imitation has one flag).

    Args:
        trajectories_or_demo_path: trajectories, or a demo file of ours.
        out_dir: the folder to create (it must not exist, or be empty).
        rewards: write ``rews`` (a ``TrajectoryWithRew`` dataset); None: unless a demo file
            records ``rewards_available: false``.

    Returns:
        The folder written.
    """
    import pyarrow as pa
    import pyarrow.ipc

    if isinstance(trajectories_or_demo_path, (str, os.PathLike)):
        trajs, meta = load_demos_with_metadata(trajectories_or_demo_path)
        with_rews = rewards_available(meta) if rewards is None else rewards
    else:
        trajs, with_rews = list(trajectories_or_demo_path), rewards is not False
    if not trajs:
        raise ValueError("no trajectories to write")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder: choose a new one")
    columns = {
        "obs": _list_array([t.obs for t in trajs]),
        "acts": _list_array([t.acts for t in trajs]),
        "infos": _list_array([np.full(len(t), "{}", dtype=object) for t in trajs]),
        "terminal": pa.array([bool(t.dones[-1]) for t in trajs], type=pa.bool_()),
    }
    features = {
        "obs": _feature("float32", 2),
        "acts": _feature("float32", 2),
        "infos": _feature("string", 1),
        "terminal": _feature("bool", 0),
    }
    if with_rews:
        columns["rews"] = _list_array([t.rews for t in trajs])
        features["rews"] = _feature("float32", 1)
    meta_json = json.dumps({"info": {"features": features}})
    table = pa.table(columns).replace_schema_metadata({"huggingface": meta_json})
    out.mkdir(parents=True, exist_ok=True)
    shard = "data-00000-of-00001.arrow"
    with pa.OSFile(str(out / shard), "wb") as f, pa.ipc.new_stream(f, table.schema) as writer:
        writer.write_table(table)
    digest = hashlib.sha256((out / shard).read_bytes()).hexdigest()[:16]
    state: dict[str, Any] = {
        "_data_files": [{"filename": shard}],
        "_fingerprint": digest,
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    (out / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
    info = {"citation": "", "description": "", "features": features, "homepage": "", "license": ""}
    (out / "dataset_info.json").write_text(json.dumps(info, indent=2))
    return out
