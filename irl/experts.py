"""SAC experts: training with checkpoints, pickle-free actor files, rollouts and demo recording.

A shipped expert is two files: ``<stem>.safetensors`` (the SAC actor's weights) and
``<stem>.json`` (architecture, action bounds, provenance). Both load without pickle. SB3's own
``.zip`` checkpoints and replay buffers use pickle; they are kept only as local resume artefacts
under the run directory and are never shipped or loaded from shipped files.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import mujoco
import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from envs import env_kwargs, make_env
from irl.demos import describe_space, save_demos
from irl.types import Trajectory, returns

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # SB3's clamp for SAC's actor
ACTOR_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ActorSpec:
    """Architecture and action bounds of a saved SAC actor (stored as JSON)."""

    obs_dim: int
    act_dim: int
    hidden_sizes: list[int]
    action_low: list[float]
    action_high: list[float]
    activation: str = "relu"
    format_version: int = ACTOR_FORMAT_VERSION
    info: dict[str, Any] = field(default_factory=dict)


_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


class SquashedGaussianActor(nn.Module):
    """SAC's actor: MLP -> (mean, log std) of a Gaussian squashed by tanh to [-1, 1]."""

    def __init__(self, spec: ActorSpec) -> None:
        super().__init__()
        act = _ACTIVATIONS[spec.activation]
        layers: list[nn.Module] = []
        last = spec.obs_dim
        for h in spec.hidden_sizes:
            layers += [nn.Linear(last, h), act()]
            last = h
        self.latent_pi = nn.Sequential(*layers)
        self.mu = nn.Linear(last, spec.act_dim)
        self.log_std = nn.Linear(last, spec.act_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, obs_dim)`` -> pre-tanh mean and clamped log std, each ``(B, act_dim)``."""
        z = self.latent_pi(obs)
        return self.mu(z), self.log_std(z).clamp(LOG_STD_MIN, LOG_STD_MAX)


class ExpertPolicy:
    """A loaded actor that maps numpy observations to actions in the env's action bounds."""

    def __init__(self, actor: SquashedGaussianActor, spec: ActorSpec) -> None:
        self.actor = actor.eval()
        self.spec = spec
        self.low = np.asarray(spec.action_low, dtype=np.float32)
        self.high = np.asarray(spec.action_high, dtype=np.float32)

    @torch.no_grad()
    def __call__(
        self,
        obs: np.ndarray,
        deterministic: bool = True,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Action(s) for ``obs`` (``(obs_dim,)`` or ``(B, obs_dim)``), float32, within bounds."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        mean, log_std = self.actor(x.reshape(-1, self.spec.obs_dim))
        if deterministic:
            pre = mean.numpy()
        else:
            if rng is None:
                raise ValueError("stochastic actions need an explicit rng")
            noise = rng.standard_normal(mean.shape).astype(np.float32)
            pre = mean.numpy() + np.exp(log_std.numpy()) * noise
        squashed = np.tanh(pre)
        action = self.low + 0.5 * (squashed + 1.0) * (self.high - self.low)
        action = np.clip(action, self.low, self.high).astype(np.float32)
        return action.reshape((*np.shape(obs)[:-1], self.spec.act_dim))


# --------------------------------------------------------------------------------------------
# Pickle-free actor files


def actor_paths(stem: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(.safetensors, .json)`` pair for an actor file stem."""
    stem = Path(stem)
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def spec_from_sac(model: Any, info: Mapping[str, Any] | None = None) -> ActorSpec:
    """Architecture of an SB3 SAC model's actor."""
    actor = model.actor
    hidden = [m.out_features for m in actor.latent_pi if isinstance(m, nn.Linear)]
    acts = {type(m) for m in actor.latent_pi if not isinstance(m, nn.Linear)}
    names = {cls: name for name, cls in _ACTIVATIONS.items()}
    if len(acts) > 1 or (acts and next(iter(acts)) not in names):
        raise ValueError(f"unsupported actor activation(s): {acts}")
    if getattr(actor, "use_sde", False):
        raise ValueError("gSDE actors are not supported")
    space = model.action_space
    return ActorSpec(
        obs_dim=int(np.prod(model.observation_space.shape)),
        act_dim=int(np.prod(space.shape)),
        hidden_sizes=hidden,
        action_low=[float(v) for v in space.low],
        action_high=[float(v) for v in space.high],
        activation=names[next(iter(acts))] if acts else "relu",
        info=dict(info or {}),
    )


def save_actor(
    model: Any, stem: str | os.PathLike[str], info: Mapping[str, Any] | None = None
) -> ActorSpec:
    """Save an SB3 SAC actor as safetensors weights plus a JSON architecture file."""
    spec = spec_from_sac(model, info)
    own = SquashedGaussianActor(spec)
    state = {k: v for k, v in model.actor.state_dict().items() if not k.startswith("features")}
    own.load_state_dict(state, strict=True)  # checks that the architecture matches
    weights, meta = actor_paths(stem)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous().float() for k, v in own.state_dict().items()}
    tmp_w, tmp_m = weights.with_name(weights.name + ".tmp"), meta.with_name(meta.name + ".tmp")
    save_file(tensors, str(tmp_w), metadata={"format": "irl-sac-actor"})
    tmp_m.write_text(json.dumps(asdict(spec), indent=1, sort_keys=True) + "\n")
    os.replace(tmp_w, weights)
    os.replace(tmp_m, meta)
    return spec


def load_expert(stem: str | os.PathLike[str]) -> ExpertPolicy:
    """Load an actor saved by `save_actor` (JSON + safetensors, no pickle)."""
    weights, meta = actor_paths(stem)
    raw = json.loads(meta.read_text())
    if raw.get("format_version") != ACTOR_FORMAT_VERSION:
        raise ValueError(f"{meta}: unsupported actor format {raw.get('format_version')}")
    spec = ActorSpec(**raw)
    actor = SquashedGaussianActor(spec)
    actor.load_state_dict(load_file(str(weights)), strict=True)
    return ExpertPolicy(actor, spec)


# --------------------------------------------------------------------------------------------
# Rollouts


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


def evaluate(
    env_id: str,
    policy: Callable[[np.ndarray], np.ndarray],
    n_episodes: int,
    seed: int,
    kwargs: Mapping[str, Any] | None = None,
    max_episode_steps: int | None = None,
) -> np.ndarray:
    """Undiscounted returns of ``n_episodes`` episodes of ``policy`` on a fresh env."""
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
        # Random-policy episodes use seeds disjoint from the demos.
        random_rets = returns(rollout(env, random_policy(env), random_episodes, seed + 1_000_000))
        meta: dict[str, Any] = {
            "env_id": env_id,
            "env_kwargs": kw,
            "max_episode_steps": env.spec.max_episode_steps if env.spec else None,
            "gymnasium_version": gym.__version__,
            "mujoco_version": mujoco.__version__,
            "observation_space": describe_space(env.observation_space),
            "action_space": describe_space(env.action_space),
            "random_return_mean": float(random_rets.mean()),
            "random_return_std": float(random_rets.std()),
            "random_episodes": random_episodes,
            "seed": seed,
            "episode_seeds": f"reset(seed={seed} + i) for episode i",
            "policy": "custom",
            "command": command,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    finally:
        env.close()
    meta.update(dict(extra_metadata or {}))
    return save_demos(out_path, trajectories, meta)


# --------------------------------------------------------------------------------------------
# Training


def train_sac(
    env_id: str,
    run_dir: str | os.PathLike[str],
    total_steps: int,
    seed: int,
    sac_kwargs: Mapping[str, Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    max_episode_steps: int | None = None,
    eval_every: int = 10_000,
    eval_episodes: int = 5,
    checkpoint_every: int = 50_000,
    max_wall_clock_s: float | None = None,
    stop_at_return: float | None = None,
    resume: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Train (or resume) an SB3 SAC expert; keep the best actor by evaluation return.

    Writes into ``run_dir``: ``best_actor``/``last_actor`` (pickle-free actor files),
    ``progress.json`` (steps, wall-clock, evaluations) and SB3 resume artefacts
    (``checkpoint.zip``, ``replay_buffer.pkl``: local only, they use pickle). Stops at
    ``total_steps``, after ``max_wall_clock_s`` (summed over resumes) or once an evaluation
    reaches ``stop_at_return``. Returns the progress record.
    """
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt, buffer, progress_file = (
        out / "checkpoint.zip",
        out / "replay_buffer.pkl",
        out / "progress.json",
    )
    kw = env_kwargs(env_id, **dict(kwargs or {}))
    env = make_env(env_id, max_episode_steps=max_episode_steps, **kw)
    record: dict[str, Any] = {
        "env_id": env_id,
        "env_kwargs": kw,
        "seed": seed,
        "steps": 0,
        "wall_clock_s": 0.0,
        "evals": [],
        "best_eval_return": None,
        "best_eval_step": None,
        "commands": [],
    }
    sac_kwargs = dict(sac_kwargs or {})
    if resume and ckpt.exists() and progress_file.exists():
        record = json.loads(progress_file.read_text())
        model = SAC.load(ckpt, env=env, device="cpu")  # local artefact written by this function
        if buffer.exists():
            model.load_replay_buffer(buffer)
        tqdm.write(f"resuming {env_id} from step {model.num_timesteps} ({ckpt})")
    else:
        model = SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **sac_kwargs)
    record["commands"].append(command)
    record["sac_kwargs"] = {k: v for k, v in sac_kwargs.items()}
    start_steps = int(model.num_timesteps)
    start_wall = float(record["wall_clock_s"])
    t0 = time.monotonic()

    def actor_info() -> dict[str, Any]:
        return {
            "env_id": env_id,
            "env_kwargs": kw,
            "training": {
                "algo": "SB3 SAC",
                "steps_trained": int(model.num_timesteps),
                "wall_clock_s": round(start_wall + time.monotonic() - t0, 1),
                "seed": seed,
                "sac_kwargs": record["sac_kwargs"],
                "command": command,
            },
        }

    def save_checkpoint() -> None:
        record["steps"] = int(model.num_timesteps)
        record["wall_clock_s"] = start_wall + time.monotonic() - t0
        save_actor(model, out / "last_actor", actor_info())
        model.save(ckpt)
        model.save_replay_buffer(buffer)
        tmp = progress_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, progress_file)

    def comparable_best() -> float | None:
        # A best measured on another number of episodes is not compared with this run's
        # evaluations: a resume with more episodes re-selects the best actor on those alone
        # (a 5-episode best can be a lucky draw; records before the field used 5).
        if record.get("best_eval_episodes", 5) != eval_episodes:
            return None
        return cast("float | None", record["best_eval_return"])

    class Monitor(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.stop_reason = ""

        def _on_training_start(self) -> None:
            self.bar = tqdm(
                total=total_steps,
                initial=start_steps,
                desc=f"SAC {env_id}",
                mininterval=10,
                unit="step",
            )
            self.last_eval = start_steps - start_steps % eval_every
            self.last_ckpt = start_steps - start_steps % checkpoint_every

        def _on_step(self) -> bool:
            n = int(self.model.num_timesteps)
            self.bar.update(n - self.bar.n)
            if n - self.last_eval >= eval_every:
                self.last_eval = n
                policy = ExpertPolicy(self._actor(), spec_from_sac(self.model))
                rets = evaluate(
                    env_id,
                    policy,
                    eval_episodes,
                    seed=10_000,
                    kwargs=kw,
                    max_episode_steps=max_episode_steps,
                )
                mean = float(rets.mean())
                elapsed = start_wall + time.monotonic() - t0
                record["evals"].append(
                    {
                        "step": n,
                        "episodes": eval_episodes,
                        "return_mean": mean,
                        "return_std": float(rets.std()),
                        "wall_clock_s": round(elapsed, 1),
                        "steps_per_s": round((n - start_steps) / (time.monotonic() - t0), 1),
                    }
                )
                best = comparable_best()
                if best is None or mean >= best:
                    record["best_eval_return"], record["best_eval_step"] = mean, n
                    record["best_eval_episodes"] = eval_episodes
                    save_actor(self.model, out / "best_actor", actor_info())
                self.bar.set_postfix(eval=f"{mean:.1f}", best=f"{record['best_eval_return']:.1f}")
                tqdm.write(
                    f"[{env_id}] step {n}: eval/return_mean {mean:.1f} ± {rets.std():.1f}, "
                    f"time/wall_clock_s {elapsed:.0f}, "
                    f"time/steps_per_s {(n - start_steps) / (time.monotonic() - t0):.0f}"
                )
                if stop_at_return is not None and mean >= stop_at_return:
                    self.stop_reason = f"eval return {mean:.1f} >= stop_at_return"
                    return False
            if n - self.last_ckpt >= checkpoint_every:
                self.last_ckpt = n
                save_checkpoint()
            if (
                max_wall_clock_s is not None
                and start_wall + time.monotonic() - t0 > max_wall_clock_s
            ):
                self.stop_reason = "max_wall_clock_s reached"
                return False
            return True

        def _actor(self) -> SquashedGaussianActor:
            spec = spec_from_sac(self.model)
            actor = SquashedGaussianActor(spec)
            state = {
                k: v.detach().clone()
                for k, v in cast(Any, self.model).actor.state_dict().items()
                if not k.startswith("features")
            }
            actor.load_state_dict(state)
            return actor

        def _on_training_end(self) -> None:
            self.bar.close()

    callback = Monitor()
    remaining = max(0, total_steps - start_steps)
    best = comparable_best()
    if stop_at_return is not None and best is not None and best >= stop_at_return:
        remaining = 0  # a finished run re-run with the same settings trains no further
        callback.stop_reason = record.get("stop_reason", "stop_at_return reached")
    if max_wall_clock_s is not None and start_wall >= max_wall_clock_s:
        remaining = 0
        callback.stop_reason = "max_wall_clock_s reached"
    if remaining > 0:
        model.learn(remaining, callback=callback, reset_num_timesteps=False, progress_bar=False)
    save_checkpoint()
    if not (out / "best_actor.json").exists():
        save_actor(model, out / "best_actor", actor_info())
    record["stop_reason"] = callback.stop_reason or "total_steps reached"
    progress_file.write_text(json.dumps(record, indent=1))
    env.close()
    return record


# --------------------------------------------------------------------------------------------
# demos/README.md table, generated from the shipped files' metadata

README_BEGIN = "<!-- demos-table:begin (generated by irl-expert / irl-record) -->"
README_END = "<!-- demos-table:end -->"


def demos_table(demos_dir: str | os.PathLike[str]) -> str:
    """Markdown table of every ``<env id>.npz`` in ``demos_dir``, read from its metadata."""
    from irl.demos import load_metadata

    rows = [
        "| env | expert return (mean ± std) | random return | trajectories | steps | "
        "steps trained (shipped actor; whole run) | wall-clock (run) | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(Path(demos_dir).glob("*.npz")):
        m = load_metadata(path)
        t = m.get("training", {})
        wall = t.get("run_wall_clock_s", t.get("wall_clock_s"))
        steps = f"{t.get('steps_trained', '?')}"
        if "run_steps" in t:
            steps += f" (run: {t['run_steps']})"
        command = f"`{t.get('command', '?')}`"
        if m["command"] != t.get("command"):
            command += f"; demos: `{m['command']}`"
        rows.append(
            f"| {m['env_id']} | {m['expert_return_mean']:.1f} ± {m['expert_return_std']:.1f} "
            f"| {m['random_return_mean']:.1f} | {m['n_trajectories']} | {m['n_steps']} "
            f"| {steps} "
            f"| {'?' if wall is None else f'{wall / 60:.0f} min'} "
            f"| {command} |"
        )
    return "\n".join(rows)


def update_demos_readme(demos_dir: str | os.PathLike[str]) -> None:
    """Regenerate the table between the markers in ``demos_dir/README.md``."""
    readme = Path(demos_dir) / "README.md"
    text = (
        readme.read_text()
        if readme.exists()
        else f"# Demonstrations\n\n{README_BEGIN}\n{README_END}\n"
    )
    if README_BEGIN not in text or README_END not in text:
        text = text.rstrip("\n") + f"\n\n{README_BEGIN}\n{README_END}\n"
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_BEGIN}\n{demos_table(demos_dir)}\n{README_END}{tail}")
