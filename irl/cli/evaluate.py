"""``irl-eval run_dir=…``: score a finished ``irl-train`` run three ways and write ``eval.json``.

1. The recovered policy: deterministic true return over ``episodes`` seeded episodes and the
   expert-normalised score.
2. Re-optimisation: a fresh SB3 SAC trained on the learned reward alone (the true reward never
   reaches it), scored by the true reward.
3. Reward correlation: Pearson and Spearman correlation of the learned per-step reward −c_θ(x,u)
   with the true reward, on held-out expert transitions (demos the run did not train on) and on
   uniform-random-policy transitions.
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

from irl.checkpoint import CheckpointError
from irl.cli import CONF_DIR
from irl.cli.expert import command_line
from irl.cli.train import format_score
from irl.demos import DemoFileError, normalized_score
from irl.evaluation import learned_returns, reward_correlations
from irl.records import append_record, git_commit
from irl.reoptimize import REOPT_CHECKPOINT, reoptimize
from irl.rollouts import evaluate
from irl.run import Run, RunDirError, load_run
from irl.seeding import run_eval_seed
from irl.validate import ConfigError, validate_eval_config
from irl_envs import import_env_module

LOADED_COMMIT = git_commit()


def _train_overrides(run_dir: Path) -> list[str]:
    """The irl-train overrides recorded in the run's result.json ([] when absent)."""
    try:
        overrides = json.loads((run_dir / "result.json").read_text()).get("overrides", [])
    except (OSError, ValueError, RecursionError, AttributeError):
        return []
    return [str(o) for o in overrides] if isinstance(overrides, list) else []


def _reoptimize(run: Run, cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """``irl-eval``'s re-optimisation settings passed to :func:`irl.reoptimize.reoptimize`."""
    return reoptimize(
        run,
        int(cfg.reopt_steps),
        int(cfg.episodes),
        int(cfg.seed),
        cfg.reopt_ent_coef,
        bool(cfg.get("progress_bar", True)),
        tuple(cfg.get("reopt_net_arch", (256, 256))),
        run_dir / "reopt_curve.csv",
        cfg.get("reopt_tail_gamma", "sac"),
        # Hydra reads reopt_reward=true as a boolean.
        reward=str(cfg.get("reopt_reward", "learned")).lower(),
        save_dir=run_dir,
        video_steps=int(cfg.get("reopt_video_steps", 0)),
        checkpoint_dir=run_dir / REOPT_CHECKPOINT,
        checkpoint_every=int(cfg.get("reopt_checkpoint_every", 0)),
        resume=bool(cfg.get("reopt_resume", True)),
        algo=str(cfg.get("reopt_algo", "sac")),
    )


def print_table(result: dict[str, Any], reopt_steps: int, title: str) -> None:
    """The evaluation as a markdown table on stdout."""
    rows = [
        ("recovered policy return", f"{result['return_mean']:.1f} ± {result['return_std']:.1f}"),
        ("recovered policy, expert-normalised", format_score(result["normalized_return"])),
    ]
    if result.get("reoptimized_return_mean") is not None:
        rows.append(
            (
                f"re-optimised {result.get('reoptimized_algo', 'sac').upper()} "
                f"({reopt_steps} steps), normalised",
                format_score(result.get("reoptimized_normalized_return")),
            )
        )
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
        "return_mean": float(rets.mean()),
        "return_std": float(rets.std()),
        "normalized_return": normalized_score(float(rets.mean()), run.demos.meta),
        "eval_episodes": int(cfg.episodes),
        "reoptimized_normalized_return": None,
    }
    if run.cost is not None:
        if int(cfg.reopt_steps) > 0:
            result.update(_reoptimize(run, cfg, run_dir))
        result.update(reward_correlations(run, int(cfg.random_episodes), int(cfg.seed)))
        result.update(learned_returns(run, int(cfg.learned_return_episodes), int(cfg.seed)))
    print_table(result, int(cfg.reopt_steps), f"{run.env_id}, seed {result['seed']} ({run_dir})")
    result["wall_clock_s"] = time.perf_counter() - start  # this call's, all evaluations
    result.setdefault("steps_per_s", None)
    # Strict JSON: an undefined correlation (constant reward) is null, not NaN.
    result = {
        k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in result.items()
    }
    (run_dir / "eval.json").write_text(json.dumps(result, indent=1, allow_nan=False))
    if cfg.record.path:
        append_record(
            cfg.record.path,
            {"suite": cfg.record.suite or "eval", **result},
            command=command_line("irl-eval"),
            commit=LOADED_COMMIT,
            key=f"irl-eval:{run_dir.resolve()}:{cfg.reopt_steps}:{cfg.reopt_reward}:{cfg.seed}",
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
