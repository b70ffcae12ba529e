"""irl: maximum-entropy inverse reinforcement learning (GCL, GAN-GCL, AIRL, GAIL) in PyTorch.

The learned reward is the product::

    import irl
    run = irl.train(["env=hopper"])           # as `irl-train env=hopper`
    run = irl.load_run("outputs/train/...")   # any finished run directory
    r = run.reward(obs, acts, next_obs, terminated)
    env = irl.LearnedRewardWrapper(gym.make("Hopper-v5"), run.reward)
    irl.demos.from_arrays(obs, acts, episode_lengths=..., env_id=...)   # your own demos
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "LearnedReward",
    "LearnedRewardWrapper",
    "RewardVecEnvWrapper",
    "Run",
    "load_run",
    "train",
]

if TYPE_CHECKING:
    from irl.reward import LearnedReward
    from irl.run import Run, load_run, train
    from irl.wrappers import LearnedRewardWrapper, RewardVecEnvWrapper

_HOME = {
    "LearnedReward": "irl.reward",
    "LearnedRewardWrapper": "irl.wrappers",
    "RewardVecEnvWrapper": "irl.wrappers",
    "Run": "irl.run",
    "load_run": "irl.run",
    "train": "irl.run",
}


def __getattr__(name: str) -> Any:
    """The public API, imported on first use (``import irl`` stays light)."""
    import importlib

    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    if name == "demos":  # irl.demos: the demo file format and every way in (from_arrays, ...)
        return importlib.import_module("irl.demos")
    raise AttributeError(f"module 'irl' has no attribute {name!r}")
