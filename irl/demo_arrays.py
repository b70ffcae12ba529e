"""Demonstrations from plain arrays: `from_arrays`, the way in for data the toolkit did not record.

Layout of the arrays (``N`` steps in all, ``n`` episodes back to back):

- ``obs`` ``(N, obs_dim)``: the observation before each step; ``acts`` ``(N, act_dim)``.
- ``episode_lengths`` ``(n,)``: steps per episode, in order; they must sum to ``N``.
- ``next_obs`` ``(N, obs_dim)``, optional: the observation after each step. Only the rows at the
  episodes' last steps are used (each episode's final observation). Without it the last step of
  every episode is dropped: its final observation is then the last row of ``obs``.
- ``rews`` ``(N,)``, optional: the true reward. Without it the file records
  ``rewards_available: false`` and every normalised score of a run trained on it is reported
  as unavailable (``None``), never as a number.
- ``terminated`` / ``truncated`` ``(N,)`` bool, optional: set only at an episode's last step.
  Given one, the other is the rest of the episode ends. Given neither, each end is classified by
  `split_episode_ends`: an episode as long as the env's time limit was truncated; a shorter one is
  ambiguous (it may have terminated or been cut) and is refused with a message saying to pass
  ``terminated``. The rule used is recorded in the metadata under ``episode_ends``.

The env is built (``irl_envs.make_env``) to check the dimensions and bounds and to measure the
random-policy return (``random_episodes`` seeded episodes) that normalised scores need.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from irl.demo_spaces import out_of_bounds, space_bounds
from irl.demos import load_demos, save_demos
from irl.rollouts import env_metadata
from irl.types import Trajectory, returns

__all__ = ["DemoArrayError", "from_arrays", "split_episode_ends", "trajectories_from_arrays"]


class DemoArrayError(ValueError):
    """Arrays handed to `from_arrays` (or an importer) that cannot be demonstrations."""


def _as_2d(name: str, value: Any, rows: int | None = None) -> np.ndarray:
    if value is None:
        raise DemoArrayError(f"{name} is missing: demonstrations need observations and actions")
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DemoArrayError(f"{name} must be (steps, dim), got shape {arr.shape}")
    if rows is not None and arr.shape[0] != rows:
        raise DemoArrayError(f"{name} has {arr.shape[0]} rows, expected one per step ({rows})")
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise DemoArrayError(f"{name} has {int(bad.sum())} NaN/inf values, first at row {row}")
    return arr


def _as_flags(name: str, value: Any, rows: int) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.shape != (rows,):
        raise DemoArrayError(f"{name} must have shape ({rows},) (one per step), got {arr.shape}")
    return arr.astype(bool)


def _check_lengths(episode_lengths: Any, rows: int) -> np.ndarray:
    lengths = np.asarray(episode_lengths)
    if lengths.ndim != 1 or lengths.size == 0 or lengths.dtype.kind not in "iu":
        raise DemoArrayError(
            f"episode_lengths must be a non-empty 1-D integer array, got {lengths.dtype} "
            f"{lengths.shape}"
        )
    if (lengths < 1).any():
        i = int(np.argwhere(lengths < 1)[0][0])
        raise DemoArrayError(f"episode {i} has length {int(lengths[i])}: episodes need a step")
    if int(lengths.sum()) != rows:
        raise DemoArrayError(
            f"episode_lengths sum to {int(lengths.sum())} but obs and acts hold {rows} rows"
        )
    return lengths.astype(np.int64)


def split_episode_ends(
    episode_lengths: np.ndarray,
    time_limit: int | None,
    terminal: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Classify each episode's end as termination or truncation; return per-step flags and rule.

    ``terminal`` (one flag per episode, or ``None`` when every episode ended) says that the
    episode ended at all, as ``imitation``'s single ``terminal`` flag does. The rule: an episode
    whose length equals ``time_limit`` was truncated by the limit; any other ending is a
    termination. With ``terminal=None`` a shorter episode is ambiguous and refused.

    Returns:
        ``(terminated, truncated, rule)``: ``(N,)`` bool arrays and the rule's description.
    """
    lengths = np.asarray(episode_lengths, dtype=np.int64)
    ends = np.cumsum(lengths) - 1
    terminated = np.zeros(int(lengths.sum()), dtype=bool)
    truncated = np.zeros_like(terminated)
    at_limit = lengths == time_limit if time_limit is not None else np.zeros(len(lengths), bool)
    if terminal is None:
        if not at_limit.all():
            i = int(np.argwhere(~at_limit)[0][0])
            raise DemoArrayError(
                f"episode {i} has {int(lengths[i])} steps, not the env's time limit "
                f"({time_limit}), and no termination flags were given: pass terminated= (True "
                "at the last step of each episode the env terminated) or truncated="
            )
        truncated[ends] = True
        return terminated, truncated, f"every episode reached the time limit ({time_limit})"
    ended = np.asarray(terminal, dtype=bool)
    truncated[ends] = ended & at_limit
    terminated[ends] = ended & ~at_limit
    rule = (
        f"an episode end at the time limit ({time_limit} steps) is a truncation, "
        "any other end a termination"
    )
    return terminated, truncated, rule


def _flags(
    lengths: np.ndarray,
    terminated: np.ndarray | None,
    truncated: np.ndarray | None,
    time_limit: int | None,
) -> tuple[np.ndarray, np.ndarray, str]:
    total = int(lengths.sum())
    not_end = np.ones(total, dtype=bool)
    not_end[np.cumsum(lengths) - 1] = False
    for name, flags in (("terminated", terminated), ("truncated", truncated)):
        if flags is not None and (flags & not_end).any():
            row = int(np.argwhere(flags & not_end)[0][0])
            raise DemoArrayError(
                f"{name} is set at step {row}, inside an episode: flags belong to the last step "
                "of an episode (check episode_lengths)"
            )
    if terminated is None and truncated is None:
        return split_episode_ends(lengths, time_limit)
    if terminated is None:
        assert truncated is not None
        terminated = ~not_end & ~truncated
        return terminated, truncated, "given truncated; every other episode end terminated"
    if truncated is None:
        truncated = ~not_end & ~terminated
        return terminated, truncated, "given terminated; every other episode end truncated"
    if (terminated & truncated).any():
        row = int(np.argwhere(terminated & truncated)[0][0])
        raise DemoArrayError(f"step {row} is both terminated and truncated")
    return terminated, truncated, "given terminated and truncated"


def trajectories_from_arrays(
    obs: np.ndarray,
    acts: np.ndarray,
    episode_lengths: np.ndarray,
    next_obs: np.ndarray | None,
    rews: np.ndarray | None,
    terminated: np.ndarray,
    truncated: np.ndarray,
) -> list[Trajectory]:
    """Cut checked flat arrays into episodes (without ``next_obs`` each last step is dropped)."""
    out = []
    start = 0
    rewards = np.zeros(len(obs), np.float32) if rews is None else rews
    for i, k in enumerate(episode_lengths.tolist()):
        stop = start + k
        if next_obs is not None:
            o = np.concatenate([obs[start:stop], next_obs[stop - 1 : stop]])
            a, r = acts[start:stop], rewards[start:stop]
            te, tr = terminated[start:stop], truncated[start:stop]
        else:
            if k < 2:
                raise DemoArrayError(
                    f"episode {i} has 1 step and no next_obs: without next_obs the last step "
                    "of each episode is dropped, which leaves none (pass next_obs)"
                )
            o = obs[start:stop]
            a, r = acts[start : stop - 1], rewards[start : stop - 1]
            # The dropped step's flags move to the new last step: the episode still ended there.
            te = np.concatenate([terminated[start : stop - 2], terminated[stop - 1 : stop]])
            tr = np.concatenate([truncated[start : stop - 2], truncated[stop - 1 : stop]])
        out.append(
            Trajectory(obs=o.copy(), acts=a.copy(), rews=r.copy(), terminated=te, truncated=tr)
        )
        start = stop
    return out


def _import_module(env_module: str | None) -> None:
    if env_module:
        try:
            importlib.import_module(env_module)
        except ImportError as e:
            raise DemoArrayError(f"env_module {env_module!r} cannot be imported: {e}") from e


def _check_fits_env(env: gym.Env[Any, Any], env_id: str, obs: np.ndarray, acts: np.ndarray) -> None:
    """Dims and bounds of the observations and actions against the env's spaces."""
    for name, arr, space in (("obs", obs, env.observation_space), ("acts", acts, env.action_space)):
        want = getattr(space, "shape", None)
        if want != (arr.shape[1],):
            raise DemoArrayError(
                f"{name} has dim {arr.shape[1]} but {env_id} has {name[:-1]} shape {want}"
            )
        problem = out_of_bounds(name, arr, *space_bounds(space), f"{env_id} {name[:-1]}")
        if problem is not None:
            raise DemoArrayError(problem)


def from_arrays(
    obs: Any,
    acts: Any,
    *,
    episode_lengths: Any,
    env_id: str,
    next_obs: Any = None,
    rews: Any = None,
    terminated: Any = None,
    truncated: Any = None,
    path: str | os.PathLike[str] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    env_module: str | None = None,
    random_episodes: int = 50,
    seed: int = 0,
    source: str = "arrays",
    extra_metadata: Mapping[str, Any] | None = None,
) -> list[Trajectory]:
    """Validated demonstrations from flat per-step arrays; with ``path``, also a demo file.

    See the module docstring for the array layout, the dropped last step without ``next_obs``
    and how episode ends are classified. ``env_kwargs`` are passed to ``gym.make``;
    ``env_module`` is imported first (a package that registers ``env_id``).

    Returns:
        The trajectories exactly as `irl.demos.load_demos` returns them from the written file.

    Raises:
        DemoArrayError: the arrays are inconsistent with each other or with the env (dims,
            bounds, episode ends): the message says which and where.
        DemoFileError: the demo file at ``path`` cannot be written or read back.
    """
    from irl_envs import env_kwargs as default_kwargs
    from irl_envs import make_env

    acts_arr = _as_2d("acts", acts)
    rows = acts_arr.shape[0]
    obs_arr = _as_2d("obs", obs, rows)
    lengths = _check_lengths(episode_lengths, rows)
    next_arr = None if next_obs is None else _as_2d("next_obs", next_obs, rows)
    rews_arr = None
    if rews is not None:
        rews_arr = _as_2d("rews", np.asarray(rews).reshape(-1), rows)[:, 0]
    _import_module(env_module)
    kw = default_kwargs(env_id, **dict(env_kwargs or {}))
    env = make_env(env_id, **kw)
    try:
        _check_fits_env(env, env_id, obs_arr, acts_arr)
        time_limit = env.spec.max_episode_steps if env.spec else None
        term, trunc, rule = _flags(
            lengths,
            _as_flags("terminated", terminated, rows),
            _as_flags("truncated", truncated, rows),
            time_limit,
        )
        trajectories = trajectories_from_arrays(
            obs_arr, acts_arr, lengths, next_arr, rews_arr, term, trunc
        )
        meta = env_metadata(env, env_id, kw, random_episodes, seed)
    finally:
        env.close()
    if rews_arr is not None:
        expert, random = float(returns(trajectories).mean()), meta["random_return_mean"]
        if not expert > random:
            raise DemoArrayError(
                f"the demos' mean return {expert:.6g} does not exceed a random policy's "
                f"{random:.6g} on {env_id}: normalised scores (return - random) / (expert - "
                "random) would be undefined; pass rews=None to use them without scores"
            )
    meta.update(
        policy=f"imported ({source})",
        source=source,
        command=f"irl.demos.from_arrays (source: {source})",
        created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        rewards_available=rews_arr is not None,
        episode_ends=rule,
        dropped_last_steps=next_arr is None,
    )
    meta.update(dict(extra_metadata or {}))
    return _write_and_reload(path, trajectories, meta)


def _write_and_reload(
    path: str | os.PathLike[str] | None,
    trajectories: list[Trajectory],
    meta: dict[str, Any],
) -> list[Trajectory]:
    """Write through `save_demos` (to ``path`` or a scratch file) and load it back checked."""
    if path is not None:
        save_demos(path, trajectories, meta)  # validated against the recorded spaces
        return load_demos(path)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "demos.npz"
        save_demos(scratch, trajectories, meta)
        return load_demos(scratch)
