"""Re-optimisation: a fresh SB3 SAC (or PPO) trained from scratch on a run's learned reward alone
(the true reward never reaches it; :class:`irl.wrappers.LearnedRewardWrapper`), scored by the true
reward. Checkpointed pickle-free and resumable, so long budgets span sessions; ``reward="true"``
runs the control (the same SAC paid the true reward); ``env_id`` trains and scores it in a
transfer target instead of the run's task, and ``eval_every`` scores it along the way
(`irl.reopt_eval`)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from tqdm.auto import tqdm

from irl.checkpoint import (
    CheckpointError,
    load_replay_arrays,
    read_checkpoint,
    replay_arrays,
    rng_state,
    set_rng_state,
    write_checkpoint,
)
from irl.demos import normalized_score
from irl.maze_planner import reoptimize_planner
from irl.reopt_eval import (
    PeriodicEval,
    ReoptTask,
    SB3PeriodicEval,
    reopt_run,
    reopt_shaping,
    reopt_task,
)
from irl.reoptimize_ars import last10_fields, reoptimize_ars
from irl.rollouts import evaluate
from irl.run import Run
from irl.seeding import reopt_eval_seed
from irl.wrappers import LearnedRewardWrapper


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
            ep = info.get("episode_returns")
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
REOPT_ALGOS = ("sac", "ppo", "ars", "planner")


def _is_off_policy(agent: Any) -> bool:
    """SAC (a replay buffer to keep) rather than PPO (a rollout buffer refilled every update)."""
    return isinstance(agent, OffPolicyAlgorithm)


def save_reopt_checkpoint(
    sac: Any, d: Path, settings: str, wall_clock_s: float | None = None
) -> None:
    """Everything a re-optimising SAC or PPO needs to go on (pickle-free): networks,
    optimisers, SAC's temperature and replay buffer, PPO's reward-normalisation statistics, step
    counts, RNG states and its training wall-clock so far."""
    state: dict[str, Any] = {
        "num_timesteps": int(sac.num_timesteps),
        "n_updates": int(sac._n_updates),
        "episode_num": int(sac._episode_num),
        "policy": sac.policy.state_dict(),
        "rng": rng_state(),
        "settings": settings,
    }
    if wall_clock_s is not None:
        state["wall_clock_s"] = float(wall_clock_s)
    if _is_off_policy(sac):
        state.update(_sac_state(sac))
        arrays = replay_arrays(sac.replay_buffer)
    else:
        state.update(_ppo_state(sac))
        arrays = {}  # PPO's rollout buffer is refilled from scratch after every update
    write_checkpoint(d, state, arrays)


def _sac_state(sac: Any) -> dict[str, Any]:
    """SAC's optimisers and, when it learns it, its temperature."""
    state: dict[str, Any] = {
        "optim": {
            "actor": sac.actor.optimizer.state_dict(),
            "critic": sac.critic.optimizer.state_dict(),
        }
    }
    if sac.ent_coef_optimizer is not None:
        state["log_ent_coef"] = sac.log_ent_coef.detach().clone()
        state["optim"]["ent_coef"] = sac.ent_coef_optimizer.state_dict()
    return state


def _ppo_state(ppo: Any) -> dict[str, Any]:
    """PPO's optimiser and, under reward normalisation, the running statistics its rewards are
    divided by."""
    state: dict[str, Any] = {"optim": {"policy": ppo.policy.optimizer.state_dict()}}
    norm = ppo.get_vec_normalize_env()
    if norm is not None:
        rms = norm.ret_rms
        state["ret_rms"] = {
            "mean": torch.as_tensor(rms.mean, dtype=torch.float64),
            "var": torch.as_tensor(rms.var, dtype=torch.float64),
            "count": float(rms.count),
        }
    return state


def _load_ppo_state(ppo: Any, state: dict[str, Any]) -> None:
    """PPO's optimiser and reward-normalisation statistics from a checkpoint's state."""
    ppo.policy.optimizer.load_state_dict(state["optim"]["policy"])
    norm = ppo.get_vec_normalize_env()
    if (norm is None) != ("ret_rms" not in state):
        raise ValueError("reward normalisation differs from the checkpoint's")
    if norm is not None:
        rms = state["ret_rms"]
        for name in ("mean", "var"):
            value = torch.as_tensor(rms[name], dtype=torch.float64).numpy()
            if value.shape != getattr(norm.ret_rms, name).shape:
                raise ValueError(f"ret_rms {name} of shape {value.shape}")
            setattr(norm.ret_rms, name, value)
        norm.ret_rms.count = float(rms["count"])


def load_reopt_checkpoint(sac: Any, d: Path, settings: str) -> tuple[int, float | None]:
    """Restore ``save_reopt_checkpoint``'s state into a fresh SAC or PPO of the same settings;
    its env steps and wall-clock. The episode in progress at the checkpoint starts afresh."""
    state, arrays = read_checkpoint(d)
    if state.get("settings") != settings:
        raise CheckpointError(
            f"{d}: re-optimisation checkpoint of other settings ({state.get('settings')}, "
            f"now {settings}); pass reopt_resume=false to start afresh"
        )
    try:
        sac.policy.load_state_dict(state["policy"])
        if _is_off_policy(sac):
            sac.actor.optimizer.load_state_dict(state["optim"]["actor"])
            sac.critic.optimizer.load_state_dict(state["optim"]["critic"])
            if sac.ent_coef_optimizer is not None:
                with torch.no_grad():
                    sac.log_ent_coef.copy_(state["log_ent_coef"])
                sac.ent_coef_optimizer.load_state_dict(state["optim"]["ent_coef"])
            load_replay_arrays(sac.replay_buffer, arrays)
        else:
            _load_ppo_state(sac, state)
        sac.num_timesteps = int(state["num_timesteps"])
        sac._n_updates = int(state["n_updates"])
        sac._episode_num = int(state["episode_num"])
        set_rng_state(state["rng"])
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
    """Saves the re-optimising SAC or PPO every ``every`` env steps (0: never) and when it ends,
    with its training time so far as ``wall_clock`` reports it (None: unknown)."""

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
        if _is_off_policy(self.model):
            self._save_if_due()

    def _on_rollout_start(self) -> None:
        # PPO: a rollout starts after the update on the previous one, so the policy has learned
        # from every step counted (its rollout buffer is refilled from scratch anyway).
        if not _is_off_policy(self.model):
            self._save_if_due()

    def _save_if_due(self) -> None:
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
    run: Run,
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
    algo: str = "sac",
    env_id: str | None = None,
    eval_every: int = 0,
    eval_episodes: int = 5,
    evals_path: Path | None = None,
    shaping: str | bool = "auto",
    normalize_reward: bool = False,
    squash: bool = False,
) -> dict[str, Any]:
    """Train a fresh SAC on the learned reward only; its true return and normalised score.

    ``algo="ppo"``: a fresh SB3 PPO instead (defaults, ``net_arch`` for both heads;
    checkpointed between its updates). ``algo="ars"``: a linear policy by augmented random search
    (`irl.reoptimize_ars`; seconds on short tasks such as the main job's; not checkpointed).

    ``curve_path``: CSV of the training episodes; ``tail_gamma``: the absorbing tail's discount
    (``"sac"``: SAC's ``gamma``); ``reward="true"``: the control, SAC paid the true reward.
    ``save_dir``: where its actor's weights (``reopt_actor.safetensors``) and, with
    ``video_steps``, an mp4 of its deterministic policy (``reopt_policy.mp4``) go.
    ``checkpoint_dir``: where it is saved every ``checkpoint_every`` env steps and at its end;
    with ``resume`` a checkpoint there of the same settings is carried on to ``steps`` (the
    episode in progress at the checkpoint starts afresh), and one of ``steps`` is just scored.
    ``env_id``: train and score in this env instead of the run's (a transfer target,
    `irl.reopt_eval.reopt_task`; its normalised scores are None: the demos' expert is not its).
    ``eval_every`` > 0: the deterministic policy is also scored every that many env steps on
    ``eval_episodes`` episodes (rows in ``evals_path``), and the mean of the last three is
    ``reoptimized_return_last3_mean`` (`irl.reopt_eval.PeriodicEval`).
    ``shaping``: pay the learned reward with its potential shaping (``"auto"``: in the run's own
    task only, `irl.reopt_eval.reopt_shaping`); recorded as ``reoptimized_shaping`` (None for
    the true reward).
    ``normalize_reward`` (PPO only): the optimiser sees its reward divided by a running
    estimate of the discounted return's std (SB3's ``VecNormalize``, rewards only, as RL Zoo's
    MuJoCo PPO), which makes the protocol blind to the reward's scale; recorded as
    ``reoptimized_normalize_reward``. The curves and scores stay in the env's units.
    ``squash`` (PPO only): its actions are a tanh-squashed Gaussian rescaled to the action bounds
    (`irl.sb3_adapter.SquashedActorCriticPolicy`) instead of a Gaussian the env clips; recorded
    as ``reoptimized_squash``.
    """
    if normalize_reward and algo != "ppo":
        raise ValueError("reopt normalize_reward applies to reopt_algo=ppo only")
    if squash and algo != "ppo":
        raise ValueError("reopt squash applies to reopt_algo=ppo only")
    _check_choices(reward, algo)
    task = reopt_task(run, env_id)
    shaped = reopt_shaping(task, shaping)
    run = reopt_run(run, shaped)
    if algo == "ars":
        evals = PeriodicEval(task, eval_every, eval_episodes, seed, evals_path)
        fields = reoptimize_ars(
            run, steps, seed, episodes, progress, curve_path, tail_gamma, reward, save_dir,
            task=task, evals=evals,
        )  # fmt: skip
    elif algo == "planner":  # exact value iteration on a grid: the point mazes only
        fields = reoptimize_planner(run, seed, episodes, reward, task)
    else:
        fields = _reoptimize_sb3(
            run, task, steps, episodes, seed, ent_coef, progress, net_arch, curve_path,
            tail_gamma, gamma, reward, save_dir, video_steps,
            checkpoint_dir, checkpoint_every, resume, algo, eval_every, eval_episodes, evals_path,
            normalize_reward, squash,
        )  # fmt: skip
    fields["reoptimized_shaping"] = shaped if reward == "learned" else None
    fields["reoptimized_normalize_reward"] = normalize_reward
    fields["reoptimized_squash"] = squash
    return fields


def _reoptimize_sb3(
    run: Run,
    task: ReoptTask,
    steps: int,
    episodes: int,
    seed: int,
    ent_coef: str | float,
    progress: bool,
    net_arch: Sequence[int],
    curve_path: Path | None,
    tail_gamma: str | float,
    gamma: float,
    reward: str,
    save_dir: Path | None,
    video_steps: int,
    checkpoint_dir: Path | None,
    checkpoint_every: int,
    resume: bool,
    algo: str,
    eval_every: int,
    eval_episodes: int,
    evals_path: Path | None,
    normalize_reward: bool = False,
    squash: bool = False,
) -> dict[str, Any]:
    """`reoptimize` with SB3's SAC or PPO (``run``'s reward already shaped as it is paid)."""
    tail = _tail_gamma(tail_gamma, gamma)
    sac = _reopt_agent(
        run, tail, reward, seed, gamma, ent_coef, net_arch, steps, algo, task, normalize_reward,
        squash,
    )  # fmt: skip
    paid = None if reward == "true" else run.reward  # the learned reward, if that is paid
    shaped = None if paid is None else paid.shaping
    floor = None if paid is None else paid.termination_floor
    settings = _reopt_settings(
        reward, ent_coef, tail, gamma, net_arch, seed, task, shaped, floor,
        ppo=None if algo != "ppo" else {"normalize_reward": normalize_reward, "squash": squash},
    )  # fmt: skip
    done, wall = _resume(sac, checkpoint_dir if resume else None, settings, steps)
    evals = PeriodicEval(task, eval_every, eval_episodes, seed, evals_path, resume_at=done)
    curve = _ReoptCurve(steps, curve_path, not progress, reward, resume_at=done)
    saver = None
    if checkpoint_dir is not None:
        saver = _ReoptCheckpoint(checkpoint_dir, settings, checkpoint_every, steps)
    try:
        trained, train_s = _learn(sac, steps, done, wall, [curve], saver, evals)
    finally:
        evals.close()
    # Where the optimiser ended, on both rewards: a last behaviour the learned return prices
    # above the demos' or the recovered policy's but the true reward does not is a cost that
    # can be exploited off the demos' distribution.
    final = last10_fields(curve.episodes)
    if save_dir is not None:
        _save_reopt_outputs(sac, task, save_dir, video_steps, seed)
    policy = lambda obs: sac.predict(obs, deterministic=True)[0]  # noqa: E731
    rets = evaluate(task.env_id, policy, episodes, reopt_eval_seed(seed), task.kwargs)
    record = _reopt_record(run, rets, steps, ent_coef, tail, reward, done, wall, trained, train_s)
    if task.is_target:
        record["reoptimized_normalized_return"] = None
    meta = None if task.is_target else run.demos.meta
    return {**record, **final, **evals.summary(meta), "reoptimized_algo": algo}


def _learn(
    sac: Any,
    steps: int,
    done: int | None,
    wall: float | None,
    callbacks: list[BaseCallback],
    saver: _ReoptCheckpoint | None,
    evals: PeriodicEval,
) -> tuple[int, float]:
    """Train ``sac`` from ``done`` (None: afresh) to ``steps``, scored by ``evals`` on the way;
    the env steps this call trained and its training seconds (the evaluations' left out).
    ``saver`` (if any) sees the training time over all calls."""
    start = time.perf_counter()  # this call's training starts here
    callbacks = [*callbacks, SB3PeriodicEval(evals)]
    if saver is not None:
        saver.wall_clock = lambda: (
            None if wall is None else wall + time.perf_counter() - start - evals.seconds
        )
        callbacks = [*callbacks, saver]
    if done is not None and done >= steps:
        for cb in callbacks:
            if isinstance(cb, _ReoptCurve):
                cb._on_training_end()  # nothing left to train: close the bar and the curve
        return 0, 0.0
    trained = steps - (done or 0)
    sac.learn(total_timesteps=trained, callback=callbacks, reset_num_timesteps=done is None)
    return trained, time.perf_counter() - start - evals.seconds


def _tail_gamma(tail_gamma: str | float, gamma: float) -> float:
    """The absorbing tail's discount for SAC/PPO.

    The cost prices a stop as absorbing steps to the horizon, summed with the cost's own γ
    (1 for GCL/GAN-GCL: up to ~1000 steps in one reward). SAC maximises a γ = 0.99 return, so
    that lump weighs ~10x more for it than the absorbing state it stands for, and it depends on
    the time step, which SAC does not observe: discounted by SAC's γ (``"sac"``) it is the
    absorbing state's value in SAC's own objective (DAC's absorbing-state bootstrap).
    """
    return gamma if tail_gamma == "sac" else float(tail_gamma)


def _check_choices(reward: str, algo: str) -> None:
    if reward not in ("learned", "true"):
        raise ValueError(f"reopt reward must be 'learned' or 'true', not {reward!r}")
    if algo not in REOPT_ALGOS:
        raise ValueError(f"reopt algo must be one of {REOPT_ALGOS}, not {algo!r}")


def _reopt_settings(
    reward: str,
    ent_coef: str | float,
    tail: float,
    gamma: float,
    net_arch: Sequence[int],
    seed: int,
    task: ReoptTask | None = None,
    shaping: bool | None = True,
    termination_floor: float | None = None,
    ppo: dict[str, bool] | None = None,
) -> str:
    """What a checkpoint must agree on to be carried on (the budget may grow); a transfer
    target's id is part of it (the run's own task is not, as before targets existed), and so is
    a learned reward paid without its shaping (with it, as before the option, it is not) or
    with a termination floor (`irl.reward.LearnedReward.termination_floor`). ``ppo``: PPO's
    options (a SAC's settings, checkpointed before PPO was, have no ``algo``)."""
    settings: dict[str, Any] = {
        "reward": reward,
        "ent_coef": str(ent_coef),
        "tail_gamma": tail,
        "gamma": gamma,
        "net_arch": [int(n) for n in net_arch],
        "seed": seed,
    }
    if task is not None and task.is_target:
        settings["env"] = task.env_id
    if shaping is False:
        settings["shaping"] = False
    if termination_floor is not None:
        settings["termination_floor"] = termination_floor
    if ppo is not None:
        settings = {**settings, "algo": "ppo", **ppo}
    return json.dumps(settings, sort_keys=True)


def _resume(
    sac: Any, checkpoint_dir: Path | None, settings: str, steps: int
) -> tuple[int | None, float | None]:
    """Carry a checkpointed re-optimisation on: (steps done or None, SAC's training time so far
    or None when unknown; 0.0 for a fresh start)."""
    if checkpoint_dir is None or not checkpoint_dir.exists():
        return None, 0.0
    done, wall = load_reopt_checkpoint(sac, checkpoint_dir, settings)
    if done > _steps_trained(sac, steps):
        raise CheckpointError(
            f"{checkpoint_dir}: the re-optimisation there has {done} steps, more than "
            f"reopt_steps={steps}; pass reopt_steps={done} or more, or reopt_resume=false"
        )
    print(f"irl-eval: re-optimisation resumes at step {done} of {steps} ({checkpoint_dir})")
    return done, wall


def _steps_trained(agent: Any, steps: int) -> int:
    """The env steps ``agent`` has taken once trained for ``steps``: PPO collects whole rollouts,
    so it stops at the first multiple of its rollout size at or past ``steps``."""
    if _is_off_policy(agent):
        return steps
    size = int(agent.n_steps) * int(agent.n_envs)
    return -(-steps // size) * size


def _reopt_record(
    run: Run,
    rets: np.ndarray,
    steps: int,
    ent_coef: str | float,
    tail: float,
    reward: str,
    done: int | None,
    wall: float | None,
    trained: int,
    train_s: float,
) -> dict[str, Any]:
    """The re-optimisation's record fields."""
    mean = float(rets.mean())
    return {
        "reoptimized_return_mean": mean,
        "reoptimized_normalized_return": normalized_score(mean, run.demos.meta),
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
    }


def _reopt_agent(
    run: Run,
    tail: float,
    reward: str,
    seed: int,
    gamma: float,
    ent_coef: str | float,
    net_arch: Sequence[int],
    steps: int,
    algo: str = "sac",
    task: ReoptTask | None = None,
    normalize_reward: bool = False,
    squash: bool = False,
) -> Any:
    """A fresh SB3 SAC (or PPO) on the task (``task``: another env, e.g. a transfer target),
    paid the learned reward (or the true one: the control); PPO's reward optionally divided by
    a running std of its discounted return (``normalize_reward``), its actions optionally
    tanh-squashed into the bounds (``squash``)."""
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    env = LearnedRewardWrapper(
        run.make_env() if task is None else task.make(),
        dataclasses.replace(run.learned_reward, tail_gamma=tail),
        pay_true_reward=reward == "true",
    )
    if algo == "ppo":
        arch = list(net_arch)
        kwargs = {"net_arch": {"pi": arch, "vf": arch}}
        venv: Any = env
        if normalize_reward:
            venv = VecNormalize(DummyVecEnv([lambda: env]), norm_obs=False, gamma=gamma)
        policy: Any = "MlpPolicy"
        if squash:
            from irl.sb3_adapter import SquashedActorCriticPolicy

            policy = SquashedActorCriticPolicy
        return PPO(policy, venv, seed=seed, gamma=gamma, policy_kwargs=kwargs, device="cpu")
    return SAC(
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


def _save_reopt_outputs(
    sac: Any, task: ReoptTask, save_dir: Path, video_steps: int, seed: int
) -> None:
    """What the optimiser found, kept to be watched or scored again (pickle-free)."""
    actor = getattr(sac.policy, "actor", sac.policy)  # SAC: its actor; PPO: the policy
    save_file(
        {k: v.contiguous() for k, v in actor.state_dict().items()},
        str(save_dir / "reopt_actor.safetensors"),
    )
    if video_steps > 0:
        from irl.cli.train import write_policy_video

        write_policy_video(
            task.env_id,
            task.kwargs,
            lambda obs: sac.predict(obs, deterministic=True)[0],
            save_dir / "reopt_policy.mp4",
            video_steps,
            320,
            240,
            reopt_eval_seed(seed),
        )
