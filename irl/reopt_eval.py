"""Where a re-optimisation runs and how it is scored along the way.

- `reopt_task`: the env a fresh optimiser trains and is scored in: the run's own task, or a
  transfer target (``irl-eval reopt_env=<id>``). A target is built with the run's env kwargs,
  except those the target's own registration sets (e.g. the shifted maze's ``opening``): the
  target keeps its own. Its observation and action shapes must be the run's, or the learned
  reward cannot score its transitions.
- `reopt_shaping` / `reopt_run`: whether the fresh optimiser is paid the learned reward with its
  potential shaping γh(x') − h(x): in the run's own task yes, in a transfer target no (``auto``).
- `PeriodicEval`: every ``every`` env steps, the deterministic policy's true return over
  ``episodes`` seeded episodes (the final evaluation's reset seeds, so every point is scored on
  the same start states), one CSV row each. Its summary is the mean of the last three
  evaluations, the score ``irl-eval`` reports beside the final one: one evaluation at the end of
  a budget is noisy (it swung by 0.4 expert-normalised between budgets on Hopper).
- `SB3PeriodicEval`: that evaluation as a Stable-Baselines3 callback (SAC and PPO).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from irl.demos import normalized_score
from irl.rollouts import evaluate
from irl.run import Run
from irl.seeding import reopt_eval_seed
from irl.validate import ConfigError
from irl_envs import import_env_module, make_env, register_envs

__all__ = [
    "LAST_N",
    "PeriodicEval",
    "ReoptTask",
    "SB3PeriodicEval",
    "reopt_run",
    "reopt_shaping",
    "reopt_task",
]

LAST_N = 3  # evaluations averaged into the reported score


@dataclass(frozen=True)
class ReoptTask:
    """The env of a re-optimisation: its id, ``make_env`` kwargs, whether it is a transfer
    target (not the run's own task), and the module that registers it (the run's
    ``env.module``; None: gymnasium's or the project's own envs)."""

    env_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    is_target: bool = False
    module: str | None = None

    def make(self) -> gym.Env[Any, Any]:
        """A fresh env of the task (its module imported first)."""
        import_env_module(self.module)
        return make_env(self.env_id, **self.kwargs)


def target_env_kwargs(run: Run, env_id: str) -> dict[str, Any]:
    """The run's env kwargs less those ``env_id``'s registration sets (the target's own)."""
    register_envs()
    import_env_module(run.env_module)  # a user's target may be registered there
    try:
        own = dict(gym.spec(env_id).kwargs or {})
    except gym.error.Error as exc:
        raise ConfigError(
            f"config: reopt_env={env_id!r} is not a registered gymnasium env ({exc}); the "
            "project's transfer targets (irl/PointMazeRight-v0, irl/DisabledAnt-v5, "
            "irl/SlipperyHalfCheetah-v5) register on import, a user's through the run's env.module"
        ) from None
    return {k: v for k, v in run.env_kwargs.items() if k not in own}


def reopt_task(run: Run, env_id: str | None = None) -> ReoptTask:
    """The run's own task (``env_id`` None or the run's), or the transfer target ``env_id``,
    checked to have the run's observation and action shapes."""
    if env_id is None or env_id == run.env_id:
        return ReoptTask(run.env_id, run.env_kwargs, False, run.env_module)
    task = ReoptTask(env_id, target_env_kwargs(run, env_id), True, run.env_module)
    try:
        env = task.make()
    except (TypeError, ValueError, gym.error.Error) as exc:
        raise ConfigError(
            f"config: reopt_env={env_id!r} cannot be built with the run's env kwargs "
            f"{task.kwargs} ({exc.__class__.__name__}: {exc})"
        ) from None
    try:
        shapes = (env.observation_space.shape, env.action_space.shape)
    finally:
        env.close()
    want = ((int(run.artifacts["obs_dim"]),), (int(run.artifacts["act_dim"]),))
    if tuple(tuple(int(n) for n in s or ()) for s in shapes) != want:
        raise ConfigError(
            f"config: reopt_env={env_id!r} has observation/action shapes {shapes}, the run's "
            f"{run.env_id} has {want}: the learned reward cannot score the target's transitions"
        )
    return task


def reopt_shaping(task: ReoptTask, shaping: str | bool = "auto") -> bool:
    """Whether a fresh optimiser in ``task`` is paid the learned reward with its potential
    shaping γh(x') − h(x) (``reopt_shaping``: ``"auto"``, True or False).

    ``"auto"``: with it in the run's own task (the reward as it was trained), without it in a
    transfer target. The potential h is fit under the source's dynamics (AIRL's h recovers the
    source's optimal value function), so in changed dynamics it is no shaping of anything, and it
    is policy-invariant only for an optimiser with the cost's own discount (γ = 1 for GAN-GCL,
    0.99 for SAC and the maze planner). AIRL's transfer experiments re-optimise g alone; the
    shifted-maze measurement is in docs/transfer.md.

    Raises:
        ValueError: for a value other than "auto", True or False.
    """
    if isinstance(shaping, bool):
        return shaping
    if shaping != "auto":
        raise ValueError(f"reopt_shaping must be auto, true or false, not {shaping!r}")
    return not task.is_target


def reopt_run(run: Run, shaped: bool) -> Run:
    """``run`` with its learned reward's shaping set to ``shaped`` (the same run when it is, or
    when the run learned no reward)."""
    if run.reward is None or run.reward.shaping == shaped:
        return run
    return dataclasses.replace(run, reward=dataclasses.replace(run.reward, shaping=shaped))


Policy = Callable[[np.ndarray], np.ndarray]


class PeriodicEval:
    """Deterministic true-return evaluations every ``every`` env steps (0: none), kept in a CSV
    (``path``) that a resumed re-optimisation carries on (rows up to ``resume_at`` are kept)."""

    FIELDS = ("env_steps", "return_mean", "return_std")

    def __init__(
        self,
        task: ReoptTask,
        every: int,
        episodes: int,
        seed: int,
        path: Path | None = None,
        resume_at: int | None = None,
    ) -> None:
        self.task, self.every, self.episodes, self.seed = task, int(every), int(episodes), seed
        self.rows: list[dict[str, float]] = []
        self.last = int(resume_at or 0)
        self.seconds = 0.0  # spent evaluating (kept out of the optimiser's training time)
        kept = self._kept(path, resume_at)
        self.file: IO[str] | None = None
        if path is not None and self.every > 0:
            self.file = path.open("w", buffering=1)  # line-buffered: a kill keeps every row
            self.file.write(",".join(self.FIELDS) + "\n")
            for row in kept:
                self._write(row)
        self.rows = kept

    def _kept(self, path: Path | None, resume_at: int | None) -> list[dict[str, float]]:
        if path is None or resume_at is None or not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines()[1:]:
            values = line.split(",")
            if len(values) == len(self.FIELDS):  # a line cut short by a kill is dropped
                row = {k: float(v) for k, v in zip(self.FIELDS, values, strict=True)}
                if row["env_steps"] <= resume_at:
                    rows.append(row)
        return rows

    def _write(self, row: Mapping[str, float]) -> None:
        if self.file is not None:
            self.file.write(",".join(repr(float(row[k])) for k in self.FIELDS) + "\n")

    def due(self, steps: int) -> bool:
        """Whether ``steps`` crossed a multiple of ``every`` since the last evaluation."""
        return self.every > 0 and steps // self.every > self.last // self.every

    def __call__(self, steps: int, policy: Policy) -> None:
        """Evaluate ``policy`` if ``steps`` crossed an evaluation point."""
        if not self.due(steps):
            return
        start = time.perf_counter()
        rets = evaluate(
            self.task.env_id, policy, self.episodes, reopt_eval_seed(self.seed), self.task.kwargs
        )
        self.seconds += time.perf_counter() - start
        row = {"env_steps": float(steps), "return_mean": float(rets.mean())}
        row["return_std"] = float(rets.std())
        self.rows.append(row)
        self._write(row)
        self.last = steps

    def close(self) -> None:
        """Close the CSV."""
        if self.file is not None:
            self.file.close()
            self.file = None

    def summary(self, meta: Mapping[str, Any] | None) -> dict[str, Any]:
        """``reoptimized_return_last3_mean`` (None without evaluations), its expert-normalised
        score under the demo metadata ``meta`` (None without ``meta``: a transfer target has no
        expert of its own), the interval, the episodes and the number of evaluations."""
        last = [r["return_mean"] for r in self.rows[-LAST_N:]]
        mean = float(np.mean(last)) if last else None
        norm = None if mean is None or meta is None else normalized_score(mean, meta)
        return {
            f"reoptimized_return_last{LAST_N}_mean": mean,
            f"reoptimized_normalized_return_last{LAST_N}_mean": norm,
            "reoptimized_eval_every": self.every,
            "reoptimized_eval_episodes": self.episodes,
            "reoptimized_evals": len(self.rows),
            "reoptimized_eval_wall_clock_s": self.seconds,  # this call's
        }


class SB3PeriodicEval(BaseCallback):
    """`PeriodicEval` for an SB3 model: checked when a rollout starts (the policy has been
    updated on every step so far; a PPO rollout overshooting the interval is evaluated once) and
    when training ends."""

    def __init__(self, evals: PeriodicEval) -> None:
        super().__init__()
        self.evals = evals

    def _policy(self, obs: np.ndarray) -> np.ndarray:
        return self.model.predict(obs, deterministic=True)[0]

    def _on_rollout_start(self) -> None:
        self.evals(int(self.model.num_timesteps), self._policy)

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self.evals(int(self.model.num_timesteps), self._policy)
