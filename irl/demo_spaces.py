"""Gymnasium Box spaces in demo metadata: their JSON description and bound checks on demo arrays."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from irl.demo_archive import DemoFileError

__all__ = ["BOUNDS_ATOL", "describe_space", "out_of_bounds", "space_bounds"]

BOUNDS_ATOL = 1e-5  # float32 rounding slack when checking values against space bounds


def _finite_or_none(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(float(v)) else None for v in values.reshape(-1)]


def describe_space(space: Any) -> dict[str, Any]:
    """JSON description of a gymnasium Box space (shape, dtype, bounds; inf stored as null)."""
    from gymnasium import spaces

    if not isinstance(space, spaces.Box):
        raise TypeError(f"only Box spaces are supported, got {space}")
    return {
        "type": "Box",
        "shape": [int(s) for s in space.shape],
        "dtype": str(space.dtype),
        "low": _finite_or_none(np.asarray(space.low)),
        "high": _finite_or_none(np.asarray(space.high)),
    }


def _bounds(desc: Mapping[str, Any], dim: int) -> tuple[np.ndarray, np.ndarray]:
    low = np.array([-np.inf if v is None else v for v in desc["low"]], dtype=np.float64)
    high = np.array([np.inf if v is None else v for v in desc["high"]], dtype=np.float64)
    if low.shape != (dim,) or high.shape != (dim,):
        raise ValueError(f"space bounds have {low.size}/{high.size} entries, expected {dim}")
    return low, high


def out_of_bounds(
    name: str, values: np.ndarray, low: np.ndarray, high: np.ndarray, where: str
) -> str | None:
    """The problem with ``values`` (rows of vectors) outside ``[low, high]``, or ``None``."""
    tol = BOUNDS_ATOL * np.maximum(1.0, np.abs(np.where(np.isfinite(low), low, 0.0)))
    below = values < low - tol
    tol = BOUNDS_ATOL * np.maximum(1.0, np.abs(np.where(np.isfinite(high), high, 0.0)))
    above = values > high + tol
    bad = below | above
    if not bad.any():
        return None
    row, col = (int(i) for i in np.argwhere(bad)[0])
    return (
        f"{name} out of the {where} bounds: {bad.sum()} values, first at row {row} "
        f"dim {col}: {values[row, col]} not in [{low[col]}, {high[col]}]"
    )


def space_bounds(space: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` float64 bounds of a gymnasium Box."""
    return np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)


def _check_bounds(
    path: str, name: str, values: np.ndarray, low: np.ndarray, high: np.ndarray, where: str
) -> None:
    problem = out_of_bounds(name, values, low, high, where)
    if problem is not None:
        raise DemoFileError(path, problem)


def _check_against_env(
    path: str, env_id: str, obs: np.ndarray, final_obs: np.ndarray, acts: np.ndarray
) -> None:
    """Check dims and bounds against the spaces of ``envs.make_env(env_id)``."""
    from irl_envs import make_env

    env = make_env(env_id)
    try:
        obs_space = describe_space(env.observation_space)
        act_space = describe_space(env.action_space)
    finally:
        env.close()
    if obs_space["shape"] != [obs.shape[1]]:
        raise DemoFileError(
            path,
            f"observation dim mismatch: file has {obs.shape[1]}, env {env_id} has "
            f"{obs_space['shape']}",
        )
    if act_space["shape"] != [acts.shape[1]]:
        raise DemoFileError(
            path,
            f"action dim mismatch: file has {acts.shape[1]}, env {env_id} has {act_space['shape']}",
        )
    obs_low, obs_high = _bounds(obs_space, obs.shape[1])
    act_low, act_high = _bounds(act_space, acts.shape[1])
    _check_bounds(path, "observations", obs, obs_low, obs_high, f"{env_id} observation space")
    _check_bounds(path, "final_observations", final_obs, obs_low, obs_high, env_id)
    _check_bounds(path, "actions", acts, act_low, act_high, f"{env_id} action space")
