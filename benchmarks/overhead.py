"""IRL loop overhead: wall-clock per env step of an irl-train loop ÷ the plain SB3 sampler.

Both run in this one process, at identical sampler settings (same env wrappers, n_envs, rollout
length, batch sizes, gradient steps per env step, one torch thread), alternating plain and IRL
runs ``--repeats`` times so that load from other jobs hits both alike. The plain sampler learns
the true reward with ``model.learn``; the IRL run is the Trainer's loop without evaluations or
checkpoints. One JSON line per run goes to ``benchmarks/results/overhead.jsonl`` (suite
``overhead``), the ratio in each IRL record (``overhead_ratio``).

    python benchmarks/overhead.py --env hopper --sampler ppo --algo gan_gcl --steps 20000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from irl.build import build_trainer
from irl.cli import CONF_DIR
from irl.records import append_record, git_commit
from irl_envs import make_env

RESULTS = Path(__file__).resolve().parent / "results" / "overhead.jsonl"
# Sampler keys of the IRL loop, not of SB3 (the plain learner has no learned reward to use them).
LOOP_KEYS = ("cost_action", "normalize_reward", "policy_ema", "obs_norm", "companion")


def compose_cfg(overrides: list[str]) -> dict[str, Any]:
    """The irl-train config for ``overrides``, as a plain dict."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose("train", overrides=overrides)
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out  # type: ignore[return-value]


def plain_sampler(cfg: dict[str, Any]) -> Any:
    """The SB3 sampler of ``cfg`` as a plain RL learner on the true reward."""
    s = {k: v for k, v in cfg["sampler"].items() if k not in LOOP_KEYS}
    n_envs, steps = int(s.pop("n_envs")), int(s.pop("steps_per_env"))
    gps = float(s.pop("gradient_steps_per_env_step", 1.0))
    s.pop("name")
    net_arch = list(s.pop("net_arch"))
    env_id, kwargs = cfg["env"]["id"], dict(cfg["env"].get("kwargs") or {})
    env = DummyVecEnv([lambda: Monitor(make_env(env_id, **kwargs))] * n_envs)
    seed = int(cfg["seed"])
    if cfg["sampler"]["name"] == "ppo":
        return PPO(
            "MlpPolicy",
            env,
            n_steps=steps,
            ent_coef=0.0,
            seed=seed,
            device="cpu",
            policy_kwargs={"net_arch": {"pi": net_arch, "vf": net_arch}},
            **s,
        )
    return SAC(
        "MlpPolicy",
        env,
        train_freq=(steps, "step"),
        gradient_steps=max(1, round(steps * n_envs * gps)),
        learning_starts=0,
        ent_coef=float(cfg["algo"].get("alpha", 1.0)),
        seed=seed,
        device="cpu",
        policy_kwargs={"net_arch": net_arch},
        **s,
    )


def main() -> None:
    """Run the side-by-side timing and append the records."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="hopper", help="conf/env name")
    ap.add_argument("--sampler", default="ppo", choices=["ppo", "sac"])
    ap.add_argument("--algo", default="gan_gcl", help="conf/algo name (not bc)")
    ap.add_argument("--steps", type=int, default=20000, help="env steps per timed run")
    ap.add_argument("--repeats", type=int, default=2, help="alternating plain/IRL pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("overrides", nargs="*", help="extra irl-train overrides (key=value)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("MUJOCO_GL", "egl")
    commit = git_commit()
    command = " ".join(["python", "benchmarks/overhead.py", *sys.argv[1:]])
    cfg = compose_cfg(
        [
            f"env={args.env}",
            f"algo={args.algo}",
            f"sampler={args.sampler}",
            f"seed={args.seed}",
            f"total_env_steps={args.steps}",
            "eval.every_iters=1000000",
            "checkpoint_every_iters=1000000",
            *args.overrides,
        ]
    )
    common = {
        "suite": "overhead",
        "env": cfg["env"]["id"],
        "sampler": args.sampler,
        "seed": args.seed,
        "n_demos": int(cfg["n_demos"]),
        "return_mean": None,
        "normalized_return": None,
        "reoptimized_normalized_return": None,
    }
    for rep in range(args.repeats):
        model = plain_sampler(cfg)
        t0 = time.perf_counter()
        model.learn(total_timesteps=args.steps, progress_bar=False)
        plain_s = time.perf_counter() - t0
        plain_steps = int(model.num_timesteps)
        append_record(
            args.out,
            {
                **common,
                "algo": f"sb3_{args.sampler}",
                "repeat": rep,
                "env_steps": plain_steps,
                "wall_clock_s": plain_s,
                "steps_per_s": plain_steps / plain_s,
            },
            command=command,
            commit=commit,
        )
        run_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"irl-overhead-{os.getpid()}-{rep}"
        trainer = build_trainer(cfg, run_dir, log=False)
        history = []
        t0 = time.perf_counter()
        while trainer.iteration < trainer.s.n_iters:
            history.append(trainer.iterate())
        irl_s = time.perf_counter() - t0
        irl_steps = trainer.sampler.num_timesteps
        ratio = (irl_s / irl_steps) / (plain_s / plain_steps)
        rec = append_record(
            args.out,
            {
                **common,
                "algo": args.algo,
                "repeat": rep,
                "env_steps": irl_steps,
                "wall_clock_s": irl_s,
                "steps_per_s": irl_steps / irl_s,
                "plain_steps_per_s": plain_steps / plain_s,
                "overhead_ratio": ratio,
                "time_split_s": {
                    k: float(np.sum([h.get(f"time/{k}", 0.0) for h in history]))
                    for k in ("collect_s", "disc_s", "sampler_train_s")
                },
            },
            command=command,
            commit=commit,
        )
        print(
            f"[{rec['env']} {args.sampler}] plain {plain_steps / plain_s:.0f} steps/s, "
            f"{args.algo} {irl_steps / irl_s:.0f} steps/s: overhead ratio {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
