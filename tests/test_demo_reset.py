"""Reference-state initialisation: MuJoCo states rebuilt from observations, seeded demo resets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from envs import make_env
from envs.demo_reset import DemoStateReset, mujoco_state_from_obs


@pytest.mark.parametrize(
    "env_id", ["Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Ant-v5", "InvertedPendulum-v5"]
)
def test_state_rebuilt_from_an_observation_reproduces_it_exactly(env_id: str) -> None:
    """qpos[k:] ++ qvel observations (k = 0, 1 or 2 dropped positions) give back their state."""
    env = make_env(env_id)
    obs, _ = env.reset(seed=0)
    seen = []
    a = 0.1 * np.ones(env.action_space.shape, dtype=np.float32)  # type: ignore[arg-type]
    for _ in range(30):  # gentle actions: Hopper/Walker clip |velocity| > 10 in the observation
        obs, _, terminated, truncated, _ = env.step(a)
        seen.append(obs)
        if terminated or truncated:
            break
    probe = make_env(env_id)
    probe.reset(seed=1)  # a different state, overwritten below
    for o in seen:
        qpos, qvel = mujoco_state_from_obs(probe, o)
        probe.unwrapped.set_state(qpos, qvel)  # type: ignore[attr-defined]
        np.testing.assert_array_equal(probe.unwrapped._get_obs(), o)  # type: ignore[attr-defined]
    assert np.abs(seen[-1]).max() < 10.0
    # The next step agrees too: the dropped x (and y) positions do not enter the dynamics.
    np.testing.assert_allclose(probe.step(a)[0], env.step(a)[0], atol=1e-9)


def test_demo_reset_is_seeded_and_obeys_its_probability() -> None:
    """prob 1 starts in a listed state (the same one for the same seed); prob 0 never does."""
    states = np.stack([make_env("Hopper-v5").reset(seed=s)[0] for s in range(50, 60)])
    states[:, 5] += 1.0  # torso x-velocity no plain reset has: marks a demo start
    env = DemoStateReset(make_env("Hopper-v5"), states, 1.0)
    obs, info = env.reset(seed=3)
    np.testing.assert_array_equal(obs, states[info["demo_state_index"]])
    again, info2 = DemoStateReset(make_env("Hopper-v5"), states, 1.0).reset(seed=3)
    assert info2 == info
    np.testing.assert_array_equal(again, obs)
    never = DemoStateReset(make_env("Hopper-v5"), states, 0.0)
    plain = make_env("Hopper-v5")
    for seed in range(5):
        np.testing.assert_array_equal(never.reset(seed=seed)[0], plain.reset(seed=seed)[0])
    half = DemoStateReset(make_env("Hopper-v5"), states, 0.5)
    picks = [("demo_state_index" in half.reset(seed=s)[1]) for s in range(200)]
    assert 70 < sum(picks) < 130


def test_demo_reset_refuses_bad_arguments() -> None:
    """A wrong probability, no states or observations of another task fail at construction."""
    states = np.zeros((3, 11))
    with pytest.raises(ValueError, match="probability must be in"):
        DemoStateReset(make_env("Hopper-v5"), states, 1.5)
    with pytest.raises(ValueError, match="at least one"):
        DemoStateReset(make_env("Hopper-v5"), states[:0], 0.5)
    with pytest.raises(ValueError, match="Hopper-v5: observation of 17 dims"):
        DemoStateReset(make_env("Hopper-v5"), np.zeros((3, 17)), 0.5)


def test_trainer_starts_rollouts_from_training_demo_states(tmp_path: Path) -> None:
    """sampler.demo_reset_prob=1: every recorded episode starts at a state of a training demo."""
    from irl.trainer import Trainer
    from tests.test_train import make_cfg

    cfg = make_cfg("debug=tiny", "env=hopper", "sampler.demo_reset_prob=1.0")
    trainer = Trainer(cfg, tmp_path, log=False)
    trainer.train(progress=False)
    demo_states = np.concatenate([d.obs[:-1] for d in trainer.demos])
    starts = [e[0][0] for e in trainer.recorder.episodes()]
    assert starts
    for s in starts:
        assert np.abs(demo_states - s).max(axis=1).min() == 0.0
