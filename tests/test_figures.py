"""The reward figures (irl.figures) irl-eval writes: PNGs that are not blank, with the right
panels, the heat-map of the learned reward over the maze, the learned reward only for demos
without rewards, and a figure that fails costing only a warning."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import matplotlib.image as mpimg
import numpy as np
import pytest
from test_train import make_cfg, save_run
from test_transfer import record_maze_demos

import irl.figures as figures
from irl.build import build_trainer
from irl.figures import (
    TRAJECTORY_PANELS,
    has_arena,
    heatmap_figure,
    panel_titles,
    reward_figures,
    trajectory_figure,
)
from irl.run import DemoSplit, Run


@pytest.fixture(scope="module")
def maze_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """An untrained maze run (random cost weights: a learned reward that varies)."""
    tmp = tmp_path_factory.mktemp("figures")
    demos = record_maze_demos(tmp / "maze.npz")
    cfg = make_cfg("debug=tiny", "env.id=irl/PointMazeLeft-v0", f"demo_path={demos}")
    return save_run(build_trainer(cfg, tmp / "run", log=False), cfg)


def _not_blank(path: Path) -> None:
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    # Not one colour: drawn lines, scatter points, colour map.
    assert image[..., :3].std() > 0.05
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 50


def test_reward_figures_are_written_for_the_maze_and_are_not_blank(
    maze_run: Run, tmp_path: Path
) -> None:
    paths = reward_figures(maze_run, tmp_path, episodes=2, seed=0)
    assert [p.name for p in paths] == ["reward_along_trajectories.png", "reward_heatmap.png"]
    for path in paths:
        _not_blank(path)


def test_trajectory_figure_has_the_expert_policy_and_scatter_panels(maze_run: Run) -> None:
    fig = trajectory_figure(maze_run, episodes=2, seed=0)
    titles = panel_titles(fig)
    assert titles[:2] == list(TRAJECTORY_PANELS[:2])
    assert titles[2].startswith(TRAJECTORY_PANELS[2]) and "Pearson r" in titles[2]
    assert len(fig.axes) == 5  # three panels and the two time panels' true-reward axes
    expert = fig.axes[0]
    learned = expert.lines[0].get_ydata()
    demo = maze_run.demos.heldout[0]
    np.testing.assert_allclose(
        learned, maze_run.learned_reward(demo.obs[:-1], demo.acts, demo.obs[1:])
    )
    true_axis = next(ax for ax in fig.axes[3:] if ax.get_shared_x_axes().joined(ax, expert))
    np.testing.assert_allclose(true_axis.lines[0].get_ydata(), demo.rews)
    scatter = fig.axes[2]
    assert [t.get_text() for t in scatter.get_legend().get_texts()] == ["expert", "policy"]


def test_demos_without_rewards_plot_the_learned_reward_only(maze_run: Run) -> None:
    demos = maze_run.demos
    meta = {**demos.meta, "rewards_available": False}
    run = dataclasses.replace(maze_run, _demos=DemoSplit(demos.train, demos.heldout, meta))
    fig = trajectory_figure(run, episodes=2, seed=0)
    titles = panel_titles(fig)
    assert titles[0] == f"{TRAJECTORY_PANELS[0]} (no true reward in the demos)"
    assert len(fig.axes) == 4  # only the policy's panel has a true-reward axis
    assert [t.get_text() for t in fig.axes[2].get_legend().get_texts()] == ["policy"]


def test_heatmap_is_the_learned_state_reward_over_the_arena_with_wall_and_goal(
    maze_run: Run,
) -> None:
    fig = heatmap_figure(maze_run, resolution=31)
    [ax] = [a for a in fig.axes if a.get_title()]
    assert "zero action" in ax.get_title() and maze_run.env_id in ax.get_title()
    grid = np.asarray(ax.images[0].get_array())
    assert grid.shape == (31, 31) and grid.std() > 0
    # Row i, column j is the point (x_j, y_i) of the 0.6 x 0.6 arena, at zero action.
    xs = np.linspace(0.0, np.float32(0.6), 31)  # the float32 observation box
    point = np.array([[xs[4], xs[20]]])
    reward = dataclasses.replace(maze_run.learned_reward, shaping=False)
    assert grid[20, 4] == pytest.approx(reward(point, np.zeros((1, 2)), point)[0])
    labels = [line.get_label() for line in ax.lines]
    assert "wall" in labels and "goal" in labels
    wall = ax.lines[labels.index("wall")]
    assert list(wall.get_xdata()) == pytest.approx(
        [0.2, 0.6]
    )  # the left maze's wall (open on the left)


def test_only_two_dimensional_position_tasks_get_a_heatmap() -> None:
    def fake(env_id: str, obs_dim: int) -> Run:
        return SimpleNamespace(env_id=env_id, artifacts={"obs_dim": obs_dim})  # type: ignore[return-value]

    assert has_arena(fake("irl/PointMazeRight-v0", 2))
    assert not has_arena(fake("InvertedPendulum-v5", 4))
    assert not has_arena(fake("irl/PointMazeLeft-v0", 3))


def test_a_figure_that_fails_is_a_warning_not_an_error(
    maze_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("no arena today")

    monkeypatch.setattr(figures, "heatmap_figure", broken)
    with pytest.warns(UserWarning, match="reward_heatmap.png not drawn.*no arena today"):
        paths = reward_figures(maze_run, tmp_path, episodes=1, seed=0)
    assert [p.name for p in paths] == ["reward_along_trajectories.png"]
    assert not (tmp_path / "reward_heatmap.png").exists()
