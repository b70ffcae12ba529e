"""benchmarks/reward_attribution.py: observation groups from the MuJoCo model, and the reward
of a behaviour with one group at a time set to the demos' mean."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from irl.rollouts import random_policy, rollout
from irl_envs import make_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import reward_attribution  # noqa: E402


def test_groups_follow_the_model_for_a_planar_and_a_free_root() -> None:
    hopper = make_env("Hopper-v5")  # qpos[1:] (rootz, rooty, 3 joints) + qvel (3 root, 3 joints)
    ant = make_env("Ant-v5", include_cfrc_ext_in_observation=False)  # qpos[2:] 13 + qvel 14
    ant_contacts = make_env("Ant-v5")  # + 78 contact-force coordinates
    try:
        assert reward_attribution.observation_groups(hopper, 11) == {
            "root pose": [0, 1],
            "joint angles": [2, 3, 4],
            "root velocity": [5, 6, 7],
            "joint velocities": [8, 9, 10],
        }
        g = reward_attribution.observation_groups(ant, 27)
        assert g["root pose"] == list(range(5)) and g["joint angles"] == list(range(5, 13))
        assert g["root velocity"] == list(range(13, 19))
        assert g["joint velocities"] == list(range(19, 27)) and "other" not in g
        assert reward_attribution.observation_groups(ant_contacts, 105)["other"] == list(
            range(27, 105)
        )
    finally:
        for env in (hopper, ant, ant_contacts):
            env.close()
    pendulum = make_env("InvertedPendulum-v5")  # its observation keeps the cart's position
    try:
        with pytest.raises(SystemExit, match="not a locomotion task"):
            reward_attribution.observation_groups(pendulum, 4)
    finally:
        pendulum.close()


def test_a_reward_of_the_root_velocity_is_attributed_to_that_group_alone(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_targets: Callable[[ModuleType, str], list[str]],
) -> None:
    """r(x, u, x') = x[5] (Hopper's forward velocity): with the root-velocity group set to the
    demos' mean the behaviour earns exactly the demos' mean velocity per step; with any other
    group replaced it earns what it earned."""
    from stable_baselines3 import PPO

    env = make_env("Hopper-v5")
    torch.manual_seed(0)
    model = PPO("MlpPolicy", env, policy_kwargs={"net_arch": {"pi": [8, 8], "vf": [8, 8]}})
    actor = tmp_path / "reopt_actor.safetensors"
    save_file({k: v.contiguous() for k, v in model.policy.state_dict().items()}, str(actor))
    demos = rollout(env, random_policy(env), 3, 11)
    env.close()
    run = SimpleNamespace(
        env_id="Hopper-v5",
        env_kwargs={},
        artifacts={"obs_dim": 11, "algo": "gan_gcl"},
        config={"seed": 0},
        reward=lambda obs, acts, nxt: obs[:, 5].copy(),
        cost=SimpleNamespace(obs_norm=None),
        demos=SimpleNamespace(heldout=demos, train=demos),
    )
    monkeypatch.setattr(reward_attribution, "load_run", lambda _d: run)
    made = record_targets(reward_attribution, "Hopper-v5")
    rec = reward_attribution.attribute(tmp_path, actor, episodes=2, net_arch=(8, 8))
    target = reward_attribution.attribute(tmp_path, actor, 2, (8, 8), env_id="irl/Target-v0")
    # --env: the actor runs in the target (built here as Hopper again), named in the record.
    assert made == ["Hopper-v5", "irl/Target-v0"]
    assert rec["target_env"] is None and target["target_env"] == "irl/Target-v0"
    assert target["learned_reward_per_step"] == pytest.approx(rec["learned_reward_per_step"])
    demo_vx = np.concatenate([t.obs[:-1, 5] for t in demos[:2]]).astype(np.float64)
    assert rec["demos_learned_reward_per_step"] == pytest.approx(demo_vx.mean())
    assert rec["replaced_by_demo_mean"]["root velocity"] == pytest.approx(demo_vx.mean())
    for group in ("root pose", "joint angles", "joint velocities"):
        assert rec["replaced_by_demo_mean"][group] == pytest.approx(rec["learned_reward_per_step"])
    assert rec["learned_reward_per_step"] != pytest.approx(demo_vx.mean())
    assert set(rec["mean_abs_z"]) == set(rec["groups"])
    # Scaling the root's velocity scales this reward; the joints' velocities do not enter it.
    for k, value in rec["demos_velocity_scaled"]["root velocity"].items():
        assert value == pytest.approx(float(k) * demo_vx.mean())
    for value in rec["demos_velocity_scaled"]["joint velocities"].values():
        assert value == pytest.approx(demo_vx.mean())
