"""What does a re-optimised policy do? Run a saved PPO actor and split its true return.

`irl-eval` keeps the fresh optimiser's weights (``reopt_actor.safetensors``, in the run directory,
``reopt_control/`` or ``transfer/<target>/{learned,true}/``). This runs such a PPO actor
deterministically in an env and records, per episode mean: the true return and its parts (the
env's ``reward_*`` info entries, e.g. Ant's healthy bonus and control cost), the mean squared
action of each motor (clipped to the box, as the env is given it), the torso body's displacement
along x and its mean height (MuJoCo envs with a body named torso), and the episode length.
A reward that re-optimises to "stand still with every motor saturated" shows it here.

    python benchmarks/reopt_behaviour.py ACTOR [ACTOR ...] --env irl/DisabledAnt-v5 [--episodes 3]
    python benchmarks/reopt_behaviour.py RUN/reopt_actor.safetensors --env Ant-v5 \
        --env-kwargs '{"include_cfrc_ext_in_observation": false}'


One record per actor in ``benchmarks/results/reopt_behaviour.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from irl.records import append_record, git_commit
from irl_envs import make_env

OUT = Path(__file__).resolve().parent / "results" / "reopt_behaviour.jsonl"


def load_ppo_actor(path: Path, env: Any, net_arch: tuple[int, ...]) -> Any:
    """A SB3 PPO with ``path``'s policy weights (irl-eval's PPO re-optimisation layout)."""
    from stable_baselines3 import PPO

    arch = list(net_arch)
    model = PPO(
        "MlpPolicy", env, policy_kwargs={"net_arch": {"pi": arch, "vf": arch}}, device="cpu"
    )
    try:
        model.policy.load_state_dict(load_file(str(path)))
    except RuntimeError as err:  # missing / unexpected keys or shapes
        raise SystemExit(
            f"{path}: not a PPO actor of net_arch {arch} for {env.spec.id} ({err})"
        ) from None
    return model


def _torso(env: Any) -> np.ndarray | None:
    """The torso body's world position (a live view: it follows the simulation), None for an
    env without a MuJoCo body named torso."""
    data = getattr(env.unwrapped, "data", None)
    try:
        return data.body("torso").xpos if data is not None else None
    except KeyError:
        return None


def probe(
    path: Path,
    env_id: str,
    episodes: int,
    seed: int,
    net_arch: tuple[int, ...],
    env_kwargs: dict[str, Any] | None = None,
) -> dict:
    """The behaviour record of one actor (see the module doc)."""
    env = make_env(env_id, **(env_kwargs or {}))
    try:
        model = load_ppo_actor(path, env, net_arch)
        low, high = env.action_space.low, env.action_space.high
        rets, lengths, dxs, heights, parts, sq = [], [], [], [], [], []
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            torso = _torso(env)
            x0 = float(torso[0]) if torso is not None else None
            ret, z, acts, comp = 0.0, [], [], {}
            done = False
            while not done:
                act = np.clip(model.predict(obs, deterministic=True)[0], low, high)
                obs, r, term, trunc, info = env.step(act)
                ret += float(r)
                acts.append(act)
                for k, v in info.items():
                    if k.startswith("reward_"):
                        comp[k] = comp.get(k, 0.0) + float(v)
                if torso is not None:
                    z.append(float(torso[2]))
                done = term or trunc
            rets.append(ret)
            lengths.append(len(acts))
            sq.append(np.square(np.asarray(acts)).mean(0))
            parts.append(comp)
            if torso is not None:
                dxs.append(float(torso[0]) - x0)
                heights.append(float(np.mean(z)))
    finally:
        env.close()
    keys = sorted({k for c in parts for k in c})
    return {
        "actor": str(path),
        "env": env_id,
        "env_kwargs": env_kwargs or {},
        "true_return_mean": float(np.mean(rets)),
        "episode_length_mean": float(np.mean(lengths)),
        "reward_parts": {k: float(np.mean([c.get(k, 0.0) for c in parts])) for k in keys},
        "action_sq_mean_per_motor": [float(v) for v in np.mean(sq, axis=0)],
        "x_displacement_mean": float(np.mean(dxs)) if dxs else None,
        "torso_height_mean": float(np.mean(heights)) if heights else None,
    }


def main(argv: list[str] | None = None) -> None:
    """Probe each actor and append one record per actor."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("actors", nargs="+", type=Path)
    p.add_argument("--env", required=True, help="env id to run the actors in")
    p.add_argument(
        "--env-kwargs",
        default="{}",
        help="JSON env kwargs, e.g. '{\"include_cfrc_ext_in_observation\": false}' for Ant-v5",
    )
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--net-arch", default="256,256", help="irl-eval's reopt_net_arch")
    p.add_argument("--suite", default="reopt-behaviour")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("MUJOCO_GL", "egl")
    arch = tuple(int(w) for w in args.net_arch.split(","))
    try:
        kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as err:
        raise SystemExit(f"--env-kwargs is not JSON: {err}") from None
    if not isinstance(kwargs, dict):
        raise SystemExit("--env-kwargs must be a JSON object")
    commit = git_commit()
    command = " ".join(["python benchmarks/reopt_behaviour.py", *(argv or sys.argv[1:])])
    for path in args.actors:
        if not path.is_file():
            raise SystemExit(f"{path}: no such actor file")
        start = time.perf_counter()
        rec = probe(path, args.env, args.episodes, args.seed, arch, kwargs)
        rec.update(suite=args.suite, episodes=args.episodes, seed=args.seed)
        rec["wall_clock_s"] = time.perf_counter() - start
        append_record(args.out, rec, command=command, commit=commit)
        sq = " ".join(f"{v:.2f}" for v in rec["action_sq_mean_per_motor"])
        print(
            f"{path}: return {rec['true_return_mean']:.1f}, a² per motor [{sq}], "
            f"parts {rec['reward_parts']}"
        )


if __name__ == "__main__":
    main()
