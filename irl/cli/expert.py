"""``irl-expert env=<task>``: train a SAC expert, ship its actor pickle-free, record demos."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from irl.actor import actor_paths
from irl.cli import CONF_DIR
from irl.demo_catalog import update_demos_readme
from irl.experts import train_sac
from irl.paths import demo_stem, demo_write_dir
from irl.rollouts import record_demos
from irl_envs import import_env_module


def command_line(program: str) -> str:
    """The command that reproduces this Hydra run (program name plus its overrides)."""
    try:
        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:  # not inside a Hydra app
        overrides = sys.argv[1:]
    return " ".join([program, *overrides])


def run(cfg: DictConfig) -> None:
    """Train (or resume) the expert, then record and ship the demos."""
    torch.set_num_threads(1)
    command = command_line("irl-expert")
    import_env_module(cfg.env.get("module"))
    env = cfg.env
    kwargs = OmegaConf.to_container(env.kwargs, resolve=True) or {}
    sac_kwargs = OmegaConf.to_container(env.expert.sac, resolve=True) or {}
    assert isinstance(kwargs, dict) and isinstance(sac_kwargs, dict)
    record = train_sac(
        env_id=env.id,
        run_dir=cfg.run_dir,
        total_steps=int(cfg.total_steps),
        seed=int(cfg.seed),
        sac_kwargs={str(k): v for k, v in sac_kwargs.items()},
        kwargs={str(k): v for k, v in kwargs.items()},
        max_episode_steps=env.max_episode_steps,
        eval_every=int(cfg.eval_every),
        eval_episodes=int(cfg.eval_episodes),
        checkpoint_every=int(cfg.checkpoint_every),
        max_wall_clock_s=cfg.max_wall_clock_s,
        stop_at_return=cfg.stop_at_return,
        resume=bool(cfg.resume),
        command=command,
        portable_checkpoint=cfg.portable_checkpoint,
        refill_steps=int(cfg.refill_steps),
    )
    print(
        f"[{env.id}] trained {record['steps']} steps in {record['wall_clock_s']:.0f} s "
        f"({record['stop_reason']}); best eval {record['best_eval_return']} "
        f"at step {record['best_eval_step']}"
    )
    if not cfg.record:
        return
    demos_dir = demo_write_dir(cfg.demos_dir)
    stem = demos_dir / f"{demo_stem(env.id)}.actor"
    for src, dst in zip(
        actor_paths(Path(cfg.run_dir) / "best_actor"), actor_paths(stem), strict=True
    ):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    # The shipped actor records the whole run too (its own step count is the best evaluation's).
    spec_file = actor_paths(stem)[1]
    spec = json.loads(spec_file.read_text())
    spec["info"].setdefault("training", {}).update(
        run_steps=record["steps"],
        run_wall_clock_s=round(record["wall_clock_s"], 1),
        best_eval_return=record["best_eval_return"],
        stop_reason=record["stop_reason"],
    )
    spec_file.write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")
    meta = record_demos(
        expert_stem=stem,
        out_path=demos_dir / f"{demo_stem(env.id)}.npz",
        env_id=env.id,
        n_trajectories=int(cfg.n_trajectories),
        seed=int(cfg.seed),
        command=command,
        kwargs={str(k): v for k, v in kwargs.items()},
        max_episode_steps=env.max_episode_steps,
        random_episodes=int(cfg.random_episodes),
        extra_metadata={"target_return": env.expert.target_return},
    )
    update_demos_readme(demos_dir)
    print(
        f"[{env.id}] demos: {meta['n_trajectories']} trajectories, return "
        f"{meta['expert_return_mean']:.1f} ± {meta['expert_return_std']:.1f} "
        f"(random {meta['random_return_mean']:.1f}, target {env.expert.target_return})"
    )


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="expert")
def main(cfg: DictConfig) -> None:
    """Entry point of ``irl-expert``."""
    run(cfg)


if __name__ == "__main__":
    main()
