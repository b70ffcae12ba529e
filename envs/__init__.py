"""Environment construction with this project's defaults, and the project's own tasks.

This folder installs as the package ``irl_envs`` (``import irl_envs``; the folder keeps its short
name ``envs/`` in the checkout). Importing it registers the project's environments in gymnasium's
registry under the namespace ``irl``:

- ``irl/PointMazeLeft-v0`` and ``irl/PointMazeRight-v0``: the point-mass maze pair of AIRL
  (Fu et al. 2018), opening on the left (training) or on the right (shifted); see `point_maze`.
- ``irl/DisabledAnt-v5``: Ant-v5 with two shortened, nearly motorless legs; see `disabled_ant`.
- ``irl/SlipperyHalfCheetah-v5``: HalfCheetah-v5 with half the sliding friction; see
  `slippery_cheetah`.

Gymnasium 1.x has no plugin discovery (its entry-point plugin system was removed in 1.0), so a bare
``gym.make("irl/PointMazeLeft-v0")`` needs this package imported first. Any of these works:
``import irl_envs``; ``gym.make("irl_envs:irl/PointMazeLeft-v0")`` (gymnasium imports the module
before the ``:``); or `make_env`, which registers on its own.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

NAMESPACE = "irl"

# id -> (entry point, registered episode limit, registered kwargs)
_SPECS: dict[str, tuple[str, int, dict[str, Any]]] = {
    f"{NAMESPACE}/PointMazeLeft-v0": (
        f"{__name__}.point_maze:PointMazeEnv",
        100,
        {"opening": "left"},
    ),
    f"{NAMESPACE}/PointMazeRight-v0": (
        f"{__name__}.point_maze:PointMazeEnv",
        100,
        {"opening": "right"},
    ),
    f"{NAMESPACE}/DisabledAnt-v5": (
        f"{__name__}.disabled_ant:DisabledAntEnv",
        1000,
        {"include_cfrc_ext_in_observation": False},
    ),
    f"{NAMESPACE}/SlipperyHalfCheetah-v5": (
        f"{__name__}.slippery_cheetah:SlipperyHalfCheetahEnv",
        1000,
        {},
    ),
}

ENV_IDS: tuple[str, ...] = tuple(_SPECS)

# Defaults applied by `make_env` unless overridden. Ant-v5 drops the 78 contact-force dims
# (27-dim observations instead of 105): they are mostly zero and bloat the demo files. The
# disabled Ant keeps the same observation so that rewards learned on Ant-v5 transfer.
DEFAULT_KWARGS: dict[str, dict[str, Any]] = {
    "Ant-v5": {"include_cfrc_ext_in_observation": False},
    f"{NAMESPACE}/DisabledAnt-v5": {"include_cfrc_ext_in_observation": False},
    # 45-dim observations: positions and velocities only (as irl/conf/env/humanoid.yaml).
    "Humanoid-v5": {
        "include_cinert_in_observation": False,
        "include_cvel_in_observation": False,
        "include_qfrc_actuator_in_observation": False,
        "include_cfrc_ext_in_observation": False,
    },
}


def register_envs() -> None:
    """Register the project's environments (``irl/...`` ids) with gymnasium; safe to call again."""
    for env_id, (entry_point, max_steps, kwargs) in _SPECS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=entry_point,
                max_episode_steps=max_steps,
                kwargs=dict(kwargs),
            )


def import_env_module(module: str | None) -> None:
    """Import ``module`` (a user's package that registers its envs with gymnasium) if given.

    This is what ``env.module=<module>`` does before any env is built, so that
    ``env.id=<its id>`` resolves. Raises ``ImportError`` naming the module and the reason.
    """
    if not module:
        return
    import importlib

    try:
        importlib.import_module(str(module))
    except ImportError as e:
        raise ImportError(
            f"env.module={module!r} cannot be imported ({e}); it must be importable from the "
            "working directory or PYTHONPATH (e.g. a package installed with pip install -e)"
        ) from e


def env_kwargs(env_id: str, **overrides: Any) -> dict[str, Any]:
    """The gym.make keyword arguments `make_env` uses for ``env_id``: defaults, then overrides."""
    return {**DEFAULT_KWARGS.get(env_id, {}), **overrides}


def make_env(env_id: str, max_episode_steps: int | None = None, **kwargs: Any) -> gym.Env[Any, Any]:
    """``gym.make(env_id)`` with our defaults (e.g. Ant without contact forces) and nothing else.

    The project's ``irl/...`` ids are registered first, so they work without any other import.
    """
    register_envs()
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = int(max_episode_steps)
    return gym.make(env_id, **env_kwargs(env_id, **kwargs))


register_envs()
