"""Demonstrations in other libraries' formats: importers, exporters and their shared rules.

- `from_imitation` / `to_imitation` (`irl.demo_imitation`): the ``imitation`` library's saved
  trajectories (its HuggingFace ``datasets`` folder, or its older ``.npz``), read with
  ``pyarrow`` / numpy only (``pip install 'irl[imitation]'``);
- `from_minari` / `to_minari` (`irl.demo_minari`): Minari datasets stored locally, through
  ``minari`` (``pip install 'irl[minari]'``); nothing is ever downloaded;
- `from_arrays_file`: an ``.npz`` of the plain arrays `irl.demo_arrays.from_arrays` takes.

Every importer ends in `irl.demo_arrays.from_arrays`, so imported data is validated exactly like
our own files (dims, bounds, NaN, episode flags, expert above random) and, given ``out``, written
in our `.npz` format with the source and the episode-end rule in its metadata.

Episode ends: a library that keeps one end flag per episode (``imitation``'s ``terminal``) is
converted by `episode_ends`: an episode as long as the env's time limit was truncated, any other
end a termination, unless ``end_rule`` forces every end one way. Minari keeps terminations and
truncations apart and they are used as given.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from irl.demo_archive import DemoFileError, parse_json_object, read_archive
from irl.demo_arrays import DemoArrayError, _import_module, from_arrays, split_episode_ends
from irl.types import Trajectory

if TYPE_CHECKING:
    from irl.demo_imitation import from_imitation, to_imitation
    from irl.demo_minari import from_minari, to_minari

__all__ = [
    "ARRAY_FILE_MEMBERS",
    "END_RULES",
    "env_time_limit",
    "episode_ends",
    "from_arrays_file",
    "from_imitation",
    "from_minari",
    "to_imitation",
    "to_minari",
]

END_RULES = ("time_limit", "terminated", "truncated")
MAX_JSON_BYTES = 4 << 20  # state.json, dataset_info.json, Minari's metadata.json
ARRAY_FILE_MEMBERS = (
    "obs",
    "acts",
    "episode_lengths",
    "next_obs",
    "rews",
    "terminated",
    "truncated",
)


def regular_file_size(path: Path, what: str) -> int:
    """Size of ``path``, refusing anything but a regular file (a FIFO would block)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DemoFileError(path, f"{what} not found") from None
    except OSError as e:
        raise DemoFileError(path, f"{what} cannot be read ({e.strerror or e})") from e
    if not stat.S_ISREG(st.st_mode):
        raise DemoFileError(path, f"{what} is not a regular file")
    return int(st.st_size)


def read_json_file(path: Path, what: str) -> dict[str, Any]:
    """A bounded JSON object from ``path`` (size checked before reading)."""
    size = regular_file_size(path, what)
    if size > MAX_JSON_BYTES:
        raise DemoFileError(path, f"{what} is {size} bytes, over the limit of {MAX_JSON_BYTES}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DemoFileError(path, f"{what} cannot be read ({e})") from e
    return parse_json_object(str(path), text)


def env_time_limit(
    env_id: str, env_kwargs: dict[str, Any] | None = None, env_module: str | None = None
) -> int | None:
    """The time limit (``max_episode_steps``) ``env_id`` is made with, from its registration."""
    import gymnasium as gym

    import irl_envs  # noqa: F401  (registers the irl/... ids)

    limit = (env_kwargs or {}).get("max_episode_steps")
    if limit is not None:
        return int(limit)
    _import_module(env_module)
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as e:
        raise DemoArrayError(f"unknown env id {env_id!r} ({e})") from e
    return spec.max_episode_steps


def episode_ends(
    lengths: np.ndarray, terminal: np.ndarray, time_limit: int | None, end_rule: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-step terminated / truncated flags from one ``terminal`` flag per episode.

    ``end_rule="time_limit"``: an episode of exactly ``time_limit`` steps was truncated, any
    other end a termination; an episode with ``terminal`` false (a fragment) was truncated.
    ``"terminated"`` / ``"truncated"``: every episode end is that, whatever its length.

    Returns:
        ``(terminated, truncated, rule)``: ``(N,)`` bool arrays and the rule as words.
    """
    ends = np.cumsum(lengths) - 1
    if end_rule == "time_limit":
        if time_limit is None:
            raise DemoArrayError(
                "the env has no time limit to tell truncation from termination: pass "
                "time_limit= or end_rule='terminated' / 'truncated'"
            )
        ended = np.asarray(terminal, dtype=bool)
        terminated, truncated, rule = split_episode_ends(lengths, time_limit, ended)
        truncated[ends[~ended]] = True
        if (~ended).any():
            rule += "; an episode without imitation's terminal flag (a fragment) a truncation"
        return terminated, truncated, rule
    if end_rule not in END_RULES:
        raise ValueError(f"end_rule must be one of {END_RULES}, got {end_rule!r}")
    flags = np.zeros(int(np.sum(lengths)), dtype=bool)
    flags[ends] = True
    none = np.zeros_like(flags)
    rule = f"end_rule={end_rule!r}: every episode end is recorded as {end_rule}"
    return (flags, none, rule) if end_rule == "terminated" else (none, flags, rule)


def split_observations(all_obs: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(obs, next_obs)`` from episodes' ``T + 1`` observations stored back to back."""
    last = np.cumsum(lengths + 1) - 1  # each episode's final observation
    first = last - lengths  # each episode's first observation
    keep_obs = np.ones(len(all_obs), dtype=bool)
    keep_obs[last] = False
    keep_next = np.ones(len(all_obs), dtype=bool)
    keep_next[first] = False
    return all_obs[keep_obs], all_obs[keep_next]


# --------------------------------------------------------------------------------------------
# Plain arrays in an .npz


def _check_array_header(path: str, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
    kinds = {"episode_lengths": "iu", "terminated": "biu", "truncated": "biu"}.get(name, "iuf")
    if dtype.kind not in kinds:
        raise DemoFileError(path, f"array {name!r} has dtype {dtype}, expected kind {kinds!r}")
    ranks = (1, 2) if name in ("obs", "acts", "next_obs") else (1,)
    if len(shape) not in ranks:
        raise DemoFileError(path, f"array {name!r} has shape {shape}, expected rank {ranks}")


def from_arrays_file(
    path: str | os.PathLike[str],
    env_id: str,
    *,
    out: str | os.PathLike[str] | None = None,
    **from_arrays_kwargs: Any,
) -> list[Trajectory]:
    """`from_arrays` on an ``.npz`` of its arrays (read without pickle, sizes bounded).

    The archive holds ``obs``, ``acts`` and ``episode_lengths``, and optionally ``next_obs``,
    ``rews``, ``terminated``, ``truncated`` (see `irl.demo_arrays` for their layout); any other
    member is refused. With ``out`` the demo file is written there.
    """
    arrays = read_archive(str(path), ARRAY_FILE_MEMBERS, _check_array_header)
    missing = [k for k in ("obs", "acts", "episode_lengths") if k not in arrays]
    if missing:
        raise DemoFileError(path, f"lacks the arrays {missing}")
    kw = dict(from_arrays_kwargs)
    extra = {
        "imported_from": str(Path(path).resolve()),
        **dict(kw.pop("extra_metadata", None) or {}),
    }
    return from_arrays(
        arrays["obs"],
        arrays["acts"],
        episode_lengths=arrays["episode_lengths"],
        env_id=env_id,
        next_obs=arrays.get("next_obs"),
        rews=arrays.get("rews"),
        terminated=arrays.get("terminated"),
        truncated=arrays.get("truncated"),
        path=out,
        extra_metadata=extra,
        **kw,
    )


_LAZY = {
    "from_imitation": "irl.demo_imitation",
    "to_imitation": "irl.demo_imitation",
    "from_minari": "irl.demo_minari",
    "to_minari": "irl.demo_minari",
}


def __getattr__(name: str) -> Any:
    """The importers and exporters of `irl.demo_imitation` and `irl.demo_minari`, lazily."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'irl.demo_formats' has no attribute {name!r}")
