"""The main job (`irl-tabular`) composes from conf/ and recovers the reward."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from irl.cli import CONF_DIR
from irl.cli.tabular_demo import run


def test_irl_tabular_default_recovers_reward() -> None:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="tabular")
    scores = run(cfg)
    assert scores["reward_max_error_centred"] < 0.05
    assert scores["return_ratio"] >= 0.99
    assert scores["normalized_return"] == pytest.approx(1.0, abs=0.01)


def test_irl_tabular_sampled_demos_still_near_expert() -> None:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="tabular", overrides=["n_demos=2000", "n_iters=400", "lr=0.03"])
    scores = run(cfg)
    # Finite demos: the reward is estimated, not exact, but the policy is near-expert.
    assert 0.0 < scores["reward_max_error_centred"] < 0.5
    assert scores["normalized_return"] > 0.9
