"""``irl-eval run_dir=…``: score a finished ``irl-train`` run three ways and write ``eval.json``.

1. The recovered policy: deterministic true return over ``episodes`` seeded episodes and the
   expert-normalised score.
2. Re-optimisation: a fresh SB3 SAC trained on the learned reward alone (the true reward never
   reaches it), scored by the true reward at the end and every ``reopt_eval_every`` env steps
   (the mean of the last three evaluations reported beside the final one). With
   ``reopt_env=<target id>`` it runs in that env instead, beside the transfer controls
   (`irl.transfer`: RL on the target's true reward, the recovered policy, a random policy).
3. Reward correlation: Pearson and Spearman correlation of the learned per-step reward −c_θ(x,u)
   with the true reward, on held-out expert transitions (demos the run did not train on) and on
   uniform-random-policy transitions; and, where the true reward is a function of the observed
   transition (`irl.true_rewards`: point mazes, Pendulum), EPIC and DARD distances to it.

With ``figures=true`` the reward figures (`irl.figures`) are written into the run directory.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from irl.build import read_run_overrides
from irl.checkpoint import CheckpointError
from irl.cli import CONF_DIR
from irl.cli.expert import command_line
from irl.cli.train import NOT_TASK_OVERRIDES, format_score
from irl.control_cache import ControlCache, control_key
from irl.demos import DemoFileError, normalized_score
from irl.evaluation import learned_returns, reward_correlations
from irl.figures import reward_figures
from irl.records import DEFAULTS_ERAS, append_record, git_commit
from irl.reopt_eval import LAST_N, reopt_task
from irl.reoptimize import REOPT_CHECKPOINT, reoptimize
from irl.rollouts import evaluate
from irl.run import Run, RunDirError, load_run
from irl.seeding import run_eval_seed
from irl.transfer import run_transfer, transfer_dir, transfer_rows
from irl.true_rewards import reward_distances
from irl.validate import ConfigError, validate_eval_config
from irl_envs import import_env_module

LOADED_COMMIT = git_commit()


def _train_overrides(run_dir: Path) -> list[str]:
    """The irl-train overrides recorded in the run's result.json, else those Hydra kept in its
    ``.hydra/overrides.yaml`` (runs trained before result.json carried them); [] when neither."""
    try:
        overrides = json.loads((run_dir / "result.json").read_text()).get("overrides")
    except (OSError, ValueError, RecursionError, AttributeError):
        overrides = None
    if isinstance(overrides, list):
        return [str(o) for o in overrides]
    try:
        hydra_overrides = read_run_overrides(run_dir)
    except Exception:  # a damaged .hydra folder: the record just names no variant
        return []
    return [o for o in hydra_overrides if not o.startswith(NOT_TASK_OVERRIDES)]


def _train_defaults(run_dir: Path) -> dict[str, str]:
    """``{"defaults": "recipe"}`` (or "recipe+companion") when the run's result.json says it ran
    under those defaults (runs trained since it records that), so its eval record joins its
    train record."""
    try:
        defaults = json.loads((run_dir / "result.json").read_text()).get("defaults")
    except (OSError, ValueError, RecursionError, AttributeError):
        return {}
    return {"defaults": defaults} if defaults in DEFAULTS_ERAS else {}


def _reoptimize(
    run: Run,
    cfg: DictConfig,
    out_dir: Path,
    reward: str,
    env_id: str | None = None,
) -> dict[str, Any]:
    """``irl-eval``'s re-optimisation settings passed to :func:`irl.reoptimize.reoptimize`, its
    files in ``out_dir``: ``reward`` "learned" or "true" (the control), in the run's env or in
    ``env_id`` (a transfer's target)."""
    every = cfg.get("reopt_eval_every")
    return reoptimize(
        run,
        int(cfg.reopt_steps),
        int(cfg.episodes),
        int(cfg.seed),
        cfg.reopt_ent_coef,
        bool(cfg.get("progress_bar", True)),
        tuple(cfg.get("reopt_net_arch", (256, 256))),
        out_dir / "reopt_curve.csv",
        cfg.get("reopt_tail_gamma", "sac"),
        reward=reward,
        save_dir=out_dir,
        video_steps=int(cfg.get("reopt_video_steps", 0)),
        checkpoint_dir=out_dir / REOPT_CHECKPOINT,
        checkpoint_every=int(cfg.get("reopt_checkpoint_every", 0)),
        resume=bool(cfg.get("reopt_resume", True)),
        algo=str(cfg.get("reopt_algo", "sac")),
        env_id=env_id,
        # null: a tenth of the budget; 0: no periodic evaluation.
        eval_every=max(int(cfg.reopt_steps) // 10, 1) if every is None else int(every),
        eval_episodes=int(cfg.get("reopt_eval_episodes", 5)),
        evals_path=out_dir / "reopt_evals.csv",
        # Hydra reads reopt_shaping=true / false as booleans, auto as a string.
        shaping=cfg.get("reopt_shaping", "auto"),
        normalize_reward=reopt_normalize_reward(cfg),
        squash=bool(cfg.get("reopt_squash", False)),
    )


REOPT_CONTROL_DIR = "reopt_control"


def reopt_dir(run_dir: Path, reward: str) -> Path:
    """Where an in-place re-optimisation keeps its files: the run directory for the learned
    reward, ``<run_dir>/reopt_control`` for the control on the true reward, so a control never
    overwrites the learned reward's actor, curves or checkpoint (nor the reverse)."""
    return run_dir if reward == "learned" else run_dir / REOPT_CONTROL_DIR


def _target(cfg: DictConfig, run: Run) -> str | None:
    """The transfer target of ``reopt_env`` (None: none, or the run's own env)."""
    target = cfg.get("reopt_env")
    return None if target is None or str(target) == run.env_id else str(target)


def reopt_normalize_reward(cfg: DictConfig) -> bool:
    """``reopt_normalize_reward``: true or false as given; ``auto`` (the default) on for the
    PPO re-optimisation and off for the optimisers that have no such option."""
    value = cfg.get("reopt_normalize_reward", False)
    if value == "auto":
        return str(cfg.get("reopt_algo", "sac")) == "ppo"
    return bool(value)


def _reopt_budget(cfg: DictConfig) -> int:
    """The re-optimisation's env steps: ``reopt_steps``, or 0 for the planner (it plans)."""
    return 0 if cfg.reopt_algo == "planner" else int(cfg.reopt_steps)


def _wants_reopt(cfg: DictConfig) -> bool:
    """Whether ``irl-eval`` re-optimises: a budget of env steps, or the planner."""
    return cfg.reopt_algo == "planner" or int(cfg.reopt_steps) > 0


def _transfer(run: Run, cfg: DictConfig, run_dir: Path, target: str) -> dict[str, Any]:
    """The transfer evaluation (`irl.transfer.run_transfer`) with ``irl-eval``'s settings."""

    def reopt(reward: str, out_dir: Path) -> dict[str, Any]:
        return _reoptimize(run, cfg, out_dir, reward, target)

    has_reopt = run.cost is not None and _wants_reopt(cfg)
    return run_transfer(
        run,
        target,
        reopt if has_reopt else None,
        transfer_dir(run_dir, target),
        steps=_reopt_budget(cfg),
        episodes=int(cfg.episodes),
        seed=int(cfg.seed),
        control_cache=_control_cache(run, cfg, target),
    )


# irl-eval settings that do not change what a control computes.
_NOT_CONTROL = ("reopt_control_cache", "reopt_resume", "reopt_checkpoint_every", "reopt_reward")


def _control_cache(run: Run, cfg: DictConfig, target: str) -> ControlCache | None:
    """``reopt_control_cache``: the cache slot of this transfer's control (None: off)."""
    root = cfg.get("reopt_control_cache")
    if root is None:
        return None
    task = reopt_task(run, target)
    settings: dict[str, Any] = {
        "target": task.env_id,
        "target_kwargs": task.kwargs,
        "target_module": task.module,
        "episodes": int(cfg.episodes),
        "seed": int(cfg.seed),
        "budget": _reopt_budget(cfg),
        "normalize_reward": reopt_normalize_reward(cfg),
        # Float reductions may be ordered differently on another number of threads.
        "torch_threads": int(cfg.get("torch_threads", 1)),
        **{
            str(k): OmegaConf.to_container(v) if OmegaConf.is_config(v) else v
            for k, v in cfg.items()
            if str(k).startswith("reopt_") and k not in _NOT_CONTROL
        },
    }
    return ControlCache(Path(str(root)), control_key(settings))


def _reward_scores(run: Run, cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Correlations, learned returns, distances to the true reward and the reward figures."""
    seed = int(cfg.seed)
    out: dict[str, Any] = {
        **reward_correlations(run, int(cfg.random_episodes), seed),
        **learned_returns(run, int(cfg.learned_return_episodes), seed),
        **reward_distances(run, int(cfg.random_episodes), seed),
    }
    if cfg.get("figures", True):
        episodes = int(cfg.get("figure_episodes", 5))
        paths = reward_figures(run, run_dir, episodes=episodes, seed=seed)
        out["figures"] = [str(p) for p in paths]
    return out


def _more_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Table rows of the transfer and of the distances to the true reward."""
    rows = []
    if "target_env" in result:
        rows.extend(transfer_rows(result))
    for key in ("epic_to_true", "dard_to_true"):
        if key in result:
            value = result[key]
            name = key.split("_")[0].upper()
            rows.append(
                (f"{name} distance to the true reward", "n/a" if value is None else f"{value:.3f}")
            )
    return rows


def print_table(result: dict[str, Any], reopt_steps: int, title: str) -> None:
    """The evaluation as a markdown table on stdout."""
    rows = [
        ("recovered policy return", f"{result['return_mean']:.1f} ± {result['return_std']:.1f}"),
        ("recovered policy, expert-normalised", format_score(result["normalized_return"])),
    ]
    if result.get("reoptimized_return_mean") is not None and "target_env" not in result:
        rows.append(
            (
                f"re-optimised {result.get('reoptimized_algo', 'sac').upper()} "
                f"({f'{reopt_steps} steps' if reopt_steps else 'exact plan'}), normalised",
                format_score(result.get("reoptimized_normalized_return")),
            )
        )
        last = result.get(f"reoptimized_normalized_return_last{LAST_N}_mean")
        if last is not None:  # beside the final evaluation: one evaluation is noisy
            rows.append((f"  the same, mean of the last {LAST_N} evaluations", f"{last:.3f}"))
    for k in ("expert", "random", "pooled"):
        if f"pearson_{k}" in result:
            rows.append(
                (
                    f"reward correlation, {k} (Pearson / Spearman)",
                    f"{result[f'pearson_{k}']:.3f} / {result[f'spearman_{k}']:.3f}"
                    if np.isfinite(result[f"pearson_{k}"])
                    else "n/a (a constant reward)",
                )
            )
    if "learned_return_demos" in result:
        rows.append(
            (
                "learned return per episode, held-out demos / policy",
                f"{result['learned_return_demos']:.1f} / {result['learned_return_policy']:.1f}",
            )
        )
    if result.get("learned_reward_absorbing_step") is not None:
        rows.append(
            (
                "learned reward per step, held-out demo step / absorbing step",
                f"{result['learned_reward_demo_step']:.3f} / "
                f"{result['learned_reward_absorbing_step']:.3f}",
            )
        )
    if result.get("termination_floor") is not None:
        rows.append(
            (
                "termination priced at no less than (demo ceiling)",
                f"{result['termination_floor']:.3f} per absorbing step",
            )
        )
    rows.extend(_more_rows(result))
    width = max(len(r[0]) for r in rows)
    print(f"\n{result['algo']}/{result['sampler']} on {title}")
    print(f"| {'metric'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")


def evaluate_run(cfg: DictConfig) -> dict[str, Any]:
    """All three evaluations of ``cfg.run_dir``; prints a table and writes ``eval.json``."""
    validate_eval_config(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    torch.set_num_threads(int(cfg.torch_threads))
    os.environ.setdefault("MUJOCO_GL", "egl")
    start = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    run = load_run(run_dir)
    if run.reward is not None and cfg.get("termination_price", "demos") == "learned":
        run.reward.termination_floor = None  # c_abs as the training loop paid it
    import_env_module(run.env_module)  # the run's own env.module, if its env needs one
    rets = evaluate(
        run.env_id, run.policy, int(cfg.episodes), run_eval_seed(int(cfg.seed)), run.env_kwargs
    )
    result: dict[str, Any] = {
        "env": run.env_id,
        "algo": run.artifacts["algo"],
        "sampler": run.artifacts["sampler"],
        "seed": int(run.config["seed"]),
        "n_demos": len(run.demos.train),
        "env_steps": run.artifacts["env_steps"],
        # The training run's overrides: what tells ablation variants of one cell apart.
        "overrides": _train_overrides(run_dir),
        **_train_defaults(run_dir),
        "cost_state_only": bool((run.config.get("cost") or {}).get("state_only", False)),
        "return_mean": float(rets.mean()),
        "return_std": float(rets.std()),
        "normalized_return": normalized_score(float(rets.mean()), run.demos.meta),
        "eval_episodes": int(cfg.episodes),
        "reoptimized_normalized_return": None,
        # The floor of a termination's price in the reward evaluated (irl.reward; null: none).
        "termination_floor": None if run.reward is None else run.reward.termination_floor,
    }
    target = _target(cfg, run)
    if target is not None:
        result.update(_transfer(run, cfg, run_dir, target))
    eval_dir = run_dir  # where eval.json goes: the control's own folder when it ran
    if run.cost is not None:
        if target is None and _wants_reopt(cfg):
            # Hydra reads reopt_reward=true as a boolean.
            reward = str(cfg.get("reopt_reward", "learned")).lower()
            out_dir = reopt_dir(run_dir, reward)
            out_dir.mkdir(exist_ok=True)
            result.update(_reoptimize(run, cfg, out_dir, reward))
            eval_dir = out_dir
        result.update(_reward_scores(run, cfg, run_dir))
    print_table(result, _reopt_budget(cfg), f"{run.env_id}, seed {result['seed']} ({run_dir})")
    result["wall_clock_s"] = time.perf_counter() - start  # this call's, all evaluations
    result.setdefault("steps_per_s", None)
    # Strict JSON: an undefined correlation (constant reward) is null, not NaN.
    result = {
        k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in result.items()
    }
    (eval_dir / "eval.json").write_text(json.dumps(result, indent=1, allow_nan=False))
    if cfg.record.path:
        key = f"irl-eval:{run_dir.resolve()}:{cfg.reopt_steps}:{cfg.reopt_reward}:{cfg.seed}"
        if cfg.reopt_algo != "sac":  # records before other optimisers keep their keys
            key += f":{cfg.reopt_algo}"
        if result.get("reoptimized_shaping") is False:  # ... and those before the option
            key += ":unshaped"
        if result["termination_floor"] is not None and cfg.reopt_reward == "learned":
            key += ":termination-floor"  # ... and those before the floor
        if result.get("reoptimized_normalize_reward"):  # ... and those before the option
            key += ":normalized-reward"
        append_record(
            cfg.record.path,
            {"suite": cfg.record.suite or ("transfer" if target else "eval"), **result},
            command=command_line("irl-eval"),
            commit=LOADED_COMMIT,
            # A transfer is its own record: one per run, target and seed.
            key=key if target is None else f"{key}:{target}",
        )
    return result


@hydra.main(config_path=CONF_DIR, config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point of ``irl-eval``."""
    if cfg.run_dir is None:
        raise SystemExit(
            "irl-eval: give the run to evaluate, e.g. irl-eval run_dir=outputs/train/…"
        )
    try:
        evaluate_run(cfg)
    except (RunDirError, CheckpointError, DemoFileError, ConfigError) as exc:
        raise SystemExit(f"irl-eval: {exc}") from None


if __name__ == "__main__":
    main()
