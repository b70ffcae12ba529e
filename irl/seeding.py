"""Named seed streams of a run: every random source derives from the run's seed here, so no two
streams collide and a changed stream is one edit. The numbers are those every recorded result
was produced with."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = [
    "companion_rollout_seed",
    "companion_seed",
    "coverage_seed",
    "eval_seed",
    "heldout_rng",
    "learned_return_seed",
    "random_rollout_seed",
    "reopt_eval_seed",
    "rollout_seed",
    "run_eval_seed",
    "seed_everything",
    "video_seed",
    "window_rng",
]


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's legacy global (SB3 draws from it) and torch's RNGs."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002
    torch.manual_seed(seed)


def rollout_seed(seed: int, iteration: int, n_envs: int) -> int:
    """Reset seed of the sampler's envs at an iteration (env i gets this + i)."""
    return seed * 100_003 + iteration * n_envs


def window_rng(seed: int) -> np.random.Generator:
    """The generator that draws the cost steps' windows."""
    return np.random.default_rng(seed + 7919)


def heldout_rng(seed: int, iteration: int) -> np.random.Generator:
    """Held-out diagnostics' own generator: the diagnostic never shifts training."""
    return np.random.default_rng([seed, iteration, 17])


def eval_seed(seed: int) -> int:
    """First reset seed of training-time evaluation episodes (disjoint from demos/training)."""
    return 1_000_000 + seed * 1000


def video_seed(seed: int) -> int:
    """Reset seed of the run's policy video."""
    return 2_000_000 + seed


def reopt_eval_seed(seed: int) -> int:
    """Evaluation episodes of a re-optimised policy."""
    return 3_000_000 + seed


def random_rollout_seed(seed: int) -> int:
    """Random-policy episodes of the reward correlations."""
    return 4_000_000 + seed


def run_eval_seed(seed: int) -> int:
    """``irl-eval``'s recovered-policy evaluation episodes."""
    return 5_000_000 + seed


def learned_return_seed(seed: int) -> int:
    """Policy episodes scored by the learned reward in ``irl-eval``."""
    return 6_000_000 + seed


def coverage_seed(seed: int) -> int:
    """First reset seed of the run's coverage episodes (`irl.coverage`)."""
    return 7_000_000 + seed


def companion_seed(seed: int) -> int:
    """Seed of the companion sampler's weights (``experimental.scratch_sampler``)."""
    return 8_000_000 + seed


def companion_rollout_seed(seed: int, iteration: int, n_envs: int) -> int:
    """Reset seed of the companion sampler's envs at an iteration (env i gets this + i)."""
    return 9_000_000 + seed * 100_003 + iteration * n_envs
