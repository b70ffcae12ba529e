"""Rollouts of any policy: episodes, evaluation returns and validated demo files.

A policy here is any callable mapping one observation ``(obs_dim,)`` to one action
``(act_dim,)``; `irl.actor.ExpertPolicy` is one. Episode ``i`` of a call is reset with seed
``seed + i``, so every function is reproducible from its arguments.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from tqdm import tqdm

from irl.actor import actor_paths, load_expert
from irl.demos import describe_space, save_demos
from irl.types import Trajectory, returns
from irl_envs import env_kwargs, make_env


def rollout(
    env: gym.Env[Any, Any],
    policy: Callable[[np.ndarray], np.ndarray],
    n_episodes: int,
    seed: int,
    progress: bool = False,
) -> list[Trajectory]:
    """Run ``n_episodes`` episodes; episode i is reset with seed ``seed + i``."""
    trajectories = []
    env.action_space.seed(seed)
    for i in tqdm(range(n_episodes), desc="episodes", disable=not progress, leave=False):
        ob, _ = env.reset(seed=seed + i)
        obs, acts, rews, terms, truncs = [np.asarray(ob, dtype=np.float32)], [], [], [], []
        while True:
            action = np.asarray(policy(obs[-1]), dtype=np.float32)
            ob, rew, terminated, truncated, _ = env.step(action)
            obs.append(np.asarray(ob, dtype=np.float32))
            acts.append(action)
            rews.append(rew)
            terms.append(terminated)
            truncs.append(truncated)
            if terminated or truncated:
                break
        trajectories.append(
            Trajectory(
                obs=np.stack(obs),
                acts=np.stack(acts),
                rews=np.asarray(rews, dtype=np.float32),
                terminated=np.asarray(terms, dtype=bool),
                truncated=np.asarray(truncs, dtype=bool),
            )
        )
    return trajectories


def random_policy(env: gym.Env[Any, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """Uniformly random actions from the env's (seeded) action space."""
    return lambda _obs: np.asarray(env.action_space.sample(), dtype=np.float32)


def zero_policy(env: gym.Env[Any, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """The action nearest zero in the env's box, every step: doing nothing (an Ant stands,
    a maze particle stays put)."""
    space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"the zero action needs a Box action space, not {space}")
    act = np.clip(np.zeros(space.shape), space.low, space.high).astype(np.float32)
    return lambda _obs: act


def evaluate(
    env_id: str,
    policy: Callable[[np.ndarray], np.ndarray],
    n_episodes: int,
    seed: int,
    kwargs: Mapping[str, Any] | None = None,
    max_episode_steps: int | None = None,
) -> np.ndarray:
    """Undiscounted returns ``(n_episodes,)`` of ``policy`` on a fresh env (``make_env``)."""
    env = make_env(env_id, max_episode_steps=max_episode_steps, **dict(kwargs or {}))
    try:
        return returns(rollout(env, policy, n_episodes, seed))
    finally:
        env.close()


def record_demos(
    expert_stem: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    env_id: str,
    n_trajectories: int,
    seed: int,
    command: str,
    kwargs: Mapping[str, Any] | None = None,
    max_episode_steps: int | None = None,
    random_episodes: int = 50,
    extra_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Roll out a saved expert deterministically and write a validated demo file."""
    policy = load_expert(expert_stem)
    extra: dict[str, Any] = {
        "policy": "deterministic (tanh of the actor mean)",
        "expert_files": [p.name for p in actor_paths(expert_stem)],
    }
    if "training" in policy.spec.info:
        extra["training"] = policy.spec.info["training"]
    extra.update(dict(extra_metadata or {}))
    return record_policy_demos(
        lambda _env: policy,
        out_path,
        env_id,
        n_trajectories,
        seed,
        command,
        kwargs=kwargs,
        max_episode_steps=max_episode_steps,
        random_episodes=random_episodes,
        extra_metadata=extra,
    )


def env_metadata(
    env: gym.Env[Any, Any],
    env_id: str,
    kw: Mapping[str, Any],
    random_episodes: int,
    seed: int,
) -> dict[str, Any]:
    """A demo file's metadata about the env: id, kwargs, versions, spaces, and the return of a
    uniform-random policy over ``random_episodes`` episodes (seeds ``seed + 1_000_000 + i``,
    disjoint from the demos')."""
    random_rets = returns(rollout(env, random_policy(env), random_episodes, seed + 1_000_000))
    return {
        "env_id": env_id,
        "env_kwargs": dict(kw),
        "max_episode_steps": env.spec.max_episode_steps if env.spec else None,
        "gymnasium_version": gym.__version__,
        "mujoco_version": mujoco.__version__,
        "observation_space": describe_space(env.observation_space),
        "action_space": describe_space(env.action_space),
        "random_return_mean": float(random_rets.mean()),
        "random_return_std": float(random_rets.std()),
        "random_episodes": random_episodes,
        "seed": seed,
    }


def record_policy_demos(
    make_policy: Callable[[gym.Env[Any, Any]], Callable[[np.ndarray], np.ndarray]],
    out_path: str | os.PathLike[str],
    env_id: str,
    n_trajectories: int,
    seed: int,
    command: str,
    kwargs: Mapping[str, Any] | None = None,
    max_episode_steps: int | None = None,
    random_episodes: int = 50,
    extra_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a validated demo file of any policy (``make_policy(env)`` builds it)."""
    kw = env_kwargs(env_id, **dict(kwargs or {}))
    env = make_env(env_id, max_episode_steps=max_episode_steps, **kw)
    try:
        trajectories = rollout(env, make_policy(env), n_trajectories, seed, progress=True)
        meta = env_metadata(env, env_id, kw, random_episodes, seed)
        meta |= {
            "episode_seeds": f"reset(seed={seed} + i) for episode i",
            "policy": "custom",
            "command": command,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    finally:
        env.close()
    meta.update(dict(extra_metadata or {}))
    return save_demos(out_path, trajectories, meta)


SB3_ALGOS = ("PPO", "SAC", "TD3", "A2C", "DDPG")  # DDPG models load as TD3 (the same actor)


def _sb3_algo(module: str, data: Mapping[str, Any]) -> str | None:
    """The SB3 class that saved a model, from its policy's module and its saved attributes."""
    if module.startswith("stable_baselines3.sac."):
        return "SAC"
    if module.startswith("stable_baselines3.td3."):  # TD3 and DDPG (a TD3 special case)
        return "TD3"
    if module == "stable_baselines3.common.policies":  # ActorCriticPolicy: PPO or A2C
        return "PPO" if "clip_range" in data else "A2C"
    return None


def load_sb3_policy(path: str | os.PathLike[str]) -> Callable[[np.ndarray], np.ndarray]:
    """The deterministic policy of a Stable-Baselines3 model file (``.zip``).

    The algorithm is read from the zip's JSON ``data`` entry (no code runs for that); the model
    is then loaded by SB3 itself, which unpickles parts of the file: pass only files you trust.

    Raises:
        ValueError: the file is not an SB3 model zip, or of an algorithm not in ``SB3_ALGOS``.
    """
    import json
    import zipfile

    import stable_baselines3

    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("data")
            if info.file_size > 1 << 24:
                raise ValueError("its 'data' entry is over 16 MiB")
            data = json.loads(zf.read("data"))
        module = str(data["policy_class"]["__module__"])
    except (OSError, zipfile.BadZipFile, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: not a Stable-Baselines3 model zip ({e})") from e
    name = _sb3_algo(module, data)
    if name is None:
        raise ValueError(f"{path}: policy class from {module!r}, not one of {SB3_ALGOS}")
    model = getattr(stable_baselines3, name).load(path, device="cpu")
    return lambda obs: model.predict(obs, deterministic=True)[0]


def record(
    policy: Callable[[np.ndarray], np.ndarray] | str | os.PathLike[str],
    env_id: str,
    n_trajectories: int,
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    max_episode_steps: int | None = None,
    random_episodes: int = 50,
    command: str = "irl.demos.record",
) -> dict[str, Any]:
    """Record a demo file from any policy; return its metadata.

    ``policy`` is a callable ``obs -> action`` (one observation, one action), a path to a
    Stable-Baselines3 model ``.zip`` (loaded by SB3 and run deterministically; SB3 unpickles
    parts of the file, so only a file you trust), or the stem of one of the toolkit's actor
    files (``<stem>.safetensors`` + ``<stem>.json``, pickle-free). Episode ``i`` is reset with
    seed ``seed + i``; the random-policy return for normalised scores is measured too.
    """
    extra: dict[str, Any] = {}
    if isinstance(policy, (str, os.PathLike)):
        if os.fspath(policy).endswith(".zip"):
            act = load_sb3_policy(policy)
            extra["policy"] = f"SB3 model {os.path.basename(os.fspath(policy))} (deterministic)"
        else:
            return record_demos(
                policy, path, env_id, n_trajectories, seed, command, env_kwargs,
                max_episode_steps, random_episodes,
            )  # fmt: skip
    else:
        act = policy
        extra["policy"] = f"callable {getattr(policy, '__qualname__', type(policy).__name__)}"
    return record_policy_demos(
        lambda _env: act,
        path,
        env_id,
        n_trajectories,
        seed,
        command,
        kwargs=env_kwargs,
        max_episode_steps=max_episode_steps,
        random_episodes=random_episodes,
        extra_metadata=extra,
    )
