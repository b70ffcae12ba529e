"""``irl-record env=<task>``: record demonstrations from a saved expert actor or an SB3 model
(``policy=<model>.zip``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from irl.cli import CONF_DIR
from irl.cli.expert import command_line
from irl.demo_catalog import update_demos_readme
from irl.paths import demo_stem, demo_write_dir
from irl.rollouts import record, record_demos
from irl_envs import import_env_module


def run(cfg: DictConfig) -> None:
    """Record ``n_trajectories`` deterministic expert episodes into ``cfg.out``."""
    torch.set_num_threads(1)
    raw = OmegaConf.to_container(cfg.env.kwargs, resolve=True) or {}
    assert isinstance(raw, dict)
    kwargs: dict[str, Any] = {str(k): v for k, v in raw.items()}
    import_env_module(cfg.env.get("module"))
    demo_dir = demo_write_dir()
    out = cfg.out or demo_dir / f"{demo_stem(cfg.env.id)}.npz"
    expert = cfg.expert or demo_dir / f"{demo_stem(cfg.env.id)}.actor"
    if cfg.get("policy"):
        meta = record(
            str(cfg.policy),
            cfg.env.id,
            int(cfg.n_trajectories),
            out,
            seed=int(cfg.seed),
            env_kwargs=kwargs,
            max_episode_steps=cfg.env.max_episode_steps,
            random_episodes=int(cfg.random_episodes),
            command=command_line("irl-record"),
        )
    else:
        meta = record_demos(
            expert_stem=expert,
            out_path=out,
            env_id=cfg.env.id,
            n_trajectories=int(cfg.n_trajectories),
            seed=int(cfg.seed),
            command=command_line("irl-record"),
            kwargs=kwargs,
            max_episode_steps=cfg.env.max_episode_steps,
            random_episodes=int(cfg.random_episodes),
            extra_metadata={"target_return": cfg.env.expert.target_return},
        )
    if cfg.update_readme:
        update_demos_readme(Path(out).parent)
    print(
        f"[{cfg.env.id}] {out}: {meta['n_trajectories']} trajectories, return "
        f"{meta['expert_return_mean']:.1f} ± {meta['expert_return_std']:.1f} "
        f"(random {meta['random_return_mean']:.1f})"
    )


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="record")
def main(cfg: DictConfig) -> None:
    """Entry point of ``irl-record``."""
    run(cfg)


if __name__ == "__main__":
    main()
