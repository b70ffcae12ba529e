"""The `imitation` library's AIRL or GAIL on our shipped demos (the peer side of side_by_side.py).

Runs inside imitation's own virtual environment (gymnasium 0.29, SB3 2.2; see
benchmarks/imitation_venv.sh), so it imports nothing from `irl`. Gymnasium 0.29 has no v5 MuJoCo
tasks; it trains on the v4 task after checking that it *is* the demos' v5 task: the demo file's
first episodes are replayed action by action from the same reset seeds and every observation and
reward must match (v4 and v5 share the model XML and the dynamics; they differ in bookkeeping such
as Hopper-v5 not paying the healthy reward on the step that terminates). Scoring is left to our
side, which evaluates the exported policy on the real v5 task.

Writes to --out: policy.safetensors + policy.json (the deterministic actor, as plain tensors) and
train.json (env steps, wall-clock, steps/s, hyperparameters, versions, parity check); with
--snapshot-every N also snapshots/<env steps>.safetensors + .json, the actor at the end of the
first round at or past each multiple of N env steps, and their training wall-clock (exports left
out) in train.json's "snapshots", for our side to evaluate as irl-train evaluates during training.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# imitation's tuned MuJoCo settings (benchmarking/example_{airl,gail}_seals_<task>_best_hp_eval.json
# in the imitation repository), used as published except the rollout size, which is rounded so the
# env-step budget is met exactly (see rollout_steps_per_env).
HYPERPARAMS: dict[tuple[str, str], dict[str, Any]] = {
    ("airl", "Hopper"): {
        "algo": {
            "demo_batch_size": 2048,
            "gen_replay_buffer_capacity": 8192,
            "n_disc_updates_per_round": 16,
        },
        "rollout": 8192,
        "ppo": {
            "batch_size": 512,
            "clip_range": 0.1,
            "ent_coef": 0.009709494745755033,
            "gae_lambda": 0.98,
            "gamma": 0.995,
            "learning_rate": 0.0005807211840258373,
            "max_grad_norm": 0.9,
            "n_epochs": 20,
            "vf_coef": 0.20315938606555833,
        },
        "policy": "mlp64_relu",
    },
    ("gail", "Hopper"): {
        "algo": {
            "demo_batch_size": 128,
            "gen_replay_buffer_capacity": 4096,
            "n_disc_updates_per_round": 8,
        },
        "rollout": 4096,
        "ppo": {
            "batch_size": 512,
            "clip_range": 0.1,
            "ent_coef": 0.001255299425412744,
            "gae_lambda": 0.98,
            "gamma": 0.995,
            "learning_rate": 4.3984856156897565e-5,
            "max_grad_norm": 0.9,
            "n_epochs": 20,
            "vf_coef": 0.20315938606555833,
        },
        "policy": "mlp64_relu",
    },
    ("airl", "HalfCheetah"): {
        "algo": {
            "demo_batch_size": 2048,
            "gen_replay_buffer_capacity": 512,
            "n_disc_updates_per_round": 16,
        },
        "rollout": 8192,
        "ppo": {
            "batch_size": 64,
            "clip_range": 0.1,
            "ent_coef": 0.0005544771755195421,
            "gae_lambda": 0.95,
            "gamma": 0.95,
            "learning_rate": 0.00047248619386801587,
            "max_grad_norm": 0.8,
            "n_epochs": 5,
            "vf_coef": 0.11483689492120866,
        },
        "policy": "ff32",
    },
    ("gail", "HalfCheetah"): {
        "algo": {
            "demo_batch_size": 8192,
            "gen_replay_buffer_capacity": 512,
            "n_disc_updates_per_round": 8,
        },
        "rollout": 4096,
        "ppo": {
            "batch_size": 64,
            "clip_range": 0.1,
            "ent_coef": 3.992371122209408e-6,
            "gae_lambda": 0.95,
            "gamma": 0.95,
            "learning_rate": 0.00026250519057717037,
            "max_grad_norm": 0.8,
            "n_epochs": 5,
            "vf_coef": 0.11483689492120866,
        },
        "policy": "ff32",
    },
    ("airl", "Walker2d"): {
        "algo": {
            "demo_batch_size": 512,
            "gen_replay_buffer_capacity": 16384,
            "n_disc_updates_per_round": 16,
        },
        "rollout": 16384,
        "ppo": {
            "batch_size": 128,
            "clip_range": 0.4,
            "ent_coef": 0.002003867232707145,
            "gae_lambda": 0.92,
            "gamma": 0.98,
            "learning_rate": 3.052170958603811e-5,
            "max_grad_norm": 0.6,
            "n_epochs": 20,
            "vf_coef": 0.6167177795726859,
        },
        "policy": "mlp64_relu",
    },
    ("gail", "Walker2d"): {
        "algo": {
            "demo_batch_size": 512,
            "gen_replay_buffer_capacity": 16384,
            "n_disc_updates_per_round": 16,
        },
        "rollout": 16384,
        "ppo": {
            "batch_size": 128,
            "clip_range": 0.4,
            "ent_coef": 0.0007566389899529574,
            "gae_lambda": 0.92,
            "gamma": 0.98,
            "learning_rate": 1.943992487657563e-5,
            "max_grad_norm": 0.6,
            "n_epochs": 20,
            "vf_coef": 0.6167177795726859,
        },
        "policy": "mlp64_relu",
    },
    ("airl", "Ant"): {
        "algo": {
            "demo_batch_size": 8192,
            "gen_replay_buffer_capacity": 8192,
            "n_disc_updates_per_round": 16,
        },
        "rollout": 8192,
        "ppo": {
            "batch_size": 16,
            "clip_range": 0.3,
            "ent_coef": 3.27750078482474e-6,
            "gae_lambda": 0.8,
            "gamma": 0.995,
            "learning_rate": 3.249429831179079e-5,
            "max_grad_norm": 0.9,
            "n_epochs": 10,
            "vf_coef": 0.4351450387648799,
        },
        "policy": "ff32",
    },
    ("gail", "Ant"): {
        "algo": {
            "demo_batch_size": 32,
            "gen_replay_buffer_capacity": 16384,
            "n_disc_updates_per_round": 8,
        },
        "rollout": 16384,
        "ppo": {
            "batch_size": 16,
            "clip_range": 0.3,
            "ent_coef": 0.008871887607426377,
            "gae_lambda": 0.8,
            "gamma": 0.995,
            "learning_rate": 2.428297806883194e-5,
            "max_grad_norm": 0.9,
            "n_epochs": 10,
            "vf_coef": 0.4351450387648799,
        },
        "policy": "ff32",
    },
}
N_ENVS = 8  # imitation's default number of vectorised environments


def rollout_steps_per_env(budget: int, target_rollout: int, n_envs: int = N_ENVS) -> int:
    """Per-env PPO rollout length whose rounds add up to exactly ``budget`` env steps, the one
    closest (in ratio) to the tuned rollout size; imitation trains whole rounds only."""
    best = None
    for rounds in range(1, budget + 1):
        if budget % rounds or (budget // rounds) % n_envs:
            continue
        size = budget // rounds
        score = abs(math.log(size / target_rollout))
        if best is None or score < best[0]:
            best = (score, size)
    if best is None:
        raise SystemExit(
            f"imitation_peer: no rollout size divides {budget} steps into {n_envs} envs"
        )
    return best[1] // n_envs


def load_demo_file(path: Path) -> tuple[dict[str, Any], list[dict[str, np.ndarray]]]:
    """Episodes (obs incl. final, acts, rews, terminated) and metadata of a demos/*.npz file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # any failure of an untrusted file is reported as such
        raise SystemExit(f"imitation_peer: cannot read demo file {path}: {exc}") from None
    meta = json.loads(str(arrays["metadata"]))
    episodes, start = [], 0
    for i, n in enumerate(arrays["episode_lengths"].tolist()):
        stop = start + n
        episodes.append(
            {
                "obs": np.concatenate(
                    [arrays["observations"][start:stop], arrays["final_observations"][i : i + 1]]
                ),
                "acts": arrays["actions"][start:stop],
                "rews": arrays["rewards"][start:stop],
                "terminated": bool(arrays["terminated"][stop - 1]),
            }
        )
        start = stop
    return meta, episodes


def v4_kwargs(task: str, v5_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The v4 task's kwargs for the demos' v5 kwargs. Ant-v5's ``include_cfrc_ext_in_observation``
    is v4's ``use_contact_forces`` (v4 leaves the contact forces out by default)."""
    kw = dict(v5_kwargs)
    if task == "Ant" and "include_cfrc_ext_in_observation" in kw:
        kw["use_contact_forces"] = bool(kw.pop("include_cfrc_ext_in_observation"))
    return kw


def make_v4(env_id: str, v5_kwargs: dict[str, Any]) -> Any:
    """gymnasium 0.29's v4 task with the v5 task's model: Walker2d-v5 gives the right foot the
    left foot's friction (1.9 for both; v4's right foot has 0.9), which is set here in the
    compiled model. check_parity then verifies, step by step, that the result replays the v5
    demos."""
    import gymnasium as gym

    task = env_id.split("-v")[0]
    env = gym.make(env_id, **v4_kwargs(task, v5_kwargs))
    if task == "Walker2d":
        model = env.unwrapped.model
        left = model.geom("foot_left_geom").id
        right = model.geom("foot_geom").id
        model.geom_friction[right] = model.geom_friction[left]
    return env


# v5 rewards that v4 computes differently, so that only the observations can be compared: Ant-v5
# always charges the contact cost, Ant-v4 only with use_contact_forces.
REWARD_PARITY_EXEMPT = {"Ant"}


def check_parity(
    env_id: str, meta: dict[str, Any], episodes: list[dict[str, np.ndarray]], n_check: int = 2
) -> dict[str, float]:
    """Replay demo episodes in this gymnasium's ``env_id``; fail unless obs and rewards match."""

    env = make_v4(env_id, meta.get("env_kwargs", {}))
    obs_err = rew_err = 0.0
    for i in range(n_check):
        ep = episodes[i]
        ob, _ = env.reset(seed=int(meta["seed"]) + i)
        obs_err = max(obs_err, float(np.abs(ob - ep["obs"][0]).max()))
        for t, act in enumerate(ep["acts"]):
            ob, rew, terminated, truncated, _ = env.step(act)
            obs_err = max(obs_err, float(np.abs(ob - ep["obs"][t + 1]).max()))
            last = t == len(ep["acts"]) - 1
            if not (last and terminated):  # v5 pays no healthy reward on the terminating step
                rew_err = max(rew_err, float(abs(rew - ep["rews"][t])))
            if (terminated or truncated) != last:
                raise SystemExit(
                    f"imitation_peer: {env_id} ends demo episode {i} at step {t}, "
                    f"the demos' {meta['env_id']} at step {len(ep['acts']) - 1}"
                )
    env.close()
    # float32 storage of observations: agreement to ~1e-6 means the same dynamics.
    rewards_compared = env_id.split("-v")[0] not in REWARD_PARITY_EXEMPT
    if obs_err > 1e-4 or (rewards_compared and rew_err > 1e-3):
        raise SystemExit(
            f"imitation_peer: {env_id} does not reproduce {meta['env_id']} demos "
            f"(max |obs diff| {obs_err:.2e}, max |reward diff| {rew_err:.2e})"
        )
    return {
        "episodes": n_check,
        "max_obs_abs_diff": obs_err,
        "max_reward_abs_diff": rew_err,
        "rewards_compared": rewards_compared,
    }


def export_policy(model: Any, out: Path, obs: np.ndarray, stem: str = "policy") -> dict[str, Any]:
    """Save the deterministic actor as plain tensors (``<stem>.safetensors`` + ``<stem>.json``)
    and check the copy acts the same."""
    import torch
    from safetensors.torch import save_file

    policy = model.policy
    norm = policy.features_extractor.normalize
    tensors = {
        "obs_mean": norm.running_mean.detach().clone().float(),
        "obs_var": norm.running_var.detach().clone().float(),
    }
    layers, activation = [], None
    for module in [*policy.mlp_extractor.policy_net, policy.action_net]:
        if isinstance(module, torch.nn.Linear):
            tensors[f"layer{len(layers)}.weight"] = module.weight.detach().clone().float()
            tensors[f"layer{len(layers)}.bias"] = module.bias.detach().clone().float()
            layers.append(module.out_features)
        else:
            activation = type(module).__name__.lower()
    spec = {
        "format_version": 1,
        "n_layers": len(layers),
        "activation": activation,
        "obs_eps": float(norm.eps),
        "action_low": model.action_space.low.tolist(),
        "action_high": model.action_space.high.tolist(),
    }
    save_file(tensors, str(out / f"{stem}.safetensors"))
    (out / f"{stem}.json").write_text(json.dumps(spec, indent=1))
    # The exported forward (numpy, as our side runs it) against SB3's own deterministic predict.
    ref, _ = model.predict(obs, deterministic=True)
    mine = actor_forward({k: v.numpy() for k, v in tensors.items()}, spec, obs)
    err = float(np.abs(ref - mine).max())
    if err > 1e-4:
        raise SystemExit(f"imitation_peer: exported policy differs from SB3's predict by {err:.2e}")
    return {"export_max_abs_diff": err, **spec}


def actor_forward(
    tensors: dict[str, np.ndarray], spec: dict[str, Any], obs: np.ndarray
) -> np.ndarray:
    """Deterministic action of an exported actor (same code as benchmarks/side_by_side.py)."""
    act = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh}[spec["activation"]]
    x = (obs - tensors["obs_mean"]) / np.sqrt(tensors["obs_var"] + spec["obs_eps"])
    for i in range(spec["n_layers"]):
        x = x @ tensors[f"layer{i}.weight"].T + tensors[f"layer{i}.bias"]
        if i < spec["n_layers"] - 1:
            x = act(x)
    return np.clip(x, spec["action_low"], spec["action_high"])


def main() -> None:
    """Train imitation's AIRL or GAIL on the given demos and export the policy."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demos", type=Path, required=True)
    parser.add_argument("--algo", choices=["airl", "gail"], required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--demo-indices", required=True, help="comma-separated training episodes")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--snapshot-every", type=int, default=0, help="env steps between snapshots (0: none)"
    )
    args = parser.parse_args()

    import gymnasium as gym
    import imitation
    import stable_baselines3
    import torch
    from imitation.algorithms.adversarial.airl import AIRL
    from imitation.algorithms.adversarial.gail import GAIL
    from imitation.data.types import Trajectory
    from imitation.policies.base import FeedForward32Policy, NormalizeFeaturesExtractor
    from imitation.rewards.reward_nets import (
        BasicRewardNet,
        BasicShapedRewardNet,
        NormalizedRewardNet,
    )
    from imitation.util import logger as imitation_logger
    from imitation.util.networks import RunningNorm
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    meta, episodes = load_demo_file(args.demos)
    v5 = meta["env_id"]
    task = v5.split("-v")[0]
    env_id = f"{task}-v4"
    hp = HYPERPARAMS.get((args.algo, task))
    if hp is None:
        raise SystemExit(f"imitation_peer: no imitation hyperparameters for {args.algo} on {task}")
    parity = check_parity(env_id, meta, episodes)

    indices = [int(i) for i in args.demo_indices.split(",")]
    demos = [
        Trajectory(
            obs=episodes[i]["obs"],
            acts=episodes[i]["acts"],
            infos=None,
            terminal=episodes[i]["terminated"],
        )
        for i in indices
    ]
    env_kwargs = meta.get("env_kwargs", {})
    venv = DummyVecEnv([lambda: make_v4(env_id, env_kwargs) for _ in range(N_ENVS)])
    venv.seed(args.seed)
    n_steps = rollout_steps_per_env(args.steps, hp["rollout"])
    if hp["policy"] == "ff32":
        policy_cls, policy_kwargs = FeedForward32Policy, {}
    else:
        policy_cls = "MlpPolicy"
        policy_kwargs = {
            "activation_fn": torch.nn.ReLU,
            "net_arch": {"pi": [64, 64], "vf": [64, 64]},
        }
    policy_kwargs.update(
        features_extractor_class=NormalizeFeaturesExtractor,
        features_extractor_kwargs={"normalize_class": RunningNorm},
    )
    learner = PPO(
        policy_cls,
        venv,
        n_steps=n_steps,
        seed=args.seed,
        policy_kwargs=policy_kwargs,
        device="cpu",
        verbose=0,
        **hp["ppo"],
    )
    net_cls = BasicShapedRewardNet if args.algo == "airl" else BasicRewardNet
    reward_net = NormalizedRewardNet(
        net_cls(venv.observation_space, venv.action_space, normalize_input_layer=RunningNorm),
        RunningNorm,
    )
    trainer_cls = AIRL if args.algo == "airl" else GAIL
    trainer = trainer_cls(
        demonstrations=demos,
        venv=venv,
        gen_algo=learner,
        reward_net=reward_net,
        allow_variable_horizon=True,
        custom_logger=imitation_logger.configure(str(args.out), ["csv"]),
        **hp["algo"],
    )
    probe_obs = np.concatenate([d.obs for d in demos[:2]])
    snapshots: list[dict[str, Any]] = []
    paused = 0.0  # seconds spent exporting snapshots, left out of the training wall-clock

    def snapshot(_round: int) -> None:
        nonlocal paused
        steps_now = int(learner.num_timesteps)
        last = snapshots[-1]["env_steps"] if snapshots else 0
        if (
            args.snapshot_every <= 0
            or steps_now // args.snapshot_every <= last // args.snapshot_every
        ):
            return
        t = time.perf_counter()
        (args.out / "snapshots").mkdir(exist_ok=True)
        export_policy(learner, args.out / "snapshots", probe_obs, f"{steps_now:09d}")
        snapshots.append({"env_steps": steps_now, "wall_clock_s": t - start - paused})
        paused += time.perf_counter() - t

    start = time.perf_counter()
    trainer.train(args.steps, callback=snapshot)
    wall = time.perf_counter() - start - paused
    steps = int(learner.num_timesteps)
    export = export_policy(learner, args.out, probe_obs)
    result = {
        "env": v5,
        "trained_on": env_id,
        "algo": f"imitation_{args.algo}",
        "sampler": "ppo",
        "seed": args.seed,
        "n_demos": len(demos),
        "demo_indices": indices,
        "env_steps": steps,
        "wall_clock_s": wall,
        "steps_per_s": steps / wall,
        "n_envs": N_ENVS,
        "ppo_n_steps": n_steps,
        "hyperparameters": hp,
        "parity": parity,
        "export": export,
        "snapshot_every": args.snapshot_every,
        "snapshots": snapshots,
        "versions": {
            "imitation": imitation.__version__,
            "gymnasium": gym.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "mujoco": __import__("mujoco").__version__,
            "python": sys.version.split()[0],
        },
    }
    (args.out / "train.json").write_text(json.dumps(result, indent=1))
    print(
        f"[{v5} via {env_id}] imitation {args.algo} seed {args.seed}: {steps} env steps in "
        f"{wall:.0f} s ({steps / wall:.0f} steps/s)"
    )


if __name__ == "__main__":
    main()
