"""``irl-eval run_dir=…``: score a finished ``irl-train`` run three ways and write ``eval.json``.

1. The recovered policy: deterministic true return over ``episodes`` seeded episodes and the
   expert-normalised score.
2. Re-optimisation: a fresh SB3 SAC trained on the learned reward alone (the true reward never
   reaches it), scored by the true reward.
3. Reward correlation: Pearson and Spearman correlation of the learned per-step reward −c_θ(x,u)
   with the true reward, on held-out expert transitions (demos the run did not train on) and on
   uniform-random-policy transitions.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_file, save_file
from stable_baselines3.common.callbacks import BaseCallback
from tqdm.auto import tqdm

from envs import make_env
from irl.cli import CONF_DIR
from irl.cli.expert import command_line
from irl.demos import normalized_return
from irl.experts import random_policy, rollout
from irl.records import append_record, git_commit
from irl.trainer import (
    CheckpointError,
    Trainer,
    _rng_state,
    _set_rng_state,
    evaluate_policy_returns,
    load_replay_arrays,
    read_checkpoint,
    replay_arrays,
    write_checkpoint,
)
from irl.types import Trajectory, Transitions, flatten_trajectories

LOADED_COMMIT = git_commit()


class RunDirError(ValueError):
    """A run directory that cannot be evaluated (missing or unreadable files)."""


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def correlations(learned: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman correlation (NaN when either side is constant)."""
    learned, true = np.asarray(learned, np.float64), np.asarray(true, np.float64)
    if learned.std() == 0 or true.std() == 0:
        return {"pearson": float("nan"), "spearman": float("nan")}
    pearson = float(np.corrcoef(learned, true)[0, 1])
    spearman = float(np.corrcoef(_ranks(learned), _ranks(true))[0, 1])
    return {"pearson": pearson, "spearman": spearman}


class LearnedRewardWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """Replaces the env reward by the learned one (−c_θ, plus the absorbing value at a
    termination, discounted by ``tail_gamma``); the true reward is kept in
    ``info["true_reward"]``."""

    def __init__(
        self,
        env: gym.Env[Any, Any],
        trainer: Trainer,
        horizon: int,
        tail_gamma: float | None = None,
        pay_true_reward: bool = False,
    ) -> None:
        super().__init__(env)
        self.trainer, self.horizon, self.tail_gamma = trainer, horizon, tail_gamma
        # The control: the same optimiser paid the true reward (the learned one still logged).
        self.pay_true_reward = pay_true_reward
        self.t = 0
        self.obs: np.ndarray | None = None
        self.true_return = self.learned_return = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset and remember the first observation."""
        obs, info = self.env.reset(**kwargs)
        self.obs, self.t = obs, 0
        self.true_return = self.learned_return = 0.0
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step the env and score the transition with the learned cost."""
        obs, true_r, term, trunc, info = self.env.step(action)
        self.t += 1
        absorbing = max(self.horizon - self.t, 0) if term else 0
        r = self.trainer._replay_reward(
            torch.as_tensor(np.asarray(self.obs, np.float64))[None],
            torch.as_tensor(np.asarray(action, np.float64))[None],
            torch.as_tensor(np.asarray(obs, np.float64))[None],
            torch.tensor([term]),
            torch.tensor([float(absorbing)]),
            tail_gamma=self.tail_gamma,
        )
        info["true_reward"] = float(true_r)
        self.true_return += float(true_r)
        self.learned_return += float(r[0])
        if term or trunc:
            # What the optimiser achieved on both rewards: tells a policy that stands still
            # (full length, low true return) from one that falls or one that hops.
            info["reopt_episode"] = {
                "length": self.t,
                "terminated": int(term),
                "true_return": self.true_return,
                "learned_return": self.learned_return,
            }
        self.obs = obs
        return obs, float(true_r if self.pay_true_reward else r[0]), term, trunc, info


def load_run(run_dir: Path) -> Trainer:
    """Rebuild a run's trainer (config, demos, sampler, cost) with its saved weights."""
    for name in ("config.yaml", "policy.safetensors", "artifacts.json"):
        if not (run_dir / name).exists():
            raise RunDirError(f"{run_dir}: missing {name} (not a finished irl-train run?)")
    cfg = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=True)
    assert isinstance(cfg, dict)
    trainer = Trainer(cast("dict[str, Any]", cfg), run_dir, log=False)
    try:
        trainer.model.policy.load_state_dict(load_file(str(run_dir / "policy.safetensors")))
        if trainer.disc is not None:
            trainer.disc.load_state_dict(load_file(str(run_dir / "cost.safetensors")))
    except Exception as exc:
        raise RunDirError(
            f"{run_dir}: cannot load weights ({exc.__class__.__name__}: {exc})"
        ) from None
    return trainer


class _StepBar(BaseCallback):
    """A tqdm bar over SB3's env steps (SB3's own bar needs the optional rich package)."""

    def __init__(self, total: int, desc: str, disable: bool = False, initial: int = 0) -> None:
        super().__init__()
        self.bar = tqdm(total=total, desc=desc, unit="step", disable=disable, initial=initial)

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


class _ReoptCurve(_StepBar):
    """The step bar, plus one CSV row per finished training episode of the re-optimisation."""

    FIELDS = ("env_steps", "length", "terminated", "true_return", "learned_return")

    def __init__(
        self,
        total: int,
        path: Path | None,
        disable: bool = False,
        reward: str = "learned",
        resume_at: int | None = None,
    ) -> None:
        super().__init__(
            total, f"re-optimising SAC on the {reward} reward", disable, resume_at or 0
        )
        self.file = None
        self.episodes: list[dict[str, float]] = []
        kept: list[str] = []
        if path is not None and resume_at is not None and path.exists():
            # A resumed run keeps the episodes its checkpoint had seen; later ones are redone.
            for line in path.read_text().splitlines()[1:]:
                values = line.split(",")
                if len(values) != len(self.FIELDS):
                    continue  # a line cut short by the kill
                rec = dict(zip(self.FIELDS, values, strict=True))
                if int(rec["env_steps"]) <= resume_at:
                    kept.append(line + "\n")
                    self.episodes.append({k: float(v) for k, v in rec.items()})
        if path is not None:
            # Line-buffered so a killed re-optimisation keeps every finished episode.
            self.file = path.open("w", buffering=1)
            self.file.writelines([",".join(self.FIELDS) + "\n", *kept])

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            ep = info.get("reopt_episode")
            if ep is None:
                continue
            row = {"env_steps": self.num_timesteps, **ep}
            self.episodes.append(row)
            if self.file is not None:
                self.file.write(",".join(str(row[k]) for k in self.FIELDS) + "\n")
            recent = np.mean([e["true_return"] for e in self.episodes[-10:]])
            self.bar.set_postfix(true_return=f"{recent:.0f}", refresh=False)
        return super()._on_step()

    def _on_training_end(self) -> None:
        super()._on_training_end()
        if self.file is not None:
            self.file.close()


REOPT_CHECKPOINT = "reopt_checkpoint"


def save_reopt_checkpoint(
    sac: Any, d: Path, settings: str, wall_clock_s: float | None = None
) -> None:
    """Everything a re-optimising SAC needs to go on (pickle-free): networks, optimisers,
    temperature, replay buffer, step counts, RNG states and its training wall-clock so far."""
    state: dict[str, Any] = {
        "num_timesteps": int(sac.num_timesteps),
        "n_updates": int(sac._n_updates),
        "episode_num": int(sac._episode_num),
        "policy": sac.policy.state_dict(),
        "optim": {
            "actor": sac.actor.optimizer.state_dict(),
            "critic": sac.critic.optimizer.state_dict(),
        },
        "rng": _rng_state(),
        "settings": settings,
    }
    if wall_clock_s is not None:
        state["wall_clock_s"] = float(wall_clock_s)
    if sac.ent_coef_optimizer is not None:
        state["log_ent_coef"] = sac.log_ent_coef.detach().clone()
        state["optim"]["ent_coef"] = sac.ent_coef_optimizer.state_dict()
    write_checkpoint(d, state, replay_arrays(sac.replay_buffer))


def load_reopt_checkpoint(sac: Any, d: Path, settings: str) -> tuple[int, float | None]:
    """Restore ``save_reopt_checkpoint``'s state into a fresh SAC; its env steps and wall-clock."""
    state, arrays = read_checkpoint(d)
    if state.get("settings") != settings:
        raise CheckpointError(
            f"{d}: re-optimisation checkpoint of other settings ({state.get('settings')}, "
            f"now {settings}); pass reopt_resume=false to start afresh"
        )
    try:
        sac.policy.load_state_dict(state["policy"])
        sac.actor.optimizer.load_state_dict(state["optim"]["actor"])
        sac.critic.optimizer.load_state_dict(state["optim"]["critic"])
        if sac.ent_coef_optimizer is not None:
            with torch.no_grad():
                sac.log_ent_coef.copy_(state["log_ent_coef"])
            sac.ent_coef_optimizer.load_state_dict(state["optim"]["ent_coef"])
        load_replay_arrays(sac.replay_buffer, arrays)
        sac.num_timesteps = int(state["num_timesteps"])
        sac._n_updates = int(state["n_updates"])
        sac._episode_num = int(state["episode_num"])
        _set_rng_state(state["rng"])
        # Checkpoints written before the wall-clock was kept have none: unknown.
        wall = state.get("wall_clock_s")
        wall = None if wall is None else float(wall)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"{d}: re-optimisation checkpoint does not fit this SAC "
            f"({exc.__class__.__name__}: {exc})"
        ) from None
    return sac.num_timesteps, wall


class _ReoptCheckpoint(BaseCallback):
    """Saves the re-optimising SAC every ``every`` env steps (0: never) and when it ends, with
    its training time so far as ``wall_clock`` reports it (None: unknown)."""

    def __init__(
        self,
        d: Path,
        settings: str,
        every: int,
        total: int,
        wall_clock: Callable[[], float | None] = lambda: None,
    ) -> None:
        super().__init__()
        self.d, self.settings, self.every, self.total = d, settings, every, total
        self.wall_clock = wall_clock
        self.saved_at = 0

    def _on_training_start(self) -> None:
        self.saved_at = self.model.num_timesteps  # a resumed SAC was saved where it starts

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        # A rollout ends after its transitions are stored (and before SAC's gradient step),
        # so the buffer and the step count agree.
        # The last step is saved once, after its gradient step, by _on_training_end.
        steps = self.model.num_timesteps
        if (
            0 < self.every
            and steps < self.total
            and steps // self.every > self.saved_at // self.every
        ):
            self._save()

    def _on_training_end(self) -> None:
        self._save()  # after SAC's last gradient step: what was scored is what is kept

    def _save(self) -> None:
        save_reopt_checkpoint(self.model, self.d, self.settings, self.wall_clock())
        self.saved_at = self.model.num_timesteps


def reoptimize(
    trainer: Trainer,
    steps: int,
    episodes: int,
    seed: int,
    ent_coef: str | float = "auto",
    progress: bool = True,
    net_arch: Sequence[int] = (256, 256),
    curve_path: Path | None = None,
    tail_gamma: str | float = "sac",
    gamma: float = 0.99,
    reward: str = "learned",
    save_dir: Path | None = None,
    video_steps: int = 0,
    checkpoint_dir: Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = True,
) -> dict[str, float | str | None]:
    """Train a fresh SAC on the learned reward only; its true return and normalised score.

    ``curve_path``: a CSV of the training episodes (length, true and learned return).
    ``tail_gamma``: the discount of the absorbing tail paid at a termination, ``"sac"`` for
    SAC's own ``gamma``. ``reward="true"``: the control, the same SAC paid the true reward.
    ``save_dir``: where its actor's weights (``reopt_actor.safetensors``) and, with
    ``video_steps``, an mp4 of its deterministic policy (``reopt_policy.mp4``) go.
    ``checkpoint_dir``: where it is saved every ``checkpoint_every`` env steps and at its end;
    with ``resume`` a checkpoint there of the same settings is carried on to ``steps`` (the
    episode in progress at the checkpoint starts afresh), and one of ``steps`` is just scored.
    """
    if reward not in ("learned", "true"):
        raise ValueError(f"reopt reward must be 'learned' or 'true', not {reward!r}")
    from stable_baselines3 import SAC

    # The cost prices a stop as absorbing steps to the horizon, summed with the cost's own γ
    # (1 for GCL/GAN-GCL: up to ~1000 steps in one reward). SAC maximises a γ = 0.99 return, so
    # that lump weighs ~10x more for it than the absorbing state it stands for, and it depends on
    # the time step, which SAC does not observe: discounted by SAC's γ it is the absorbing
    # state's value in SAC's own objective (DAC's absorbing-state bootstrap).
    tail = gamma if tail_gamma == "sac" else float(tail_gamma)
    env = LearnedRewardWrapper(
        make_env(trainer.env_id, **trainer.env_kwargs),
        trainer,
        trainer.horizon,
        tail,
        pay_true_reward=reward == "true",
    )
    sac = SAC(
        "MlpPolicy",
        env,
        seed=seed,
        gamma=gamma,
        ent_coef=ent_coef,
        policy_kwargs={"net_arch": list(net_arch)},
        learning_starts=min(5000, steps // 10),
        device="cpu",
        verbose=0,
    )
    # What a checkpoint must agree on to be carried on (the budget may grow).
    settings = json.dumps(
        {
            "reward": reward,
            "ent_coef": str(ent_coef),
            "tail_gamma": tail,
            "gamma": gamma,
            "net_arch": [int(n) for n in net_arch],
            "seed": seed,
        },
        sort_keys=True,
    )
    done: int | None = None
    wall: float | None = 0.0  # SAC's training time before this call (None: not known)
    if checkpoint_dir is not None and resume and checkpoint_dir.exists():
        done, wall = load_reopt_checkpoint(sac, checkpoint_dir, settings)
        if done > steps:
            raise CheckpointError(
                f"{checkpoint_dir}: the re-optimisation there has {done} steps, more than "
                f"reopt_steps={steps}; pass reopt_steps={done} or more, or reopt_resume=false"
            )
        print(f"irl-eval: re-optimisation resumes at step {done} of {steps} ({checkpoint_dir})")
    start = time.perf_counter()  # this call's training starts here

    def wall_clock() -> float | None:
        return None if wall is None else wall + time.perf_counter() - start

    curve = _ReoptCurve(steps, curve_path, not progress, reward, resume_at=done)
    callbacks: list[BaseCallback] = [curve]
    if checkpoint_dir is not None:
        callbacks.append(
            _ReoptCheckpoint(checkpoint_dir, settings, checkpoint_every, steps, wall_clock)
        )
    trained, train_s = 0, 0.0
    if done is None or done < steps:
        trained = steps - (done or 0)
        sac.learn(
            total_timesteps=trained,
            callback=callbacks,
            reset_num_timesteps=done is None,
        )
        train_s = time.perf_counter() - start
    else:
        curve._on_training_end()  # nothing left to train: close the bar and the curve
    # Where the optimiser ended, on both rewards: a last behaviour the learned return prices
    # above the demos' or the recovered policy's but the true reward does not is a cost that
    # can be exploited off the demos' distribution.
    last = curve.episodes[-10:]
    final = {
        f"reoptimized_last10_{k}": float(np.mean([e[k] for e in last])) if last else None
        for k in ("length", "true_return", "learned_return")
    }
    if save_dir is not None:
        # What the optimiser found, kept to be watched or scored again (pickle-free).
        save_file(
            {k: v.contiguous() for k, v in sac.policy.actor.state_dict().items()},
            str(save_dir / "reopt_actor.safetensors"),
        )
        if video_steps > 0:
            from irl.cli.train import write_policy_video

            write_policy_video(
                trainer.env_id,
                trainer.env_kwargs,
                lambda obs: sac.predict(obs, deterministic=True)[0],
                save_dir / "reopt_policy.mp4",
                video_steps,
                320,
                240,
                3_000_000 + seed,
            )
    rets = evaluate_policy_returns(
        sac, trainer.env_id, episodes, 3_000_000 + seed, trainer.env_kwargs
    )
    mean = float(rets.mean())
    return {
        "reoptimized_return_mean": mean,
        "reoptimized_normalized_return": float(normalized_return(mean, trainer.meta)),
        "reoptimized_steps": float(steps),
        # SAC's temperature: "auto" (its own target entropy) or the fixed α, e.g. 1.0, the
        # temperature of the MaxEnt model p(τ) ∝ exp(−c(τ)) the cost was learned under.
        "reoptimized_ent_coef": str(ent_coef),
        # The absorbing tail's discount: SAC's γ, or the cost's own (1.0, before it was an option).
        "reoptimized_tail_gamma": tail,
        # "true": a control run on the env's own reward, the ceiling of this SAC protocol.
        "reoptimized_reward": reward,
        # Where a checkpoint carried it on from (None: trained from scratch in this call).
        "reoptimized_resumed_at": done,
        # SAC's training time over all its calls (None when an earlier call's is not known),
        # and its env steps per second in this call (None when this call trained nothing).
        "reoptimized_wall_clock_s": None if wall is None else wall + train_s,
        "steps_per_s": trained / train_s if trained else None,
        **final,
    }


def _step_rewards(
    trainer: Trainer, t: Transitions, absorbing: np.ndarray | None = None
) -> np.ndarray:
    """Learned per-step reward of flat transitions (``absorbing``: steps left after a stop)."""
    tail = np.zeros(len(t.obs)) if absorbing is None else absorbing
    return trainer._replay_reward(
        torch.as_tensor(t.obs, dtype=torch.float64),
        torch.as_tensor(t.acts, dtype=torch.float64),
        torch.as_tensor(t.next_obs, dtype=torch.float64),
        torch.as_tensor(t.terminated),
        torch.as_tensor(tail, dtype=torch.float64),
    ).numpy()


def reward_correlations(trainer: Trainer, random_episodes: int, seed: int) -> dict[str, float]:
    """Correlation of −c_θ with the true reward on held-out expert and random transitions."""
    env = make_env(trainer.env_id, **trainer.env_kwargs)
    try:
        random_steps = flatten_trajectories(
            rollout(env, random_policy(env), random_episodes, 4_000_000 + seed)
        )
    finally:
        env.close()
    sets = {
        "expert": flatten_trajectories(trainer.heldout_demos or trainer.demos),
        "random": random_steps,
    }
    learned, true = {}, {}
    for name, t in sets.items():
        learned[name] = _step_rewards(trainer, t)  # per-step reward, no absorbing tail
        true[name] = np.asarray(t.rews, np.float64)
    learned["pooled"] = np.concatenate([learned["expert"], learned["random"]])
    true["pooled"] = np.concatenate([true["expert"], true["random"]])
    out: dict[str, float] = {}
    for name in ("expert", "random", "pooled"):
        for k, v in correlations(learned[name], true[name]).items():
            out[f"{k}_{name}"] = v
    return out


def _train_overrides(run_dir: Path) -> list[str]:
    """The irl-train overrides recorded in the run's result.json ([] when absent)."""
    try:
        overrides = json.loads((run_dir / "result.json").read_text()).get("overrides", [])
    except (OSError, ValueError):
        return []
    return [str(o) for o in overrides] if isinstance(overrides, list) else []


def learned_returns(trainer: Trainer, episodes: int, seed: int) -> dict[str, float | None]:
    """Learned return per episode of held-out demos and of the recovered deterministic policy."""
    # Which side fails: a recovered policy that scores below the demos under the learned reward
    # is a sampler stuck in a worse optimum (e.g. Hopper standing still); one that scores at or
    # above them is a cost that does not tell the two apart.
    env = make_env(trainer.env_id, **trainer.env_kwargs)
    try:
        policy = rollout(
            env,
            lambda obs: trainer.model.predict(obs, deterministic=True)[0],
            episodes,
            6_000_000 + seed,
        )
    finally:
        env.close()
    sets = {"demos": (trainer.heldout_demos or trainer.demos)[:episodes], "policy": policy}
    out: dict[str, float | None] = {}
    for name, trajs in sets.items():
        r, tail = _learned_step_rewards(trainer, trajs)
        out[f"learned_return_{name}"] = float(_episode_sums(r, trajs).mean())
        if name == "demos":
            # Steps that pay an absorbing tail (a demo that ended early) are left out.
            out["learned_reward_demo_step"] = float(r[tail == 0].mean())
    out["learned_reward_absorbing_step"] = absorbing_step_reward(trainer)
    return out


def _learned_step_rewards(
    trainer: Trainer, trajs: Sequence[Trajectory]
) -> tuple[np.ndarray, np.ndarray]:
    """Learned reward of every flat step, a stop paying its absorbing tail to the horizon, and
    that tail (absorbing steps after each step: non-zero only at a stop)."""
    lengths = np.array([len(t.acts) for t in trajs])
    tail = np.zeros(int(lengths.sum()))
    tail[np.cumsum(lengths) - 1] = [
        max(trainer.horizon - n, 0) if bool(t.terminated[-1]) else 0
        for t, n in zip(trajs, lengths, strict=True)
    ]
    return _step_rewards(trainer, flatten_trajectories(trajs), tail), tail


def _episode_sums(r: np.ndarray, trajs: Sequence[Trajectory]) -> np.ndarray:
    """Per-episode sums of flat per-step values."""
    lengths = np.array([len(t.acts) for t in trajs])
    return np.add.reduceat(r, np.cumsum(lengths) - lengths)


def learned_episode_returns(trainer: Trainer, trajs: Sequence[Trajectory]) -> np.ndarray:
    """Learned return of each episode; a terminated one pays its absorbing tail to the horizon."""
    return _episode_sums(_learned_step_rewards(trainer, trajs)[0], trajs)


def absorbing_step_reward(trainer: Trainer) -> float | None:
    """Learned reward of one step in the absorbing state (None without absorbing states)."""
    # Compared with a demo step's reward it says whether a fresh optimiser of the learned reward
    # (the re-optimisation) is paid to end episodes early: it is when this one is higher.
    assert trainer.disc is not None
    if not trainer.disc.absorbing:
        return None
    # One demo transition, ended by a termination with 0 and with 1 absorbing step after it.
    t = flatten_trajectories(trainer.demos[:1])
    with torch.no_grad():
        r = trainer._replay_reward(
            torch.as_tensor(t.obs[:1], dtype=torch.float64).expand(2, -1),
            torch.as_tensor(t.acts[:1], dtype=torch.float64).expand(2, -1),
            torch.as_tensor(t.next_obs[:1], dtype=torch.float64).expand(2, -1),
            torch.ones(2, dtype=torch.bool),
            torch.tensor([0.0, 1.0], dtype=torch.float64),
        )
    return float(r[1] - r[0])


def evaluate_run(cfg: DictConfig) -> dict[str, Any]:
    """All three evaluations of ``cfg.run_dir``; prints a table and writes ``eval.json``."""
    torch.set_num_threads(int(cfg.torch_threads))
    os.environ.setdefault("MUJOCO_GL", "egl")
    start = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    trainer = load_run(run_dir)
    rets = evaluate_policy_returns(
        trainer.model,
        trainer.env_id,
        int(cfg.episodes),
        5_000_000 + int(cfg.seed),
        trainer.env_kwargs,
    )
    result: dict[str, Any] = {
        "env": trainer.env_id,
        "algo": trainer.algo,
        "sampler": trainer.sampler_kind,
        "seed": trainer.seed,
        "n_demos": len(trainer.demos),
        "env_steps": json.loads((run_dir / "artifacts.json").read_text())["env_steps"],
        # The training run's overrides: what tells ablation variants of one cell apart.
        "overrides": _train_overrides(run_dir),
        "return_mean": float(rets.mean()),
        "return_std": float(rets.std()),
        "normalized_return": float(normalized_return(float(rets.mean()), trainer.meta)),
        "eval_episodes": int(cfg.episodes),
        "reoptimized_normalized_return": None,
    }
    if trainer.disc is not None:
        if int(cfg.reopt_steps) > 0:
            result.update(
                reoptimize(
                    trainer,
                    int(cfg.reopt_steps),
                    int(cfg.episodes),
                    int(cfg.seed),
                    cfg.reopt_ent_coef,
                    bool(cfg.get("progress_bar", True)),
                    tuple(cfg.get("reopt_net_arch", (256, 256))),
                    run_dir / "reopt_curve.csv",
                    cfg.get("reopt_tail_gamma", "sac"),
                    # Hydra reads reopt_reward=true as a boolean.
                    reward=str(cfg.get("reopt_reward", "learned")).lower(),
                    save_dir=run_dir,
                    video_steps=int(cfg.get("reopt_video_steps", 0)),
                    checkpoint_dir=run_dir / REOPT_CHECKPOINT,
                    checkpoint_every=int(cfg.get("reopt_checkpoint_every", 0)),
                    resume=bool(cfg.get("reopt_resume", True)),
                )
            )
        result.update(reward_correlations(trainer, int(cfg.random_episodes), int(cfg.seed)))
        result.update(learned_returns(trainer, int(cfg.learned_return_episodes), int(cfg.seed)))
    rows = [
        ("recovered policy return", f"{result['return_mean']:.1f} ± {result['return_std']:.1f}"),
        ("recovered policy, expert-normalised", f"{result['normalized_return']:.3f}"),
    ]
    if result.get("reoptimized_normalized_return") is not None:
        rows.append(
            (
                f"re-optimised SAC ({cfg.reopt_steps} steps), normalised",
                f"{result['reoptimized_normalized_return']:.3f}",
            )
        )
    for k in ("expert", "random", "pooled"):
        if f"pearson_{k}" in result:
            rows.append(
                (
                    f"reward correlation, {k} (Pearson / Spearman)",
                    f"{result[f'pearson_{k}']:.3f} / {result[f'spearman_{k}']:.3f}"
                    if np.isfinite(result[f"pearson_{k}"])
                    else "n/a (a constant reward)",
                )
            )
    if "learned_return_demos" in result:
        rows.append(
            (
                "learned return per episode, held-out demos / policy",
                f"{result['learned_return_demos']:.1f} / {result['learned_return_policy']:.1f}",
            )
        )
    if result.get("learned_reward_absorbing_step") is not None:
        rows.append(
            (
                "learned reward per step, held-out demo step / absorbing step",
                f"{result['learned_reward_demo_step']:.3f} / "
                f"{result['learned_reward_absorbing_step']:.3f}",
            )
        )
    width = max(len(r[0]) for r in rows)
    print(
        f"\n{trainer.algo}/{trainer.sampler_kind} on {trainer.env_id}, seed {trainer.seed} "
        f"({run_dir})"
    )
    print(f"| {'metric'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    result["wall_clock_s"] = time.perf_counter() - start  # this call's, all evaluations
    result.setdefault("steps_per_s", None)
    # Strict JSON: an undefined correlation (constant reward) is null, not NaN.
    result = {
        k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in result.items()
    }
    (run_dir / "eval.json").write_text(json.dumps(result, indent=1, allow_nan=False))
    if cfg.record.path:
        append_record(
            cfg.record.path,
            {"suite": cfg.record.suite or "eval", **result},
            command=command_line("irl-eval"),
            commit=LOADED_COMMIT,
        )
    return result


@hydra.main(config_path=CONF_DIR, config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point of ``irl-eval``."""
    if cfg.run_dir is None:
        raise SystemExit(
            "irl-eval: give the run to evaluate, e.g. irl-eval run_dir=outputs/train/…"
        )
    try:
        evaluate_run(cfg)
    except (RunDirError, CheckpointError) as exc:
        raise SystemExit(f"irl-eval: {exc}") from None


if __name__ == "__main__":
    main()
