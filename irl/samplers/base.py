"""The sampler q of the IRL loop: an SB3 algorithm driven one iteration at a time.

The loop calls, per iteration: :meth:`Sampler.snapshot` (a frozen copy of q that scores every
stored step), :meth:`Sampler.collect` (one rollout from reset envs), then, after the cost steps,
:meth:`Sampler.improve` on the learned reward. :class:`irl.samplers.ppo.PPOSampler` and
:class:`irl.samplers.sac.SACSampler` hold every detail that differs between the two; the
recovered policy (an EMA of the sampler's weights when ``policy_ema`` is set), behaviour cloning
and the checkpointed state are shared here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import VecEnv

from irl.reward import LearnedReward
from irl.samplers.recorder import RolloutRecorder
from irl.samplers.sb3 import policy_log_prob_fn
from irl.sb3_adapter import action_log_prob, is_squashed_ppo, update_obs_norm
from irl.types import Trajectory, flatten_trajectories

__all__ = ["LogProbFn", "Sampler", "fold_weight_average", "holding_weights"]

# Scores per-step log π of (obs [T, d], acts [T, a]) under a frozen snapshot, float64 [T].
LogProbFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def fold_weight_average(
    ema: dict[str, torch.Tensor] | None, policy: torch.nn.Module, decay: float
) -> dict[str, torch.Tensor]:
    """One step of the recovered policy's weight average: ``ema ← decay·ema + (1 − decay)·w``
    for the weights, the policy's own values for its buffers (input statistics); the first
    step (``ema`` None) copies the policy."""
    state = policy.state_dict()
    if ema is None:
        return {k: v.detach().clone() for k, v in state.items()}
    weights = {k for k, _ in policy.named_parameters()}
    for k, v in state.items():
        if k in weights and v.is_floating_point():
            ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        else:
            ema[k].copy_(v)
    return ema


@contextlib.contextmanager
def holding_weights(
    policy: torch.nn.Module, state: dict[str, torch.Tensor] | None
) -> Iterator[None]:
    """Within the block ``policy`` holds ``state`` (e.g. the weight average); its own weights
    come back after it. ``state`` None: the policy as it is."""
    if state is None:
        yield
        return
    live = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    policy.load_state_dict(state)
    try:
        yield
    finally:
        policy.load_state_dict(live)


class Sampler:
    """Shared part of the PPO and SAC samplers.

    Args:
        model: the SB3 algorithm (PPO or SAC) built on ``env``.
        env: its vectorised environment (``n_envs`` copies).
        steps_per_env: env steps per env per iteration.
        horizon: the task's episode length (absorbing tails run to it).
        total_steps: the run's env-step budget (SB3's ``_setup_learn``).
        policy_ema: decay per iteration of the recovered policy's weight average (None: the
            recovered policy is the sampler itself).
        logger: SB3 logger for the algorithm's own ``train/*`` metrics.
    """

    kind = "base"

    def __init__(
        self,
        model: Any,
        env: VecEnv,
        steps_per_env: int,
        horizon: int,
        total_steps: int,
        policy_ema: float | None,
        logger: Logger,
    ) -> None:
        self.model = model
        self.env = env
        self.n_envs = env.num_envs
        self.steps_per_env = steps_per_env
        self.steps_per_iter = self.n_envs * steps_per_env
        self.policy_ema = policy_ema
        self.ema_state: dict[str, torch.Tensor] | None = None
        self.recorder = RolloutRecorder(horizon)
        self.squashed = self.kind == "sac" or is_squashed_ppo(model)
        low, high = env.action_space.low, env.action_space.high  # type: ignore[attr-defined]
        self.act_low, self.act_high = torch.as_tensor(low), torch.as_tensor(high)
        self.last_reward_mean = float("nan")
        model.set_logger(logger)
        model._setup_learn(total_steps, callback=None, reset_num_timesteps=True)
        self.recorder.init_callback(model)

    # ------------------------------------------------------------------ the loop's calls
    @property
    def num_timesteps(self) -> int:
        """Env steps taken so far (all envs)."""
        return int(self.model.num_timesteps)

    def snapshot(self) -> tuple[LogProbFn, dict[str, torch.Tensor]]:
        """A frozen copy of q as a log-density scorer, and its weights (for checkpoints)."""
        state = {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}
        return policy_log_prob_fn(self.model), state

    def scorer(self, state: dict[str, torch.Tensor]) -> LogProbFn:
        """The log-density scorer of saved snapshot weights."""
        return policy_log_prob_fn(self.model, state)

    def collect(self, seed: int) -> dict[str, np.ndarray]:
        """One rollout of ``steps_per_env`` steps per env from freshly reset, seeded envs;
        returns the recorder's per-step arrays ``[steps, n_envs, ...]``."""
        self.env.seed(seed)
        self.model._last_obs = self.env.reset()
        self.model._last_episode_starts = np.ones(self.n_envs, dtype=bool)
        self.recorder.reset(self.n_envs)
        self._collect_rollouts()
        data = self.recorder.stacked()
        self.observe(data["obs"])
        return data

    def observe(self, obs: np.ndarray) -> None:
        """Fold observations ``[..., obs_dim]`` into the policy's input normalisation, if it
        has one (``sampler.obs_norm``): the demos' before training, then every rollout's."""
        update_obs_norm(self.model.policy, obs)

    def _collect_rollouts(self) -> None:
        raise NotImplementedError

    def improve(self, reward: LearnedReward) -> dict[str, float]:
        """The sampler's own update on the learned reward; returns its metrics."""
        raise NotImplementedError

    def rollout_reward(self, reward: LearnedReward) -> np.ndarray:
        """Learned per-step reward (no entropy term) of the last rollout, flattened ``[n*e]``."""
        data = self.recorder.stacked()
        obs_dim, act_dim = data["obs"].shape[-1], data["actions"].shape[-1]
        return reward.torch(
            torch.as_tensor(data["obs"]).reshape(-1, obs_dim),
            torch.as_tensor(data["actions"]).reshape(-1, act_dim),
            torch.as_tensor(data["next_obs"]).reshape(-1, obs_dim),
            torch.as_tensor(data["terminated"]).reshape(-1),
            torch.as_tensor(data["absorbing"]).reshape(-1),
        ).numpy()

    def sb3_metrics(self) -> dict[str, float]:
        """The ``train/*`` values SB3 recorded in its last update, so that they are kept in the
        run's history (a resumed run's replayed metrics rows are then complete)."""
        recorded = self.model.logger.name_to_value
        return {k: float(v) for k, v in recorded.items() if k.startswith("train/")}

    def log_prob(self, obs: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
        """log π(acts | obs) of the live policy, ``[N]`` float64 (no gradient)."""
        with torch.no_grad():
            return action_log_prob(self.model, obs.float(), acts.float()).double()

    def policy_std(self) -> float:
        """Mean σ of the action noise (PPO: its state-independent log σ; SAC overrides it)."""
        log_std = getattr(self.model.policy, "log_std", None)
        if not isinstance(log_std, torch.Tensor):
            return float("nan")
        return float(log_std.detach().exp().mean())

    # ------------------------------------------------------------------ behaviour cloning
    def behaviour_clone(
        self, demos: Sequence[Trajectory], epochs: int, batch_size: int, lr: float, seed: int
    ) -> float:
        """Fit the policy to the demos by maximum likelihood; returns the final NLL."""
        data = flatten_trajectories(demos)
        obs, acts = torch.as_tensor(data.obs), torch.as_tensor(data.acts)
        policy = self.model.policy
        actor = getattr(policy, "actor", None)
        params = list(actor.parameters()) if actor is not None else list(policy.parameters())
        opt = torch.optim.Adam(params, lr=lr)
        gen = torch.Generator().manual_seed(seed)
        nll = float("nan")
        policy.set_training_mode(True)
        for _ in range(epochs):
            perm = torch.randperm(len(obs), generator=gen)
            for i in range(0, len(obs), batch_size):
                idx = perm[i : i + batch_size]
                lp = action_log_prob(self.model, obs[idx], self._inside_box(acts[idx]))
                loss = -lp.mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                nll = float(loss.detach())
        policy.set_training_mode(False)
        return nll

    def _inside_box(self, acts: torch.Tensor) -> torch.Tensor:
        if not self.squashed:
            return acts
        # Keep demo actions strictly inside the squashing range so atanh stays finite.
        eps = 1e-4 * (self.act_high - self.act_low).to(acts)
        high, low = self.act_high.to(acts), self.act_low.to(acts)
        return torch.maximum(torch.minimum(acts, high - eps), low + eps)

    # ------------------------------------------------------------------ the recovered policy
    def update_recovered_policy(self) -> None:
        """Fold the sampler's weights into the recovered policy's EMA (if one is kept)."""
        if self.policy_ema is not None:
            self.ema_state = fold_weight_average(self.ema_state, self.model.policy, self.policy_ema)

    @contextlib.contextmanager
    def recovered_policy(self) -> Iterator[Any]:
        """Within the block the SB3 model holds the recovered (EMA, if kept) weights."""
        with holding_weights(self.model.policy, self.ema_state):
            yield self.model

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action of the live model."""
        return self.model.predict(obs, deterministic=True)[0]

    # ------------------------------------------------------------------ checkpoint state
    def state(self) -> dict[str, Any]:
        """Tensors and plain data to resume from (see :meth:`load_state`)."""
        state: dict[str, Any] = {
            "num_timesteps": self.num_timesteps,
            "n_updates": int(getattr(self.model, "_n_updates", 0)),
            "policy": self.model.policy.state_dict(),
            "optim": self._optim_state(),
        }
        if self.ema_state is not None:
            state["policy_ema"] = self.ema_state
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`'s output."""
        self.model.policy.load_state_dict(state["policy"])
        self._load_optim_state(state["optim"])
        self.model.num_timesteps = int(state["num_timesteps"])
        if hasattr(self.model, "_n_updates"):
            self.model._n_updates = int(state["n_updates"])
        ema = state.get("policy_ema")
        self.ema_state = None if ema is None else dict(ema)

    def arrays(self) -> dict[str, np.ndarray]:
        """Large arrays to checkpoint (SAC: its replay buffer)."""
        return {}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore :meth:`arrays`' output."""

    def _optim_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _load_optim_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError
