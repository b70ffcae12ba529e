"""True rewards that are functions of the observed transition, the dynamics that go with them,
and the reward distances (EPIC, DARD) of a run's learned reward to them.

EPIC and DARD (`irl.metrics`) compare two reward *functions* ``r(obs, acts, next_obs)``, so they
apply to the learned reward only where the task's own reward can be written from what is
observed. That holds for:

- the point maze pair ``irl/PointMazeLeft-v0`` / ``irl/PointMazeRight-v0``: the observation is
  the particle's position and the reward is ``-‖next_obs − goal‖`` (`irl_envs.point_maze`: the
  position *after* the move, no control cost);
- ``Pendulum-v1``: ``-(θ² + 0.1 θ̇² + 0.001 u²)`` with θ = atan2(sin θ, cos θ) and θ̇ of the
  observation *before* the step and u the action clipped to ±2 (gymnasium's ``pendulum.py``).

Both envs compute the reward from their float64 internal state while observing it as float32,
so these functions match the env's reward to float32 rounding (≤ 1e-6 on the maze, ≤ 1e-4 on
the pendulum), not bit for bit. No other task is listed (MuJoCo rewards read the simulator's
state before the step, e.g. the x position, which the observation leaves out): `true_reward`
returns ``None`` for them and ``irl-eval`` reports correlations only.

DARD also needs the dynamics: `successors` gives the exact (deterministic) next observation of
both tasks from an observation and an action.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from irl.metrics import SuccessorFn, dard_distance, epic_distance
from irl.rollouts import random_policy, rollout
from irl.run import Run
from irl.seeding import random_rollout_seed
from irl.types import flatten_trajectories
from irl_envs import make_env

__all__ = [
    "TrueReward",
    "pendulum_reward",
    "point_maze_reward",
    "reward_distances",
    "successors",
    "true_reward",
]

TrueReward = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``reward(obs [N,d], acts [N,a], next_obs [N,d]) -> [N]`` float64."""

MAZE_IDS = ("irl/PointMazeLeft-v0", "irl/PointMazeRight-v0")
PENDULUM_ID = "Pendulum-v1"
PENDULUM_MAX_TORQUE = 2.0  # gymnasium's Pendulum: fixed, not a constructor argument


def point_maze_reward(obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """The point maze's reward: minus the distance of the position after the move to the goal."""
    from irl_envs.point_maze import GOAL

    nxt = np.asarray(next_obs, np.float64).reshape(-1, 2)
    return -np.linalg.norm(nxt - np.asarray(GOAL, np.float64), axis=1)


def pendulum_reward(obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """Pendulum-v1's reward, from the observation before the step and the clipped action."""
    o = np.asarray(obs, np.float64).reshape(-1, 3)
    th = np.arctan2(o[:, 1], o[:, 0])  # in [-π, π]: the env's angle_normalize(θ) up to sign
    u = np.clip(np.asarray(acts, np.float64).reshape(-1), -PENDULUM_MAX_TORQUE, PENDULUM_MAX_TORQUE)
    return -(th**2 + 0.1 * o[:, 2] ** 2 + 0.001 * u**2)


_REGISTRY: dict[str, TrueReward] = {
    **dict.fromkeys(MAZE_IDS, point_maze_reward),
    PENDULUM_ID: pendulum_reward,
}


def true_reward(env_id: str) -> TrueReward | None:
    """The task's reward as a function of ``(obs, acts, next_obs)``, or ``None`` when the
    observation does not determine it (every task but the point mazes and Pendulum-v1)."""
    return _REGISTRY.get(env_id)


def _maze_successors(span: tuple[float, float]) -> SuccessorFn:
    """The point maze's move, vectorised: the full move, else its x part, else its y part,
    else none, whichever first keeps clear of the wall (`PointMazeEnv.step`)."""
    from irl_envs.point_maze import ARENA, MAX_STEP, WALL_Y

    lo, hi = span

    def hits(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        dp, dq = p[:, 1] - WALL_Y, q[:, 1] - WALL_Y
        along = dp == dq  # both on the wall's line (or both off it on one side: see `apart`)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = p[:, 0] + (q[:, 0] - p[:, 0]) * dp / (dp - dq)
        on_line = (np.maximum(p[:, 0], q[:, 0]) >= lo) & (np.minimum(p[:, 0], q[:, 0]) <= hi)
        crosses = (lo <= x_cross) & (x_cross <= hi)
        apart = dp * dq > 0
        return ~apart & np.where(along, on_line, crosses)

    def step(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        pos = np.asarray(obs, np.float32).astype(np.float64).reshape(-1, 2)
        delta = MAX_STEP * np.clip(np.asarray(acts, np.float64).reshape(-1, 2), -1.0, 1.0)
        out, moved = pos.copy(), np.zeros(len(pos), dtype=bool)
        for keep in ((1.0, 1.0), (1.0, 0.0), (0.0, 1.0)):
            target = np.clip(pos + delta * np.asarray(keep), 0.0, ARENA)
            ok = ~moved & ~hits(pos, target)
            out[ok], moved = target[ok], moved | ok
        return out.astype(np.float32).astype(np.float64)

    return step


def _pendulum_successors(g: float, m: float, length: float, dt: float, vmax: float) -> SuccessorFn:
    """Pendulum-v1's dynamics on observations (cos θ, sin θ, θ̇) (gymnasium's ``step``)."""

    def step(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        o = np.asarray(obs, np.float64).reshape(-1, 3)
        th, thdot = np.arctan2(o[:, 1], o[:, 0]), o[:, 2]
        u = np.clip(
            np.asarray(acts, np.float64).reshape(-1), -PENDULUM_MAX_TORQUE, PENDULUM_MAX_TORQUE
        )
        new_thdot = thdot + (3 * g / (2 * length) * np.sin(th) + 3.0 / (m * length**2) * u) * dt
        new_thdot = np.clip(new_thdot, -vmax, vmax)
        new_th = th + new_thdot * dt
        nxt = np.stack([np.cos(new_th), np.sin(new_th), new_thdot], axis=1)
        return nxt.astype(np.float32).astype(np.float64)

    return step


def successors(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> SuccessorFn | None:
    """The task's deterministic dynamics ``(obs [N,d], acts [N,a]) -> next_obs [N,d]`` (float32
    values, as the env observes them), read from an env built with ``env_kwargs``; ``None`` for
    tasks `true_reward` does not list."""
    if env_id not in _REGISTRY:
        return None
    env = make_env(env_id, **dict(env_kwargs or {}))
    try:
        u = env.unwrapped
        if env_id in MAZE_IDS:
            return _maze_successors(tuple(u.span))
        return _pendulum_successors(
            float(u.g),
            float(u.m),
            float(u.l),
            float(u.dt),
            float(u.max_speed),
        )
    finally:
        env.close()


def _coverage(run: Run, random_episodes: int, seed: int) -> tuple[np.ndarray, ...]:
    """Pooled uniform-random and held-out demo transitions (obs, acts, next_obs), float64."""
    env = run.make_env()
    try:
        trajs = rollout(env, random_policy(env), random_episodes, random_rollout_seed(seed))
    finally:
        env.close()
    trajs = trajs + list(run.demos.heldout or run.demos.train)
    t = flatten_trajectories(trajs)
    return tuple(np.asarray(x, np.float64) for x in (t.obs, t.acts, t.next_obs))


def reward_distances(
    run: Run,
    random_episodes: int,
    seed: int,
    *,
    max_transitions: int = 1000,
    n_mean_samples: int = 256,
    dard_actions: int = 32,
) -> dict[str, float | int | None]:
    """EPIC and DARD distance of the run's learned per-step reward (no absorbing tail) to the
    task's true reward; ``{}`` when `true_reward` does not list the task.

    Transitions and coverage: ``random_episodes`` uniform-random episodes (the correlations'
    seeds) pooled with the held-out demos (the training demos when none are held out). The
    distance is over at most ``max_transitions`` of them (a seeded draw); EPIC's coverage
    distributions D_S, D_A are all pooled observations and actions (``n_mean_samples`` shared
    pairs); DARD's actions are ``dard_actions`` of those and its successors the exact dynamics
    (`successors`). γ is the cost's own discount (the one its potential shaping uses, so the
    shaping cancels). A distance that is undefined (a reward constant up to shaping) is
    ``None`` with a warning.
    """
    true = true_reward(run.env_id)
    succ = successors(run.env_id, run.env_kwargs)
    if true is None or succ is None:
        return {}
    learned = run.learned_reward
    gamma = float(getattr(run.cost, "gamma", 0.99))
    obs, acts, next_obs = _coverage(run, random_episodes, seed)
    pick = np.random.default_rng(seed).permutation(len(obs))[:max_transitions]
    o, a, n = obs[pick], acts[pick], next_obs[pick]

    def learned_fn(o: np.ndarray, a: np.ndarray, n: np.ndarray) -> np.ndarray:
        return learned(o, a, n)  # per step, no absorbing tail (as the true reward)

    def epic() -> float:
        return epic_distance(
            learned_fn, true, obs=o, acts=a, next_obs=n, gamma=gamma,
            state_samples=np.concatenate([obs, next_obs]), action_samples=acts,
            n_mean_samples=n_mean_samples, rng=np.random.default_rng(seed),
        )  # fmt: skip

    def dard() -> float:
        return dard_distance(
            learned_fn, true, obs=o, acts=a, next_obs=n, gamma=gamma, action_samples=acts,
            successors=succ, n_action_samples=dard_actions, rng=np.random.default_rng(seed),
        )  # fmt: skip

    out: dict[str, float | int | None] = {
        "reward_distance_gamma": gamma,
        "reward_distance_transitions": len(pick),
    }
    for name, fn in (("epic", epic), ("dard", dard)):
        try:
            out[f"{name}_to_true"] = fn()
        except ValueError as exc:
            msg = f"irl-eval: {name.upper()} to the true reward is undefined ({exc})"
            warnings.warn(msg, stacklevel=2)
            out[f"{name}_to_true"] = None
    return out
