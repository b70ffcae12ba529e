"""Episode store for the MuJoCo IRL loop: demos and sampler rollouts, per-step log π under every
live sampler snapshot (the fusion matrix of docs/math.md#sample-fusion, kept per step so that
windows can be scored), and sampling of fixed-length windows (a window as long as the horizon is
a whole trajectory; docs/math.md#windows-and-the-start-state-potential).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from irl.objectives import fused_log_q
from irl.types import Trajectory

__all__ = ["Episode", "EpisodeStore", "WindowBatch"]

# Scores per-step log π of (obs [T, d], acts [T, a]) under one sampler snapshot, float64 [T].
LogProbFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Episode:
    """One stored episode: ``obs`` [T+1, d], ``acts`` [T, a], ``terminated`` at its end or not,
    ``owner`` the sampler id (-1 for a demonstration), ``log_pi`` [T, K] per-step log π under
    each live snapshot slot (NaN where a slot is empty), ``ret`` the true return (for logging)."""

    obs: np.ndarray
    acts: np.ndarray
    terminated: bool
    owner: int
    log_pi: np.ndarray
    ret: float

    def __len__(self) -> int:
        return int(self.acts.shape[0])


@dataclass(frozen=True, eq=False)
class WindowBatch:
    """A batch of windows padded to length L: tensors ``obs`` [B, L, d], ``acts`` [B, L, a],
    ``mask`` [B, L] (real steps), ``n_absorbing`` [B] absorbing steps that follow a termination
    inside the window up to L, ``absorbing_tail`` [B] absorbing steps after the window up to the
    horizon (only for windows that end terminated), ``start_obs`` [B, d], ``end_obs`` [B, d],
    ``end_alive`` [B] (the window ends in a live state, so h(s_end) applies), ``log_q`` [B]
    log-density of the window under the store's ``fusion`` choice, ``is_demo`` [B].

    Frozen: derive a changed batch with ``dataclasses.replace``."""

    obs: Tensor
    acts: Tensor
    mask: Tensor
    n_absorbing: Tensor
    absorbing_tail: Tensor
    start_obs: Tensor
    end_obs: Tensor
    end_alive: Tensor
    log_q: Tensor
    is_demo: Tensor
    # Share of absorbing-state visits (after terminations, up to the horizon) among all visits of
    # the episodes the demo and the sample windows were drawn from: (demo side, sample side).
    absorbing_frac: tuple[float, float] = (0.0, 0.0)


def _score_all(log_prob: LogProbFn, episodes: Sequence[Episode]) -> list[np.ndarray]:
    """log π of every step of ``episodes`` in one batched call, split back per episode."""
    if not episodes:
        return []
    obs = np.concatenate([e.obs[:-1] for e in episodes])
    acts = np.concatenate([e.acts for e in episodes])
    lp = log_prob(obs, acts)
    return np.split(lp, np.cumsum([len(e) for e in episodes])[:-1])


class EpisodeStore:
    """Demos plus the rollouts of the last ``max_samplers`` sampler snapshots.

    Every stored step carries log π under every live snapshot, so the balance-heuristic density
    q_bg = Σ_k (n_k/n) q_k of any window is exact for the windows the store draws (n_k = window
    starts from sampler k). ``fusion`` picks which density scores a window: ``"fused"`` (the
    consistent choice), ``"own"`` (its generating snapshot only, as the reference code) or
    ``"current"`` (the newest snapshot).

    Up to ``fixed_samplers`` further samplers are *fixed* (:meth:`add_sampler` with
    ``fixed=True``): their rollouts are stored once, take part in the fusion like a snapshot's,
    and are never evicted (`irl.coverage`: uniformly random episodes).
    """

    def __init__(
        self,
        max_samplers: int = 20,
        fusion: str = "fused",
        horizon: int = 1000,
        absorbing: bool = True,
        fixed_samplers: int = 0,
    ) -> None:
        if fusion not in ("fused", "own", "current"):
            raise ValueError(f"fusion must be fused, own or current, got {fusion!r}")
        if max_samplers < 1:
            raise ValueError("max_samplers must be at least 1")
        if fixed_samplers < 0:
            raise ValueError("fixed_samplers must be at least 0")
        self.max_samplers = max_samplers
        self.fixed_samplers = fixed_samplers
        self.n_slots = max_samplers + fixed_samplers  # columns of every episode's log_pi
        self.fixed: set[int] = set()  # ids of the fixed samplers (never evicted)
        self.fusion = fusion
        self.horizon = horizon
        self.absorbing = absorbing
        self.demos: list[Episode] = []
        self.heldout: list[Episode] = []  # demos never trained on: held-out diagnostics only
        self.samples: list[Episode] = []
        self.slot_of: dict[int, int] = {}  # sampler id -> column of log_pi
        self.next_sampler = 0

    # ---------------------------------------------------------------- bookkeeping
    @property
    def live_samplers(self) -> list[int]:
        """Ids of the snapshots whose rollouts are stored, oldest first."""
        return sorted(self.slot_of)

    def _empty_log_pi(self, t: int) -> np.ndarray:
        return np.full((t, self.n_slots), np.nan, dtype=np.float64)

    def add_demos(self, trajectories: Sequence[Trajectory], heldout: bool = False) -> None:
        """Store demonstrations (owner -1); they are scored by every snapshot like rollouts.

        ``heldout`` demos are never drawn for training, only by :meth:`sample_heldout`."""
        group = self.heldout if heldout else self.demos
        for tr in trajectories:
            group.append(
                Episode(
                    obs=np.asarray(tr.obs, dtype=np.float32),
                    acts=np.asarray(tr.acts, dtype=np.float32),
                    terminated=bool(tr.terminated[-1]),
                    owner=-1,
                    log_pi=self._empty_log_pi(len(tr)),
                    ret=tr.ret,
                )
            )

    def add_sampler(self, log_prob: LogProbFn, fixed: bool = False) -> int:
        """Register a new snapshot: evict the oldest beyond ``max_samplers``, then score every
        stored step under the new one. Returns its id. A ``fixed`` sampler evicts nothing and is
        never evicted.

        Raises:
            ValueError: ``fixed`` and the store already holds ``fixed_samplers`` of them.
        """
        if fixed and len(self.fixed) >= self.fixed_samplers:
            raise ValueError(f"the store holds at most {self.fixed_samplers} fixed samplers")
        moving = [k for k in self.slot_of if k not in self.fixed]
        if not fixed and len(moving) == self.max_samplers:
            oldest = min(moving)
            slot = self.slot_of.pop(oldest)
            self.samples = [e for e in self.samples if e.owner != oldest]
            for e in self.demos + self.heldout + self.samples:
                e.log_pi[:, slot] = np.nan
        else:
            used = set(self.slot_of.values())
            slot = next(s for s in range(self.n_slots) if s not in used)
        sid = self.next_sampler
        self.next_sampler += 1
        self.slot_of[sid] = slot
        if fixed:
            self.fixed.add(sid)
        everything = self.demos + self.heldout + self.samples
        for e, lp in zip(everything, _score_all(log_prob, everything), strict=True):
            e.log_pi[:, slot] = lp
        return sid

    def add_rollouts(
        self,
        episodes: Sequence[tuple[np.ndarray, np.ndarray, bool, float]],
        owner: int,
        log_probs: dict[int, LogProbFn],
    ) -> None:
        """Store (obs [T+1,d], acts [T,a], terminated, return) rollouts of snapshot ``owner``,
        scored under every live snapshot (``log_probs`` maps id -> scorer)."""
        if owner not in self.slot_of:
            raise ValueError(f"sampler {owner} is not registered")
        missing = set(self.slot_of) - set(log_probs)
        if missing:
            raise ValueError(f"no log-prob function for live samplers {sorted(missing)}")
        new = [
            Episode(
                obs=obs,
                acts=acts,
                terminated=terminated,
                owner=owner,
                log_pi=self._empty_log_pi(acts.shape[0]),
                ret=ret,
            )
            for obs, acts, terminated, ret in episodes
        ]
        for sid, slot in self.slot_of.items():
            for e, lp in zip(new, _score_all(log_probs[sid], new), strict=True):
                e.log_pi[:, slot] = lp
        self.samples.extend(new)

    # ---------------------------------------------------------------- window sampling
    def _n_starts(self, episode: Episode, length: int) -> int:
        return max(len(episode) - length + 1, 1)

    def _start_counts(self, length: int) -> dict[int, int]:
        """Window start positions of each live snapshot's stored rollouts (demos count for none)."""
        counts = dict.fromkeys(self.slot_of, 0)
        for e in self.samples:
            counts[e.owner] += self._n_starts(e, length)
        return counts

    def _draw(
        self, episodes: list[Episode], n: int, length: int, rng: np.random.Generator
    ) -> list[tuple[Episode, int]]:
        if not episodes:
            raise ValueError("no episodes to draw windows from")
        weights = np.array([self._n_starts(e, length) for e in episodes], dtype=np.float64)
        idx = rng.choice(len(episodes), size=n, p=weights / weights.sum())
        out = []
        for i in idx:
            e = episodes[int(i)]
            out.append((e, int(rng.integers(0, self._n_starts(e, length)))))
        return out

    def sample(
        self, n_demo: int, n_samp: int, length: int, rng: np.random.Generator
    ) -> WindowBatch:
        """Draw ``n_demo`` demo windows and ``n_samp`` rollout windows of ``length`` steps,
        uniformly over start positions, with their fused log q (see class doc)."""
        picks = self._draw(self.demos, n_demo, length, rng) + self._draw(
            self.samples, n_samp, length, rng
        )
        fracs = (self.absorbing_fraction(self.demos), self.absorbing_fraction(self.samples))
        return self._collate(picks, n_demo, length, fracs)

    def sample_heldout(
        self, n_demo: int, n_samp: int, length: int, rng: np.random.Generator, owner: int
    ) -> WindowBatch:
        """Windows of held-out demos against windows of snapshot ``owner``'s rollouts, scored
        like :meth:`sample` (call before training on that snapshot's rollouts: both unseen)."""
        fresh = [e for e in self.samples if e.owner == owner]
        picks = self._draw(self.heldout, n_demo, length, rng) + self._draw(
            fresh, n_samp, length, rng
        )
        fracs = (self.absorbing_fraction(self.heldout), self.absorbing_fraction(fresh))
        return self._collate(picks, n_demo, length, fracs)

    def absorbing_fraction(self, episodes: Sequence[Episode]) -> float:
        """Absorbing-state visits ÷ all visits of ``episodes`` when each terminated one sits in
        the absorbing state up to the horizon (0 without absorbing states)."""
        if not self.absorbing or not episodes:
            return 0.0
        real = sum(len(e) for e in episodes)
        absorbing = sum(max(self.horizon - len(e), 0) for e in episodes if e.terminated)
        return absorbing / (real + absorbing)

    def _fused_log_q(self, sums: np.ndarray, length: int) -> np.ndarray:
        """Balance-heuristic log q [B] of windows from their per-slot log π sums ``sums``
        [B, max_samplers]: n_k = window starts of snapshot k (:func:`irl.objectives.fused_log_q`).
        """
        counts = self._start_counts(length)
        cols = [self.slot_of[sid] for sid in counts]
        n_k = torch.tensor([float(n) for n in counts.values()], dtype=torch.float64)
        return fused_log_q(torch.from_numpy(sums[:, cols]), n_k).numpy()

    def _window_log_q(self, e: Episode, start: int, stop: int) -> float:
        rows = e.log_pi[start:stop]
        if self.fusion == "own" and e.owner >= 0:
            return float(rows[:, self.slot_of[e.owner]].sum())
        if self.fusion == "current" or (self.fusion == "own" and e.owner < 0):
            newest = max(k for k in self.slot_of if k not in self.fixed)
            return float(rows[:, self.slot_of[newest]].sum())
        return math.nan  # fused: filled in by _collate with the counts

    def _collate(
        self,
        picks: list[tuple[Episode, int]],
        n_demo: int,
        length: int,
        fracs: tuple[float, float] = (0.0, 0.0),
    ) -> WindowBatch:
        b = len(picks)
        d = picks[0][0].obs.shape[1]
        a = picks[0][0].acts.shape[1]
        obs = np.zeros((b, length, d), np.float32)
        acts = np.zeros((b, length, a), np.float32)
        mask = np.zeros((b, length), bool)
        n_abs = np.zeros(b, np.float64)
        tail = np.zeros(b, np.float64)
        start_obs = np.zeros((b, d), np.float32)
        end_obs = np.zeros((b, d), np.float32)
        end_alive = np.zeros(b, bool)
        log_q = np.zeros(b, np.float64)
        sums = np.zeros((b, self.n_slots), np.float64)
        for i, (e, s) in enumerate(picks):
            stop = min(s + length, len(e))
            n = stop - s
            obs[i, :n] = e.obs[s:stop]
            acts[i, :n] = e.acts[s:stop]
            mask[i, :n] = True
            start_obs[i] = e.obs[s]
            end_obs[i] = e.obs[stop]
            ended_here = stop == len(e)
            if ended_here and e.terminated and self.absorbing:
                # Absorbing state after termination (DAC): the trajectory goes on, at the
                # absorbing cost, up to the window length and then up to the horizon.
                n_abs[i] = length - n
                tail[i] = max(self.horizon - len(e) - (length - n), 0)
            end_alive[i] = not (ended_here and e.terminated)
            log_q[i] = self._window_log_q(e, s, stop)
            sums[i] = e.log_pi[s:stop].sum(0)
        if self.fusion == "fused":
            log_q = self._fused_log_q(sums, length)
        if not np.all(np.isfinite(log_q)):
            raise FloatingPointError("non-finite window log q: a snapshot was not scored")
        is_demo = np.zeros(b, bool)
        is_demo[:n_demo] = True
        return WindowBatch(
            obs=torch.from_numpy(obs),
            acts=torch.from_numpy(acts),
            mask=torch.from_numpy(mask),
            n_absorbing=torch.from_numpy(n_abs),
            absorbing_tail=torch.from_numpy(tail),
            start_obs=torch.from_numpy(start_obs),
            end_obs=torch.from_numpy(end_obs),
            end_alive=torch.from_numpy(end_alive),
            log_q=torch.from_numpy(log_q),
            is_demo=torch.from_numpy(is_demo),
            absorbing_frac=fracs,
        )

    # ---------------------------------------------------------------- persistence
    def state_arrays(self) -> dict[str, np.ndarray]:
        """All stored data as plain arrays (for a pickle-free checkpoint)."""
        out: dict[str, np.ndarray] = {}
        for name, group in (("demo", self.demos), ("held", self.heldout), ("samp", self.samples)):
            out[f"{name}_lengths"] = np.array([len(e) for e in group], np.int64)
            if group:
                out[f"{name}_obs"] = np.concatenate([e.obs for e in group])
                out[f"{name}_acts"] = np.concatenate([e.acts for e in group])
                out[f"{name}_log_pi"] = np.concatenate([e.log_pi for e in group])
            out[f"{name}_terminated"] = np.array([e.terminated for e in group], bool)
            out[f"{name}_owner"] = np.array([e.owner for e in group], np.int64)
            out[f"{name}_ret"] = np.array([e.ret for e in group], np.float64)
        ids = sorted(self.slot_of)
        out["slot_ids"] = np.array(ids, np.int64)
        out["slot_cols"] = np.array([self.slot_of[i] for i in ids], np.int64)
        out["next_sampler"] = np.array(self.next_sampler, np.int64)
        out["fixed_ids"] = np.array(sorted(self.fixed), np.int64)
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state_arrays` saved."""
        for name in ("demo", "held", "samp"):
            lengths = arrays[f"{name}_lengths"]
            group: list[Episode] = []
            o = s = 0
            for i, t in enumerate(lengths.tolist()):
                group.append(
                    Episode(
                        obs=arrays[f"{name}_obs"][o : o + t + 1].copy(),
                        acts=arrays[f"{name}_acts"][s : s + t].copy(),
                        terminated=bool(arrays[f"{name}_terminated"][i]),
                        owner=int(arrays[f"{name}_owner"][i]),
                        log_pi=arrays[f"{name}_log_pi"][s : s + t].copy(),
                        ret=float(arrays[f"{name}_ret"][i]),
                    )
                )
                o += t + 1
                s += t
            if name == "demo":
                self.demos = group
            elif name == "held":
                self.heldout = group
            else:
                self.samples = group
        self.slot_of = {
            int(i): int(c)
            for i, c in zip(arrays["slot_ids"].tolist(), arrays["slot_cols"].tolist(), strict=True)
        }
        self.next_sampler = int(arrays["next_sampler"])
        # Checkpoints from before fixed samplers existed hold none.
        fixed = arrays.get("fixed_ids", np.zeros(0, np.int64))
        self.fixed = {int(i) for i in fixed.tolist()}
        if not self.fixed <= set(self.slot_of) or len(self.fixed) > self.fixed_samplers:
            raise ValueError("fixed sampler ids do not match the store's samplers")
