"""Typed containers shared by the toolkit: a validated demonstration ``Trajectory`` and flat
``Transitions``. Shapes are in each docstring; arrays are read-only once validated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["Trajectory", "Transitions", "flatten_trajectories", "returns"]


@dataclass(frozen=True)
class Trajectory:
    """One episode with shape- and dtype-checked arrays (made read-only on construction).

    Attributes:
        obs: ``(T + 1, obs_dim)`` float32, observations including the one after the last step.
        acts: ``(T, act_dim)`` float32, actions.
        rews: ``(T,)`` float32, true rewards.
        terminated: ``(T,)`` bool, MDP termination after each step (only the last may be set).
        truncated: ``(T,)`` bool, time-limit truncation after each step (only the last may be set).
    """

    obs: np.ndarray
    acts: np.ndarray
    rews: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray

    def __post_init__(self) -> None:
        """Check shapes, dtypes, finiteness and flag placement."""
        for name, dtype in (
            ("obs", np.float32),
            ("acts", np.float32),
            ("rews", np.float32),
            ("terminated", np.bool_),
            ("truncated", np.bool_),
        ):
            value = getattr(self, name)
            if not isinstance(value, np.ndarray):
                raise TypeError(f"Trajectory.{name} must be a numpy array, got {type(value)}")
            if value.dtype != dtype:
                raise ValueError(f"Trajectory.{name} has dtype {value.dtype}, expected {dtype}")
        if self.obs.ndim != 2 or self.acts.ndim != 2:
            raise ValueError(
                f"Trajectory obs and acts must be 2-D, got {self.obs.shape} and {self.acts.shape}"
            )
        t = self.acts.shape[0]
        if t < 1:
            raise ValueError("Trajectory must have at least one step")
        if self.obs.shape[0] != t + 1:
            raise ValueError(
                f"Trajectory obs has {self.obs.shape[0]} rows, expected T + 1 = {t + 1}"
            )
        for name in ("rews", "terminated", "truncated"):
            if getattr(self, name).shape != (t,):
                raise ValueError(
                    f"Trajectory.{name} has shape {getattr(self, name).shape}, expected ({t},)"
                )
        for name in ("obs", "acts", "rews"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"Trajectory.{name} contains NaN or inf")
        if self.terminated[:-1].any() or self.truncated[:-1].any():
            raise ValueError("Trajectory has terminated/truncated set before its last step")
        for name in ("obs", "acts", "rews", "terminated", "truncated"):
            getattr(self, name).setflags(write=False)

    def __len__(self) -> int:
        """Number of steps T."""
        return int(self.acts.shape[0])

    @property
    def next_obs(self) -> np.ndarray:
        """``(T, obs_dim)`` observations after each step."""
        return self.obs[1:]

    @property
    def dones(self) -> np.ndarray:
        """``(T,)`` bool, episode ended after this step (terminated or truncated)."""
        return self.terminated | self.truncated

    @property
    def ret(self) -> float:
        """Undiscounted return, summed in float64."""
        return float(self.rews.sum(dtype=np.float64))


class Transitions(NamedTuple):
    """Flat transition arrays, ``N`` steps over all episodes."""

    obs: np.ndarray  # (N, obs_dim) float32
    acts: np.ndarray  # (N, act_dim) float32
    next_obs: np.ndarray  # (N, obs_dim) float32
    rews: np.ndarray  # (N,) float32
    terminated: np.ndarray  # (N,) bool
    truncated: np.ndarray  # (N,) bool


def flatten_trajectories(trajectories: Sequence[Trajectory]) -> Transitions:
    """Concatenate episodes into flat transition arrays."""
    if not trajectories:
        raise ValueError("no trajectories to flatten")
    return Transitions(
        obs=np.concatenate([t.obs[:-1] for t in trajectories]),
        acts=np.concatenate([t.acts for t in trajectories]),
        next_obs=np.concatenate([t.obs[1:] for t in trajectories]),
        rews=np.concatenate([t.rews for t in trajectories]),
        terminated=np.concatenate([t.terminated for t in trajectories]),
        truncated=np.concatenate([t.truncated for t in trajectories]),
    )


def returns(trajectories: Sequence[Trajectory]) -> np.ndarray:
    """``(n,)`` float64 undiscounted return of each episode."""
    return np.array([t.ret for t in trajectories], dtype=np.float64)
