"""Point-mass maze pair for reward transfer, after AIRL (Fu et al. 2018, "shifting maze").

Registered as ``irl/PointMazeLeft-v0`` (training maze, opening on the left) and
``irl/PointMazeRight-v0`` (shifted maze, opening on the right). Pure numpy, no MuJoCo.

What is the same as the AIRL task: a particle in a 0.6 × 0.6 arena starts at (0.3, 0), the goal is
(0.3, 0.5), a wall at y = 0.3 spans the arena except a one-third opening (0.2 wide) on one side,
the reward is minus the distance to the goal, episodes last 100 steps and never terminate.

What changed versus the AIRL MuJoCo point mass, all to keep it simple and exact:

- Kinematic velocity control instead of forces: the action a ∈ [-1, 1]² (clipped) moves the
  particle by ``MAX_STEP * a`` = at most 0.02 per axis per step. The state is therefore just the
  position, and the observation is the position (x, y), float32, shape (2,) (AIRL observed the
  3-D body position, with a constant z).
- The particle is a point and the wall a zero-thickness segment: a move whose straight segment
  touches the wall is replaced by its x-only part, else its y-only part, else cancelled, so the
  particle slides along the wall. The arena border clips the position to [0, 0.6]².
- The reward, ``-‖p' - goal‖``, is taken at the position *after* the move (AIRL used the position
  before it) and has no control cost (AIRL: 0.001 · ‖a‖²).
- The start is (0.3, 0) plus uniform noise of ±``start_noise`` (default 0.01) per axis, clipped to
  the arena (AIRL randomised the initial velocity instead).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import logger, spaces
from numpy.typing import NDArray

ARENA = 0.6  # side of the square arena [0, ARENA]², arena units
WALL_Y = 0.3  # the wall's height in the arena
OPENING = ARENA / 3  # width of the gap in the wall
START = (0.3, 0.0)
GOAL = (0.3, 0.5)
MAX_STEP = 0.02  # displacement per axis per step at |action| = 1

_OPENINGS = ("left", "right")


def wall_span(opening: str) -> tuple[float, float]:
    """The wall's x-interval [lo, hi] at y = `WALL_Y` for a maze open on ``opening``."""
    if opening == "left":
        return OPENING, ARENA
    if opening == "right":
        return 0.0, ARENA - OPENING
    raise ValueError(f"point maze: opening must be one of {_OPENINGS}, got {opening!r}")


def segment_hits_wall(
    p: NDArray[np.float64], q: NDArray[np.float64], span: tuple[float, float]
) -> bool:
    """Whether the closed segment from ``p`` to ``q`` (shape (2,) each) touches the wall."""
    lo, hi = span
    dp, dq = p[1] - WALL_Y, q[1] - WALL_Y
    if dp * dq > 0:  # strictly on one side all along
        return False
    if dp == dq:  # moving along the wall's line (both on it)
        return max(p[0], q[0]) >= lo and min(p[0], q[0]) <= hi
    x_cross = p[0] + (q[0] - p[0]) * dp / (dp - dq)
    return bool(lo <= x_cross <= hi)


class PointMazeEnv(gym.Env[NDArray[np.float32], NDArray[np.float32]]):
    """A point in a 0.6 × 0.6 arena with a wall at y = 0.3, open on one side (see module doc)."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 20}  # noqa: RUF012

    def __init__(
        self,
        opening: str = "left",
        render_mode: str | None = None,
        width: int = 64,
        height: int = 64,
        start_noise: float = 0.01,
        **kwargs: Any,
    ) -> None:
        """Build the maze.

        Args:
            opening: ``"left"`` (wall over x ∈ [0.2, 0.6]) or ``"right"`` (wall over [0, 0.4]).
            render_mode: None or ``"rgb_array"`` (`render` then returns a (height, width, 3)
                uint8 image).
            width: rendered image width, pixels.
            height: rendered image height, pixels.
            start_noise: half-width of the uniform noise on each start coordinate, arena units.
            **kwargs: other keyword arguments (e.g. MuJoCo camera options a video writer passes to
                every task) are ignored with a warning.
        """
        self.span = wall_span(opening)
        self.opening = opening
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"point maze: render_mode must be None or 'rgb_array', got {render_mode!r}"
            )
        if width < 8 or height < 8:
            raise ValueError(f"point maze: image must be at least 8x8 pixels, got {width}x{height}")
        if kwargs:
            logger.warn(f"PointMazeEnv ignores the keyword arguments {sorted(kwargs)}")
        self.render_mode = render_mode
        self.width, self.height = int(width), int(height)
        self.start_noise = float(start_noise)
        self.goal = np.asarray(GOAL, dtype=np.float64)
        self.observation_space = spaces.Box(0.0, ARENA, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.pos = np.asarray(START, dtype=np.float64)

    def _obs(self) -> NDArray[np.float32]:
        return self.pos.astype(np.float32)

    def _info(self) -> dict[str, Any]:
        return {"distance": float(np.linalg.norm(self.pos - self.goal))}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Start at (0.3, 0) plus seeded uniform noise; returns (position (2,), info)."""
        super().reset(seed=seed)
        noise = self.np_random.uniform(-self.start_noise, self.start_noise, size=2)
        self.pos = np.clip(np.asarray(START) + noise, 0.0, ARENA)
        return self._obs(), self._info()

    def step(
        self, action: NDArray[np.float32]
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """Move by ``MAX_STEP * clip(action)``, sliding along the wall; reward = -distance."""
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        delta = MAX_STEP * a
        for move in (delta, np.array([delta[0], 0.0]), np.array([0.0, delta[1]])):
            target = np.clip(self.pos + move, 0.0, ARENA)
            if not segment_hits_wall(self.pos, target, self.span):
                self.pos = target
                break
        info = self._info()
        return self._obs(), -info["distance"], False, False, info

    def render(self) -> NDArray[np.uint8] | None:
        """A (height, width, 3) uint8 top view: wall black, goal green, particle blue."""
        if self.render_mode != "rgb_array":
            return None
        cols = (np.arange(self.width) + 0.5) / self.width * ARENA
        rows = (1.0 - (np.arange(self.height) + 0.5) / self.height) * ARENA
        x, y = np.meshgrid(cols, rows)
        img = np.full((self.height, self.width, 3), 255, dtype=np.uint8)
        half = max(ARENA / self.height, 0.008)  # the wall at least one pixel thick
        lo, hi = self.span
        img[(np.abs(y - WALL_Y) <= half) & (x >= lo) & (x <= hi)] = (0, 0, 0)
        img[np.hypot(x - self.goal[0], y - self.goal[1]) <= 0.03] = (0, 170, 0)
        img[np.hypot(x - self.pos[0], y - self.pos[1]) <= 0.025] = (30, 60, 230)
        return img
