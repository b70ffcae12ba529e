"""The sampler's ceiling: the IRL loop's own sampler, at its settings, on the true reward.

An IRL run cannot be expected to beat the optimiser it drives. This runs the sampler of an
``irl-train`` configuration (same SB3 algorithm, n_envs, rollout length, batch size, epochs,
learning rate, network, γ, λ, clipping; the reward divided by the running std of the discounted
returns when the config sets ``sampler.normalize_reward``, as VecNormalize does) on the task's
true reward, with no demos, no warm start and no learned cost, for the same env-step budget. It is
evaluated as ``irl-train`` evaluates (deterministic policy, ``eval.episodes`` episodes every
``eval.every_iters`` iterations from the same evaluation seeds, ``eval.final_episodes`` at the
end) and scored against the demo file's expert and random returns. Like the loop's recovered
policy, the evaluated policy is the EMA of the weights over updates when the config sets
``sampler.policy_ema`` (records carry ``policy_ema``; those without it evaluated PPO's own
weights). One JSON line per run goes to ``benchmarks/results/ceiling.jsonl`` (suite
``sampler-ceiling``); ``report_mujoco.py`` puts it beside GAN-GCL.

    python benchmarks/sampler_ceiling.py --env walker2d --seed 0 total_env_steps=1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import compose_cfg, plain_sampler

from irl.demos import load_metadata, normalized_score
from irl.paths import demo_file
from irl.records import append_record, git_commit
from irl.rollouts import evaluate
from irl.samplers.base import fold_weight_average, holding_weights
from irl.seeding import eval_seed

RESULTS = Path(__file__).resolve().parent / "results" / "ceiling.jsonl"


class Evaluations(BaseCallback):
    """Deterministic evaluations every ``every`` env steps, as irl-train's loop runs them."""

    def __init__(self, cfg: dict[str, Any], meta: dict[str, Any], every: int) -> None:
        super().__init__()
        self.cfg, self.meta, self.every = cfg, meta, every
        self.next_at = every
        self.evals: list[dict[str, float]] = []
        ema = cfg["sampler"].get("policy_ema")
        self.decay = None if ema is None else float(ema)
        self.ema: dict[str, torch.Tensor] | None = None
        self.updates = 0

    def _on_rollout_start(self) -> None:
        # SB3 trains between rollouts: fold each update into the weight average, as the loop's
        # sampler.update_recovered_policy does after every improve.
        if self.updates < self.model._n_updates:
            self.updates = self.model._n_updates
            self.fold()

    def _on_training_end(self) -> None:
        self._on_rollout_start()

    def fold(self) -> None:
        """The recovered policy's EMA, as the loop keeps it (first: a copy)."""
        if self.decay is not None:
            self.ema = fold_weight_average(self.ema, self.model.policy, self.decay)

    def obs_in(self, obs: Any) -> Any:
        """``obs`` as the policy sees it in training (VecNormalize's running statistics, which
        an evaluation reads without updating)."""
        env = self.model.get_env()
        return env.normalize_obs(obs) if isinstance(env, VecNormalize) and env.norm_obs else obs

    def score(self, episodes: int) -> dict[str, float]:
        """True return (mean, std) and expert-normalised score of the deterministic recovered
        policy (the EMA of the weights when ``sampler.policy_ema`` is set)."""
        env = self.cfg["env"]
        with holding_weights(self.model.policy, self.ema):
            rets = evaluate(
                env["id"],
                lambda obs: self.model.predict(self.obs_in(obs), deterministic=True)[0],
                episodes,
                eval_seed(int(self.cfg["seed"])),
                dict(env.get("kwargs") or {}),
            )
        mean = float(rets.mean())
        return {
            "return_mean": mean,
            "return_std": float(rets.std()),
            "normalized_return": normalized_score(mean, self.meta),
        }

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_at:
            self.next_at += self.every
            row = {"env_steps": int(self.num_timesteps), **self.score(self.cfg["eval"]["episodes"])}
            self.evals.append(row)
            print(f"  {row['env_steps']:>8d} steps: {row['normalized_return']:.2f}", flush=True)
        return True


def main() -> None:
    """Train the plain sampler on the true reward and append its record."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="hopper", help="conf/env name")
    ap.add_argument("--sampler", default="ppo", choices=["ppo", "sac"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--norm-obs",
        action="store_true",
        help="a candidate setting, not the sampler's: also normalise observations by their "
        "running mean and std (VecNormalize); recorded as norm_obs",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("overrides", nargs="*", help="extra irl-train overrides (key=value)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("MUJOCO_GL", "egl")
    commit = git_commit()
    command = " ".join(["python", "benchmarks/sampler_ceiling.py", *sys.argv[1:]])
    cfg = compose_cfg(
        [f"env={args.env}", f"sampler={args.sampler}", f"seed={args.seed}", *args.overrides]
    )
    meta = load_metadata(demo_file(cfg["env"]["id"]))
    s = cfg["sampler"]
    budget = int(cfg["total_env_steps"])
    per_iter = int(s["n_envs"]) * int(s["steps_per_env"])
    model = plain_sampler(cfg)
    norm_obs = bool(args.norm_obs or s.get("obs_norm"))  # the sampler's own, or the candidate
    if s.get("normalize_reward") or norm_obs:
        norm = VecNormalize(
            model.get_env(),
            norm_obs=norm_obs,
            norm_reward=bool(s.get("normalize_reward")),
            gamma=float(s["gamma"]),
        )
        model.set_env(norm)
    callback = Evaluations(cfg, meta, per_iter * int(cfg["eval"]["every_iters"]))
    t0 = time.perf_counter()
    model.learn(total_timesteps=budget, callback=callback, progress_bar=False)
    wall = time.perf_counter() - t0
    final = callback.score(int(cfg["eval"]["final_episodes"]))
    best = max(callback.evals, key=lambda e: e["normalized_return"], default=None)
    rec = append_record(
        args.out,
        {
            "suite": "sampler-ceiling",
            "env": cfg["env"]["id"],
            "algo": f"{args.sampler}_true_reward",
            "sampler": args.sampler,
            "seed": args.seed,
            "n_demos": 0,
            "env_steps": int(model.num_timesteps),
            "return_mean": final["return_mean"],
            "return_std": final["return_std"],
            "normalized_return": final["normalized_return"],
            "reoptimized_normalized_return": None,
            "best_normalized_return": None if best is None else best["normalized_return"],
            "evals": callback.evals,
            "normalize_reward": bool(s.get("normalize_reward")),
            "norm_obs": norm_obs,
            "policy_ema": callback.decay,
            "overrides": list(args.overrides),
            "wall_clock_s": wall,
            "steps_per_s": model.num_timesteps / wall,
        },
        command=command,
        commit=commit,
    )
    print(
        f"[{rec['env']} {args.sampler} on the true reward, seed {args.seed}] "
        f"{rec['env_steps']} steps: normalised return {rec['normalized_return']:.2f} "
        f"({wall:.0f} s)"
    )


if __name__ == "__main__":
    main()
