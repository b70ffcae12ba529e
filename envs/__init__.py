"""Environment construction with this project's defaults (no wrappers beyond gymnasium's own)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

# Defaults applied by `make_env` unless overridden. Ant-v5 drops the 78 contact-force dims
# (27-dim observations instead of 105): they are mostly zero and bloat the demo files.
DEFAULT_KWARGS: dict[str, dict[str, Any]] = {
    "Ant-v5": {"include_cfrc_ext_in_observation": False},
}


def env_kwargs(env_id: str, **overrides: Any) -> dict[str, Any]:
    """The gym.make keyword arguments `make_env` uses for ``env_id``: defaults, then overrides."""
    return {**DEFAULT_KWARGS.get(env_id, {}), **overrides}


def make_env(env_id: str, max_episode_steps: int | None = None, **kwargs: Any) -> gym.Env[Any, Any]:
    """``gym.make(env_id)`` with our defaults (e.g. Ant without contact forces) and nothing else."""
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = int(max_episode_steps)
    return gym.make(env_id, **env_kwargs(env_id, **kwargs))
