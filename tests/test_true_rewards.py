"""The true-reward registry (irl.true_rewards): each listed reward equals the env's own on random
transitions, the dynamics equal the env's step, and irl-eval's EPIC/DARD distances to the true
reward are 0 for the true reward shaped and rescaled and 1 for its negation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_train import make_cfg, save_run
from test_transfer import record_maze_demos

from irl.build import build_trainer
from irl.run import Run
from irl.true_rewards import reward_distances, successors, true_reward
from irl_envs import make_env
from irl_envs.point_maze import ARENA, MAX_STEP, WALL_Y

MAZES = ("irl/PointMazeLeft-v0", "irl/PointMazeRight-v0")


def _maze_transitions(env_id: str, n: int, seed: int) -> tuple[np.ndarray, ...]:
    """``n`` steps from random positions (a third of them hugging the wall's line) with random
    actions, some beyond the action box: obs, acts, next_obs, the env's rewards."""
    env = make_env(env_id)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pos = rng.uniform(0.0, ARENA, 2)
        if i % 3 == 0:
            pos[1] = WALL_Y + rng.choice([-1, 0, 1]) * rng.uniform(0.0, 0.02)
        env.unwrapped.pos = pos.astype(np.float32).astype(np.float64)  # as observed
        obs = env.unwrapped.pos.astype(np.float32)
        act = rng.uniform(-1.5, 1.5, 2).astype(np.float32)
        nxt, rew, *_ = env.step(act)
        rows.append((obs, act, nxt, rew))
    env.close()
    return tuple(np.array([r[k] for r in rows]) for k in range(4))


@pytest.mark.parametrize("env_id", MAZES)
def test_point_maze_reward_and_dynamics_are_the_envs(env_id: str) -> None:
    obs, acts, nxt, rews = _maze_transitions(env_id, 600, seed=1)
    reward = true_reward(env_id)
    assert reward is not None
    # The env computes from its float64 position, the observation is float32: ≤ 1e-6 apart.
    np.testing.assert_allclose(reward(obs, acts, nxt), rews, rtol=0, atol=1e-6)
    # The reward is of the position after the move (before it, it would be off by a step).
    before = -np.linalg.norm(obs - np.array([0.3, 0.5]), axis=1)
    assert np.abs(before - rews).max() > 1e-3
    step = successors(env_id)
    assert step is not None
    np.testing.assert_array_equal(step(obs, acts).astype(np.float32), nxt)  # exactly the env's
    free = np.clip(obs + MAX_STEP * np.clip(acts, -1, 1), 0.0, ARENA).astype(np.float32)
    walled = np.abs(nxt - free).max(axis=1) > 1e-6
    assert 0 < walled.sum() < len(walled)  # the wall changed some moves, not all


def test_pendulum_reward_is_of_the_state_before_the_step_and_the_clipped_action() -> None:
    env = make_env("Pendulum-v1")
    env.reset(seed=0)
    rng = np.random.default_rng(2)
    obs, acts, nxt, rews = [], [], [], []
    for _ in range(500):
        env.unwrapped.state = np.array([rng.uniform(-4.0, 4.0), rng.uniform(-8.0, 8.0)])
        th, thdot = env.unwrapped.state
        obs.append(np.array([np.cos(th), np.sin(th), thdot], dtype=np.float32))
        acts.append(rng.uniform(-3.0, 3.0, 1).astype(np.float32))  # beyond ±2: clipped
        o, r, *_ = env.step(acts[-1])
        nxt.append(o)
        rews.append(r)
    env.close()
    o, a, n, r = (np.array(x) for x in (obs, acts, nxt, rews))
    reward = true_reward("Pendulum-v1")
    assert reward is not None
    np.testing.assert_allclose(reward(o, a, n), r, rtol=0, atol=1e-5)
    # Of the next observation instead, or with the action unclipped, it would not match.
    assert np.abs(reward(n, a, n) - r).max() > 0.1
    assert (
        np.abs(
            -(np.arctan2(o[:, 1], o[:, 0]) ** 2 + 0.1 * o[:, 2] ** 2 + 1e-3 * a[:, 0] ** 2) - r
        ).max()
        > 1e-3
    )
    step = successors("Pendulum-v1")
    assert step is not None
    np.testing.assert_allclose(step(o, a), n, rtol=0, atol=1e-5)


def test_tasks_whose_reward_the_observation_does_not_determine_have_none() -> None:
    for env_id in ("Hopper-v5", "InvertedPendulum-v5", "irl/DisabledAnt-v5"):
        assert true_reward(env_id) is None and successors(env_id) is None


@pytest.fixture(scope="module")
def maze_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """An untrained maze run (built, not trained) on four scripted demos."""
    tmp = tmp_path_factory.mktemp("maze")
    demos = record_maze_demos(tmp / "maze.npz")
    cfg = make_cfg("debug=tiny", "env.id=irl/PointMazeLeft-v0", f"demo_path={demos}")
    return save_run(build_trainer(cfg, tmp / "run", log=False), cfg)


def test_reward_distances_are_zero_for_the_true_reward_shaped_and_one_for_its_negation(
    maze_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    true = true_reward(maze_run.env_id)
    assert true is not None and maze_run.cost is not None
    out = reward_distances(maze_run, random_episodes=3, seed=0)
    for key in ("epic_to_true", "dard_to_true"):
        assert 0.0 <= out[key] <= 1.0, key  # type: ignore[operator]
    g = out["reward_distance_gamma"]
    assert g == maze_run.cost.gamma

    def phi(x: np.ndarray) -> np.ndarray:
        return np.sin(7 * x[:, 0]) + x[:, 1] ** 2

    def shaped(o: np.ndarray, a: np.ndarray, n: np.ndarray, *_: Any) -> np.ndarray:
        return 3.0 * true(o, a, n) + g * phi(n) - phi(o) + 1.0  # type: ignore[misc]

    monkeypatch.setattr(maze_run, "reward", shaped)
    out = reward_distances(maze_run, random_episodes=3, seed=0)
    assert out["epic_to_true"] == pytest.approx(0.0, abs=1e-6)
    assert out["dard_to_true"] == pytest.approx(0.0, abs=1e-6)
    monkeypatch.setattr(maze_run, "reward", lambda o, a, n, *_: -true(o, a, n))  # type: ignore[misc]
    out = reward_distances(maze_run, random_episodes=3, seed=0)
    assert out["epic_to_true"] == pytest.approx(1.0, abs=1e-6)
    assert out["dard_to_true"] == pytest.approx(1.0, abs=1e-6)


def test_reward_distances_are_empty_where_no_true_reward_is_listed(tmp_path: Path) -> None:
    cfg = make_cfg("debug=tiny")  # InvertedPendulum-v5
    run = save_run(build_trainer(cfg, tmp_path, log=False), cfg)
    assert reward_distances(run, random_episodes=1, seed=0) == {}
