"""Reference-state initialisation: start some episodes from states the demonstrations visited."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["DemoStateReset", "mujoco_state_from_obs"]


def mujoco_state_from_obs(env: gym.Env[Any, Any], obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(qpos, qvel) of a MuJoCo env whose observation is qpos[k:] ++ qvel, k dropped positions.

    Hopper and Walker2d clip velocities to ±10 in their observations (about 10 % of the Hopper
    demo states have one clipped entry): such a state comes back with that velocity at ±10, a
    valid state near the demo's, whose observation is the demo's.
    """
    base = env.unwrapped
    model = getattr(base, "model", None)
    if model is None or not hasattr(base, "set_state"):
        raise ValueError(f"{env.spec.id if env.spec else env}: not a MuJoCo env (no set_state)")
    nq, nv = int(model.nq), int(model.nv)
    dropped = nq + nv - obs.shape[-1]
    if not 0 <= dropped <= 2:
        raise ValueError(
            f"{env.spec.id if env.spec else env}: observation of {obs.shape[-1]} dims is not "
            f"qpos[k:] ++ qvel (nq={nq}, nv={nv}); cannot rebuild a state from it"
        )
    # The dropped x (and y) positions take the start's: they do not enter the dynamics.
    qpos = np.array(base.init_qpos, dtype=np.float64)  # type: ignore[attr-defined]
    qpos[dropped:] = obs[: nq - dropped]
    qvel = np.asarray(obs[nq - dropped :], dtype=np.float64)
    return qpos, qvel


class DemoStateReset(gym.Wrapper[Any, Any, Any, Any]):
    """With probability ``prob`` a reset puts the simulator in a random demonstration state.

    Locomotion imitation otherwise has to find the gait from a standing start, and standing is a
    local optimum of an imitation cost (it outlives falling); starting from gait states lets the
    sampler see what the cost rewards (reference-state initialisation, Peng et al. 2018). The
    draw uses the env's seeded ``np_random``, so rollouts stay reproducible.
    """

    def __init__(self, env: gym.Env[Any, Any], states: np.ndarray, prob: float) -> None:
        super().__init__(env)
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"demo-state reset probability must be in [0, 1], got {prob}")
        if len(states) == 0:
            raise ValueError("demo-state reset needs at least one demonstration state")
        self.states = np.asarray(states, dtype=np.float64)
        self.prob = prob
        mujoco_state_from_obs(env, self.states[0])  # fail now, not at the first reset

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset, then with probability ``prob`` jump to a demo state; returns its observation."""
        obs, info = self.env.reset(**kwargs)
        rng = self.env.unwrapped.np_random
        if self.prob > 0 and rng.random() < self.prob:
            i = int(rng.integers(len(self.states)))
            qpos, qvel = mujoco_state_from_obs(self.env, self.states[i])
            self.env.unwrapped.set_state(qpos, qvel)  # type: ignore[attr-defined]
            obs = self.env.unwrapped._get_obs()  # type: ignore[attr-defined]
            info = {"demo_state_index": i}  # the standard reset's info described another state
        return obs, info
