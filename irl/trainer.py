"""The MuJoCo IRL loop: GCL, GAN-GCL, AIRL and GAIL with an SB3 PPO or SAC sampler, and BC.

One iteration (SPEC §2.6): reset the envs (seeded by iteration), register the current policy as
a sampler snapshot (every stored step is scored under it once), collect rollouts with SB3, store
them scored under every live snapshot, update the input statistics, take ``disc_updates``
discriminator/cost steps on windows of demos and rollouts, relabel the sampler's rewards with the
new cost, take the sampler's own update. Metrics go through SB3's logger (CSV + TensorBoard);
checkpoints are written at iteration boundaries without pickle, and a rerun in the same
directory resumes from the last one, reproducing the uninterrupted run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger, configure
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv
from tqdm.auto import tqdm

from envs import make_env
from envs.demo_reset import DemoStateReset
from irl.buffer import EpisodeStore, WindowBatch
from irl.demos import load_demos_with_metadata, normalized_return
from irl.discriminators import Discriminator
from irl.experts import evaluate
from irl.records import REPO_ROOT
from irl.samplers import RelabelingReplayBuffer, RolloutRecorder, build_sampler, policy_log_prob_fn
from irl.sb3_adapter import action_log_prob, action_log_scale, is_squashed_ppo
from irl.types import Trajectory, flatten_trajectories

__all__ = [
    "CheckpointError",
    "Trainer",
    "eval_seed",
    "evaluate_policy_returns",
    "select_demos",
]

CHECKPOINT = "checkpoint"
ESS_WARNING = 0.05
# SAC replay-buffer arrays a checkpoint keeps (up to the write position).
REPLAY_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


HELDOUT_DIAGNOSTIC_DEMOS = 8  # held-out demos scored each iteration for disc/heldout_accuracy
REWARD_VAR_DECAY = 0.9  # per iteration: the return-scale estimate spans about 10 iterations


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (corrupt, or from another configuration)."""


def select_demos(
    trajectories: list[Trajectory], n: int, seed: int
) -> tuple[list[Trajectory], list[Trajectory], list[int]]:
    """Pick ``n`` demos by seed; returns (training, held-out, training indices)."""
    if n < 1 or n > len(trajectories):
        raise ValueError(f"n_demos must be in [1, {len(trajectories)}], got {n}")
    order = np.random.default_rng(seed).permutation(len(trajectories))
    train = sorted(order[:n].tolist())
    held = sorted(order[n:].tolist())
    return [trajectories[i] for i in train], [trajectories[i] for i in held], train


def eval_seed(seed: int) -> int:
    """First reset seed of a run's evaluation episodes (disjoint from demo and training seeds)."""
    return 1_000_000 + seed * 1000


def evaluate_policy_returns(
    model: BaseAlgorithm, env_id: str, episodes: int, seed: int, env_kwargs: Mapping[str, Any]
) -> np.ndarray:
    """True undiscounted returns of the deterministic policy over seeded episodes."""
    return evaluate(
        env_id, lambda obs: model.predict(obs, deterministic=True)[0], episodes, seed, env_kwargs
    )


def _jsonable(x: Any) -> Any:
    return x.tolist() if isinstance(x, np.ndarray) else int(x)


def _rng_state() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        # SB3 samples replay minibatches from the legacy global numpy RNG, so that is what resumes.
        "numpy": json.dumps(np.random.get_state(legacy=False), default=_jsonable),  # noqa: NPY002
        "python": json.dumps(random.getstate()),
    }


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = json.loads(state["numpy"])
    np_state["state"]["key"] = np.asarray(np_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(np_state)  # noqa: NPY002
    py = json.loads(state["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))


def write_checkpoint(
    final: Path, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> None:
    """Write a checkpoint directory (``state.pt`` of tensors and plain data, ``arrays.npz``)
    atomically: a crash mid-write leaves the previous checkpoint whole."""
    tmp = final.with_name(final.name + ".tmp")
    old = final.with_name(final.name + ".old")
    for d in (tmp, old):
        if d.exists():
            for f in d.iterdir():
                f.unlink()
            d.rmdir()
    tmp.mkdir(parents=True)
    torch.save(dict(state), tmp / "state.pt")
    np.savez(tmp / "arrays.npz", **arrays)  # type: ignore[arg-type]
    if final.exists():
        final.rename(old)
        tmp.rename(final)
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    else:
        tmp.rename(final)


def read_checkpoint(d: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A checkpoint directory's state and arrays, read without pickle."""
    try:
        state = torch.load(d / "state.pt", weights_only=True)
        with np.load(d / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise CheckpointError(
            f"{d}: cannot read checkpoint ({exc.__class__.__name__}: {exc})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{d}: state.pt does not hold a checkpoint mapping")
    return state, arrays


def replay_arrays(rb: Any) -> dict[str, np.ndarray]:
    """An SB3 replay buffer's contents up to its write position, as named arrays."""
    used = rb.buffer_size if rb.full else rb.pos  # only what was written
    arrays = {f"replay/{name}": getattr(rb, name)[:used] for name in REPLAY_FIELDS}
    arrays["replay/pos_full"] = np.array([rb.pos, int(rb.full)], np.int64)
    return arrays


def load_replay_arrays(rb: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Refill an SB3 replay buffer from ``replay_arrays``' output."""
    for name in REPLAY_FIELDS:
        saved = arrays[f"replay/{name}"]
        getattr(rb, name)[: len(saved)] = saved
    rb.pos, full = (int(x) for x in arrays["replay/pos_full"])
    rb.full = bool(full)


class Trainer:
    """One IRL run; ``cfg`` is the resolved ``irl-train`` config (a mapping)."""

    def __init__(
        self, cfg: Mapping[str, Any], run_dir: str | os.PathLike[str], log: bool = True
    ) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(int(cfg["torch_threads"]))
        self.algo = str(cfg["algo"]["name"])
        self.env_id = str(cfg["env"]["id"])
        self.env_kwargs = dict(cfg["env"].get("kwargs") or {})
        if cfg["env"].get("max_episode_steps"):
            self.env_kwargs["max_episode_steps"] = int(cfg["env"]["max_episode_steps"])
        self.seed = int(cfg["seed"])
        self._seed_everything(self.seed)

        demo_dir = Path(cfg.get("demo_dir") or REPO_ROOT / "demos")
        demo_path = cfg.get("demo_path") or demo_dir / f"{self.env_id}.npz"
        all_demos, self.meta = load_demos_with_metadata(demo_path, env_id=self.env_id)
        self.demos, self.heldout_demos, self.demo_indices = select_demos(
            all_demos, int(cfg["n_demos"]), self.seed
        )
        probe = make_env(self.env_id, **self.env_kwargs)
        self.horizon = int((probe.spec and probe.spec.max_episode_steps) or 1000)
        self.obs_dim = int(probe.observation_space.shape[0])  # type: ignore[index]
        self.act_dim = int(probe.action_space.shape[0])  # type: ignore[index]
        self.act_low = torch.as_tensor(probe.action_space.low)  # type: ignore[attr-defined]
        self.act_high = torch.as_tensor(probe.action_space.high)  # type: ignore[attr-defined]
        probe.close()

        self.sampler_kind = str(cfg["sampler"]["name"])
        s_cfg = dict(cfg["sampler"])
        self.n_envs = int(s_cfg.pop("n_envs"))
        self.steps_per_env = int(s_cfg.pop("steps_per_env"))
        self.updates_per_step = float(s_cfg.pop("gradient_steps_per_env_step", 1.0))
        max_std = s_cfg.pop("max_std", None)
        cost_action = str(s_cfg.pop("cost_action", "executed"))
        if cost_action not in ("executed", "drawn"):
            raise ValueError(
                f"sampler.cost_action must be 'executed' or 'drawn', got {cost_action!r}"
            )
        s_cfg.pop("name")
        if self.sampler_kind == "ppo":
            s_cfg["n_steps"] = self.steps_per_env  # one PPO rollout per IRL iteration
        else:
            s_cfg["learning_starts"] = 0  # every rollout comes from the policy (its q is known)
        self.alpha = float(cfg["algo"].get("alpha", 1.0))
        floor = cfg["algo"].get("absorbing_floor")
        self.absorbing_floor = None if floor is None else float(floor)
        if self.absorbing_floor is not None and not 0.0 <= self.absorbing_floor <= 1.0:
            raise ValueError(
                f"algo.absorbing_floor must be a quantile in [0, 1] (or null), got {floor}"
            )
        demo_reset_prob = float(s_cfg.pop("demo_reset_prob", 0.0))
        self.normalize_reward = bool(s_cfg.pop("normalize_reward", False))
        ema = s_cfg.pop("policy_ema", None)
        self.policy_ema = None if ema is None else float(ema)
        if self.policy_ema is not None and not 0.0 <= self.policy_ema < 1.0:
            raise ValueError(
                f"sampler.policy_ema must be a decay in [0, 1) per iteration (or null), got {ema}"
            )
        # The evaluated and saved policy when policy_ema is set; the sampler keeps its own.
        self.ema_state: dict[str, torch.Tensor] | None = None
        if self.normalize_reward and self.sampler_kind != "ppo":
            raise ValueError(
                "sampler.normalize_reward applies to PPO's relabelled rollouts only; SAC's "
                "replay rewards are relabelled per minibatch (set it false for sampler=sac)"
            )
        # EMA (per iteration) of the variance of the sampler's discounted returns; NaN: unset.
        self.return_var = float("nan")
        demo_states = (
            np.concatenate([d.obs[:-1] for d in self.demos]) if demo_reset_prob > 0 else None
        )

        # Rollout-only env options (e.g. Hopper's terminate_when_unhealthy=false: fixed
        # 1000-step episodes for the sampler); evaluation always runs the task as registered.
        train_kwargs = {**self.env_kwargs, **dict(cfg["env"].get("train_kwargs") or {})}

        def env_fn() -> gym.Env[Any, Any]:
            env = make_env(self.env_id, **train_kwargs)
            if demo_states is not None:
                env = DemoStateReset(env, demo_states, demo_reset_prob)
            return Monitor(env)

        self.env: VecEnv = DummyVecEnv([env_fn] * self.n_envs)
        # Any: the loop calls PPO- and SAC-specific members (rollout_buffer, train, actor).
        self.model: Any = build_sampler(self.sampler_kind, self.env, self.seed, self.alpha, s_cfg)
        self.squashed = self.sampler_kind == "sac" or is_squashed_ppo(self.model)
        # PPO's Gaussian is clipped to the action box, so −α log π of the unclipped draw keeps
        # rewarding a wider σ that changes nothing in the env: cap σ at max_std × half-range.
        self.max_log_std: torch.Tensor | None = None
        if self.sampler_kind == "ppo" and max_std is not None:
            half = (self.act_high - self.act_low).float() / 2
            self.max_log_std = torch.log(float(max_std) * half)
        # −α log π in env units: SB3 stores a squashed PPO's log π in its [-1, 1] units.
        squashed_ppo = is_squashed_ppo(self.model)
        # A clipped Gaussian's drawn action may leave the box. Scoring it there ("drawn") keeps
        # c and log π on one variable, so D = p~/(p~ + q) is a ratio of densities of the same
        # thing and noise beyond the box costs what it earns in entropy; "executed" scores the
        # clipped action the env received.
        self.clip_for_cost = (
            self.sampler_kind == "ppo" and not squashed_ppo and cost_action == "executed"
        )
        self.ppo_log_scale = action_log_scale(self.env.action_space) if squashed_ppo else 0.0
        self.steps_per_iter = self.n_envs * self.steps_per_env
        self.total_steps = int(cfg["total_env_steps"])
        self.n_iters = max(1, math.ceil(self.total_steps / self.steps_per_iter))
        if self.algo == "bc":
            self.n_iters = 0

        a_cfg = cfg["algo"]
        self.disc: Discriminator | None = None
        if self.algo != "bc":
            gamma = float(a_cfg.get("gamma", 1.0))
            self.disc = Discriminator(
                self.algo,
                self.obs_dim,
                self.act_dim,
                hidden=tuple(cfg["cost"]["hidden"]),
                use_h=bool(a_cfg.get("use_h", False)),
                gamma=gamma,
                absorbing=bool(cfg["env"].get("absorbing", True)),
                normalize_inputs=bool(cfg["cost"].get("normalize_inputs", True)),
                lambda_lcr=float(a_cfg.get("lambda_lcr", 0.0)),
                lambda_mono=float(a_cfg.get("lambda_mono", 0.0)),
                mono_margin=float(a_cfg.get("mono_margin", 1.0)),
                weight_decay_l2=float(cfg["cost"].get("l2", 0.0)),
                state_only=bool(cfg["cost"].get("state_only", False)),
                grad_penalty=float(a_cfg.get("grad_penalty", 0.0)),
                absorbing_floor=self.absorbing_floor is not None,
            ).double()
            lr = float(a_cfg["lr"])
            self.disc_opt = torch.optim.Adam(
                self.disc.param_groups(lr, float(a_cfg.get("log_z_lr", 10 * lr)))
            )
            window = a_cfg.get("window")
            self.window = self.horizon if window in (None, "horizon") else int(window)
            if self.algo in ("airl", "airl_state", "gail"):
                self.window = 1
            self.store = EpisodeStore(
                max_samplers=int(a_cfg.get("max_samplers", 1)),
                fusion=str(a_cfg.get("fusion", "fused")),
                horizon=self.horizon,
                absorbing=bool(cfg["env"].get("absorbing", True)),
            )
            self.store.add_demos(self.demos)
            self.store.add_demos(self.heldout_demos[:HELDOUT_DIAGNOSTIC_DEMOS], heldout=True)
            if self.disc.obs_norm is not None:
                self.disc.obs_norm.update(
                    torch.as_tensor(np.concatenate([d.obs for d in self.demos]))
                )
            if isinstance(getattr(self.model, "replay_buffer", None), RelabelingReplayBuffer):
                self.model.replay_buffer.reward_fn = self._replay_reward  # type: ignore[attr-defined]
        self.snapshots: dict[int, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {}
        self.snapshot_states: dict[int, dict[str, torch.Tensor]] = {}
        self.window_rng = np.random.default_rng(self.seed + 7919)
        self.recorder = RolloutRecorder(self.horizon)
        self.iteration = 0
        self.wall_clock = 0.0
        self.history: list[dict[str, float]] = []
        # log=False (irl-eval) must not touch the run's metrics files.
        self.model.set_logger(
            configure(str(self.run_dir), ["csv", "tensorboard"]) if log else Logger(None, [])
        )
        self.model._setup_learn(self.total_steps, callback=None, reset_num_timesteps=True)
        self.recorder.init_callback(self.model)
        self.last_eval: dict[str, float] = {}
        self._last_rollout_reward_mean = float("nan")

    # ------------------------------------------------------------------ utilities
    def _seed_everything(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)  # noqa: NPY002 - SB3 draws from the global numpy RNG
        torch.manual_seed(seed)

    def _cost_actions(self, acts: torch.Tensor) -> torch.Tensor:
        # PPO's Gaussian actions are clipped by SB3 before the env sees them; with
        # cost_action=executed the cost scores that clipped action, log π the drawn one.
        if not self.clip_for_cost:
            return acts
        return torch.maximum(torch.minimum(acts, self.act_high.to(acts)), self.act_low.to(acts))

    def _replay_reward(
        self,
        obs: torch.Tensor,
        acts: torch.Tensor,
        next_obs: torch.Tensor,
        terminated: torch.Tensor,
        absorbing: torch.Tensor,
        tail_gamma: float | None = None,
    ) -> torch.Tensor:
        assert self.disc is not None
        return self.disc.reward(
            obs.double(),
            self._cost_actions(acts.double()),
            next_obs.double(),
            terminated,
            absorbing,
            shaping=bool(self.cfg["algo"].get("reward_shaping", True)),
            tail_gamma=tail_gamma,
        )

    # ------------------------------------------------------------------ BC
    def behaviour_cloning(self, epochs: int, batch_size: int, lr: float) -> float:
        """Fit the sampler's policy to the training demos by maximum likelihood; final NLL."""
        data = flatten_trajectories(self.demos)
        obs = torch.as_tensor(data.obs)
        acts = torch.as_tensor(data.acts)
        policy = self.model.policy
        params = (
            list(policy.actor.parameters())
            if hasattr(policy, "actor")
            else list(policy.parameters())
        )
        opt = torch.optim.Adam(params, lr=lr)
        gen = torch.Generator().manual_seed(self.seed)
        nll = float("nan")
        policy.set_training_mode(True)
        for _ in range(epochs):
            perm = torch.randperm(len(obs), generator=gen)
            for i in range(0, len(obs), batch_size):
                idx = perm[i : i + batch_size]
                lp = action_log_prob(self.model, obs[idx], self._clip_demo(acts[idx]))
                loss = -lp.mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                nll = float(loss.detach())
        policy.set_training_mode(False)
        return nll

    def _clip_demo(self, acts: torch.Tensor) -> torch.Tensor:
        if not self.squashed:
            return acts
        # Keep demo actions strictly inside the squashing range so atanh stays finite.
        span = (self.act_high - self.act_low).to(acts)
        eps = 1e-4 * span
        return torch.maximum(
            torch.minimum(acts, self.act_high.to(acts) - eps), self.act_low.to(acts) + eps
        )

    # ------------------------------------------------------------------ one iteration
    def _register_snapshot(self) -> int:
        fn = policy_log_prob_fn(self.model)
        sid = self.store.add_sampler(fn)
        self.snapshots[sid] = fn
        self.snapshot_states[sid] = {
            k: v.detach().clone() for k, v in self.model.policy.state_dict().items()
        }
        for old in [k for k in self.snapshots if k not in self.store.slot_of]:
            del self.snapshots[old]
            del self.snapshot_states[old]
        return sid

    def _collect(self) -> None:
        self.env.seed(self.seed * 100_003 + self.iteration * self.n_envs)
        self.model._last_obs = self.env.reset()
        self.model._last_episode_starts = np.ones(self.n_envs, dtype=bool)
        self.recorder.reset(self.n_envs)
        if self.sampler_kind == "ppo":
            self.model.collect_rollouts(
                self.env,
                self.recorder,
                self.model.rollout_buffer,
                self.steps_per_env,
            )
        else:
            self.model.collect_rollouts(
                self.env,
                callback=self.recorder,
                train_freq=TrainFreq(self.steps_per_env, TrainFrequencyUnit.STEP),
                replay_buffer=self.model.replay_buffer,
                learning_starts=0,
            )

    def _prepare(self, batch: WindowBatch) -> WindowBatch:
        batch.obs = batch.obs.double()
        batch.acts = self._cost_actions(batch.acts.double())
        batch.start_obs = batch.start_obs.double()
        batch.end_obs = batch.end_obs.double()
        return batch

    def heldout_diagnostics(self, owner: int) -> dict[str, float]:
        """D's accuracy and the cost's AUC on held-out demos vs. ``owner``'s fresh rollouts."""
        assert self.disc is not None
        n = int(self.cfg["algo"]["batch_size"])
        # Its own generator keyed on (seed, iteration): the diagnostic never shifts training.
        rng = np.random.default_rng([self.seed, self.iteration, 17])
        out = self.disc.classify(
            self._prepare(self.store.sample_heldout(n, n, self.window, rng, owner))
        )
        return {f"disc/heldout_{k}": v for k, v in out.items()}

    def _update_discriminator(self) -> dict[str, float]:
        assert self.disc is not None
        a_cfg = self.cfg["algo"]
        stats: dict[str, list[float]] = {}
        n = int(a_cfg["batch_size"])
        for _ in range(int(a_cfg["disc_updates"])):
            batch = self._prepare(self.store.sample(n, n, self.window, self.window_rng))
            loss, st = self.disc.loss(batch)
            self.disc_opt.zero_grad()
            loss.backward()
            self.disc_opt.step()
            for k, v in st.items():
                stats.setdefault(k, []).append(v)
        return {k: float(np.mean(v)) for k, v in stats.items()}

    def _set_absorbing_floor(self) -> None:
        # Demos that never terminate put the likelihood's c_abs at +∞. The learned, finite
        # c_abs moves only through sample windows that D already rejects (their gradient has
        # vanished): on Hopper it settled at 0.29 against 3.08 per demo step, and the sampler
        # learned to fall. A living step's price to the sampler is c + α log π, and log π > 0
        # for a narrow Gaussian, so the floor is this quantile of the rollout's step prices.
        # Measured on Hopper it did not keep the sampler up (README, "Where this stands").
        if self.absorbing_floor is None or self.disc is None or not self.disc.absorbing_floor:
            return
        data = self.recorder.stacked()
        obs = torch.as_tensor(data["obs"]).reshape(-1, self.obs_dim)
        acts = torch.as_tensor(data["actions"]).reshape(-1, self.act_dim)
        with torch.no_grad():
            log_pi = action_log_prob(self.model, obs.float(), acts.float()).double()
            cost = self.disc.step_cost(obs.double(), self._cost_actions(acts.double())).double()
        price = cost + self.alpha * log_pi
        self.disc.set_absorbing_floor(float(torch.quantile(price, self.absorbing_floor)))

    def _rollout_reward(self, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """Learned per-step reward (no entropy term) of a recorded rollout, flattened."""
        return self._replay_reward(
            torch.as_tensor(data["obs"]).reshape(-1, self.obs_dim),
            torch.as_tensor(data["actions"]).reshape(-1, self.act_dim),
            torch.as_tensor(data["next_obs"]).reshape(-1, self.obs_dim),
            torch.as_tensor(data["terminated"]).reshape(-1),
            torch.as_tensor(data["absorbing"]).reshape(-1),
        ).numpy()

    def _relabel_ppo(self) -> None:
        assert self.disc is not None
        data = self.recorder.stacked()
        buf = self.model.rollout_buffer
        n, e = data["terminated"].shape
        r = self._rollout_reward(data).reshape(n, e)
        self._last_rollout_reward_mean = float(r.mean())
        bootstrap = buf.rewards - data["stored_rewards"]  # SB3's γ V(s_T) at time-limit ends
        log_pi = buf.log_probs - self.ppo_log_scale
        entropy = -self.alpha * log_pi if self.algo != "gail" else 0.0
        base = r + entropy
        if self.normalize_reward:
            # The bootstrap is SB3's γV(s_T), already in the critic's (scaled) units.
            base = base / self.reward_scale(base, buf.episode_starts)
        buf.rewards[:] = (base + bootstrap).astype(np.float32)
        buf.compute_returns_and_advantage(
            last_values=self.recorder.last_values, dones=self.recorder.last_dones
        )

    def reward_scale(self, rewards: np.ndarray, episode_starts: np.ndarray) -> float:
        """Updated std of the sampler's discounted returns, the divisor of its rewards."""
        # As VecNormalize, but an EMA rather than a running mean over all of training: the
        # learned cost's scale drifts as D sharpens (Hopper: window energies 5 → 300 over 300k
        # steps) and PPO's critic, fitting unscaled returns, had explained variance 0 for 100k.
        gamma = float(self.model.gamma)
        ret = np.zeros(rewards.shape[1])
        returns = np.empty_like(rewards, dtype=np.float64)
        for t in range(rewards.shape[0]):
            ret = ret * gamma * (1.0 - episode_starts[t]) + rewards[t]
            returns[t] = ret
        var = float(returns.var())
        self.return_var = (
            var
            if math.isnan(self.return_var)
            else REWARD_VAR_DECAY * self.return_var + (1 - REWARD_VAR_DECAY) * var
        )
        return math.sqrt(self.return_var + 1e-8)

    def _policy_std(self) -> float:
        """Mean σ of the sampler's action noise (PPO: its state-independent log σ)."""
        log_std = getattr(self.model.policy, "log_std", None)
        if not isinstance(log_std, torch.Tensor):
            return float("nan")
        return float(log_std.detach().exp().mean())

    def _update_policy_ema(self) -> None:
        if self.policy_ema is None:
            return
        state = self.model.policy.state_dict()
        if self.ema_state is None:
            self.ema_state = {k: v.detach().clone() for k, v in state.items()}
            return
        for k, v in state.items():
            if v.is_floating_point():
                self.ema_state[k].mul_(self.policy_ema).add_(v.detach(), alpha=1 - self.policy_ema)
            else:
                self.ema_state[k].copy_(v)

    @contextlib.contextmanager
    def recovered_policy(self) -> Iterator[None]:
        """Within the block the sampler's policy holds the recovered (EMA, if set) weights."""
        if self.ema_state is None:
            yield
            return
        live = {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}
        self.model.policy.load_state_dict(self.ema_state)
        try:
            yield
        finally:
            self.model.policy.load_state_dict(live)

    def _train_sampler(self) -> None:
        if self.sampler_kind == "ppo":
            self._relabel_ppo()
            self.model.train()
            if self.max_log_std is not None:
                with torch.no_grad():
                    log_std = self.model.policy.log_std
                    log_std.copy_(torch.minimum(log_std, self.max_log_std.to(log_std)))
        else:
            steps = max(1, round(self.steps_per_iter * self.updates_per_step))
            self.model.train(gradient_steps=steps, batch_size=self.model.batch_size)

    def iterate(self) -> dict[str, float]:
        """Run one IRL iteration; returns its metrics."""
        assert self.disc is not None
        t0 = time.perf_counter()
        sid = self._register_snapshot()
        t_collect = time.perf_counter()
        self._collect()
        collect_s = time.perf_counter() - t_collect
        episodes = self.recorder.episodes()
        self.store.add_rollouts(episodes, sid, self.snapshots)
        heldout = self.heldout_diagnostics(sid) if self.store.heldout else {}
        if self.disc.obs_norm is not None:
            self.disc.obs_norm.update(torch.as_tensor(self.recorder.stacked()["obs"]))
        t_disc = time.perf_counter()
        stats = self._update_discriminator()
        stats.update(heldout)
        disc_s = time.perf_counter() - t_disc
        self._set_absorbing_floor()
        t_train = time.perf_counter()
        self._train_sampler()
        self._update_policy_ema()
        train_s = time.perf_counter() - t_train
        self.iteration += 1
        elapsed = time.perf_counter() - t0
        self.wall_clock += elapsed
        rets = self.recorder.finished_returns()
        data = self.recorder.stacked()
        stats.update(
            {
                "time/iteration": float(self.iteration),
                "time/env_steps": float(self.model.num_timesteps),
                "time/wall_clock_s": self.wall_clock,
                "time/env_steps_per_s": self.steps_per_iter / elapsed,
                "time/collect_s": collect_s,
                "time/disc_s": disc_s,
                "time/sampler_train_s": train_s,
                "rollout/true_return_mean": float(np.mean(rets)) if rets else float("nan"),
                "rollout/episodes": float(len(rets)),
                "rollout/policy_std_mean": self._policy_std(),
                # PPO's relabelling already scored this rollout with the same cost.
                "rollout/learned_reward_mean": self._last_rollout_reward_mean
                if self.sampler_kind == "ppo"
                else float(self._rollout_reward(data).mean()),
            }
        )
        if self.normalize_reward:
            stats["rollout/reward_scale"] = math.sqrt(self.return_var + 1e-8)
        if self.disc.absorbing:
            with torch.no_grad():
                stats["disc/absorbing_cost"] = float(self.disc.absorbing_cost())
            if self.disc.absorbing_floor:
                stats["disc/absorbing_floor"] = float(self.disc.abs_floor)
        if rets:
            stats["rollout/normalized_return"] = float(
                normalized_return(float(np.mean(rets)), self.meta)
            )
        if "disc/ess_frac" in stats and stats["disc/ess_frac"] < ESS_WARNING:
            stats["disc/ess_warning"] = 1.0
        return stats

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, episodes: int) -> dict[str, float]:
        """Deterministic-policy true return and expert-normalised score."""
        with self.recovered_policy():
            rets = evaluate_policy_returns(
                self.model, self.env_id, episodes, eval_seed(self.seed), self.env_kwargs
            )
        mean = float(rets.mean())
        return {
            "eval/return_mean": mean,
            "eval/return_std": float(rets.std()),
            "eval/normalized_return": float(normalized_return(mean, self.meta)),
        }

    # ------------------------------------------------------------------ checkpoints
    def _ckpt_dir(self) -> Path:
        return self.run_dir / CHECKPOINT

    def save_checkpoint(self) -> None:
        """Write everything needed to resume, pickle-free, atomically."""
        state: dict[str, Any] = {
            "iteration": self.iteration,
            "num_timesteps": self.model.num_timesteps,
            "n_updates": int(getattr(self.model, "_n_updates", 0)),
            "wall_clock": self.wall_clock,
            "policy": self.model.policy.state_dict(),
            "rng": _rng_state(),
            "window_rng": json.dumps(self.window_rng.bit_generator.state, default=_jsonable),
            "history": json.dumps(self.history),
            "last_eval": json.dumps(self.last_eval),
            "return_var": self.return_var,
            "config_digest": self._config_digest(),
        }
        pol = self.model.policy
        if self.sampler_kind == "ppo":
            state["optim"] = {"policy": pol.optimizer.state_dict()}
        else:
            state["optim"] = {
                "actor": pol.actor.optimizer.state_dict(),
                "critic": pol.critic.optimizer.state_dict(),
            }
        if self.ema_state is not None:
            state["policy_ema"] = self.ema_state
        if self.disc is not None:
            state["disc"] = self.disc.state_dict()
            state["disc_optim"] = self.disc_opt.state_dict()
            state["snapshots"] = {str(k): v for k, v in self.snapshot_states.items()}
        arrays: dict[str, np.ndarray] = {}
        if self.disc is not None:
            arrays.update({f"store/{k}": v for k, v in self.store.state_arrays().items()})
        if self.sampler_kind == "sac":
            arrays.update(replay_arrays(self.model.replay_buffer))
        write_checkpoint(self._ckpt_dir(), state, arrays)

    def _config_digest(self) -> str:
        keys = ("env", "algo", "sampler", "cost", "seed", "n_demos")
        return json.dumps({k: _plain(self.cfg[k]) for k in keys}, sort_keys=True, default=str)

    def load_checkpoint(self) -> bool:
        """Resume from the run directory's checkpoint if there is one; True if resumed."""
        d = self._ckpt_dir()
        if not d.exists():
            return False
        state, arrays = read_checkpoint(d)
        if state.get("config_digest") != self._config_digest():
            raise CheckpointError(
                f"{d}: checkpoint was written by a different configuration (env, algo, sampler, "
                "cost, seed or n_demos differ); use a new run directory or resume=false"
            )
        self.model.policy.load_state_dict(state["policy"])
        pol = self.model.policy
        if self.sampler_kind == "ppo":
            pol.optimizer.load_state_dict(state["optim"]["policy"])
        else:
            pol.actor.optimizer.load_state_dict(state["optim"]["actor"])
            pol.critic.optimizer.load_state_dict(state["optim"]["critic"])
            load_replay_arrays(self.model.replay_buffer, arrays)
        self.iteration = int(state["iteration"])
        self.model.num_timesteps = int(state["num_timesteps"])
        if hasattr(self.model, "_n_updates"):
            self.model._n_updates = int(state["n_updates"])
        self.wall_clock = float(state["wall_clock"])
        self.history = json.loads(state["history"])
        self.last_eval = json.loads(state["last_eval"])
        self.return_var = float(state.get("return_var", float("nan")))
        ema_state = state.get("policy_ema")
        self.ema_state = None if ema_state is None else dict(ema_state)
        if self.disc is not None:
            self.disc.load_state_dict(state["disc"])
            self.disc_opt.load_state_dict(state["disc_optim"])
            self.store.load_state_arrays(
                {k[len("store/") :]: v for k, v in arrays.items() if k.startswith("store/")}
            )
            self.snapshots, self.snapshot_states = {}, {}
            for k, sd in state["snapshots"].items():
                self.snapshots[int(k)] = policy_log_prob_fn(self.model, sd)
                self.snapshot_states[int(k)] = sd
        _set_rng_state(state["rng"])
        self.window_rng.bit_generator.state = json.loads(state["window_rng"])
        return True

    # ------------------------------------------------------------------ outputs
    def save_artifacts(self) -> None:
        """Learned cost and policy (safetensors + JSON description) for ``irl-eval``."""
        from safetensors.torch import save_file

        with self.recovered_policy():
            pol = {
                k: v.detach().clone().contiguous()
                for k, v in self.model.policy.state_dict().items()
            }
        save_file(pol, str(self.run_dir / "policy.safetensors"))
        if self.disc is not None:
            cost = {k: v.detach().clone().contiguous() for k, v in self.disc.state_dict().items()}
            save_file(cost, str(self.run_dir / "cost.safetensors"))
        info = {
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "algo": self.algo,
            "sampler": self.sampler_kind,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "demo_indices": self.demo_indices,
            "iteration": self.iteration,
            "env_steps": int(self.model.num_timesteps),
            "policy_ema": self.policy_ema,  # policy.safetensors holds this EMA when set
        }
        (self.run_dir / "artifacts.json").write_text(json.dumps(info, indent=1))

    def train(self, progress: bool = True) -> dict[str, Any]:
        """Run (or resume) to the configured budget; returns the final result dict."""
        cfg = self.cfg
        resumed = bool(cfg.get("resume", True)) and self.load_checkpoint()
        if resumed:
            # SB3's CSV writer starts a fresh file: replay the checkpointed history into it.
            for stats in self.history:
                for k, v in stats.items():
                    self.model.logger.record(k, v)
                self.model.logger.dump(step=int(stats.get("time/env_steps", 0)))
        eval_every = int(cfg["eval"]["every_iters"])
        ckpt_every = int(cfg["checkpoint_every_iters"])
        if self.algo == "bc":
            b = cfg["algo"]
            t0 = time.perf_counter()
            nll = self.behaviour_cloning(int(b["epochs"]), int(b["batch_size"]), float(b["lr"]))
            self.wall_clock = time.perf_counter() - t0
            self.history.append({"time/env_steps": 0.0, "bc/nll": nll})
        else:
            warm = cfg["algo"].get("bc_warmstart_epochs", 0)
            if warm and not resumed and self.iteration == 0:
                self.behaviour_cloning(int(warm), 256, 1e-3)
            bar = tqdm(
                total=self.n_iters,
                initial=self.iteration,
                disable=not progress,
                desc=f"{self.algo}/{self.sampler_kind} {self.env_id}",
                unit="it",
            )
            while self.iteration < self.n_iters:
                stats = self.iterate()
                if self.iteration % eval_every == 0 or self.iteration == self.n_iters:
                    self.last_eval = self.evaluate(int(cfg["eval"]["episodes"]))
                    stats.update(self.last_eval)
                for k, v in stats.items():
                    self.model.logger.record(k, v)
                self.model.logger.dump(step=self.model.num_timesteps)
                self.history.append(stats)
                bar.set_postfix(
                    ret=f"{stats.get('rollout/true_return_mean', float('nan')):.0f}",
                    ess=f"{stats.get('disc/ess_frac', float('nan')):.2f}",
                    eval=f"{self.last_eval.get('eval/return_mean', float('nan')):.0f}",
                )
                bar.update(1)
                if self.iteration % ckpt_every == 0 or self.iteration == self.n_iters:
                    self.save_checkpoint()
            bar.close()
        final = self.evaluate(int(cfg["eval"]["final_episodes"]))
        self.save_artifacts()
        result = self._result(final)
        (self.run_dir / "result.json").write_text(json.dumps(result, indent=1))
        return result

    def _result(self, final: Mapping[str, float]) -> dict[str, Any]:
        steps = int(self.model.num_timesteps)
        ess = [h["disc/ess_frac"] for h in self.history if "disc/ess_frac" in h]
        ess_s = [h["disc/ess_frac_samples"] for h in self.history if "disc/ess_frac_samples" in h]
        curve = {
            int(h["time/env_steps"]): float(h["eval/normalized_return"])
            for h in self.history
            if "eval/normalized_return" in h
        }
        curve[steps] = float(final["eval/normalized_return"])  # the 25-episode final score
        return {
            "env": self.env_id,
            "algo": self.algo,
            "sampler": self.sampler_kind if self.algo != "bc" else "none",
            "seed": self.seed,
            "n_demos": len(self.demos),
            # The normalisation's reference points (the demo file's metadata at run time).
            "expert_return": float(self.meta["expert_return_mean"]),
            "random_return": float(self.meta["random_return_mean"]),
            "env_steps": steps,
            "iterations": self.iteration,
            "return_mean": final["eval/return_mean"],
            "return_std": final["eval/return_std"],
            "normalized_return": final["eval/normalized_return"],
            "eval_episodes": int(self.cfg["eval"]["final_episodes"]),
            "wall_clock_s": self.wall_clock,
            "steps_per_s": steps / self.wall_clock if self.wall_clock > 0 and steps else 0.0,
            "ess_frac_mean_last10": float(np.mean(ess[-10:])) if ess else None,
            "ess_frac_samples_mean_last10": float(np.mean(ess_s[-10:])) if ess_s else None,
            # Learning curve for reports: (env steps, evaluation's expert-normalised return).
            "curve": [[k, v] for k, v in sorted(curve.items())],
            "window": getattr(self, "window", None),
        }


def _plain(x: Any) -> Any:
    """OmegaConf containers to plain Python (for digests and JSON)."""
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(x):
            return OmegaConf.to_container(x, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return x
