"""Plain-data snapshots of a training env mid-episode, for exact resumption without pickle.

A snapshot is a dict of tensors and plain values (safe for ``torch.load(weights_only=True)``):
the wrappers' episode state (gymnasium's time limit and reset order, SB3's Monitor), the base
env's RNG state as JSON, and the simulator state: MuJoCo's integration state (``mj_getState``
with ``mjSTATE_INTEGRATION``) plus body positions, or a classic-control env's ``state`` array.
"""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import torch
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

_ENV_KEYS: dict[str, type | tuple[type, ...]] = {
    "wrappers": list,
    "elapsed_steps": (int, type(None)),
    "has_reset": (bool, type(None)),
    "monitor_needs_reset": (bool, type(None)),
    "monitor_rewards": list,
    "np_random": str,
    "kind": str,
    "physics": (torch.Tensor, type(None)),
    "xpos": (torch.Tensor, type(None)),
    "state": (torch.Tensor, type(None)),
    "last_u": (float, type(None)),
}


def _wrappers(env: gym.Env[Any, Any]) -> list[Any]:
    chain: list[Any] = [env]
    while isinstance(chain[-1], gym.Wrapper):
        chain.append(chain[-1].env)
    return chain


def env_snapshot(env: gym.Env[Any, Any]) -> dict[str, Any]:
    """Plain-data state of a (wrapped) training env mid-episode.

    Covers the wrappers' episode state (time limit, reset order, SB3's Monitor) and the
    simulator: MuJoCo's integration state plus body positions (``xpos``, which Ant reads before
    stepping), or a classic-control env's ``state`` array. Other envs get ``kind="unsupported"``
    and are reset on resume instead (the resumed run is then not an exact continuation).
    """
    snap: dict[str, Any] = {k: None for k in _ENV_KEYS}
    snap["monitor_rewards"] = []
    chain = _wrappers(env)
    snap["wrappers"] = [type(e).__name__ for e in chain]
    for e in chain:
        if isinstance(e, gym.wrappers.TimeLimit):
            snap["elapsed_steps"] = int(e._elapsed_steps) if e._elapsed_steps is not None else None
        elif isinstance(e, gym.wrappers.OrderEnforcing):
            snap["has_reset"] = bool(e._has_reset)
        elif type(e).__name__ == "Monitor" and hasattr(e, "needs_reset"):
            snap["monitor_needs_reset"] = bool(e.needs_reset)
            snap["monitor_rewards"] = [float(r) for r in e.rewards]
    base: Any = env.unwrapped
    snap["np_random"] = json.dumps(base.np_random.bit_generator.state)
    if isinstance(base, MujocoEnv):
        sig = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mujoco.mj_stateSize(base.model, sig))
        mujoco.mj_getState(base.model, base.data, physics, sig)
        snap.update(kind="mujoco", physics=torch.from_numpy(physics))
        snap["xpos"] = torch.from_numpy(np.array(base.data.xpos))
    elif isinstance(getattr(base, "state", None), np.ndarray):
        snap.update(kind="classic", state=torch.from_numpy(np.array(base.state)))
        last_u = getattr(base, "last_u", None)
        snap["last_u"] = None if last_u is None else float(last_u)
    else:
        snap["kind"] = "unsupported"
    return snap


def _tensor(snap: dict[str, Any], key: str, like: np.ndarray) -> np.ndarray:
    value = snap[key]
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != like.shape:
        raise ValueError(f"env.{key} does not match the env's shape {list(like.shape)}")
    return value.numpy().astype(like.dtype)


def restore_env(env: gym.Env[Any, Any], snap: dict[str, Any]) -> bool:
    """Put a freshly made env into the state `env_snapshot` recorded.

    Returns:
        False if the snapshot's env kind is unsupported (the caller resets the env instead).

    Raises:
        ValueError: the snapshot is malformed or was taken of another kind of env.
    """
    if set(snap) != set(_ENV_KEYS) or not all(isinstance(snap[k], t) for k, t in _ENV_KEYS.items()):
        raise ValueError("env snapshot keys or types are malformed")
    chain = _wrappers(env)
    if snap["wrappers"] != [type(e).__name__ for e in chain]:
        raise ValueError(f"env wrappers {snap['wrappers']} differ from this env's")
    if snap["kind"] == "unsupported":
        return False
    base: Any = env.unwrapped
    generator = base.np_random.bit_generator
    bit_state = json.loads(snap["np_random"])
    if (
        not isinstance(bit_state, dict)
        or bit_state.get("bit_generator") != type(generator).__name__
    ):
        raise ValueError("env RNG state is for another bit generator")
    if snap["kind"] == "mujoco" and isinstance(base, MujocoEnv):
        sig = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = _tensor(snap, "physics", np.empty(mujoco.mj_stateSize(base.model, sig)))
        xpos = _tensor(snap, "xpos", base.data.xpos)
        mujoco.mj_setState(base.model, base.data, physics, sig)
        mujoco.mj_forward(base.model, base.data)
        # After mj_step, xpos holds the last substep's kinematics, not mj_forward's: restore it.
        base.data.xpos[:] = xpos
    elif snap["kind"] == "classic" and not isinstance(base, MujocoEnv):
        # A fresh classic-control env has no state before its first reset (the env class is
        # checked with the wrappers): only its form is checked.
        state = snap["state"]
        if not isinstance(state, torch.Tensor) or state.dim() != 1:
            raise ValueError("env.state is not a vector")
        base.state = state.numpy().copy()
        base.last_u = snap["last_u"]
    else:
        raise ValueError(f"the checkpoint's env is {snap['kind']}, this env is not")
    generator.state = bit_state
    for e in chain:
        if isinstance(e, gym.wrappers.TimeLimit):
            e._elapsed_steps = snap["elapsed_steps"]
        elif isinstance(e, gym.wrappers.OrderEnforcing):
            e._has_reset = bool(snap["has_reset"])
        elif type(e).__name__ == "Monitor" and hasattr(e, "needs_reset"):
            e.needs_reset = bool(snap["monitor_needs_reset"])
            e.rewards = [float(r) for r in snap["monitor_rewards"]]
        elif isinstance(e, gym.wrappers.PassiveEnvChecker):
            # Its one-off checks of the first reset and steps ran before the snapshot.
            for flag in ("checked_reset", "checked_step", "checked_data_reuse"):
                if hasattr(e, flag):
                    setattr(e, flag, True)
    return True
