"""Slippery HalfCheetah: a change of dynamics for reward transfer.

Registered as ``irl/SlipperyHalfCheetah-v5``: gymnasium's HalfCheetah-v5 (same reward,
observation, action and 1000-step limit) with the sliding friction coefficient of every geom,
floor included, multiplied by ``friction_scale`` = 0.5 (0.4 → 0.2 in the stock model). The
torsional and rolling coefficients (columns 1 and 2 of ``model.geom_friction``) are unchanged.
MuJoCo combines two touching geoms' friction by their maximum, so every foot-floor contact has
half the sliding friction of HalfCheetah-v5: the same torques make the feet slip more.
"""

from __future__ import annotations

from typing import Any

from gymnasium import utils
from gymnasium.envs.mujoco import half_cheetah_v5


class SlipperyHalfCheetahEnv(half_cheetah_v5.HalfCheetahEnv):
    """HalfCheetah-v5 with every geom's sliding friction scaled by ``friction_scale``."""

    def __init__(self, friction_scale: float = 0.5, **kwargs: Any) -> None:
        """Build HalfCheetah-v5, then scale its sliding friction.

        Args:
            friction_scale: factor on column 0 (sliding) of ``model.geom_friction``; > 0.
            **kwargs: HalfCheetah-v5 keyword arguments.
        """
        if not friction_scale > 0:
            raise ValueError(
                f"SlipperyHalfCheetahEnv: friction_scale must be > 0, got {friction_scale}"
            )
        super().__init__(**kwargs)
        self.friction_scale = float(friction_scale)
        self.model.geom_friction[:, 0] *= self.friction_scale
        utils.EzPickle.__init__(self, friction_scale, **kwargs)
