"""Reward transfer (``irl-eval run_dir=… reopt_env=<target id>``): does the learned reward still
say what to do when the dynamics change?

In one job, all in the target env and scored by the target's true reward on the same seeded
episodes (`irl.seeding.reopt_eval_seed`):

1. the learned reward: a fresh optimiser trained from scratch on the run's learned reward in the
   target (`irl.reoptimize.reoptimize` with ``env_id``), ``reoptimized_*``;
2. the control: the same optimiser, budget and seed paid the target's true reward (the ceiling
   of the protocol), ``control_*``;
3. policy transfer: the run's recovered policy run as it is in the target,
   ``policy_transfer_*``;
4. a uniform-random policy, ``random_*``;
5. the zero action, every step (doing nothing), ``zero_action_*``.

A reward that transfers re-optimises to near the control and above policy transfer (the AIRL
shifted-maze result); ``reoptimized_control_normalized_return`` = (learned − random) /
(control − random) puts it on one scale. The re-optimisations' files go to
``<run_dir>/transfer/<target>/{learned,true}/`` (curve, periodic evaluations, actor, checkpoint),
never over the run's own re-optimisation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from irl.control_cache import ControlCache
from irl.paths import safe_name
from irl.reopt_eval import LAST_N, reopt_task
from irl.rollouts import evaluate, random_policy, rollout, zero_policy
from irl.run import Run
from irl.seeding import reopt_eval_seed
from irl.types import returns

__all__ = ["TRANSFER_DIR", "run_transfer", "transfer_baselines", "transfer_dir", "transfer_rows"]

TRANSFER_DIR = "transfer"

# reopt(reward, out_dir) -> the re-optimisation's record fields (`irl.reoptimize.reoptimize`
# with the target as its env_id and its files under out_dir).
Reoptimizer = Callable[[str, Path], dict[str, Any]]


def transfer_dir(run_dir: Path, target: str) -> Path:
    """Where a transfer to ``target`` keeps its re-optimisations' files."""
    return run_dir / TRANSFER_DIR / safe_name(target)


def transfer_baselines(run: Run, target: str, episodes: int, seed: int) -> dict[str, float]:
    """The run's recovered policy, a uniform-random policy and the zero action (doing nothing)
    in ``target``: true return mean and std over ``episodes`` episodes on the
    re-optimisation's evaluation seeds. The zero action says what a reward that keeps a fresh
    optimiser still would score: on Ant-v5's reward, standing earns the healthy bonus."""
    task = reopt_task(run, target)
    first = reopt_eval_seed(seed)
    moved = evaluate(task.env_id, run.policy, episodes, first, task.kwargs)
    env = task.make()
    try:
        rand = returns(rollout(env, random_policy(env), episodes, first))
        still = returns(rollout(env, zero_policy(env), episodes, first))
    finally:
        env.close()
    return {
        "policy_transfer_return_mean": float(moved.mean()),
        "policy_transfer_return_std": float(moved.std()),
        "random_return_mean": float(rand.mean()),
        "random_return_std": float(rand.std()),
        "zero_action_return_mean": float(still.mean()),
        "zero_action_return_std": float(still.std()),
    }


def _as_control(fields: dict[str, Any]) -> dict[str, Any]:
    """A control re-optimisation's fields under ``control_*`` (normalised ones dropped: a
    target has no expert score)."""
    out = {
        "control_" + k.removeprefix("reoptimized_"): v
        for k, v in fields.items()
        if k.startswith("reoptimized_") and "normalized" not in k
    }
    out["control_steps_per_s"] = fields.get("steps_per_s")
    return out


def run_transfer(
    run: Run,
    target: str,
    reopt: Reoptimizer | None,
    out_dir: Path,
    *,
    steps: int,
    episodes: int,
    seed: int,
    control_cache: ControlCache | None = None,
) -> dict[str, Any]:
    """The transfer evaluation's record fields (see the module doc).

    Args:
        run: the trained run (its env is the source).
        target: the target env id (registered; the project's targets by importing irl_envs).
        reopt: runs one re-optimisation in the target, ``reopt(reward, out_dir)`` with reward
            ``"learned"`` or ``"true"``; ``None`` (no learned reward, or a zero budget): the
            re-optimisation and control fields are None and only the baselines run.
        out_dir: the learned and control runs write under ``out_dir/learned`` and ``out_dir/true``.
        steps: their budget, recorded as ``reopt_steps``.
        episodes: evaluation episodes of every row.
        seed: the evaluation seed (and the optimisers', through ``reopt``).
        control_cache: where the control is taken from when it was computed before, and kept
            when it was not (`irl.control_cache`); None: it is computed here.
    """
    task = reopt_task(run, target)  # a target that does not fit fails before any training
    result: dict[str, Any] = {
        "target_env": task.env_id,
        "target_env_kwargs": task.kwargs,
        "reopt_steps": int(steps),
        "reoptimized_return_mean": None,
        "control_return_mean": None,
        "control_cached_key": None,
    }
    if reopt is not None:
        for reward in ("learned", "true"):
            (out_dir / reward).mkdir(parents=True, exist_ok=True)
        result.update(reopt("learned", out_dir / "learned"))
        control = None if control_cache is None else control_cache.load(out_dir / "true")
        if control is None:
            control = _as_control(reopt("true", out_dir / "true"))
            if control_cache is not None:
                control_cache.store(control, out_dir / "true")
        result.update(control)
    result.update(transfer_baselines(run, target, episodes, seed))
    result["reoptimized_control_normalized_return"] = _control_normalized(result)
    return result


def _control_normalized(result: dict[str, Any]) -> float | None:
    """(learned − random) / (control − random); None without both or when the control does
    not beat random (the ratio would say nothing)."""
    ours, ceiling = result.get("reoptimized_return_mean"), result.get("control_return_mean")
    floor = result["random_return_mean"]
    if ours is None or ceiling is None or ceiling <= floor:
        return None
    return float((ours - floor) / (ceiling - floor))


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def transfer_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The transfer rows of ``irl-eval``'s table: each policy's true return in the target, final
    evaluation and mean of the last three periodic ones side by side."""
    last = f"last{LAST_N}"
    target = result["target_env"]
    rows = [
        (
            f"in {target}: learned reward re-optimised, return (final / {last})",
            f"{_fmt(result.get('reoptimized_return_mean'))} / "
            f"{_fmt(result.get(f'reoptimized_return_{last}_mean'))}",
        ),
        (
            f"in {target}: control, RL on the true reward (final / {last})",
            f"{_fmt(result.get('control_return_mean'))} / "
            f"{_fmt(result.get(f'control_return_{last}_mean'))}",
        ),
        (
            f"in {target}: policy transfer (the recovered policy)",
            f"{_fmt(result['policy_transfer_return_mean'])} ± "
            f"{_fmt(result['policy_transfer_return_std'])}",
        ),
        (
            f"in {target}: random policy",
            f"{_fmt(result['random_return_mean'])} ± {_fmt(result['random_return_std'])}",
        ),
        (
            f"in {target}: zero action (doing nothing)",
            f"{_fmt(result.get('zero_action_return_mean'))} ± "
            f"{_fmt(result.get('zero_action_return_std'))}",
        ),
    ]
    ratio = result.get("reoptimized_control_normalized_return")
    rows.append(
        (
            "learned re-optimised, (learned − random) / (control − random)",
            "n/a" if ratio is None else f"{ratio:.3f}",
        )
    )
    return rows
