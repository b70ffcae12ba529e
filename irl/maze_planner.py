"""Exact re-optimisation on the point mazes: value iteration on a grid of positions.

``irl-eval reopt_algo=planner`` (the point mazes only): a fresh policy computed from scratch from a
reward alone, with the maze's exact dynamics (`irl.true_rewards.successors`), by value iteration
over a grid of positions spaced `RESOLUTION` apart (half the largest move per axis) and the nine
actions {−1, 0, 1}² (the box's corners, edges' midpoints and zero). The policy acts from the grid
point nearest its position. Discount `GAMMA`, as the SAC re-optimisation's.

It is the ideal optimiser: it says what a reward makes the optimal policy do, with no RL
algorithm's exploration in the way. Beside a SAC re-optimisation of the same reward it tells a
reward that transfers but traps a learner in a local optimum (the planner reaches the goal, SAC
does not) from one that does not transfer (neither does). The control (``reward="true"``) plans on
the maze's own reward, −‖next position − goal‖, the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from irl.demos import normalized_score
from irl.reopt_eval import PeriodicEval, ReoptTask, reopt_task
from irl.rollouts import evaluate
from irl.run import Run
from irl.seeding import reopt_eval_seed
from irl.true_rewards import MAZE_IDS, successors, true_reward
from irl_envs.point_maze import ARENA, MAX_STEP

__all__ = ["GridModel", "GridPolicy", "grid_model", "reoptimize_planner", "value_iteration"]

RESOLUTION = MAX_STEP / 2  # grid spacing, arena units: a full move is two grid cells
GAMMA = 0.99  # the SAC re-optimisation's discount
ACTIONS = np.array([(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)], dtype=np.float32)


@dataclass(frozen=True)
class GridModel:
    """A maze's dynamics on the grid: ``positions`` [S, 2], and for each grid point and action
    of `ACTIONS` the exact next position ``next_pos`` [S, A, 2] and its nearest grid point
    ``next_index`` [S, A]."""

    positions: np.ndarray
    next_pos: np.ndarray
    next_index: np.ndarray

    @property
    def side(self) -> int:
        """Grid points per axis."""
        return round(float(np.sqrt(len(self.positions))))

    def nearest(self, pos: np.ndarray) -> np.ndarray:
        """Index of the grid point nearest each position of ``pos`` [N, 2]."""
        ij = np.clip(np.rint(np.asarray(pos, np.float64) / RESOLUTION), 0, self.side - 1)
        return (ij[:, 0] * self.side + ij[:, 1]).astype(np.int64)


def grid_model(env_id: str, env_kwargs: dict[str, Any] | None = None) -> GridModel:
    """The grid model of a point maze (``env_id`` one of `MAZE_IDS`).

    Raises:
        ValueError: naming the env when it is not a point maze.
    """
    step = successors(env_id, env_kwargs) if env_id in MAZE_IDS else None
    if step is None:
        raise ValueError(
            f"reopt_algo=planner plans on the point mazes {MAZE_IDS} only, not {env_id!r}"
        )
    side = round(ARENA / RESOLUTION) + 1
    axis = np.linspace(0.0, ARENA, side)
    positions = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    n, a = len(positions), len(ACTIONS)
    obs = np.repeat(positions, a, axis=0).astype(np.float32)
    next_pos = step(obs, np.tile(ACTIONS, (n, 1))).reshape(n, a, 2)
    model = GridModel(positions, next_pos, np.zeros((n, a), dtype=np.int64))
    return GridModel(positions, next_pos, model.nearest(next_pos.reshape(-1, 2)).reshape(n, a))


def value_iteration(
    rewards: np.ndarray,
    next_index: np.ndarray,
    gamma: float = GAMMA,
    tol: float = 1e-8,
    max_iter: int = 20_000,
) -> tuple[np.ndarray, np.ndarray]:
    """State values [S] and the greedy action index [S] of a deterministic MDP with rewards
    [S, A] and successors ``next_index`` [S, A], iterated until the values move less than
    ``tol`` × their scale (γ-contraction: at most ``max_iter`` sweeps).

    Raises:
        ValueError: on non-finite rewards or a γ outside [0, 1).
    """
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"value iteration needs 0 <= gamma < 1, got {gamma}")
    if not np.all(np.isfinite(rewards)):
        raise ValueError("value iteration: the reward has non-finite values on the grid")
    values = np.zeros(len(rewards))
    scale = max(float(np.abs(rewards).max()), 1e-12) / (1.0 - gamma)
    for _ in range(max_iter):
        q = rewards + gamma * values[next_index]
        new = q.max(axis=1)
        done = float(np.abs(new - values).max()) <= tol * scale
        values = new
        if done:
            break
    q = rewards + gamma * values[next_index]
    return values, q.argmax(axis=1)


@dataclass(frozen=True)
class GridPolicy:
    """The one-step lookahead policy of a grid model's values: from the exact position, the
    action of `ACTIONS` maximising r(x, u, x') + γ V(x'), with the exact successor x' and V
    interpolated bilinearly between grid points (acting from the nearest grid point instead
    pushes into a wall's end forever when the position is off the grid).
    ``policy(obs) -> action``, batched or single."""

    model: GridModel
    values: np.ndarray
    reward: Any  # (obs, acts, next_obs) -> [N]
    step: Any  # (obs, acts) -> next_obs
    gamma: float = GAMMA

    def value_at(self, pos: np.ndarray) -> np.ndarray:
        """V at positions [N, 2], bilinear between the grid points around each."""
        side = self.model.side
        g = np.clip(np.asarray(pos, np.float64) / RESOLUTION, 0.0, side - 1.0)
        lo = np.minimum(np.floor(g).astype(np.int64), side - 2)
        w = g - lo
        v = self.values.reshape(side, side)
        i, j = lo[:, 0], lo[:, 1]
        return (
            v[i, j] * (1 - w[:, 0]) * (1 - w[:, 1])
            + v[i + 1, j] * w[:, 0] * (1 - w[:, 1])
            + v[i, j + 1] * (1 - w[:, 0]) * w[:, 1]
            + v[i + 1, j + 1] * w[:, 0] * w[:, 1]
        )

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Action [2] for one observation, or [N, 2] for a batch."""
        obs = np.asarray(obs, np.float32)
        single = obs.ndim == 1
        pos = obs.reshape(-1, 2)
        a = len(ACTIONS)
        rep = np.repeat(pos, a, axis=0)
        acts = np.tile(ACTIONS, (len(pos), 1))
        nxt = self.step(rep, acts)
        q = np.asarray(self.reward(rep, acts, nxt), np.float64) + self.gamma * self.value_at(nxt)
        best = ACTIONS[q.reshape(len(pos), a).argmax(axis=1)]
        return best[0] if single else best


def reoptimize_planner(
    run: Run, seed: int, episodes: int, reward: str = "learned", task: ReoptTask | None = None
) -> dict[str, Any]:
    """Plan on the learned (or, ``reward="true"``, the maze's own) reward in the task's maze; the
    greedy policy's true return over ``episodes`` seeded episodes, as record fields (the names
    of the SAC, PPO and ARS re-optimisations; no env steps are taken to learn)."""
    task = task or reopt_task(run)
    start = time.perf_counter()
    model = grid_model(task.env_id, task.kwargs)
    n, a = model.next_pos.shape[:2]
    obs = np.repeat(model.positions, a, axis=0)
    acts = np.tile(ACTIONS, (n, 1))
    nxt = model.next_pos.reshape(-1, 2)
    fn = run.learned_reward if reward == "learned" else true_reward(task.env_id)
    assert fn is not None  # grid_model accepted the env: a maze, whose true reward is listed
    rewards = np.asarray(fn(obs, acts, nxt), np.float64).reshape(n, a)
    values, _ = value_iteration(rewards, model.next_index)
    policy = GridPolicy(model, values, fn, successors(task.env_id, task.kwargs))
    plan_s = time.perf_counter() - start
    rets = evaluate(task.env_id, policy, episodes, reopt_eval_seed(seed), task.kwargs)
    meta = None if task.is_target else run.demos.meta
    mean = float(rets.mean())
    return {
        "reoptimized_return_mean": mean,
        "reoptimized_normalized_return": None if meta is None else normalized_score(mean, meta),
        "reoptimized_steps": 0.0,
        "reoptimized_ent_coef": "n/a",
        "reoptimized_tail_gamma": None,
        "reoptimized_reward": reward,
        "reoptimized_resumed_at": None,
        "reoptimized_wall_clock_s": plan_s,
        "steps_per_s": None,
        "reoptimized_plan_gamma": GAMMA,
        "reoptimized_plan_resolution": RESOLUTION,
        **PeriodicEval(task, 0, 1, seed).summary(meta),
        "reoptimized_algo": "planner",
    }
