"""benchmarks/sampler_ceiling.py: its recovered policy is the loop's weight average."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import sampler_ceiling  # noqa: E402
from overhead import compose_cfg, plain_sampler  # noqa: E402

from irl.demos import load_metadata  # noqa: E402
from irl.paths import demo_file  # noqa: E402
from irl.samplers.base import holding_weights  # noqa: E402


def test_evaluated_policy_is_the_ema_of_the_weights_over_updates() -> None:
    """Two updates with decay 0.5: the evaluated weights are ½·after-1st + ½·after-2nd, and the
    live policy is left as SB3 trained it."""
    cfg = compose_cfg(["env=pendulum", "debug=tiny", "sampler.policy_ema=0.5", "seed=0"])
    model = plain_sampler(cfg)
    cb = sampler_ceiling.Evaluations(cfg, load_metadata(demo_file(cfg["env"]["id"])), 10**9)
    snapshots = []

    class Record(sampler_ceiling.Evaluations):
        def fold(self) -> None:
            snapshots.append({k: v.clone() for k, v in self.model.policy.state_dict().items()})
            super().fold()

    cb.__class__ = Record
    model.learn(total_timesteps=2 * 128, callback=cb, progress_bar=False)
    assert len(snapshots) == 2 and cb.ema is not None
    live = {k: v.clone() for k, v in model.policy.state_dict().items()}
    for k, v in cb.ema.items():
        torch.testing.assert_close(v, 0.5 * snapshots[0][k] + 0.5 * snapshots[1][k])
    with holding_weights(model.policy, cb.ema):
        inside = model.policy.state_dict()
        assert all(torch.equal(inside[k], cb.ema[k]) for k in live)
    assert all(torch.equal(model.policy.state_dict()[k], v) for k, v in live.items())
    assert not all(torch.equal(cb.ema[k], live[k]) for k in live)  # the average is not the last
    score = cb.score(1)
    assert np.isfinite(score["return_mean"])
