"""SAC expert training: evaluation, best-actor selection, pickle-free resumable checkpoints.

`train_sac` trains an SB3 SAC expert in a run directory and ships nothing itself: it keeps the
best actor by evaluation return as an actor file pair (`irl.actor`), and writes whole resume
checkpoints (`irl.expert_checkpoint`: tensors, plain data and ``.npz``, never pickle). A killed
run re-run with the same settings continues exactly where its last checkpoint left off.

Evaluations, checkpoints and stops happen only between training steps (after step ``n``'s
gradient update, before step ``n + 1``'s action), where the algorithm's state is whole.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback
from tqdm import tqdm

from irl.actor import policy_from_sac, save_actor
from irl.expert_checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_checkpoint,
    load_portable_checkpoint,
    save_checkpoint,
    save_portable_checkpoint,
)
from irl.rollouts import evaluate
from irl_envs import env_kwargs, make_env

EVAL_SEED = 10_000  # evaluation episode i is reset with seed EVAL_SEED + i


class _Stop(Exception):
    """Raised between training steps to end ``learn`` with the algorithm's state whole."""


class _Run:
    """One ``train_sac`` call's settings and bookkeeping (progress record, clocks, cadence)."""

    def __init__(
        self,
        out: Path,
        env_id: str,
        kw: dict[str, Any],
        settings: dict[str, Any],
        record: dict[str, Any],
        start_steps: int,
    ) -> None:
        self.out, self.env_id, self.kw, self.s, self.record = out, env_id, kw, settings, record
        self.start_steps = start_steps
        self.start_wall = float(record["wall_clock_s"])
        self.t0 = time.monotonic()
        self.last_eval = start_steps - start_steps % settings["eval_every"]
        self.last_ckpt = start_steps - start_steps % settings["checkpoint_every"]
        self.stop_reason = ""

    def elapsed(self) -> float:
        """Training wall-clock in seconds, summed over resumes."""
        return self.start_wall + time.monotonic() - self.t0

    def steps_per_s(self, n: int) -> float:
        """Environment steps per second of this call so far."""
        return (n - self.start_steps) / max(time.monotonic() - self.t0, 1e-9)

    def actor_info(self, model: Any) -> dict[str, Any]:
        """Provenance stored in a saved actor's JSON spec."""
        return {
            "env_id": self.env_id,
            "env_kwargs": self.kw,
            "training": {
                "algo": "SB3 SAC",
                "steps_trained": int(model.num_timesteps),
                "wall_clock_s": round(self.elapsed(), 1),
                "seed": self.record["seed"],
                "sac_kwargs": self.record["sac_kwargs"],
                "command": self.s["command"],
            },
        }

    def comparable_best(self) -> float | None:
        """The best return so far, if measured on this run's number of evaluation episodes.

        A resume with more episodes re-selects the best actor on those alone (a 5-episode best
        can be a lucky draw; records before the field existed used 5).
        """
        if self.record.get("best_eval_episodes", 5) != self.s["eval_episodes"]:
            return None
        return cast("float | None", self.record["best_eval_return"])

    def checkpoint(self, model: Any) -> None:
        """Save ``last_actor``, a whole checkpoint and the ``progress.json`` mirror."""
        self.record["steps"] = int(model.num_timesteps)
        self.record["wall_clock_s"] = self.elapsed()
        save_actor(model, self.out / "last_actor", self.actor_info(model))
        save_checkpoint(model, self.out, self.record)
        if self.s["portable_checkpoint"] is not None:
            save_portable_checkpoint(model, self.s["portable_checkpoint"], self.record)
        write_progress(self.out, self.record)

    def evaluate(self, model: Any, n: int) -> None:
        """Evaluate the current actor at step ``n``; keep it as ``best_actor`` if it is best."""
        episodes = self.s["eval_episodes"]
        rets = evaluate(
            self.env_id,
            policy_from_sac(model),
            episodes,
            seed=EVAL_SEED,
            kwargs=self.kw,
            max_episode_steps=self.s["max_episode_steps"],
        )
        mean, elapsed = float(rets.mean()), self.elapsed()
        self.record["evals"].append(
            {
                "step": n,
                "episodes": episodes,
                "return_mean": mean,
                "return_std": float(rets.std()),
                "wall_clock_s": round(elapsed, 1),
                "steps_per_s": round(self.steps_per_s(n), 1),
            }
        )
        best = self.comparable_best()
        if best is None or mean >= best:
            self.record.update(best_eval_return=mean, best_eval_step=n, best_eval_episodes=episodes)
            save_actor(model, self.out / "best_actor", self.actor_info(model))
        tqdm.write(
            f"[{self.env_id}] step {n}: eval/return_mean {mean:.1f} ± {rets.std():.1f}, "
            f"time/wall_clock_s {elapsed:.0f}, time/steps_per_s {self.steps_per_s(n):.0f}"
        )
        target = self.s["stop_at_return"]
        if target is not None and mean >= target:
            self.stop_reason = f"eval return {mean:.1f} >= stop_at_return"

    def tick(self, model: Any, final: bool = False) -> None:
        """Between steps: evaluate / checkpoint when due; raise `_Stop` when a limit is hit."""
        n = int(model.num_timesteps)
        if n - self.last_eval >= self.s["eval_every"]:
            self.last_eval = n
            self.evaluate(model, n)
        if final:
            return
        if n - self.last_ckpt >= self.s["checkpoint_every"]:
            self.last_ckpt = n
            self.checkpoint(model)
        limit = self.s["max_wall_clock_s"]
        if not self.stop_reason and limit is not None and self.elapsed() > limit:
            self.stop_reason = "max_wall_clock_s reached"
        if self.stop_reason:
            raise _Stop(self.stop_reason)


class _TickCallback(BaseCallback):
    """Calls `_Run.tick` at every rollout start (the algorithm's state is whole there)."""

    def __init__(self, run: _Run, total_steps: int) -> None:
        super().__init__()
        self.run, self.total_steps = run, total_steps

    def _on_training_start(self) -> None:
        self.bar = tqdm(
            total=self.total_steps,
            initial=self.run.start_steps,
            desc=f"SAC {self.run.env_id}",
            mininterval=10,
            unit="step",
        )

    def _on_rollout_start(self) -> None:
        if int(self.model.num_timesteps) > self.run.start_steps:
            self.run.tick(self.model)

    def _on_step(self) -> bool:
        self.bar.update(int(self.model.num_timesteps) - self.bar.n)
        return True

    def close(self) -> None:
        """Close the progress bar (also when training ended by `_Stop`)."""
        if hasattr(self, "bar"):
            self.bar.close()


def write_progress(out: Path, record: Mapping[str, Any]) -> None:
    """Atomically write the human-readable ``progress.json`` mirror of the progress record."""
    tmp = out / "progress.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out / "progress.json")


def _fresh_record(env_id: str, kw: dict[str, Any], seed: int, sac_kwargs: Any) -> dict[str, Any]:
    return {
        "env_id": env_id,
        "env_kwargs": kw,
        "seed": seed,
        "sac_kwargs": sac_kwargs,
        "steps": 0,
        "wall_clock_s": 0.0,
        "evals": [],
        "best_eval_return": None,
        "best_eval_step": None,
        "commands": [],
    }


def _resume(
    model: Any, out: Path, fresh: dict[str, Any], portable: Path | None, refill_steps: int
) -> dict[str, Any] | None:
    """Restore ``model`` from ``out``'s newest checkpoint, else from the portable checkpoint
    ``portable`` (then refill the replay buffer); None if there is neither."""
    checkpoint = find_checkpoint(out)
    if checkpoint is None and portable is not None and portable.exists():
        record = load_portable_checkpoint(model, portable)
        _check_same_run(record, fresh, portable)
        step = int(model.num_timesteps)
        tqdm.write(
            f"continuing {record['env_id']} from step {step} ({portable}, a portable checkpoint: "
            f"the replay buffer starts empty and is refilled with {refill_steps} policy steps)"
        )
        _refill_buffer(model, refill_steps)
        carried = {"step": step, "refill_steps": refill_steps, "file": str(portable)}
        record.setdefault("portable_resumes", []).append(carried)
        return record
    if checkpoint is None:
        return None
    record = load_checkpoint(model, checkpoint)
    _check_same_run(record, fresh, checkpoint)
    tqdm.write(f"resuming {record['env_id']} from step {model.num_timesteps} ({checkpoint})")
    return record


def _check_same_run(record: dict[str, Any], fresh: dict[str, Any], source: Path) -> None:
    """Raise `CheckpointError` unless ``record`` is a run of ``fresh``'s env and settings."""
    for key in ("env_id", "env_kwargs", "seed", "sac_kwargs"):
        if record.get(key) != fresh[key]:
            raise CheckpointError(
                f"{source}: trained with {key}={record.get(key)!r}, not {fresh[key]!r}; "
                "resume with the run's settings or train with resume=false"
            )


def _refill_buffer(model: Any, steps: int) -> None:
    """Step the env ``steps`` times with the current (stochastic) policy into the replay
    buffer, without a gradient step: updates resume on the policy's own data, not on a
    handful of transitions sampled over and over."""
    if steps <= 0:
        return
    gradient_steps = model.gradient_steps
    model.gradient_steps = 0
    try:
        model.learn(steps, reset_num_timesteps=False, progress_bar=False)
    finally:
        model.gradient_steps = gradient_steps


def train_sac(
    env_id: str,
    run_dir: str | os.PathLike[str],
    total_steps: int,
    seed: int,
    sac_kwargs: Mapping[str, Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    max_episode_steps: int | None = None,
    eval_every: int = 10_000,
    eval_episodes: int = 5,
    checkpoint_every: int = 50_000,
    max_wall_clock_s: float | None = None,
    stop_at_return: float | None = None,
    resume: bool = True,
    command: str = "",
    portable_checkpoint: str | os.PathLike[str] | None = None,
    refill_steps: int = 10_000,
) -> dict[str, Any]:
    """Train (or resume) an SB3 SAC expert; keep the best actor by evaluation return.

    Writes into ``run_dir``: ``best_actor``/``last_actor`` (pickle-free actor files),
    ``progress.json`` (steps, wall-clock, evaluations) and pickle-free resume checkpoints
    (``checkpoint.json`` and ``checkpoint-<seq>/``, see `irl.expert_checkpoint`). Stops at
    ``total_steps``, after ``max_wall_clock_s`` (summed over resumes) or once an evaluation
    reaches ``stop_at_return``. A resume must use the run's env, env kwargs, seed and SAC
    settings (else `CheckpointError`). Returns the progress record.

    With ``portable_checkpoint`` (a file path), every checkpoint is also written there without
    the replay buffer (`irl.expert_checkpoint.save_portable_checkpoint`), and a run directory
    without a checkpoint continues from that file: networks, optimizers, counters, RNGs and the
    env's state as saved, the replay buffer refilled with ``refill_steps`` steps of the current
    policy before updates resume. The record's ``portable_resumes`` lists each such
    continuation (it is not an exact resume).
    """
    torch.set_num_threads(1)
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    kw = env_kwargs(env_id, **dict(kwargs or {}))
    sac_kwargs = copy.deepcopy(dict(sac_kwargs or {}))  # SB3 adds keys to policy_kwargs
    # The record as a checkpoint stores it (JSON), so a resume compares like with like.
    fresh = json.loads(json.dumps(_fresh_record(env_id, kw, seed, sac_kwargs)))
    env = make_env(env_id, max_episode_steps=max_episode_steps, **kw)
    try:
        model = SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **sac_kwargs)
        portable = None if portable_checkpoint is None else Path(portable_checkpoint)
        resumed = _resume(model, out, fresh, portable, refill_steps) if resume else None
        record = resumed or fresh
        record["commands"].append(command)
        settings = {
            "eval_every": eval_every,
            "eval_episodes": eval_episodes,
            "checkpoint_every": checkpoint_every,
            "max_wall_clock_s": max_wall_clock_s,
            "stop_at_return": stop_at_return,
            "max_episode_steps": max_episode_steps,
            "command": command,
            "portable_checkpoint": portable,
        }
        run = _Run(out, env_id, kw, settings, record, int(model.num_timesteps))
        _learn(model, run, total_steps)
        record["stop_reason"] = run.stop_reason or "total_steps reached"
        run.checkpoint(model)
        if not (out / "best_actor.json").exists():
            save_actor(model, out / "best_actor", run.actor_info(model))
    finally:
        env.close()
    return record


def _learn(model: Any, run: _Run, total_steps: int) -> None:
    """Train up to ``total_steps`` unless the run already met a stopping condition."""
    best = run.comparable_best()
    target, limit = run.s["stop_at_return"], run.s["max_wall_clock_s"]
    if target is not None and best is not None and best >= target:
        # A finished run re-run with the same settings trains no further.
        run.stop_reason = run.record.get("stop_reason", "stop_at_return reached")
        return
    if limit is not None and run.start_wall >= limit:
        run.stop_reason = "max_wall_clock_s reached"
        return
    remaining = total_steps - run.start_steps
    if remaining <= 0:
        if run.comparable_best() is None:
            # Nothing left to train, and no best measured on this run's number of episodes
            # (e.g. a portable checkpoint shipped with eval_episodes=25): the actor at hand is
            # evaluated, so the best actor and its return are a measurement, never a guess.
            run.last_eval = int(model.num_timesteps)
            run.evaluate(model, run.last_eval)
        return
    callback = _TickCallback(run, total_steps)
    try:
        model.learn(remaining, callback=callback, reset_num_timesteps=False, progress_bar=False)
        run.tick(model, final=True)  # learn ends after step n's update: evaluate if due
    except _Stop:
        pass
    finally:
        callback.close()
