"""The learned reward: the one owner of the per-step reward a sampler or a fresh optimiser sees.

A trained cost model (:class:`irl.discriminators.Discriminator`) scores a transition
(x, u, x') with the reward (docs/math.md, "The generator's reward")

    r(x, u, x') = −c_θ(x, u)                                  (GAIL: log D(x, u))
                  + γ h(x') − h(x)                             (with a potential h, if shaping)
                  − [terminated] · γ Σ_{i<n} γ^i c_abs          (the absorbing tail, DAC)

where n is the number of steps left to the horizon after a termination: an episode that stops
early is charged the cost of sitting in the absorbing state until the horizon, so the reward does
not pay an optimiser to end episodes. The sampler of the MaxEnt RL objective also receives
−α log π(u|x) (:meth:`LearnedReward.with_entropy`); a fresh optimiser such as SAC adds its own.

A termination's price: the MaxEnt likelihood raises c_abs until the model falls no more often
than the demos (∂ log L/∂c_abs = N·(E_pθ[absorbing steps] − the demos' mean), without bound
when they never fall); but c_abs moves only through the sampler's terminations, a sampler
warm-started on the demos falls too rarely to take it there, and the recipe's Hopper, Walker2d
and Ant runs end with c_abs below the cost of an average demo step: a fresh optimiser paid that
reward learns to fall at once. The reward a run hands out (:func:`irl.load_run`) therefore
prices the absorbing step at no less than the costliest step of its training demos
(``termination_floor``, :func:`termination_floor`): no termination is worth more than anything
the expert did (an expert's rare falls, 3 of the 50 shipped Hopper demos, count with their
living steps). The training loop pays c_abs as learned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from irl.discriminators import Discriminator
from irl.objectives import generator_reward
from irl.types import Trajectory

__all__ = ["LearnedReward", "demo_cost_ceiling", "termination_floor"]


@dataclass
class LearnedReward:
    """A learned per-step reward, callable on batched numpy transitions.

    Attributes:
        cost: the trained cost model (float64).
        horizon: episode length that a termination's absorbing tail runs to.
        shaping: add the potential's shaping γh(x') − h(x) (AIRL's f) when the model has one.
        tail_gamma: discount of the absorbing tail (``None``: the cost's own γ). A fresh
            optimiser that discounts by γ' sees the tail as the absorbing state it stands for
            only when the tail is discounted by γ' too.
        action_low, action_high: when set, actions are clipped to this box before the cost
            scores them (``cost_action=executed``: the cost prices what the env received).
        alpha: entropy weight of the sampler's −α log π term (0 for GAIL, whose log D already
            is the reward).
        termination_floor: the absorbing step is priced at no less than this cost (None: c_abs
            as learned, as the training loop pays it); :func:`irl.load_run` sets it to
            :func:`demo_cost_ceiling` of the run's training demos.
    """

    cost: Discriminator
    horizon: int
    shaping: bool = True
    tail_gamma: float | None = None
    action_low: np.ndarray | None = None
    action_high: np.ndarray | None = None
    alpha: float = 1.0
    termination_floor: float | None = None

    def __call__(
        self,
        obs: np.ndarray,
        acts: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray | None = None,
        steps_left: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per-step learned reward ``[N]`` (float64) of ``N`` transitions.

        Args:
            obs: ``[N, obs_dim]`` observations before each step.
            acts: ``[N, act_dim]`` actions in env units.
            next_obs: ``[N, obs_dim]`` observations after each step.
            terminated: ``[N]`` bool, MDP termination after the step (``None``: none did).
            steps_left: ``[N]`` absorbing steps after a termination up to the horizon
                (``None``: ``horizon − 1``, the longest tail; the wrappers pass the exact count).
        """
        obs_t = torch.as_tensor(np.asarray(obs, np.float64))
        n = obs_t.shape[0]
        term = torch.zeros(n, dtype=torch.bool)
        if terminated is not None:
            term = torch.as_tensor(np.asarray(terminated, bool).reshape(n))
        if steps_left is None:
            left = torch.full((n,), float(max(self.horizon - 1, 0)), dtype=torch.float64)
        else:
            left = torch.as_tensor(np.asarray(steps_left, np.float64).reshape(n))
        left = torch.where(term, left, torch.zeros((), dtype=torch.float64))
        return self.torch(
            obs_t,
            torch.as_tensor(np.asarray(acts, np.float64)),
            torch.as_tensor(np.asarray(next_obs, np.float64)),
            term,
            left,
        ).numpy()

    @torch.no_grad()
    def torch(
        self, obs: Tensor, acts: Tensor, next_obs: Tensor, terminated: Tensor, steps_left: Tensor
    ) -> Tensor:
        """As ``__call__`` on tensors (``steps_left`` required), ``[N]`` float64."""
        return self.cost.reward(
            obs.double(),
            self.cost_actions(acts.double()),
            next_obs.double(),
            terminated,
            steps_left,
            shaping=self.shaping,
            tail_gamma=self.tail_gamma,
            termination_floor=self.termination_floor,
        )

    def absorbing_price(self) -> float:
        """The cost this reward charges per absorbing step: c_abs, or ``termination_floor`` when
        that is higher."""
        with torch.no_grad():
            return float(self.cost.absorbing_price(self.termination_floor))

    def cost_actions(self, acts: Tensor) -> Tensor:
        """The actions the cost scores: clipped to the action box when one is set."""
        if self.action_low is None or self.action_high is None:
            return acts
        low = torch.as_tensor(self.action_low).to(acts)
        high = torch.as_tensor(self.action_high).to(acts)
        return torch.maximum(torch.minimum(acts, high), low)

    def with_entropy(self, reward: np.ndarray, log_pi: np.ndarray) -> np.ndarray:
        """The sampler's reward r − α log π (the generator loss as a MaxEnt RL reward).

        Args:
            reward: per-step learned reward r = −c (any shape; float64 from :meth:`__call__`).
            log_pi: log π(u|x) of the same steps, same shape (any float dtype).

        Returns:
            :func:`irl.objectives.generator_reward` of c = −r, in the promoted dtype of the two.
        """
        step_cost = -torch.as_tensor(np.ascontiguousarray(reward))
        step_log_pi = torch.as_tensor(np.ascontiguousarray(log_pi))
        return generator_reward(step_cost, step_log_pi, self.alpha).numpy()

    def steps_left(self, t_next: int, terminated: bool) -> int:
        """Absorbing steps after a step that ends at episode step ``t_next`` (1-based)."""
        return max(self.horizon - t_next, 0) if terminated else 0


@torch.no_grad()
def demo_cost_ceiling(reward: LearnedReward, demos: Sequence[Trajectory]) -> float:
    """The highest step cost c_θ(x, u) over the steps of ``demos`` (actions as ``reward``'s cost
    scores them): the floor of a termination's price (``LearnedReward.termination_floor``)."""
    if not demos:
        raise ValueError("demo_cost_ceiling needs at least one demo")
    highest = -math.inf
    for tr in demos:
        steps = np.asarray(tr.acts).shape[0]
        obs = torch.tensor(np.asarray(tr.obs[:steps]), dtype=torch.float64)
        acts = reward.cost_actions(torch.tensor(np.asarray(tr.acts), dtype=torch.float64))
        highest = max(highest, float(reward.cost.step_cost(obs, acts).max()))
    return highest


def termination_floor(reward: LearnedReward, demos: Sequence[Trajectory]) -> float | None:
    """The floor of a termination's price for ``reward`` learned from ``demos``: their
    :func:`demo_cost_ceiling` (None for a cost without absorbing states, whose reward pays no
    termination). Demos that end in a termination count with their living steps: an expert's
    rare falls (3 of the 50 shipped Hopper demos) are accidents a fresh optimiser should not
    be paid to repeat."""
    if not reward.cost.absorbing:
        return None
    return demo_cost_ceiling(reward, demos)
