"""``irl-record env=<task>``: record demonstrations from a saved expert actor."""

from __future__ import annotations

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from irl.cli import CONF_DIR
from irl.cli.expert import command_line
from irl.demo_catalog import update_demos_readme
from irl.rollouts import record_demos


def run(cfg: DictConfig) -> None:
    """Record ``n_trajectories`` deterministic expert episodes into ``cfg.out``."""
    torch.set_num_threads(1)
    kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True) or {}
    assert isinstance(kwargs, dict)
    meta = record_demos(
        expert_stem=cfg.expert,
        out_path=cfg.out,
        env_id=cfg.env.id,
        n_trajectories=int(cfg.n_trajectories),
        seed=int(cfg.seed),
        command=command_line("irl-record"),
        kwargs={str(k): v for k, v in kwargs.items()},
        max_episode_steps=cfg.env.max_episode_steps,
        random_episodes=int(cfg.random_episodes),
        extra_metadata={"target_return": cfg.env.expert.target_return},
    )
    if cfg.update_readme:
        from pathlib import Path

        update_demos_readme(Path(cfg.out).parent)
    print(
        f"[{cfg.env.id}] {cfg.out}: {meta['n_trajectories']} trajectories, return "
        f"{meta['expert_return_mean']:.1f} ± {meta['expert_return_std']:.1f} "
        f"(random {meta['random_return_mean']:.1f})"
    )


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="record")
def main(cfg: DictConfig) -> None:
    """Entry point of ``irl-record``."""
    run(cfg)


if __name__ == "__main__":
    main()
