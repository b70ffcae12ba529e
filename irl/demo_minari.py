"""Minari datasets stored locally: `from_minari` and `to_minari` (``pip install 'irl[minari]'``).

A dataset is named by its id (``namespace/name-v0``), found under ``$MINARI_DATASETS_PATH``
(default ``~/.minari/datasets``), or by the path of its folder (the one holding ``data/``, or
``data/`` itself). Nothing is ever downloaded: a dataset that is not on disk is an error saying
how to fetch it. ``minari`` reads the episodes (it is imported only here, when called).

Minari records terminations and truncations separately and they are used as given, with two
repairs recorded in the metadata: a step flagged both ways (gymnasium allows it) is a
termination, and an episode whose last step carries neither flag (collection stopped mid-episode)
is a truncation.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from irl.demo_archive import MAX_TOTAL_BYTES, DemoFileError
from irl.demo_arrays import DemoArrayError, from_arrays
from irl.demo_formats import read_json_file, regular_file_size, split_observations
from irl.demos import load_demos_with_metadata, rewards_available
from irl.types import Trajectory

__all__ = ["from_minari", "minari_datasets_root", "minari_recorded_env_id", "to_minari"]

_INSTALL = "pip install 'irl[minari]'"


def _minari() -> Any:
    try:
        import minari
    except ImportError as e:
        raise ImportError(f"Minari datasets need the minari package: {_INSTALL} ({e})") from e
    return minari


def minari_datasets_root() -> Path:
    """Where Minari keeps local datasets: ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``."""
    env = os.environ.get("MINARI_DATASETS_PATH")
    return Path(env).expanduser() if env else Path.home() / ".minari" / "datasets"


def _data_dir(dataset_id_or_path: str | os.PathLike[str]) -> Path:
    """The dataset's ``data`` folder (holding ``metadata.json``), never creating anything."""
    given = Path(dataset_id_or_path).expanduser()
    if given.is_dir():
        for candidate in (given / "data", given):
            if (candidate / "metadata.json").is_file():
                return candidate
        raise DemoFileError(given, "is not a Minari dataset folder (no data/metadata.json)")
    root = minari_datasets_root()
    data = root / str(dataset_id_or_path) / "data"
    if not (data / "metadata.json").is_file():
        raise DemoFileError(
            root / str(dataset_id_or_path),
            f"no Minari dataset {str(dataset_id_or_path)!r} stored here (datasets root {root}, "
            "from MINARI_DATASETS_PATH or ~/.minari/datasets). Nothing is downloaded: fetch it "
            f"with `minari download {dataset_id_or_path}` where that is allowed, or pass the "
            "dataset's folder",
        )
    return data


def _check_size(data: Path) -> None:
    total = 0
    for folder, _, files in os.walk(data):
        for name in files:
            total += regular_file_size(Path(folder) / name, "dataset file")
            if total > MAX_TOTAL_BYTES:
                raise DemoFileError(data, f"holds over {MAX_TOTAL_BYTES} bytes: too large")


def _recorded_env_id(data: Path, meta: dict[str, Any]) -> str | None:
    spec = meta.get("env_spec")
    if not isinstance(spec, str):
        return None
    try:
        env_id = json.loads(spec).get("id")
    except (ValueError, AttributeError, RecursionError) as e:
        raise DemoFileError(data / "metadata.json", f"env_spec is not valid JSON ({e})") from e
    return env_id if isinstance(env_id, str) else None


def minari_recorded_env_id(dataset_id_or_path: str | os.PathLike[str]) -> str | None:
    """The env id a locally stored Minari dataset recorded (None if it recorded no env spec)."""
    data = _data_dir(dataset_id_or_path)
    return _recorded_env_id(data, read_json_file(data / "metadata.json", "Minari metadata.json"))


def _open(data: Path) -> Any:
    """The `minari.MinariDataset` at ``data``, checked to hold 1-D Box observations/actions."""
    from gymnasium import spaces

    minari = _minari()
    try:
        dataset = minari.MinariDataset(data)
    except Exception as e:  # minari/h5py raise many types on damaged input
        raise DemoFileError(data, f"cannot be opened by minari ({type(e).__name__}: {e})") from e
    for name, space in (
        ("observation", dataset.observation_space),
        ("action", dataset.action_space),
    ):
        if isinstance(space, (spaces.Dict, spaces.Tuple)):
            raise DemoFileError(
                data,
                f"{name}s are a {type(space).__name__} space: dict/tuple {name}s are "
                "not supported (one flat vector per step is)",
            )
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise DemoFileError(data, f"{name} space {space} is not a 1-D Box")
    width = 2 * dataset.observation_space.shape[0] + dataset.action_space.shape[0] + 3
    if int(dataset.total_steps) * width * 8 > MAX_TOTAL_BYTES:
        raise DemoFileError(data, f"{dataset.total_steps} steps are too many to import")
    return dataset


def _episodes(data: Path, dataset: Any) -> dict[str, Any]:
    """Flat arrays over all episodes, flags repaired as the module docstring says."""
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "acts", "rews", "term", "trunc")}
    lengths = []
    for ep in dataset.iterate_episodes():
        t = len(ep.rewards)
        obs = np.asarray(ep.observations)
        if t < 1 or obs.shape[0] != t + 1:
            raise DemoFileError(
                data, f"episode {ep.id} has {obs.shape[0]} observations for {t} steps"
            )
        lengths.append(t)
        for key, value in (
            ("obs", obs),
            ("acts", ep.actions),
            ("rews", ep.rewards),
            ("term", ep.terminations),
            ("trunc", ep.truncations),
        ):
            rows[key].append(np.asarray(value))
    if not lengths:
        raise DemoFileError(data, "holds no episodes")
    lens = np.asarray(lengths, dtype=np.int64)
    term = np.concatenate(rows["term"]).astype(bool)
    trunc = np.concatenate(rows["trunc"]).astype(bool)
    both = int((term & trunc).sum())
    trunc &= ~term
    ends = np.cumsum(lens) - 1
    unfinished = ~(term[ends] | trunc[ends])
    trunc[ends[unfinished]] = True
    rule = "Minari's terminations and truncations as recorded"
    if both:
        rule += f"; {both} step(s) flagged both ways counted as terminations"
    if unfinished.any():
        rule += f"; {int(unfinished.sum())} episode(s) ending with neither flag as truncations"
    return {
        "all_obs": np.concatenate(rows["obs"]),
        "acts": np.concatenate(rows["acts"]),
        "rews": np.concatenate(rows["rews"]),
        "lengths": lens,
        "terminated": term,
        "truncated": trunc,
        "rule": rule,
    }


def from_minari(
    dataset_id_or_path: str | os.PathLike[str],
    env_id: str | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    **from_arrays_kwargs: Any,
) -> list[Trajectory]:
    """Validated demonstrations from a locally stored Minari dataset; with ``out``, a file.

    Args:
        dataset_id_or_path: a dataset id under the Minari datasets root, or a dataset folder.
        env_id: the env to check the data against; None: the one the dataset recorded.
        out: where to write our demo file (`irl.demos` format); None: validate only.
        **from_arrays_kwargs: passed to `irl.demo_arrays.from_arrays` (``env_kwargs``,
            ``env_module``, ``random_episodes``, ``seed``, ``extra_metadata``).

    Raises:
        DemoFileError: the dataset is not stored locally, too large, damaged or not flat Box data.
        DemoArrayError: the data does not fit the env, or no env id is known.
        ImportError: minari is not installed.
    """
    data = _data_dir(dataset_id_or_path)
    meta = read_json_file(data / "metadata.json", "Minari metadata.json")
    _check_size(data)
    recorded = _recorded_env_id(data, meta)
    env_id = env_id or recorded
    if env_id is None:
        raise DemoArrayError(f"{data}: the dataset records no env spec: pass env_id")
    dataset = _open(data)
    flat = _episodes(data, dataset)
    obs, next_obs = split_observations(flat["all_obs"], flat["lengths"])
    kw = dict(from_arrays_kwargs)
    extra = {
        "imported_from": str(data.parent.resolve()),
        "minari_dataset_id": meta.get("dataset_id"),
        "minari_version": meta.get("minari_version"),
        "minari_env_id": recorded,
        "episode_ends": flat["rule"],
        **dict(kw.pop("extra_metadata", None) or {}),
    }
    return from_arrays(
        obs,
        flat["acts"],
        episode_lengths=flat["lengths"],
        env_id=env_id,
        next_obs=next_obs,
        rews=flat["rews"],
        terminated=flat["terminated"],
        truncated=flat["truncated"],
        path=out,
        source="minari",
        extra_metadata=extra,
        **kw,
    )


def to_minari(
    trajectories_or_demo_path: Sequence[Trajectory] | str | os.PathLike[str],
    dataset_id: str,
    *,
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    data_format: str = "hdf5",
) -> Path:
    """Write demonstrations as a local Minari dataset (``minari.create_dataset_from_buffers``).

    The dataset lands under the Minari datasets root (`minari_datasets_root`); an existing id
    is refused. From a demo file, the env id, its kwargs and the expert / random returns (as
    ``ref_max_score`` / ``ref_min_score``) come from its metadata; trajectories need ``env_id``.
    Demos without rewards are refused (a Minari dataset always holds rewards).

    Returns:
        The dataset's folder.
    """
    from irl_envs import env_kwargs as default_kwargs
    from irl_envs import make_env

    minari = _minari()
    from minari.data_collector import EpisodeBuffer

    refs: dict[str, float] = {}
    if isinstance(trajectories_or_demo_path, (str, os.PathLike)):
        trajs, meta = load_demos_with_metadata(trajectories_or_demo_path)
        if not rewards_available(meta):
            raise ValueError(
                f"{trajectories_or_demo_path}: the demos carry no rewards and a Minari dataset "
                "needs them"
            )
        env_id = env_id or meta["env_id"]
        env_kwargs = meta["env_kwargs"] if env_kwargs is None else env_kwargs
        refs = {"ref_max_score": meta["expert_return_mean"]}
        refs["ref_min_score"] = meta["random_return_mean"]
    else:
        trajs = list(trajectories_or_demo_path)
    if env_id is None:
        raise ValueError("to_minari needs env_id for trajectories (a demo file records it)")
    if not trajs:
        raise ValueError("no trajectories to write")
    buffers = [
        EpisodeBuffer(
            id=i,
            observations=t.obs,
            actions=t.acts,
            rewards=t.rews,
            terminations=t.terminated,
            truncations=t.truncated,
            infos={},
        )
        for i, t in enumerate(trajs)
    ]
    env = make_env(env_id, **default_kwargs(env_id, **dict(env_kwargs or {})))
    try:
        with warnings.catch_warnings():  # minari warns for each optional field left out
            warnings.filterwarnings("ignore", message=".*is set to None", category=UserWarning)
            dataset = minari.create_dataset_from_buffers(
                dataset_id,
                buffers,
                env=env,
                algorithm_name="irl demonstrations",
                description=f"exported by irl.demo_formats.to_minari ({len(trajs)} episodes)",
                data_format=data_format,
                **refs,
            )
    finally:
        env.close()
    return Path(dataset.storage.data_path).parent
