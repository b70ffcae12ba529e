"""irl.maze_planner: value iteration against a closed form, the planner on the mazes' true
reward reaches the goal in both mazes, and clear errors for what it cannot plan."""

from __future__ import annotations

import numpy as np
import pytest

from irl.maze_planner import ACTIONS, GridPolicy, grid_model, value_iteration
from irl.rollouts import evaluate
from irl.true_rewards import point_maze_reward, successors
from irl_envs.point_maze import GOAL


def test_value_iteration_matches_the_closed_form_of_a_chain() -> None:
    """States 0-1-2 on a line, actions left/stay/right; reward 1 for landing on state 2."""
    nxt = np.array([[0, 0, 1], [0, 1, 2], [1, 2, 2]])
    rewards = (nxt == 2).astype(float)
    gamma = 0.9
    values, greedy = value_iteration(rewards, nxt, gamma)
    top = 1.0 / (1.0 - gamma)
    assert values == pytest.approx([gamma * top, top, top], rel=1e-6)
    assert greedy.tolist() == [2, 2, 1]  # right, right (first of the ties), stay


def test_value_iteration_refuses_what_does_not_contract_or_is_not_finite() -> None:
    nxt = np.zeros((2, 1), dtype=np.int64)
    with pytest.raises(ValueError, match="gamma"):
        value_iteration(np.zeros((2, 1)), nxt, gamma=1.0)
    with pytest.raises(ValueError, match="non-finite"):
        value_iteration(np.array([[0.0], [np.nan]]), nxt)


def test_only_the_point_mazes_can_be_planned() -> None:
    with pytest.raises(ValueError, match=r"point mazes.*Pendulum-v1"):
        grid_model("Pendulum-v1")


@pytest.mark.parametrize("env_id", ["irl/PointMazeLeft-v0", "irl/PointMazeRight-v0"])
def test_planning_on_the_true_reward_reaches_the_goal_around_either_wall(env_id: str) -> None:
    model = grid_model(env_id)
    n, a = model.next_pos.shape[:2]
    obs = np.repeat(model.positions, a, axis=0)
    rewards = point_maze_reward(obs, np.tile(ACTIONS, (n, 1)), model.next_pos.reshape(-1, 2))
    values, _ = value_iteration(rewards.reshape(n, a), model.next_index)
    policy = GridPolicy(model, values, point_maze_reward, successors(env_id))
    rets = evaluate(env_id, policy, 3, 0)
    # A scripted waypoint controller scores -6.9, the shipped SAC expert -7.2, random -45.
    assert rets.mean() > -7.0
    env_pos = np.array([0.3, 0.0])
    for _ in range(100):  # one greedy episode from the start: it ends at the goal
        env_pos = successors(env_id)(env_pos[None], policy(env_pos)[None])[0]
    assert np.linalg.norm(env_pos - np.asarray(GOAL)) < 0.02
