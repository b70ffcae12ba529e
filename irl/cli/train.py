"""``irl-train``: learn a cost from shipped demos in MuJoCo (GAN-GCL, GCL, AIRL, GAIL, BC).

Writes into its Hydra run directory: ``config.yaml`` (resolved), ``progress.csv`` and TensorBoard
events (SB3 logger), ``checkpoint/`` (resumable, pickle-free), ``cost.safetensors``,
``policy.safetensors``, ``artifacts.json``, ``result.json``, ``learning_curve.png`` and
``policy.mp4``. Rerunning with the same ``hydra.run.dir`` resumes from the checkpoint. From
Python: ``irl.train(overrides)``.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, cast

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from irl.build import build_trainer, file_digest
from irl.checkpoint import CheckpointError
from irl.cli import CONF_DIR
from irl.cli.expert import command_line
from irl.demos import DemoFileError
from irl.records import ERA_ADDITIONS, append_record, git_commit
from irl.run import save_artifacts
from irl.seeding import video_seed
from irl.trainer import Trainer, TrainingDiverged
from irl.validate import ConfigError

LOADED_COMMIT = git_commit()


def defaults_era(cfg: DictConfig) -> str:
    """Which defaults a run ran under, for the records: "recipe" (the defaults since the
    redesign), plus "+companion" where the task's env config turns the companion sampler from
    scratch on (``env.companion``), "+rank" where it sets the ranking loss on the cost
    (``env.cost_rank_loss`` > 0), "+torque" where it turns GCL's torque term on
    (``env.cost_torque_term``) and "+wu" where it sets that term's initial weight w_u
    (``env.cost_torque_init``, else 0.1). It reads the task's defaults, not the run's overrides
    (those the record lists itself)."""
    env = cfg["env"]
    on = {
        "companion": bool(env.get("companion", False)),
        "rank": float(env.get("cost_rank_loss") or 0.0) > 0,
        "torque": bool(env.get("cost_torque_term", False)),
        "wu": env.get("cost_torque_init") is not None,
    }
    return "+".join(["recipe", *(a for a in ERA_ADDITIONS if on[a])])


def plot_learning_curve(history: list[dict[str, float]], path: Path, title: str) -> None:
    """Eval/rollout return, discriminator ESS and accuracy against env steps, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    steps = np.array([h.get("time/env_steps", np.nan) for h in history])

    def series(key: str) -> tuple[np.ndarray, np.ndarray]:
        ys = np.array([h.get(key, np.nan) for h in history], dtype=float)
        ok = np.isfinite(ys)
        return steps[ok], ys[ok]

    for key, label in (
        ("rollout/normalized_return", "rollouts (stochastic)"),
        ("eval/normalized_return", "eval (deterministic)"),
    ):
        x, y = series(key)
        axes[0].plot(x, y, marker="." if "eval" in key else None, label=label)
    axes[0].set(xlabel="env steps", ylabel="expert-normalised return", title=title)
    axes[0].legend(fontsize=8)
    x, y = series("disc/ess_frac")
    axes[1].plot(x, y)
    axes[1].axhline(0.05, color="r", lw=0.8, ls="--")
    axes[1].set(xlabel="env steps", ylabel="ESS / M", yscale="log", title="importance weights")
    x, y = series("disc/accuracy")
    axes[2].plot(x, y)
    axes[2].set(xlabel="env steps", ylabel="accuracy", ylim=(0, 1), title="discriminator")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# Overrides that do not change what a run learns (bookkeeping, progress, its video): left out
# of its recorded overrides.
NOT_TASK_OVERRIDES = ("record.", "hydra.", "progress_bar", "video.")


def task_overrides() -> list[str]:
    """The command-line overrides of this run, without record/hydra/progress keys."""
    try:
        from hydra.core.hydra_config import HydraConfig

        task = list(HydraConfig.get().overrides.task)
    except ValueError:  # not inside a Hydra app (e.g. a test calling run())
        return []
    return [o for o in task if not o.startswith(NOT_TASK_OVERRIDES)]


def write_policy_video(
    env_id: str,
    env_kwargs: dict[str, Any],
    predict: Any,
    path: Path,
    max_steps: int,
    width: int,
    height: int,
    seed: int,
) -> int:
    """An mp4 of one episode of ``predict(obs) -> action`` (offscreen rendering); frame count.

    Envs whose constructor takes no ``width``/``height`` render at their own size."""
    import imageio.v2 as imageio

    from irl_envs import make_env

    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        env = make_env(env_id, render_mode="rgb_array", width=width, height=height, **env_kwargs)
    except TypeError:
        env = make_env(env_id, render_mode="rgb_array", **env_kwargs)
    try:
        obs, _ = env.reset(seed=seed)
        frames = [env.render()]
        for _ in range(max_steps):
            obs, _, term, trunc, _ = env.step(predict(obs))
            frames.append(env.render())
            if term or trunc:
                break
        fps = int(env.metadata.get("render_fps", 30))
    finally:
        env.close()
    if not frames or frames[0] is None:
        raise RuntimeError(f"{env_id} rendered no frames")
    imageio.mimwrite(path, [np.asarray(f) for f in frames], fps=fps, macro_block_size=1)
    return len(frames)


def record_video(trainer: Trainer, path: Path, max_steps: int, width: int, height: int) -> int:
    """An mp4 of the deterministic recovered policy; a video that cannot be rendered is a
    warning (the run's results are already written), never a lost run. Frame count (0: none)."""
    try:
        with trainer.sampler.recovered_policy() as model:
            return write_policy_video(
                trainer.s.env_id,
                trainer.s.env_kwargs,
                lambda obs: model.predict(obs, deterministic=True)[0],
                path,
                max_steps,
                width,
                height,
                video_seed(trainer.s.seed),
            )
    except Exception as exc:  # rendering back-ends fail in many ways; the run must not
        warnings.warn(f"irl-train: no video ({exc.__class__.__name__}: {exc})", stacklevel=2)
        return 0


def compose_config(overrides: list[str]) -> tuple[DictConfig, str]:
    """``irl-train``'s config for ``overrides`` and its default run directory (no Hydra app)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    run_dir = str(cfg.hydra.run.dir)
    with_hydra = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(with_hydra, dict)
    with_hydra.pop("hydra", None)
    return OmegaConf.create(with_hydra), run_dir


def run_training(
    cfg: DictConfig, run_dir: str | Path, overrides: list[str] | None = None
) -> dict[str, Any]:
    """Train, then write the artefacts, plots, video and (optionally) the benchmark record.

    ``overrides`` (default: the Hydra command line's, :func:`task_overrides`) are recorded in
    ``result.json`` and the record, where they tell a run's variant apart.
    """
    run_dir = Path(run_dir)
    if overrides is None:
        overrides = task_overrides()
    overrides = [o for o in overrides if not o.startswith(NOT_TASK_OVERRIDES)]
    container = cast("dict[str, Any]", OmegaConf.to_container(cfg, resolve=True))
    trainer = build_trainer(container, run_dir, resume=bool(cfg.resume))  # validates first
    assert trainer.demo_file is not None
    digest = file_digest(trainer.demo_file)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    try:
        result = trainer.train(progress=bool(cfg.progress_bar), resume=bool(cfg.resume))
    except TrainingDiverged as exc:
        if cfg.record.path:
            append_record(
                cfg.record.path,
                {
                    "suite": cfg.record.suite or "train",
                    "env": trainer.s.env_id,
                    "algo": trainer.s.algo,
                    "sampler": trainer.sampler.kind,
                    "seed": trainer.s.seed,
                    "status": "diverged",
                    "message": str(exc),
                    "iterations": trainer.iteration,
                    "env_steps": trainer.sampler.num_timesteps,
                    "overrides": overrides,
                },
                command=command_line("irl-train"),
                commit=LOADED_COMMIT,
                key=f"irl-train-diverged:{run_dir.resolve()}:{trainer.iteration}",
            )
        raise
    save_artifacts(trainer, container, trainer.demo_file, digest)
    result["overrides"] = overrides  # what irl-eval's records tell variants apart by
    result["defaults"] = defaults_era(cfg)  # the defaults it ran under (the train record's too)
    (run_dir / "result.json").write_text(json.dumps(result, indent=1))
    title = f"{result['algo']} / {result['sampler']} on {result['env']}"
    if trainer.history:
        plot_learning_curve(trainer.history, run_dir / "learning_curve.png", title)
    if cfg.video.enabled:
        v = cfg.video
        record_video(trainer, run_dir / "policy.mp4", int(v.max_steps), int(v.width), int(v.height))
    if cfg.record.path:
        result = append_record(
            cfg.record.path,
            {
                "suite": cfg.record.suite or "train",
                **result,
                # Runs of the redesigned defaults (the measured recipe), told apart from records
                # whose defaults were the plain sampler (and, on the tasks whose default it is,
                # from runs before the companion from scratch was: see defaults_era).
                "defaults": defaults_era(cfg),
                "reoptimized_normalized_return": None,
                "overrides": overrides,
            },
            command=command_line("irl-train"),
            commit=LOADED_COMMIT,
            # A rerun of a finished run (it resumes to the same end) adds no second record.
            key=f"irl-train:{run_dir.resolve()}:{result['env_steps']}",
        )
    print(
        f"[{result['env']}] {result['algo']}/{result['sampler']} seed {result['seed']}: "
        f"return {result['return_mean']:.1f} ± {result['return_std']:.1f} "
        f"(normalised {format_score(result['normalized_return'])}) after "
        f"{result['env_steps']} env steps, {result['wall_clock_s']:.0f} s"
    )
    (run_dir / "result.json").write_text(json.dumps(result, indent=1))
    return result


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    """Hydra entry point of ``irl-train``; returns the final expert-normalised return (what a
    Hydra sweeper such as Optuna maximises)."""
    try:
        result = run_training(cfg, HydraConfig.get().runtime.output_dir)
    except (DemoFileError, CheckpointError, ConfigError, FileNotFoundError) as exc:
        raise SystemExit(f"irl-train: {exc}") from None
    except TrainingDiverged as exc:
        print(f"irl-train: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
    score = result["normalized_return"]
    return float("nan") if score is None else float(score)


def format_score(score: float | None) -> str:
    """A normalised score for people: three decimals, or why there is none."""
    return "unavailable: the demos carry no rewards" if score is None else f"{score:.3f}"


if __name__ == "__main__":
    main()
