"""Reward figures that ``irl-eval`` writes into the run directory: what the learned reward says,
step by step, next to what the task pays.

- ``reward_along_trajectories.png``: three panels. A held-out expert trajectory and a recovered-
  policy trajectory, each with the learned per-step reward (left axis, no absorbing tail) and the
  true per-step reward (right axis) over time; and a scatter of learned against true over every
  step of ``episodes`` episodes of both. Demos without rewards (``rewards_available: false``)
  plot the learned reward only for the expert.
- ``reward_heatmap.png`` (2-D position tasks: the point mazes, `ARENA_TASKS`): the learned reward
  of standing at each point of a grid over the arena, −c(x, u = 0) without the potential shaping
  (zero action for a state-action cost, said in the title), with the wall, the goal and the
  held-out expert paths drawn.

Drawn on matplotlib's Agg canvas (no pyplot, no display, no global state). A figure that cannot be
drawn is skipped with a warning: it never costs an evaluation its scores.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from irl.demos import rewards_available
from irl.rollouts import rollout
from irl.run import Run
from irl.seeding import learned_return_seed
from irl.types import Trajectory

__all__ = [
    "ARENA_TASKS",
    "TRAJECTORY_PANELS",
    "has_arena",
    "heatmap_figure",
    "panel_titles",
    "reward_figures",
    "trajectory_figure",
]

ARENA_TASKS = ("irl/PointMaze",)  # env id prefixes of 2-D position tasks that get a heat-map
TRAJECTORY_PANELS = (
    "held-out expert trajectory",
    "recovered-policy trajectory",
    "learned vs true reward per step",
)
LEARNED, TRUE = "tab:blue", "tab:orange"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # the Agg canvas: savefig writes PNGs without a display
    return fig


def panel_titles(fig: Figure) -> list[str]:
    """The titles of a figure's panels (twin axes, which carry none, left out)."""
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def _learned(run: Run, traj: Trajectory) -> np.ndarray:
    """Learned per-step reward along one trajectory (no absorbing tail: comparable per step)."""
    return run.learned_reward(traj.obs[:-1], traj.acts, traj.obs[1:])


def _time_panel(ax: Axes, run: Run, traj: Trajectory, with_true: bool, title: str) -> None:
    """Learned (left axis) and, ``with_true``, true (right axis) reward over the steps."""
    t = np.arange(1, len(traj) + 1)
    ax.plot(t, _learned(run, traj), color=LEARNED, lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("learned reward", color=LEARNED)
    if with_true:
        twin = ax.twinx()
        twin.plot(t, traj.rews, color=TRUE, lw=1.2)
        twin.set_ylabel("true reward", color=TRUE)
    else:
        title += " (no true reward in the demos)"
    ax.set_title(title, fontsize=10)


def _scatter_panel(ax: Axes, run: Run, sets: Mapping[str, Sequence[Trajectory]]) -> None:
    """Learned against true reward over every step of each set, and their Pearson r."""
    xs, ys = [], []
    for (name, trajs), colour in zip(sets.items(), ("tab:green", "tab:purple"), strict=False):
        true = np.concatenate([t.rews for t in trajs]).astype(np.float64)
        learned = np.concatenate([_learned(run, t) for t in trajs])
        ax.scatter(true, learned, s=6, alpha=0.5, color=colour, label=name)
        xs.append(true)
        ys.append(learned)
    x, y = np.concatenate(xs), np.concatenate(ys)
    r = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")
    ax.set(xlabel="true reward", ylabel="learned reward")
    ax.set_title(f"{TRAJECTORY_PANELS[2]} (Pearson r = {r:.2f})", fontsize=10)
    ax.legend(fontsize=8)


def trajectory_figure(run: Run, episodes: int, seed: int) -> Figure:
    """The ``reward_along_trajectories`` figure (panels `TRAJECTORY_PANELS`): the first of
    ``episodes`` held-out demos and recovered-policy episodes over time, all of them scattered.
    The policy episodes are `irl.evaluation.learned_returns`' (same seeds)."""
    demos = list(run.demos.heldout or run.demos.train)[: max(episodes, 1)]
    env = run.make_env()
    try:
        policy = rollout(env, run.policy, max(episodes, 1), learned_return_seed(seed))
    finally:
        env.close()
    demo_true = rewards_available(run.demos.meta)
    fig = _figure(15, 4.2)
    axes = fig.subplots(1, 3)
    expert = TRAJECTORY_PANELS[0] if run.demos.heldout else "expert trajectory (a training demo)"
    _time_panel(axes[0], run, demos[0], demo_true, expert)
    _time_panel(axes[1], run, policy[0], True, TRAJECTORY_PANELS[1])
    sets = {"expert": demos, "policy": policy} if demo_true else {"policy": policy}
    _scatter_panel(axes[2], run, sets)
    fig.suptitle(f"{run.env_id}: learned reward (blue) and true reward (orange) per step")
    fig.tight_layout()
    return fig


def has_arena(run: Run) -> bool:
    """Whether the run's task is a 2-D position task that gets a reward heat-map."""
    return run.env_id.startswith(ARENA_TASKS) and int(run.artifacts["obs_dim"]) == 2


def _heat_title(run: Run) -> str:
    cost = run.cost
    if cost is not None and cost.state_only:
        return "learned reward −c(x) (state-only cost), shaping off"
    return "learned reward −c(x, u=0) at zero action, shaping off"


def heatmap_figure(run: Run, resolution: int = 121) -> Figure:
    """The learned reward of each point of a ``resolution``² grid over the arena (the
    observation box), with the wall, the goal and up to five held-out expert paths."""
    env = run.make_env()
    try:
        low, high = env.observation_space.low, env.observation_space.high
        span, goal = getattr(env.unwrapped, "span", None), getattr(env.unwrapped, "goal", None)
        act_dim = int(env.action_space.shape[0])
    finally:
        env.close()
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ValueError(f"{run.env_id}: an unbounded observation box has no arena to draw")
    xs = np.linspace(low[0], high[0], resolution)
    ys = np.linspace(low[1], high[1], resolution)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    reward = dataclasses.replace(run.learned_reward, shaping=False)
    r = reward(grid, np.zeros((len(grid), act_dim)), grid).reshape(resolution, resolution)
    fig = _figure(6, 5.2)
    ax = fig.subplots()
    image = ax.imshow(r, origin="lower", extent=(xs[0], xs[-1], ys[0], ys[-1]), cmap="viridis")
    fig.colorbar(image, ax=ax, label="learned reward")
    for t in list(run.demos.heldout or run.demos.train)[:5]:
        ax.plot(t.obs[:, 0], t.obs[:, 1], color="white", lw=0.8, alpha=0.8)
    if span is not None:
        from irl_envs.point_maze import WALL_Y

        ax.plot(list(span), [WALL_Y, WALL_Y], color="black", lw=4, label="wall")
    if goal is not None:
        ax.plot(goal[0], goal[1], marker="*", ms=16, color="red", ls="", label="goal")
    ax.set(xlabel="x", ylabel="y", xlim=(xs[0], xs[-1]), ylim=(ys[0], ys[-1]))
    ax.set_title(f"{run.env_id}\n{_heat_title(run)}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def reward_figures(run: Run, out_dir: Path, *, episodes: int, seed: int) -> list[Path]:
    """Write the reward figures of a run with a learned reward into ``out_dir``; their paths.

    ``reward_along_trajectories.png`` always, ``reward_heatmap.png`` for 2-D position tasks
    (`has_arena`). ``episodes``: demos and policy episodes plotted; ``seed``: the policy
    episodes' seed (`irl.seeding.learned_return_seed`). A figure that fails is skipped with a
    warning naming it and the error.
    """
    builders: list[tuple[str, Callable[[], Figure]]] = [
        ("reward_along_trajectories.png", lambda: trajectory_figure(run, episodes, seed)),
    ]
    if has_arena(run):
        builders.append(("reward_heatmap.png", lambda: heatmap_figure(run)))
    paths = []
    for name, build in builders:
        path = Path(out_dir) / name
        try:
            build().savefig(path, dpi=100)
        except Exception as exc:  # a figure never costs the evaluation its scores
            warnings.warn(
                f"irl-eval: {path} not drawn ({exc.__class__.__name__}: {exc})", stacklevel=2
            )
            continue
        paths.append(path)
    return paths
