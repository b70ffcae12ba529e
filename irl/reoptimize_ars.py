"""Re-optimisation with ARS (`irl.ars`): a fresh linear policy trained from scratch on a run's
learned reward alone, scored by the true reward. ``irl-eval reopt_algo=ars``; the fast choice for
short tasks (the main job's InvertedPendulum takes seconds where SAC takes minutes on a CPU).

ARS maximises the undiscounted episode return, so a termination's absorbing tail is summed with
the cost's own γ (``tail_gamma="sac"`` means exactly that here): the episode is charged the
absorbing state's cost up to the horizon, as the cost was trained to price it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from irl.ars import DEFAULT_SETTINGS, ARSSettings, EpisodeScore, LinearPolicy, ars
from irl.demos import normalized_score
from irl.reopt_eval import PeriodicEval, ReoptTask, reopt_task
from irl.rollouts import evaluate
from irl.run import Run
from irl.seeding import reopt_eval_seed

CURVE_FIELDS = ("env_steps", "length", "terminated", "true_return", "learned_return")


def learned_episode_return(run: Run, tail_gamma: float | None) -> EpisodeScore:
    """The learned return of one episode: the summed learned reward, with the absorbing tail at
    a termination (``horizon − T`` absorbing steps, discounted by ``tail_gamma``)."""
    reward = dataclasses.replace(run.learned_reward, tail_gamma=tail_gamma)

    def score(obs: np.ndarray, acts: np.ndarray, terminated: bool, _true: float = 0.0) -> float:
        n = len(acts)
        term = np.zeros(n, dtype=bool)
        term[-1] = terminated
        left = np.zeros(n)
        left[-1] = reward.steps_left(n, terminated)
        return float(reward(obs[:-1], acts, obs[1:], term, left).sum())

    return score


def reoptimize_ars(
    run: Run,
    steps: int,
    seed: int,
    episodes: int,
    progress: bool,
    curve_path: Path | None,
    tail_gamma: str | float,
    reward: str,
    save_dir: Path | None,
    settings: ARSSettings = DEFAULT_SETTINGS,
    task: ReoptTask | None = None,
    evals: PeriodicEval | None = None,
) -> dict[str, Any]:
    """ARS for ``steps`` env steps on the learned (or, ``reward="true"``, the true) return; the
    deterministic linear policy's true return over ``episodes`` seeded episodes, as record fields
    (the same names as the SAC and PPO re-optimisations).

    ``task``: the env it trains and is scored in (default the run's own; a transfer target's
    normalised scores are None). ``evals``: scores the policy after each iteration whose step
    count crosses its interval (its summary joins the record)."""
    task = task or reopt_task(run)
    evals = evals or PeriodicEval(task, 0, 1, seed)
    tail = None if tail_gamma == "sac" else float(tail_gamma)
    learned = learned_episode_return(run, tail)
    episodes_seen: list[dict[str, float]] = []
    file = curve_path.open("w", buffering=1) if curve_path is not None else None
    bar = tqdm(total=steps, desc=f"re-optimising ARS on the {reward} reward", disable=not progress)

    def on_episode(
        n: int, obs: np.ndarray, acts: np.ndarray, term: bool, true_ret: float, score: float
    ) -> None:
        learned_ret = score if reward == "learned" else learned(obs, acts, term, true_ret)
        values = (n, len(obs) - 1, int(term), true_ret, learned_ret)
        row = dict(zip(CURVE_FIELDS, values, strict=True))
        episodes_seen.append(row)
        if file is not None:
            file.write(",".join(str(row[k]) for k in CURVE_FIELDS) + "\n")
        bar.update(min(n, steps) - bar.n)

    env = task.make()
    start = time.perf_counter()
    try:
        if file is not None:
            file.write(",".join(CURVE_FIELDS) + "\n")
        # The control (reward="true") maximises the env's own return under the same protocol.
        score = learned if reward == "learned" else _true_return
        policy = ars(env, score, steps, seed, settings, on_episode, evals)
    finally:
        env.close()
        bar.close()
        evals.close()
        if file is not None:
            file.close()
    train_s = time.perf_counter() - start - evals.seconds  # the evaluations' time left out
    if save_dir is not None:
        _save_linear_policy(policy, save_dir / "reopt_actor.safetensors")
    rets = evaluate(task.env_id, policy, episodes, reopt_eval_seed(seed), task.kwargs)
    trained = int(episodes_seen[-1]["env_steps"]) if episodes_seen else 0
    meta = None if task.is_target else run.demos.meta
    mean = float(rets.mean())
    return {
        "reoptimized_return_mean": mean,
        "reoptimized_normalized_return": None if meta is None else normalized_score(mean, meta),
        "reoptimized_steps": float(trained),
        "reoptimized_ent_coef": "n/a",
        "reoptimized_tail_gamma": tail,
        "reoptimized_reward": reward,
        "reoptimized_resumed_at": None,
        "reoptimized_wall_clock_s": train_s,
        "steps_per_s": trained / train_s if train_s > 0 else None,
        **last10_fields(episodes_seen),
        **evals.summary(meta),
        "reoptimized_algo": "ars",
    }


def last10_fields(episodes_seen: list[dict[str, float]]) -> dict[str, float | None]:
    """Length and both returns of the last ten training episodes (None before any)."""
    last = episodes_seen[-10:]
    return {
        f"reoptimized_last10_{k}": float(np.mean([e[k] for e in last])) if last else None
        for k in ("length", "true_return", "learned_return")
    }


def _true_return(obs: np.ndarray, acts: np.ndarray, terminated: bool, true: float) -> float:
    """The control's objective: the env's own return."""
    return true


def _save_linear_policy(policy: LinearPolicy, path: Path) -> None:
    """The linear policy's matrix and normalisation, pickle-free."""
    save_file(
        {
            "matrix": torch.as_tensor(policy.matrix),
            "obs_mean": torch.as_tensor(policy.mean),
            "obs_std": torch.as_tensor(policy.std),
        },
        str(path),
    )
