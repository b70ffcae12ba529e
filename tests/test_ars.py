"""ARS, the fast re-optimiser of the main job: its statistics, its search on a true reward, and
the learned return it maximises (absorbing tail included) driving what it learns."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from test_train import constant_cost_run

from irl.ars import RunningStats, ars
from irl.reoptimize import reoptimize
from irl.reoptimize_ars import learned_episode_return
from irl_envs import make_env


def test_running_stats_equal_numpy_over_batches() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, (101, 4))
    stats = RunningStats(4)
    for chunk in np.array_split(data, [1, 7, 50]):
        stats.update(chunk)
    np.testing.assert_allclose(stats.mean, data.mean(axis=0))
    np.testing.assert_allclose(stats.std, data.std(axis=0, ddof=1))


def test_ars_balances_the_inverted_pendulum_on_its_true_reward() -> None:
    env = make_env("InvertedPendulum-v5")
    policy = ars(env, lambda o, a, t, true: true, 30_000, seed=0)
    ob, _ = env.reset(seed=123)
    for steps in range(1, 1001):  # noqa: B007
        ob, _, terminated, truncated, _ = env.step(policy(ob))
        if terminated or truncated:
            break
    assert steps == 1000 and not terminated


def test_the_learned_return_charges_the_absorbing_tail_to_the_horizon(tmp_path: Path) -> None:
    run = constant_cost_run(tmp_path, absorbing=5.0)  # c = 1 per step, 5 per absorbing step
    score = learned_episode_return(run, tail_gamma=None)  # the cost's own γ (1 for GAN-GCL)
    obs, acts = np.zeros((8, 4)), np.zeros((7, 1))
    assert score(obs, acts, True, 0.0) == pytest.approx(-7.0 - 5.0 * (run.horizon - 7))
    assert score(obs, acts, False, 0.0) == pytest.approx(-7.0)


@pytest.mark.parametrize(("absorbing", "survives"), [(5.0, True), (0.5, False)])
def test_ars_on_the_learned_reward_survives_only_when_stopping_costs_more(
    tmp_path: Path, absorbing: float, survives: bool
) -> None:
    """Cost 1 per living step: an absorbing cost of 5 makes balancing the learned optimum
    (ARS reaches the full 1000 steps), one of 0.5 makes falling it (ARS never balances)."""
    run = constant_cost_run(tmp_path, absorbing=absorbing)
    out = reoptimize(
        run, 30_000, episodes=3, seed=0, progress=False, curve_path=tmp_path / "c.csv", algo="ars"
    )
    assert out["reoptimized_algo"] == "ars" and out["reoptimized_tail_gamma"] is None
    assert (out["reoptimized_return_mean"] == 1000.0) is survives
    if not survives:
        assert out["reoptimized_return_mean"] < 100
    rows = list(csv.DictReader((tmp_path / "c.csv").open()))
    assert rows and int(rows[-1]["env_steps"]) == out["reoptimized_steps"] >= 30_000
