"""Config → objects: the only library module that reads an ``irl-train`` config.

:func:`build_trainer` turns the resolved config (a plain mapping) into typed parts — demos, the
sampler, the cost model and its optimiser, the episode store, the learned reward — and composes
them into a :class:`irl.trainer.Trainer`. :func:`build_cost` alone rebuilds a run's cost model
(``irl.load_run`` uses it without building any environment).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.logger import Logger, configure
from stable_baselines3.common.monitor import Monitor

from irl.buffer import EpisodeStore
from irl.checkpoint import recover_checkpoint
from irl.coverage import CoverageSet, random_episodes
from irl.demos import load_demos_with_metadata, select_demos
from irl.discriminators import Discriminator
from irl.nn import TORQUE_WEIGHT_INIT
from irl.paths import demo_file
from irl.reward import LearnedReward
from irl.samplers import Sampler, make_sampler
from irl.seeding import companion_seed, coverage_seed, seed_everything
from irl.trainer import CHECKPOINT, LoopSettings, Trainer
from irl.types import Trajectory
from irl.validate import ConfigError, validate_train_config
from irl_envs import import_env_module, make_env

__all__ = [
    "HELDOUT_DIAGNOSTIC_DEMOS",
    "build_cost",
    "build_reward",
    "build_trainer",
    "config_digest",
    "demo_episodes",
    "demo_path",
    "env_kwargs",
    "file_digest",
]

HELDOUT_DIAGNOSTIC_DEMOS = 8  # held-out demos scored each iteration for disc/heldout_*
DIGEST_KEYS = ("env", "algo", "sampler", "cost", "experimental", "seed", "n_demos")


def demo_episodes(cfg: Mapping[str, Any]) -> str:
    """Which of the demo file's episodes a config trains on (``demo_episodes``; "all" when the
    key is absent, as in run directories written before it existed)."""
    return str(cfg.get("demo_episodes") or "all")


def config_digest(cfg: Mapping[str, Any]) -> str:
    """What a checkpoint must match to be resumed (task, algorithm, sampler, cost, seed, demos).

    ``demo_episodes`` joins the digest only when it is not "all" (``sampler.obs_norm`` only when
    it is on, ``sampler.companion``, ``experimental.coverage_episodes`` and ``scratch_sampler``
    only when on), so that checkpoints written before the key existed still resume."""
    keys = {k: cfg.get(k) for k in DIGEST_KEYS}
    x = cfg.get("experimental")
    if x is not None:  # likewise the experimental keys added later, only when on
        off = {"coverage_episodes", "scratch_sampler"} - {k for k, v in x.items() if v}
        keys["experimental"] = {k: v for k, v in x.items() if k not in off}
    off = {k for k in ("obs_norm", "companion") if not cfg["sampler"].get(k, False)}
    if off:  # likewise sampler.obs_norm and sampler.companion, only when on
        keys["sampler"] = {k: v for k, v in cfg["sampler"].items() if k not in off}
    if demo_episodes(cfg) != "all":
        keys["demo_episodes"] = demo_episodes(cfg)
    return json.dumps(keys, sort_keys=True, default=str)


def coverage_episodes(cfg: Mapping[str, Any]) -> int:
    """How many uniformly random episodes join the sampler mixture (`irl.coverage`; 0: none)."""
    return int((cfg.get("experimental") or {}).get("coverage_episodes", 0))


def build_coverage(cfg: Mapping[str, Any]) -> CoverageSet | None:
    """The run's coverage episodes (seeded by `irl.seeding.coverage_seed`), or None."""
    n = coverage_episodes(cfg)
    if n <= 0 or str(cfg["algo"]["name"]) == "bc":
        return None
    seed = coverage_seed(int(cfg["seed"]))
    return random_episodes(str(cfg["env"]["id"]), env_kwargs(cfg), n, seed)


def has_companion(cfg: Mapping[str, Any]) -> bool:
    """Whether the run trains a companion sampler from scratch: ``sampler.companion`` (per task,
    from the env config), or its older name ``experimental.scratch_sampler``."""
    legacy = (cfg.get("experimental") or {}).get("scratch_sampler", False)
    return bool(cfg["sampler"].get("companion", False) or legacy)


def build_companion(cfg: Mapping[str, Any], task: TaskInfo, run_dir: Path) -> Sampler | None:
    """The companion (`has_companion`): a second sampler of the run's kind, seeded apart
    (`irl.seeding.companion_seed`) and never behaviour-cloned, or None when off."""
    if not has_companion(cfg):
        return None
    own = {**cfg, "seed": companion_seed(int(cfg["seed"]))}
    return build_sampler_of(own, task, run_dir, log=False, resume=False)


def env_kwargs(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``make_env`` keyword arguments of the evaluation task (as registered)."""
    kwargs = dict(cfg["env"].get("kwargs") or {})
    if cfg["env"].get("max_episode_steps"):
        kwargs["max_episode_steps"] = int(cfg["env"]["max_episode_steps"])
    return kwargs


def demo_path(cfg: Mapping[str, Any]) -> Path:
    """The demo file a config names: ``demo_path``, else `irl.paths.demo_file` of the env id in
    ``demo_dir`` (null: ``$IRL_DEMO_DIR``, ``./demos``, the checkout's ``demos/``), the same
    place ``irl-expert`` and ``irl-record`` write to.

    Raises:
        FileNotFoundError: no such file; the message lists where it looked.
    """
    if cfg.get("demo_path"):
        return Path(str(cfg["demo_path"])).expanduser().resolve()
    return demo_file(str(cfg["env"]["id"]), cfg.get("demo_dir") or None).resolve()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (a run records its demo file's)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_cost(cfg: Mapping[str, Any], obs_dim: int, act_dim: int) -> Discriminator:
    """The cost model of a config (float64), freshly initialised."""
    a, c, x = cfg["algo"], cfg["cost"], cfg.get("experimental") or {}
    return Discriminator(
        str(a["name"]),
        obs_dim,
        act_dim,
        hidden=tuple(c["hidden"]),
        use_h=bool(a.get("use_h", False)),
        gamma=float(a.get("gamma", 1.0)),
        absorbing=bool(cfg["env"].get("absorbing", True)),
        normalize_inputs=bool(c.get("normalize_inputs", True)),
        lambda_lcr=float(x.get("lambda_lcr", 0.0)),
        lambda_mono=float(x.get("lambda_mono", 0.0)),
        mono_margin=float(x.get("mono_margin", 1.0)),
        weight_decay_l2=float(c.get("l2", 0.0)),
        state_only=bool(c.get("state_only", False)),
        grad_penalty=float(x.get("grad_penalty", 0.0)),
        absorbing_floor=a.get("absorbing_floor") is not None,
        torque_term=bool(c.get("torque_term", False)),
        torque_init=float(c.get("torque_init", TORQUE_WEIGHT_INIT)),
        rank_loss=float(x.get("rank_loss") or c.get("rank_loss", 0.0)),
    ).double()


def build_reward(
    cfg: Mapping[str, Any], cost: Discriminator, horizon: int, space: gym.spaces.Box
) -> LearnedReward:
    """The learned reward of a config's cost model."""
    clip = cfg["sampler"]["name"] == "ppo" and cfg["sampler"].get("cost_action") == "executed"
    return LearnedReward(
        cost=cost,
        horizon=horizon,
        shaping=bool(cfg["algo"].get("reward_shaping", True)),
        action_low=np.asarray(space.low, np.float64) if clip else None,
        action_high=np.asarray(space.high, np.float64) if clip else None,
        alpha=0.0 if cfg["algo"]["name"] == "gail" else float(cfg["algo"].get("alpha", 1.0)),
    )


def _sampler_params(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """SB3 constructor arguments of the sampler (the loop's own keys removed)."""
    own = (
        "name",
        "n_envs",
        "steps_per_env",
        "gradient_steps_per_env_step",
        "cost_action",
        "normalize_reward",
        "policy_ema",
        "companion",
    )
    params = {k: v for k, v in dict(cfg["sampler"]).items() if k not in own}
    if cfg["sampler"]["name"] == "ppo":
        params["squash"] = bool((cfg.get("experimental") or {}).get("ppo_squash", False))
    return params


def _loop_settings(cfg: Mapping[str, Any], n_iters: int, window: int) -> LoopSettings:
    a = cfg["algo"]
    floor = a.get("absorbing_floor")
    return LoopSettings(
        algo=str(a["name"]),
        seed=int(cfg["seed"]),
        n_iters=n_iters,
        cost_steps=int(a.get("disc_updates", 0)),
        batch_size=int(a["batch_size"]),
        window=window,
        bc_warmstart_epochs=int(a.get("bc_warmstart_epochs", 0) or 0),
        bc_epochs=int(a.get("epochs", 0)),
        bc_batch_size=int(a["batch_size"]),
        bc_lr=float(a["lr"]),
        absorbing_floor=None if floor is None else float(floor),
        eval_every=int(cfg["eval"]["every_iters"]),
        eval_episodes=int(cfg["eval"]["episodes"]),
        final_episodes=int(cfg["eval"]["final_episodes"]),
        checkpoint_every=int(cfg["checkpoint_every_iters"]),
        config_digest=config_digest(cfg),
        env_id=str(cfg["env"]["id"]),
        env_kwargs=env_kwargs(cfg),
    )


@dataclass(frozen=True)
class TaskInfo:
    """What the loop needs to know of a task: its id, episode length and spaces."""

    env_id: str
    horizon: int
    obs_dim: int
    act_dim: int
    action_space: gym.spaces.Box


def probe_task(cfg: Mapping[str, Any]) -> TaskInfo:
    """Build the evaluation task once to read its horizon and spaces."""
    env_id = str(cfg["env"]["id"])
    import_env_module(cfg["env"].get("module"))
    probe = make_env(env_id, **env_kwargs(cfg))
    try:
        return TaskInfo(
            env_id,
            int((probe.spec and probe.spec.max_episode_steps) or 1000),
            int(probe.observation_space.shape[0]),
            int(probe.action_space.shape[0]),
            probe.action_space,
        )
    finally:
        probe.close()


def build_sampler_of(
    cfg: Mapping[str, Any], task: TaskInfo, run_dir: Path, log: bool, resume: bool
) -> Sampler:
    """The config's sampler on rollout envs (with the env's train-only options)."""
    # Rollout-only env options (e.g. Hopper's terminate_when_unhealthy=false); evaluation
    # always runs the task as registered.
    train_kwargs = {**env_kwargs(cfg), **dict(cfg["env"].get("train_kwargs") or {})}

    def env_fn() -> gym.Env[Any, Any]:
        return Monitor(make_env(task.env_id, **train_kwargs))

    if log and resume and recover_checkpoint(run_dir / CHECKPOINT) is not None:
        # A resumed run replays its checkpointed history into fresh metrics files: drop the
        # old TensorBoard events (the CSV is rewritten), so no point is written twice.
        for old in run_dir.glob("events.out.tfevents.*"):
            old.unlink()
    s = cfg["sampler"]
    ema = s.get("policy_ema")
    return make_sampler(
        str(s["name"]),
        env_fn,
        n_envs=int(s["n_envs"]),
        steps_per_env=int(s["steps_per_env"]),
        horizon=task.horizon,
        total_steps=int(cfg["total_env_steps"]),
        seed=int(cfg["seed"]),
        alpha=float(cfg["algo"].get("alpha", 1.0)),
        sb3_params=_sampler_params(cfg),
        policy_ema=None if ema is None else float(ema),
        logger=configure(str(run_dir), ["csv", "tensorboard"]) if log else Logger(None, []),
        normalize_reward=bool(s.get("normalize_reward", False)),
        updates_per_step=float(s.get("gradient_steps_per_env_step", 1.0)),
    )


@dataclass
class CostParts:
    """The cost side of a run: model, optimiser, episode store, learned reward, window."""

    cost: Discriminator
    cost_opt: torch.optim.Optimizer
    store: EpisodeStore
    reward: LearnedReward
    window: int


def build_cost_parts(
    cfg: Mapping[str, Any], task: TaskInfo, demos: list[Trajectory], heldout: list[Trajectory]
) -> CostParts:
    """Cost model, its optimiser, the store holding the demos, and the learned reward."""
    algo = str(cfg["algo"]["name"])
    cost = build_cost(cfg, task.obs_dim, task.act_dim)
    lr = float(cfg["algo"]["lr"])
    cost_opt = torch.optim.Adam(cost.param_groups(lr, float(cfg["algo"].get("log_z_lr", 10 * lr))))
    w = cfg["algo"].get("window")
    window = task.horizon if w in (None, "horizon") else int(w)
    if algo in ("airl", "airl_state", "gail") and window != 1:
        raise ConfigError(f"algo.window must be 1 for {algo} (a per-transition classifier)")
    store = EpisodeStore(
        max_samplers=int(cfg["algo"].get("max_samplers", 1)),
        fusion=str(cfg["algo"].get("fusion", "fused")),
        horizon=task.horizon,
        absorbing=bool(cfg["env"].get("absorbing", True)),
        fixed_samplers=1 if coverage_episodes(cfg) else 0,
    )
    store.add_demos(demos)
    store.add_demos(heldout[:HELDOUT_DIAGNOSTIC_DEMOS], heldout=True)
    if cost.obs_norm is not None:
        cost.obs_norm.update(torch.as_tensor(np.concatenate([d.obs for d in demos])))
    reward = build_reward(cfg, cost, task.horizon, task.action_space)
    return CostParts(cost, cost_opt, store, reward, window)


def build_trainer(
    cfg: Mapping[str, Any], run_dir: str | Path, log: bool = True, resume: bool = True
) -> Trainer:
    """A ready-to-train :class:`Trainer` for a resolved ``irl-train`` config.

    The config is validated and the demos loaded before anything is written; the parts are
    built in a fixed order (the sampler's weights, then the cost's, from the seeded RNGs).
    ``log=False`` leaves the run's metrics files alone (no CSV/TensorBoard writer);
    ``resume``: the run will resume from its checkpoint (its old TensorBoard events go).
    """
    validate_train_config(cfg)
    run_dir = Path(run_dir)
    torch.set_num_threads(int(cfg.get("torch_threads", 1)))
    seed, algo = int(cfg["seed"]), str(cfg["algo"]["name"])
    seed_everything(seed)
    import_env_module(cfg["env"].get("module"))  # a user's package registering env.id
    path = demo_path(cfg)
    all_demos, meta = load_demos_with_metadata(path, env_id=str(cfg["env"]["id"]))
    demos, heldout, indices = select_demos(
        all_demos, int(cfg["n_demos"]), seed, path=path, episodes=demo_episodes(cfg)
    )
    run_dir.mkdir(parents=True, exist_ok=True)  # only once the config and demos are valid
    task = probe_task(cfg)
    sampler = build_sampler_of(cfg, task, run_dir, log, resume)
    sampler.observe(np.concatenate([d.obs for d in demos]))  # its input statistics, if kept
    per_iter = sampler.steps_per_iter
    n_iters = 0 if algo == "bc" else max(1, math.ceil(int(cfg["total_env_steps"]) / per_iter))
    parts = build_cost_parts(cfg, task, demos, heldout) if algo != "bc" else None
    trainer = Trainer(
        _loop_settings(cfg, n_iters, parts.window if parts else task.horizon),
        demos=demos,
        heldout_demos=heldout,
        meta=meta,
        sampler=sampler,
        cost=parts.cost if parts else None,
        cost_opt=parts.cost_opt if parts else None,
        store=parts.store if parts else None,
        reward=parts.reward if parts else None,
        run_dir=run_dir,
        coverage=build_coverage(cfg) if parts else None,
        companion=build_companion(cfg, task, run_dir) if parts else None,
    )

    def sink(stats: dict[str, float], step: int) -> None:
        for k, v in stats.items():
            sampler.model.logger.record(k, v)
        sampler.model.logger.dump(step=step)

    trainer.sink = sink
    trainer.demo_indices = indices
    trainer.demo_file = path
    return trainer


def read_run_config(run_dir: Path, error: type[Exception] = ValueError) -> dict[str, Any]:
    """A run directory's resolved ``config.yaml`` as a plain dict; ``error`` names the file and
    the problem when it cannot be read."""
    from omegaconf import OmegaConf

    path = run_dir / "config.yaml"
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as exc:
        raise error(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(cfg, dict):
        raise error(f"{path}: expected a mapping")
    return cfg  # type: ignore[return-value]


def read_run_overrides(run_dir: Path) -> list[str]:
    """The command-line overrides Hydra recorded for a run (``.hydra/overrides.yaml``), or
    ``[]`` when it recorded none."""
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.exists():
        return []
    return [str(o) for o in OmegaConf.load(path)]
