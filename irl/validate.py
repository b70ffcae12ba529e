"""Config validation for ``irl-train``: every numeric key with its range and every string option
with its choices, in one table, checked before anything is built. One clear message names the
key, the value and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from irl.demos import DEMO_EPISODES

__all__ = ["ConfigError", "validate_eval_config", "validate_train_config"]


class ConfigError(ValueError):
    """An ``irl-train`` config value out of its range or choices."""


@dataclass(frozen=True)
class Rule:
    """Allowed values of one key: a numeric range (``lo``/``hi``, inclusive unless ``open_*``),
    an integer, choices, or ``None`` allowed."""

    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    choices: tuple[str, ...] | None = None
    nullable: bool = False
    open_lo: bool = False
    open_hi: bool = False

    def describe(self) -> str:
        """What is allowed, in words."""
        if self.choices is not None:
            text = "one of " + ", ".join(self.choices)
        else:
            kind = "an integer" if self.integer else "a number"
            lo = "" if self.lo is None else f"{'>' if self.open_lo else '≥'} {self.lo:g}"
            hi = "" if self.hi is None else f"{'<' if self.open_hi else '≤'} {self.hi:g}"
            text = " ".join(p for p in (kind, lo, "and" if lo and hi else "", hi) if p)
        return text + (" (or null)" if self.nullable else "")

    def accepts(self, value: Any) -> bool:
        """True if ``value`` is allowed."""
        if value is None:
            return self.nullable
        if self.choices is not None:
            return isinstance(value, str) and value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not math.isfinite(float(value)) or (self.integer and not isinstance(value, int)):
            return False
        if self.lo is not None and (value <= self.lo if self.open_lo else value < self.lo):
            return False
        return not (self.hi is not None and (value >= self.hi if self.open_hi else value > self.hi))


POS_INT = Rule(lo=1, integer=True)
NONNEG = Rule(lo=0)
POS = Rule(lo=0, open_lo=True)
PROB = Rule(lo=0, hi=1)

RULES: dict[str, Rule] = {
    "seed": Rule(lo=0, hi=2**31 - 1, integer=True),
    "torch_threads": POS_INT,
    "total_env_steps": POS_INT,
    "n_demos": POS_INT,
    "demo_episodes": Rule(choices=DEMO_EPISODES),
    "checkpoint_every_iters": POS_INT,
    "eval.every_iters": POS_INT,
    "eval.episodes": POS_INT,
    "eval.final_episodes": POS_INT,
    "video.max_steps": POS_INT,
    "video.width": POS_INT,
    "video.height": POS_INT,
    "env.max_episode_steps": Rule(lo=1, integer=True, nullable=True),
    "algo.name": Rule(choices=("gan_gcl", "gcl", "airl", "airl_state", "gail", "bc")),
    "algo.window": Rule(lo=1, integer=True, nullable=True),
    "algo.gamma": Rule(lo=0, hi=1, open_lo=True),
    "algo.fusion": Rule(choices=("fused", "own", "current")),
    "algo.max_samplers": POS_INT,
    "algo.disc_updates": Rule(lo=0, integer=True),
    "algo.batch_size": POS_INT,
    "algo.epochs": POS_INT,
    "algo.lr": POS,
    "algo.log_z_lr": POS,
    "algo.alpha": NONNEG,
    "algo.absorbing_floor": Rule(lo=0, hi=1, nullable=True),
    "algo.bc_warmstart_epochs": Rule(lo=0, integer=True),
    "sampler.name": Rule(choices=("ppo", "sac")),
    "sampler.n_envs": POS_INT,
    "sampler.steps_per_env": POS_INT,
    "sampler.batch_size": POS_INT,
    "sampler.n_epochs": POS_INT,
    "sampler.learning_rate": POS,
    "sampler.gamma": Rule(lo=0, hi=1, open_lo=True),
    "sampler.gae_lambda": PROB,
    "sampler.clip_range": POS,
    "sampler.target_kl": Rule(lo=0, open_lo=True, nullable=True),
    "sampler.cost_action": Rule(choices=("executed", "drawn")),
    "sampler.policy_ema": Rule(lo=0, hi=1, open_hi=True, nullable=True),
    "sampler.gradient_steps_per_env_step": POS,
    "sampler.buffer_size": POS_INT,
    "sampler.tau": Rule(lo=0, hi=1, open_lo=True),
    "cost.l2": NONNEG,
    "cost.rank_loss": NONNEG,
    "cost.torque_init": POS,
    "experimental.grad_penalty": NONNEG,
    "experimental.rank_loss": NONNEG,
    "experimental.lambda_lcr": NONNEG,
    "experimental.lambda_mono": NONNEG,
    "experimental.coverage_episodes": Rule(lo=0, integer=True),
}


EVAL_RULES: dict[str, Rule] = {
    "episodes": POS_INT,
    "reopt_steps": Rule(lo=0, integer=True),
    "reopt_algo": Rule(choices=("sac", "ppo", "ars", "planner")),
    "reopt_checkpoint_every": Rule(lo=0, integer=True),
    "reopt_video_steps": Rule(lo=0, integer=True),
    "reopt_eval_every": Rule(lo=0, integer=True, nullable=True),
    "reopt_eval_episodes": POS_INT,
    "figure_episodes": POS_INT,
    "random_episodes": POS_INT,
    "learned_return_episodes": POS_INT,
    "seed": Rule(lo=0, hi=2**31 - 1, integer=True),
    "torch_threads": POS_INT,
}


def _lookup(cfg: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _check(cfg: Mapping[str, Any], rules: Mapping[str, Rule]) -> None:
    for key, rule in rules.items():
        present, value = _lookup(cfg, key)
        if present and not rule.accepts(value):
            raise ConfigError(f"config: {key}={value!r} is not allowed; use {rule.describe()}")


def validate_eval_config(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for an ``irl-eval`` value outside its rule."""
    _check(cfg, EVAL_RULES)
    reward = str(_lookup(cfg, "reopt_reward")[1]).lower()
    if reward not in ("learned", "true"):
        raise ConfigError(f"config: reopt_reward={reward!r} is not allowed; use learned or true")
    present, target = _lookup(cfg, "reopt_env")
    if present and target is not None and not (isinstance(target, str) and target):
        raise ConfigError(f"config: reopt_env={target!r} is not allowed; use an env id or null")
    present, shaping = _lookup(cfg, "reopt_shaping")
    if present and shaping != "auto" and not isinstance(shaping, bool):
        raise ConfigError(
            f"config: reopt_shaping={shaping!r} is not allowed; use auto, true or false"
        )
    present, normalise = _lookup(cfg, "reopt_normalize_reward")
    if present and normalise != "auto" and not isinstance(normalise, bool):
        raise ConfigError(
            f"config: reopt_normalize_reward={normalise!r} is not allowed; use auto, true or false"
        )
    present, squash = _lookup(cfg, "reopt_squash")
    if present and not isinstance(squash, bool):
        raise ConfigError(f"config: reopt_squash={squash!r} is not allowed; use true or false")
    if present and squash and str(_lookup(cfg, "reopt_algo")[1]) != "ppo":
        raise ConfigError("config: reopt_squash=true applies to reopt_algo=ppo only")
    present, price = _lookup(cfg, "termination_price")
    if present and price not in ("demos", "learned"):
        raise ConfigError(
            f"config: termination_price={price!r} is not allowed; use demos or learned"
        )
    present, figures = _lookup(cfg, "figures")
    if present and not isinstance(figures, bool):
        raise ConfigError(f"config: figures={figures!r} is not allowed; use true or false")
    net = _lookup(cfg, "reopt_net_arch")[1]
    if net is not None and not _positive_ints(net):
        raise ConfigError(
            f"config: reopt_net_arch={net!r} is not allowed; use a list of positive integers"
        )


def _positive_ints(x: Any) -> bool:
    return (
        isinstance(x, list | tuple)
        and bool(x)
        and all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in x)
    )


def validate_train_config(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for the first value outside its rule (keys absent from this
    config, e.g. PPO-only keys under ``sampler=sac``, are skipped)."""
    _check(cfg, RULES)
    for key in ("sampler.net_arch",):
        value = _lookup(cfg, key)[1]
        if value is not None and not _positive_ints(value):
            raise ConfigError(
                f"config: {key}={value!r} is not allowed; use a list of positive integers"
            )
    hidden = _lookup(cfg, "cost.hidden")[1]
    if hidden is not None and not _positive_ints(hidden):
        raise ConfigError(
            f"config: cost.hidden={hidden!r} is not allowed; use a list of positive integers"
        )
