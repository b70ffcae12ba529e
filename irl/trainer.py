"""The IRL loop (GCL, GAN-GCL, AIRL, GAIL), composed of built parts; it reads no config.

One iteration, as the algorithm box of Finn et al. (2016) (docs/math.md, "The loop"):

    q = sampler.snapshot()                 a frozen copy of q scores every stored step
    rollout = sampler.collect(seed)        from freshly reset, seeded envs
    store.add_rollouts(rollout, q)         scored under every live snapshot (fusion)
    diagnostics                            held-out accuracy and AUC, before the cost sees it
    cost steps                             on windows of demos and samples
    sampler.improve(reward)                on the learned reward (−c, absorbing tail, −α log π)
    evaluate / log / guard / checkpoint

:mod:`irl.build` builds the parts from an ``irl-train`` config; :mod:`irl.run` is the public
entry point.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from irl.buffer import EpisodeStore, WindowBatch
from irl.checkpoint import (
    CheckpointError,
    generator_state,
    read_checkpoint,
    recover_checkpoint,
    rng_state,
    set_rng_state,
    write_checkpoint,
)
from irl.coverage import CoverageSet
from irl.demos import normalized_score
from irl.discriminators import Discriminator
from irl.records import cpu_description
from irl.reward import LearnedReward
from irl.rollouts import evaluate
from irl.samplers import LogProbFn, Sampler
from irl.seeding import (
    companion_rollout_seed,
    eval_seed,
    heldout_rng,
    rollout_seed,
    window_rng,
)
from irl.types import Trajectory

__all__ = ["CheckpointError", "LoopSettings", "Trainer", "TrainingDiverged"]

CHECKPOINT = "checkpoint"
ESS_WARNING = 0.05
# The guard's bound on losses and costs: a cost-learning run that blows up passes it within an
# iteration (algo.lr=100 reached a loss of 1e7), while healthy window energies stay below ~1e4.
EXPLODING = 1e6
# The sampler-drift diagnostics a result carries over time (record field "diagnostics"): its
# name there -> the metric averaged over the iterations between two evaluations.
DIAGNOSTICS = {
    "heldout_auc": "disc/heldout_cost_auc",  # does the cost still rank held-out demos first?
    "absorbing_cost": "disc/absorbing_cost",  # the price of ending an episode
    "policy_std": "rollout/policy_std_mean",  # the sampler's action noise σ
    "demo_energy": "disc/demo_energy",  # learned cost of a demo window, mean
    "sample_energy": "disc/sample_energy",  # ... and of a sample window
    # does the reward re-optimise from scratch? The companion's true return (sampler.companion)
    "companion_true_return": "companion/true_return_mean",
    "torque_weight": "disc/torque_weight",  # w_u of the cost's torque term (cost.torque_term)
}
GUARDED = ("disc/loss", "disc/log_z", "disc/demo_energy", "disc/sample_energy", "bc/nll")


class TrainingDiverged(RuntimeError):
    """A loss, cost or weight became non-finite; the last good checkpoint is kept."""


@dataclass(frozen=True)
class LoopSettings:
    """What the loop needs besides its parts (all plain values).

    Attributes:
        algo: gan_gcl, gcl, airl, airl_state, gail or bc.
        seed: the run's seed (named streams in :mod:`irl.seeding`).
        n_iters: IRL iterations (0 for BC).
        cost_steps: cost/discriminator steps per iteration.
        batch_size: windows per class per cost step.
        window: steps per scored window (the horizon: whole trajectories).
        bc_warmstart_epochs: behaviour-clone the sampler before the first iteration.
        bc_epochs, bc_batch_size, bc_lr: BC itself (``algo=bc``).
        absorbing_floor: quantile of the rollout's step prices that floors c_abs (None: off).
        eval_every, eval_episodes, final_episodes: deterministic evaluations.
        checkpoint_every: iterations between checkpoints.
        config_digest: what a checkpoint must match to be resumed.
        env_id, env_kwargs: the evaluation task as registered.
    """

    algo: str
    seed: int
    n_iters: int
    cost_steps: int
    batch_size: int
    window: int
    bc_warmstart_epochs: int
    bc_epochs: int
    bc_batch_size: int
    bc_lr: float
    absorbing_floor: float | None
    eval_every: int
    eval_episodes: int
    final_episodes: int
    checkpoint_every: int
    config_digest: str
    env_id: str
    env_kwargs: dict[str, Any]


class Trainer:
    """One IRL run: the loop over built parts, its checkpoints and its result."""

    def __init__(
        self,
        settings: LoopSettings,
        *,
        demos: list[Trajectory],
        heldout_demos: list[Trajectory],
        meta: Mapping[str, Any],
        sampler: Sampler,
        cost: Discriminator | None,
        cost_opt: torch.optim.Optimizer | None,
        store: EpisodeStore | None,
        reward: LearnedReward | None,
        run_dir: Path,
        coverage: CoverageSet | None = None,
        companion: Sampler | None = None,
    ) -> None:
        self.s = settings
        self.demos, self.heldout_demos, self.meta = demos, heldout_demos, meta
        self.sampler, self.cost, self.cost_opt = sampler, cost, cost_opt
        self.store, self.reward = store, reward
        self.run_dir = run_dir
        # Live sampler snapshots by store id: (log-density scorer, weights for checkpoints).
        self.snapshots: dict[int, tuple[LogProbFn, dict[str, torch.Tensor]]] = {}
        # Fixed samplers of the store by id (the coverage episodes' policy; irl.coverage).
        self.coverage = coverage
        self.fixed_scorers: dict[int, LogProbFn] = {}
        # A second sampler started from scratch on the same learned reward (its rollouts only
        # join the store: the cost is priced where a fresh optimiser goes); None: off.
        self.companion = companion
        self.window_rng = window_rng(settings.seed)
        self.iteration = 0
        self.wall_clock = 0.0
        # The BC warm start's seconds (outside wall_clock); None: resumed from a checkpoint
        # written before it was kept.
        self.warmstart_s: float | None = 0.0
        # Where the run started and each resume: env steps and the CPU it ran on (a run can be
        # resumed on another machine, and runs are deterministic per machine only).
        self.segments: list[dict[str, Any]] = []
        self.history: list[dict[str, float]] = []
        self.last_eval: dict[str, float] = {}
        self.sink: Callable[[dict[str, float], int], None] = lambda stats, step: None
        self.demo_indices: list[int] = []
        self.demo_file: Path | None = None

    # ------------------------------------------------------------------ one iteration
    def iterate(self) -> dict[str, float]:
        """Run one IRL iteration; returns its metrics."""
        assert self.cost is not None and self.store is not None and self.reward is not None
        t0 = time.perf_counter()
        sid = self._register_snapshot(self.sampler)
        cid = None if self.companion is None else self._register_snapshot(self.companion)
        t_collect = time.perf_counter()
        n_envs = self.sampler.n_envs
        with self._diverging("the sampler's rollout"):
            data = self.sampler.collect(rollout_seed(self.s.seed, self.iteration, n_envs))
        if self.companion is not None:
            with self._diverging("the companion sampler's rollout"):
                self.companion.collect(companion_rollout_seed(self.s.seed, self.iteration, n_envs))
        collect_s = time.perf_counter() - t_collect
        scorers = self._scorers()
        self.store.add_rollouts(self.sampler.recorder.episodes(), sid, scorers)
        if self.companion is not None and cid is not None:  # cid is set iff there is one
            self.store.add_rollouts(self.companion.recorder.episodes(), cid, scorers)
        heldout = self.heldout_diagnostics(sid) if self.store.heldout else {}
        if self.cost.obs_norm is not None:
            self.cost.obs_norm.update(torch.as_tensor(data["obs"]))
        t_cost = time.perf_counter()
        stats = self.cost_steps()
        stats.update(heldout)
        cost_s = time.perf_counter() - t_cost
        self._set_absorbing_floor(data)
        t_train = time.perf_counter()
        with self._diverging("the sampler's update"):
            stats.update(self.sampler.improve(self.reward))
        if self.companion is not None:
            stats.update(self._improve_companion())
        self.sampler.update_recovered_policy()
        train_s = time.perf_counter() - t_train
        self.iteration += 1
        elapsed = time.perf_counter() - t0
        self.wall_clock += elapsed
        rets = self.sampler.recorder.finished_returns()
        stats.update(
            {
                "time/iteration": float(self.iteration),
                "time/env_steps": float(self.sampler.num_timesteps),
                "time/wall_clock_s": self.wall_clock,
                "time/env_steps_per_s": self.sampler.steps_per_iter / elapsed,
                "time/collect_s": collect_s,
                "time/disc_s": cost_s,
                "time/sampler_train_s": train_s,
                "rollout/true_return_mean": float(np.mean(rets)) if rets else float("nan"),
                "rollout/episodes": float(len(rets)),
                "rollout/policy_std_mean": self.sampler.policy_std(),
            }
        )
        stats.update(self._absorbing_stats())
        score = normalized_score(float(np.mean(rets)), self.meta) if rets else None
        if score is not None:  # None: the demos carry no rewards, so no score exists
            stats["rollout/normalized_return"] = score
        if "disc/ess_frac" in stats and stats["disc/ess_frac"] < ESS_WARNING:
            stats["disc/ess_warning"] = 1.0
        return stats

    def _scorers(self) -> dict[int, LogProbFn]:
        """The log-density scorer of every live sampler of the store, fixed ones included."""
        return {**self.fixed_scorers, **{k: fn for k, (fn, _) in self.snapshots.items()}}

    def _add_coverage(self) -> None:
        """Store the coverage episodes once, as a fixed sampler of the fusion."""
        if self.coverage is None or self.store is None:
            return
        sid = self.store.add_sampler(self.coverage.log_prob, fixed=True)
        self.fixed_scorers[sid] = self.coverage.log_prob
        scorers = self._scorers()
        self.store.add_rollouts(self.coverage.episodes, sid, scorers)

    def _improve_companion(self) -> dict[str, float]:
        """The companion's policy update on the learned reward; its metrics as companion/*."""
        assert self.companion is not None and self.reward is not None
        with self._diverging("the companion sampler's update"):
            stats = self.companion.improve(self.reward)
        rets = self.companion.recorder.finished_returns()
        out = {f"companion/{k}": v for k, v in stats.items() if k.startswith("rollout/")}
        out["companion/true_return_mean"] = float(np.mean(rets)) if rets else float("nan")
        out["companion/env_steps"] = float(self.companion.num_timesteps)
        return out

    def _register_snapshot(self, sampler: Sampler) -> int:
        assert self.store is not None
        fn, state = sampler.snapshot()
        sid = self.store.add_sampler(fn)
        self.snapshots[sid] = (fn, state)
        for old in [k for k in self.snapshots if k not in self.store.slot_of]:
            del self.snapshots[old]
        return sid

    def _prepare(self, batch: WindowBatch) -> WindowBatch:
        """The batch in float64, with the actions the cost scores."""
        assert self.reward is not None
        return dataclasses.replace(
            batch,
            obs=batch.obs.double(),
            acts=self.reward.cost_actions(batch.acts.double()),
            start_obs=batch.start_obs.double(),
            end_obs=batch.end_obs.double(),
        )

    def heldout_diagnostics(self, owner: int) -> dict[str, float]:
        """D's accuracy and the cost's AUC on held-out demos vs. ``owner``'s fresh rollouts."""
        assert self.cost is not None and self.store is not None
        n = self.s.batch_size
        rng = heldout_rng(self.s.seed, self.iteration)
        batch = self.store.sample_heldout(n, n, self.s.window, rng, owner)
        out = self.cost.classify(self._prepare(batch))
        return {f"disc/heldout_{k}": v for k, v in out.items()}

    def cost_steps(self) -> dict[str, float]:
        """``cost_steps`` steps of the algorithm's loss on fresh windows; mean metrics."""
        assert self.cost is not None and self.store is not None and self.cost_opt is not None
        stats: dict[str, list[float]] = {}
        n = self.s.batch_size
        for _ in range(self.s.cost_steps):
            batch = self._prepare(self.store.sample(n, n, self.s.window, self.window_rng))
            loss, st = self.cost.loss(batch)
            self.cost_opt.zero_grad()
            loss.backward()
            self.cost_opt.step()
            for k, v in st.items():
                stats.setdefault(k, []).append(v)
        return {k: float(np.mean(v)) for k, v in stats.items()}

    def _set_absorbing_floor(self, data: Mapping[str, np.ndarray]) -> None:
        # Demos that never terminate put the likelihood's c_abs at +∞, while the learned,
        # finite c_abs moves only through sample windows that D already rejects: on Hopper it
        # fell below a walking step's cost and the sampler learned to fall. The floor is this
        # quantile of the rollout's step prices c + α log π (docs/math.md, "Absorbing states").
        if self.s.absorbing_floor is None or self.cost is None or not self.cost.absorbing_floor:
            return
        assert self.reward is not None
        obs = torch.as_tensor(data["obs"]).reshape(-1, data["obs"].shape[-1])
        acts = torch.as_tensor(data["actions"]).reshape(-1, data["actions"].shape[-1])
        log_pi = self.sampler.log_prob(obs, acts)
        with torch.no_grad():
            cost = self.cost.step_cost(obs.double(), self.reward.cost_actions(acts.double()))
        price = cost.double() + self.reward.alpha * log_pi
        self.cost.set_absorbing_floor(float(torch.quantile(price, self.s.absorbing_floor)))

    def _absorbing_stats(self) -> dict[str, float]:
        if self.cost is None or not self.cost.absorbing:
            return {}
        with torch.no_grad():
            out = {"disc/absorbing_cost": float(self.cost.absorbing_cost())}
        if self.cost.absorbing_floor:
            out["disc/absorbing_floor"] = float(self.cost.abs_floor)
        return out

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, episodes: int) -> dict[str, float]:
        """Deterministic recovered-policy true return and expert-normalised score."""
        with self.sampler.recovered_policy() as model:
            rets = evaluate(
                self.s.env_id,
                lambda obs: model.predict(obs, deterministic=True)[0],
                episodes,
                eval_seed(self.s.seed),
                self.s.env_kwargs,
            )
        mean = float(rets.mean())
        stats = {"eval/return_mean": mean, "eval/return_std": float(rets.std())}
        score = normalized_score(mean, self.meta)
        if score is not None:  # None: the demos carry no rewards, so no score exists
            stats["eval/normalized_return"] = score
        return stats

    # ------------------------------------------------------------------ divergence guard
    @contextlib.contextmanager
    def _diverging(self, where: str) -> Iterator[None]:
        """Turn an error raised from non-finite weights (deep in torch.distributions) into
        :class:`TrainingDiverged`; any other error propagates unchanged."""
        try:
            yield
        except (ValueError, RuntimeError) as exc:
            bad = self._non_finite_weights()
            if not bad:
                raise
            raise self._diverged(f"non-finite {', '.join(bad)} in {where} ({exc})") from None

    def _non_finite_weights(self) -> list[str]:
        modules = {"cost": self.cost, "policy": self.sampler.model.policy}
        return [
            f"{name} weights"
            for name, module in modules.items()
            if module is not None
            and any(not bool(torch.isfinite(p).all()) for p in module.parameters())
        ]

    def _diverged(self, what: str) -> TrainingDiverged:
        last = recover_checkpoint(self.run_dir / CHECKPOINT)
        where = f"kept at {last}" if last is not None else "none: no checkpoint was written yet"
        return TrainingDiverged(
            f"training diverged at iteration {self.iteration}: {what}; the last good "
            f"checkpoint is {where} (rerun to resume from it after changing the settings)"
        )

    def check_finite(self, stats: Mapping[str, float]) -> None:
        """Stop with :class:`TrainingDiverged` on a non-finite or exploding loss, cost or
        weight (|value| > ``EXPLODING``)."""
        bad = [
            f"{k}={stats[k]:.3g}"
            for k in GUARDED
            if k in stats and not abs(stats[k]) <= EXPLODING  # NaN fails too
        ]
        bad += self._non_finite_weights()
        if bad:
            raise self._diverged(", ".join(bad))

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> None:
        """Write everything needed to resume, pickle-free, atomically."""
        state: dict[str, Any] = {
            "iteration": self.iteration,
            "wall_clock": self.wall_clock,
            "warmstart_s": self.warmstart_s,
            "segments": json.dumps(self.segments),
            "sampler": self.sampler.state(),
            "rng": rng_state(),
            "window_rng": generator_state(self.window_rng),
            "history": json.dumps(self.history),
            "last_eval": json.dumps(self.last_eval),
            "config_digest": self.s.config_digest,
        }
        arrays = {f"sampler/{k}": v for k, v in self.sampler.arrays().items()}
        if self.cost is not None and self.cost_opt is not None and self.store is not None:
            state["disc"] = self.cost.state_dict()
            state["disc_optim"] = self.cost_opt.state_dict()
            state["snapshots"] = {str(k): sd for k, (_, sd) in self.snapshots.items()}
            arrays.update({f"store/{k}": v for k, v in self.store.state_arrays().items()})
        if self.companion is not None:
            state["companion"] = self.companion.state()
            arrays.update({f"companion/{k}": v for k, v in self.companion.arrays().items()})
        write_checkpoint(self.run_dir / CHECKPOINT, state, arrays)

    def load_checkpoint(self) -> bool:
        """Resume from the run directory's checkpoint if there is one; True if resumed."""
        d = recover_checkpoint(self.run_dir / CHECKPOINT)
        if d is None:
            return False
        state, arrays = read_checkpoint(d)
        if state.get("config_digest") != self.s.config_digest:
            raise CheckpointError(
                f"{d}: checkpoint was written by a different configuration (env, algo, sampler, "
                "cost, seed or n_demos differ); use a new run directory or resume=false"
            )
        try:
            self._restore(state, arrays)
        except (KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
            raise CheckpointError(
                f"{d}: corrupt checkpoint ({exc.__class__.__name__}: {exc})"
            ) from None
        return True

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.sampler.load_state(state["sampler"])
        self.sampler.load_arrays(
            {k[len("sampler/") :]: v for k, v in arrays.items() if k.startswith("sampler/")}
        )
        if self.companion is not None:
            self.companion.load_state(state["companion"])
            self.companion.load_arrays(
                {k[len("companion/") :]: v for k, v in arrays.items() if k.startswith("companion/")}
            )
        self.iteration = int(state["iteration"])
        self.wall_clock = float(state["wall_clock"])
        warm = state.get("warmstart_s")
        self.warmstart_s = None if warm is None else float(warm)
        # Checkpoints written before segments were kept: the earlier segments are unknown.
        self.segments = json.loads(state.get("segments", "[]"))
        self.history = json.loads(state["history"])
        self.last_eval = json.loads(state["last_eval"])
        if self.cost is not None and self.cost_opt is not None and self.store is not None:
            self.cost.load_state_dict(state["disc"])
            self.cost_opt.load_state_dict(state["disc_optim"])
            self.store.load_state_arrays(
                {k[len("store/") :]: v for k, v in arrays.items() if k.startswith("store/")}
            )
            self.snapshots = {
                int(k): (self.sampler.scorer(sd), sd) for k, sd in state["snapshots"].items()
            }
            if self.store.fixed and self.coverage is None:
                raise ValueError("the checkpoint holds coverage episodes; the run has none")
            self.fixed_scorers = {
                sid: self.coverage.log_prob for sid in self.store.fixed if self.coverage
            }
        set_rng_state(state["rng"])
        self.window_rng.bit_generator.state = json.loads(state["window_rng"])

    # ------------------------------------------------------------------ the run
    def train(self, progress: bool = True, resume: bool = True) -> dict[str, Any]:
        """Run (or resume) to the configured budget; returns the final result dict."""
        resumed = resume and self.load_checkpoint()
        self.segments.append(
            {"env_steps": int(self.sampler.num_timesteps), "cpu": cpu_description()}
        )
        if resumed:
            for stats in self.history:  # the metrics files continue the checkpointed rows
                self.sink(stats, int(stats.get("time/env_steps", 0)))
        if self.s.algo == "bc":
            t0 = time.perf_counter()
            nll = self.sampler.behaviour_clone(
                self.demos, self.s.bc_epochs, self.s.bc_batch_size, self.s.bc_lr, self.s.seed
            )
            self.wall_clock = time.perf_counter() - t0
            self.history.append({"time/env_steps": 0.0, "bc/nll": nll})
        else:
            if not resumed and self.iteration == 0:
                if self.s.bc_warmstart_epochs:
                    t_warm = time.perf_counter()
                    self.sampler.behaviour_clone(
                        self.demos, self.s.bc_warmstart_epochs, 256, 1e-3, self.s.seed
                    )
                    self.warmstart_s = time.perf_counter() - t_warm
                self._add_coverage()
                # A first good checkpoint: a run that diverges at once can still be resumed.
                self.save_checkpoint()
            self._loop(progress)
        final = self.evaluate(self.s.final_episodes)
        return self.result(final)

    def _loop(self, progress: bool) -> None:
        bar = tqdm(
            total=self.s.n_iters,
            initial=self.iteration,
            disable=not progress,
            desc=f"{self.s.algo}/{self.sampler.kind} {self.s.env_id}",
            unit="it",
        )
        while self.iteration < self.s.n_iters:
            stats = self.iterate()
            last = self.iteration == self.s.n_iters
            if self.iteration % self.s.eval_every == 0 or last:
                self.last_eval = self.evaluate(self.s.eval_episodes)
                stats.update(self.last_eval)
            self.check_finite(stats)
            self.sink(stats, self.sampler.num_timesteps)
            self.history.append(stats)
            bar.set_postfix(
                ret=f"{stats.get('rollout/true_return_mean', float('nan')):.0f}",
                ess=f"{stats.get('disc/ess_frac', float('nan')):.2f}",
                eval=f"{self.last_eval.get('eval/return_mean', float('nan')):.0f}",
            )
            bar.update(1)
            if self.iteration % self.s.checkpoint_every == 0 or last:
                self.save_checkpoint()
        bar.close()

    def result(self, final: Mapping[str, float]) -> dict[str, Any]:
        """The run's result (``result.json``): final score, budget, speed, curve."""
        steps = self.sampler.num_timesteps
        ess = [h["disc/ess_frac"] for h in self.history if "disc/ess_frac" in h]
        ess_s = [h["disc/ess_frac_samples"] for h in self.history if "disc/ess_frac_samples" in h]
        # Each evaluation's score and the training wall-clock (evaluations left out) there.
        curve, curve_wall = {}, {}
        for h in self.history:
            if "eval/normalized_return" in h:
                at = int(h["time/env_steps"])
                curve[at] = float(h["eval/normalized_return"])
                if "time/wall_clock_s" in h:
                    curve_wall[at] = float(h["time/wall_clock_s"])
        if "eval/normalized_return" in final:
            curve[steps] = float(final["eval/normalized_return"])  # the final, longer evaluation
            curve_wall[steps] = self.wall_clock
        expert = self.meta["expert_return_mean"]
        return {
            "env": self.s.env_id,
            "algo": self.s.algo,
            "sampler": self.sampler.kind if self.s.algo != "bc" else "none",
            "seed": self.s.seed,
            "n_demos": len(self.demos),
            "expert_return": None if expert is None else float(expert),
            "random_return": float(self.meta["random_return_mean"]),
            "env_steps": steps,
            # The companion's env steps come on top of env_steps (None: no companion).
            "companion_env_steps": None if self.companion is None else self.companion.num_timesteps,
            "iterations": self.iteration,
            "return_mean": final["eval/return_mean"],
            "return_std": final["eval/return_std"],
            "normalized_return": final.get("eval/normalized_return"),  # None: no demo rewards
            "eval_episodes": self.s.final_episodes,
            "wall_clock_s": self.wall_clock,
            "steps_per_s": steps / self.wall_clock if self.wall_clock > 0 and steps else 0.0,
            "ess_frac_mean_last10": float(np.mean(ess[-10:])) if ess else None,
            "ess_frac_samples_mean_last10": float(np.mean(ess_s[-10:])) if ess_s else None,
            "curve": [[k, v] for k, v in sorted(curve.items())],
            "curve_wall_clock_s": [[k, v] for k, v in sorted(curve_wall.items())],
            "curve_eval_episodes": self.s.eval_episodes,  # the final one: eval_episodes
            "warmstart_s": self.warmstart_s,
            # Each start and resume: env steps and CPU (more than one: a resumed run).
            "segments": self.segments,
            "diagnostics": diagnostics_series(self.history),
            "window": self.s.window if self.cost is not None else None,
        }


def diagnostics_series(history: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """`DIAGNOSTICS` over training, columnar: ``env_steps`` of each evaluation and, for each
    diagnostic, its mean over the iterations since the previous evaluation (None where no
    iteration logged it, e.g. the absorbing cost of a task without terminations or BC)."""
    out: dict[str, list[Any]] = {"env_steps": [], **{name: [] for name in DIAGNOSTICS}}
    block: list[Mapping[str, Any]] = []
    for stats in history:
        block.append(stats)
        if "eval/normalized_return" not in stats and "eval/return_mean" not in stats:
            continue
        out["env_steps"].append(int(stats.get("time/env_steps", 0)))
        for name, key in DIAGNOSTICS.items():
            values = [float(h[key]) for h in block if key in h and np.isfinite(float(h[key]))]
            out[name].append(float(np.mean(values)) if values else None)
        block = []
    return out
