"""A run directory as an object: ``irl.train`` makes one, ``irl.load_run`` opens one.

A finished ``irl-train`` run directory is self-contained: ``config.yaml`` (the resolved config),
``artifacts.json`` (spaces, horizon, the demo file's absolute path and SHA-256, the training
demos' indices), ``cost.safetensors`` and ``policy.safetensors``. :func:`load_run` reads them
without pickle and without building the sampler's environments.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from safetensors.torch import load_file, save_file

from irl.demos import (
    DemoFileError,
    describe_space,
    eligible_episodes,
    load_demos_with_metadata,
)
from irl.discriminators import Discriminator
from irl.reward import LearnedReward, termination_floor
from irl.types import Trajectory

__all__ = ["Policy", "Run", "RunDirError", "load_run", "save_artifacts", "train"]

ARTIFACTS = "artifacts.json"


class RunDirError(ValueError):
    """A run directory that cannot be loaded; the message names the directory and problem."""


def box_from_description(desc: Mapping[str, Any]) -> spaces.Box:
    """The gymnasium Box that :func:`irl.demos.describe_space` described."""
    low = np.array([-np.inf if v is None else v for v in desc["low"]], dtype=np.float64)
    high = np.array([np.inf if v is None else v for v in desc["high"]], dtype=np.float64)
    shape = tuple(int(s) for s in desc["shape"])
    dtype = np.dtype(str(desc.get("dtype", "float32")))
    low, high = low.astype(dtype), high.astype(dtype)  # as recorded: no precision warning
    return spaces.Box(low.reshape(shape), high.reshape(shape), shape, dtype)


@dataclass
class Policy:
    """The recovered policy: ``policy(obs) -> action`` (deterministic), batched or single.

    Attributes:
        sb3: the SB3 policy module (``predict``, ``state_dict``, …).
    """

    sb3: Any

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action(s) for observation(s)."""
        return self.sb3.predict(np.asarray(obs), deterministic=True)[0]


@dataclass
class Run:
    """A trained run: its learned reward, recovered policy, cost module and result.

    Attributes:
        dir: the run directory.
        config: the resolved ``irl-train`` config (plain dict).
        artifacts: ``artifacts.json``.
        reward: the learned reward (:class:`irl.reward.LearnedReward`): call it on batched numpy
            ``(obs, acts, next_obs, terminated)``.
        policy: the recovered policy (:class:`Policy`).
        cost: the cost model (torch module, float64).
        result: ``result.json`` (final score, budget, speed, curve).
    """

    dir: Path
    config: dict[str, Any]
    artifacts: dict[str, Any]
    reward: LearnedReward | None
    policy: Policy
    cost: Discriminator | None
    result: dict[str, Any] = field(default_factory=dict)

    _demos: DemoSplit | None = field(default=None, repr=False)

    @property
    def env_id(self) -> str:
        """The task the run learned from."""
        return str(self.artifacts["env_id"])

    @property
    def env_module(self) -> str | None:
        """The module the run imported to register its env (``env.module``), or ``None``.

        `load_run` never imports it; `make_env` does, through `import_env_module`.
        """
        module = (self.config.get("env") or {}).get("module")
        return str(module) if module else None

    def make_env(self, **overrides: Any) -> Any:
        """The run's task as a fresh gymnasium env (its ``env.module`` imported first)."""
        from irl_envs import import_env_module, make_env

        import_env_module(self.env_module)
        return make_env(self.env_id, **{**self.env_kwargs, **overrides})

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """``make_env`` keyword arguments of the task as evaluated."""
        return dict(self.artifacts.get("env_kwargs") or {})

    @property
    def horizon(self) -> int:
        """The task's episode length."""
        return int(self.artifacts["horizon"])

    @property
    def learned_reward(self) -> LearnedReward:
        """The learned reward (a clear error for a run that learned none, e.g. BC)."""
        if self.reward is None:
            raise RunDirError(
                f"{self.dir}: a {self.artifacts.get('algo')} run has no learned reward"
            )
        return self.reward

    @property
    def demos(self) -> DemoSplit:
        """The run's training and held-out demos and the demo file's metadata, read from the
        recorded demo file after checking that it is the one the run trained on."""
        if self._demos is None:
            self._demos = _load_demo_split(self)
        return self._demos


@dataclass(frozen=True)
class DemoSplit:
    """A run's demos: ``train`` (the ones it learned from), ``heldout`` (the rest), ``meta``."""

    train: list[Trajectory]
    heldout: list[Trajectory]
    meta: dict[str, Any]


def _load_demo_split(run: Run) -> DemoSplit:
    from irl.build import demo_episodes, file_digest

    path = Path(str(run.artifacts.get("demo_path", "")))
    if not path.is_file():
        raise RunDirError(
            f"{run.dir}: its demo file {path} is missing (moved or deleted); put it back there"
        )
    want = run.artifacts.get("demo_sha256")
    if want and file_digest(path) != want:
        raise RunDirError(
            f"{run.dir}: its demo file {path} changed since training (SHA-256 differs)"
        )
    demos, meta = load_demos_with_metadata(path, env_id=run.env_id)
    idx = [int(i) for i in run.artifacts["demo_indices"]]
    chosen = set(idx)
    pool = eligible_episodes(demos, demo_episodes(run.config))
    held = [demos[i] for i in pool if i not in chosen]
    return DemoSplit([demos[i] for i in idx], held, meta)


def train(overrides: Sequence[str] | None = None, run_dir: str | Path | None = None) -> Run:
    """Train as ``irl-train <overrides>`` does (same config, same run directory) and load it.

    Args:
        overrides: Hydra overrides, e.g. ``["env=hopper", "seed=1"]``.
        run_dir: where to write (default: the config's ``hydra.run.dir`` pattern).
    """
    from irl.cli.train import compose_config, run_training

    cfg, default_dir = compose_config(list(overrides or []))
    out = Path(run_dir) if run_dir is not None else Path(default_dir)
    run_training(cfg, out, overrides=list(overrides or []))
    return load_run(out)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise RunDirError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object")
    return data


def _load_weights(path: Path, module: torch.nn.Module) -> None:
    try:
        module.load_state_dict(load_file(str(path)))
    except Exception as exc:
        raise RunDirError(
            f"{path}: cannot load weights ({exc.__class__.__name__}: {exc})"
        ) from None


def build_policy(artifacts: Mapping[str, Any]) -> Any:
    """The SB3 policy module of a run's sampler, built from the recorded spaces (no env)."""
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.sac.policies import SACPolicy

    obs_space = box_from_description(artifacts["observation_space"])
    act_space = box_from_description(artifacts["action_space"])
    net_arch = list(artifacts.get("net_arch") or [64, 64])
    if artifacts["sampler"] == "sac":
        return SACPolicy(obs_space, act_space, lambda _: 0.0, net_arch=net_arch)
    from irl.sb3_adapter import ObsNormExtractor, SquashedActorCriticPolicy

    cls: type = SquashedActorCriticPolicy if artifacts.get("squashed_ppo") else ActorCriticPolicy
    kwargs: dict[str, Any] = {"net_arch": {"pi": net_arch, "vf": net_arch}}
    if artifacts.get("obs_norm"):  # its statistics are buffers in policy.safetensors
        kwargs["features_extractor_class"] = ObsNormExtractor
    return cls(obs_space, act_space, lambda _: 0.0, **kwargs)


def load_run(run_dir: str | Path) -> Run:
    """Open a finished ``irl-train`` run directory from any working directory.

    Builds the cost model and the recovered policy from the saved weights; never builds the
    sampler's environments. Raises :class:`RunDirError` naming the file for a missing or bad one.
    """
    from irl.build import build_cost, build_reward, read_run_config

    d = Path(run_dir).expanduser().resolve()
    if not d.is_dir():
        raise RunDirError(f"{d}: not a directory")
    for name in ("config.yaml", "policy.safetensors", ARTIFACTS):
        if not (d / name).is_file():
            raise RunDirError(f"{d}: missing {name} (not a finished irl-train run?)")
    cfg = read_run_config(d, RunDirError)
    art = _read_json(d / ARTIFACTS)
    try:
        policy_module = build_policy(art)
        obs_dim, act_dim = int(art["obs_dim"]), int(art["act_dim"])
        horizon = int(art["horizon"])
        act_space = box_from_description(art["action_space"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunDirError(f"{d / ARTIFACTS}: invalid ({exc.__class__.__name__}: {exc})") from None
    _load_weights(d / "policy.safetensors", policy_module)
    policy_module.set_training_mode(False)
    cost = reward = None
    if art.get("algo") != "bc":
        cost = build_cost(cfg, obs_dim, act_dim)
        _load_weights(d / "cost.safetensors", cost)
        reward = build_reward(cfg, cost, horizon, act_space)
    result = _read_json(d / "result.json") if (d / "result.json").is_file() else {}
    run = Run(d, cfg, art, reward, Policy(policy_module), cost, result)
    if reward is not None and cost is not None and cost.absorbing:
        reward.termination_floor = _saved_termination_floor(run)
    return run


def _saved_termination_floor(run: Run) -> float | None:
    """The run's termination floor: from ``artifacts.json``, or (runs trained before it was
    saved) `irl.reward.termination_floor` of its training demos; None, with a warning, when
    neither is available (the reward then pays c_abs as learned)."""
    if "termination_floor" in run.artifacts:
        saved = run.artifacts["termination_floor"]
        if saved is None:  # saved when training had no demos to take it from
            return None
        if (
            isinstance(saved, bool)
            or not isinstance(saved, (int, float))
            or not math.isfinite(saved)
        ):
            raise RunDirError(f"{run.dir / ARTIFACTS}: invalid termination_floor {saved!r}")
        return float(saved)
    assert run.reward is not None
    try:
        return termination_floor(run.reward, run.demos.train)
    except (RunDirError, DemoFileError) as exc:
        warnings.warn(
            f"{run.dir}: no termination floor saved and its demos cannot be read ({exc}); its "
            "reward prices a termination at the absorbing cost as learned",
            stacklevel=3,
        )
        return None


def save_artifacts(trainer: Any, cfg: Mapping[str, Any], demo_file: Path, digest: str) -> None:
    """Write the recovered policy, the cost and ``artifacts.json`` into the run directory."""
    run_dir: Path = trainer.run_dir
    sampler = trainer.sampler
    with sampler.recovered_policy() as model:
        pol = {k: v.detach().clone().contiguous() for k, v in model.policy.state_dict().items()}
    save_file(pol, str(run_dir / "policy.safetensors"))
    if trainer.cost is not None:
        cost = {k: v.detach().clone().contiguous() for k, v in trainer.cost.state_dict().items()}
        save_file(cost, str(run_dir / "cost.safetensors"))
    env = sampler.env
    s = trainer.s
    info = {
        "env_id": s.env_id,
        "env_kwargs": s.env_kwargs,
        "algo": s.algo,
        "sampler": sampler.kind,
        "net_arch": list(cfg["sampler"].get("net_arch") or [64, 64]),
        "squashed_ppo": bool(sampler.squashed and sampler.kind == "ppo"),
        "obs_norm": bool(cfg["sampler"].get("obs_norm", False)),
        "observation_space": describe_space(env.observation_space),
        "action_space": describe_space(env.action_space),
        "obs_dim": int(env.observation_space.shape[0]),
        "act_dim": int(env.action_space.shape[0]),
        "horizon": int(sampler.recorder.horizon),
        "demo_path": str(demo_file),
        "demo_sha256": digest,
        "demo_indices": [int(i) for i in trainer.demo_indices],
        "iteration": trainer.iteration,
        "env_steps": sampler.num_timesteps,
        "policy_ema": sampler.policy_ema,  # policy.safetensors holds this EMA when set
        # The floor of a termination's price in the reward load_run hands out (irl.reward).
        "termination_floor": _termination_floor(trainer.reward, trainer.store),
    }
    text = json.dumps(info, indent=1, allow_nan=False, default=_finite)
    (run_dir / ARTIFACTS).write_text(text)


def _termination_floor(reward: LearnedReward | None, store: Any) -> float | None:
    """`irl.reward.termination_floor` of the training demos in ``store`` (None: no learned
    reward)."""
    if reward is None or store is None or not store.demos:
        return None
    return termination_floor(reward, store.demos)


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
