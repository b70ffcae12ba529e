"""The project's environments (package irl_envs): registration and what each changes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import pytest

import irl_envs
from irl_envs import make_env
from irl_envs.disabled_ant import ANT_XML, disabled_ant_xml
from irl_envs.point_maze import GOAL, MAX_STEP, WALL_Y, PointMazeEnv, wall_span

# Waypoints from the start (0.3, 0) to the goal (0.3, 0.5) through each opening.
LEFT_PATH = [(0.1, 0.15), (0.1, 0.45), GOAL]
RIGHT_PATH = [(0.5, 0.15), (0.5, 0.45), GOAL]


def drive(env: gym.Env[Any, Any], waypoints: Sequence[tuple[float, float]], seed: int = 0):
    """Steer towards each waypoint in turn for a full episode; returns (positions, rewards, ends).

    positions: (T + 1, 2) including the start; rewards: (T,); ends: (terminated, truncated) of the
    last step.
    """
    obs, _ = env.reset(seed=seed)
    positions, rewards = [obs], []
    k, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        if k < len(waypoints) - 1 and np.abs(obs - waypoints[k]).max() < 1e-4:
            k += 1
        action = np.clip((np.asarray(waypoints[k]) - obs) / MAX_STEP, -1, 1).astype(np.float32)
        obs, reward, terminated, truncated, _ = env.step(action)
        positions.append(obs)
        rewards.append(reward)
    return np.array(positions), np.array(rewards), (terminated, truncated)


def test_envs_register_under_the_irl_namespace_idempotently() -> None:
    irl_envs.register_envs()
    before = dict(gym.registry)
    irl_envs.register_envs()
    assert dict(gym.registry) == before
    for env_id in irl_envs.ENV_IDS:
        assert gym.spec(env_id).namespace == "irl"
    assert gym.spec("irl/PointMazeLeft-v0").max_episode_steps == 100


def test_point_maze_wall_blocks_the_straight_path() -> None:
    """Pushing straight up from the start: the particle stops below the wall in both mazes."""
    for env_id in ("irl/PointMazeLeft-v0", "irl/PointMazeRight-v0"):
        env = make_env(env_id)
        env.reset(seed=0)
        for t in range(100):
            obs, reward, terminated, truncated, _ = env.step(np.array([0.0, 1.0], np.float32))
            assert not terminated
            assert truncated == (t == 99)  # 100-step episodes, never terminates
        assert WALL_Y - 2 * MAX_STEP <= obs[1] < WALL_Y
        assert reward == pytest.approx(-np.linalg.norm(obs - np.array(GOAL)), abs=1e-6)
        assert reward < -0.2


@pytest.mark.parametrize(
    ("path", "open_id", "shut_id"),
    [
        (LEFT_PATH, "irl/PointMazeLeft-v0", "irl/PointMazeRight-v0"),
        (RIGHT_PATH, "irl/PointMazeRight-v0", "irl/PointMazeLeft-v0"),
    ],
)
def test_point_maze_path_through_one_opening(
    path: list[tuple[float, float]], open_id: str, shut_id: str
) -> None:
    """The scripted path reaches the goal in its maze and is stopped by the wall in the other."""
    pos, rew, _ = drive(make_env(open_id), path)
    assert np.linalg.norm(pos[-1] - np.array(GOAL)) < 1e-3
    assert rew[-1] > -1e-3
    assert rew.sum() > -20.0

    pos, rew, _ = drive(make_env(shut_id), path)
    assert pos[:, 1].max() < WALL_Y  # never got past the wall
    assert np.linalg.norm(pos[-1] - np.array(GOAL)) > 0.2
    assert rew.sum() < -25.0


@pytest.mark.parametrize("opening", ["left", "right"])
def test_point_maze_random_walk_crosses_only_through_the_opening(opening: str) -> None:
    env = PointMazeEnv(opening=opening)
    lo, hi = wall_span(opening)
    rng = np.random.default_rng(1)
    obs, _ = env.reset(seed=1)
    crossings = 0
    for _ in range(3000):
        action = rng.uniform(-1, 1, 2) + np.array([0.0, 0.3])  # drift up to reach the wall
        new, *_ = env.step(action.astype(np.float32))
        if (obs[1] < WALL_Y) != (new[1] < WALL_Y):
            s = (WALL_Y - obs[1]) / (new[1] - obs[1])
            x = obs[0] + s * (new[0] - obs[0])
            assert not lo <= x <= hi
            crossings += 1
        if new[1] > 0.55:  # back to the start to keep crossing
            env.reset(seed=int(rng.integers(1000)))
            new = env.unwrapped.pos.astype(np.float32)
        obs = new
    assert crossings > 0


def test_point_maze_reset_render_and_extra_kwargs() -> None:
    with pytest.warns(UserWarning, match="ignores"):
        left = make_env(
            "irl/PointMazeLeft-v0", render_mode="rgb_array", width=60, height=48, camera_id=0
        )
    right = make_env("irl/PointMazeRight-v0", render_mode="rgb_array", width=60, height=48)
    a, _ = left.reset(seed=5)
    b, _ = left.reset(seed=5)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == (2,)
    assert np.abs(a - np.array([0.3, 0.0])).max() <= 0.01 + 1e-7
    right.reset(seed=5)
    img_l, img_r = left.render(), right.render()
    assert img_l.shape == (48, 60, 3) and img_l.dtype == np.uint8
    row = int((1 - WALL_Y / 0.6) * 48)  # the wall's row; column 5 is x ≈ 0.05 (left gap)
    assert (img_l[row, 5] == 255).all() and (img_r[row, 5] == 0).all()
    assert (img_l[row, -5] == 0).all() and (img_r[row, -5] == 255).all()
    with pytest.raises(ValueError, match="opening"):
        PointMazeEnv(opening="middle")


def _xml_differences(a: ET.Element, b: ET.Element, where: str = "") -> set[tuple[str, str]]:
    """(element label, attribute) pairs whose values differ between two same-shaped trees."""
    label = f"{where}/{a.tag}[{a.get('name') or a.get('joint') or ''}]"
    out = {(label, k) for k in a.attrib.keys() | b.attrib.keys() if a.get(k) != b.get(k)}
    assert len(a) == len(b), label
    for i, (ca, cb) in enumerate(zip(a, b, strict=True)):
        out |= _xml_differences(ca, cb, f"{label}#{i}")
    return out


def test_disabled_ant_xml_differs_exactly_at_the_two_legs() -> None:
    stock = ET.parse(ANT_XML).getroot()
    edited = ET.fromstring(disabled_ant_xml())
    diffs = _xml_differences(stock, edited)
    changed_geoms = {lbl.rsplit("[", 1)[1][:-1] for lbl, _ in diffs if "/geom[" in lbl}
    assert changed_geoms == {
        "back_leg_geom",
        "third_ankle_geom",
        "rightback_leg_geom",
        "fourth_ankle_geom",
    }
    changed_motors = {lbl.rsplit("[", 1)[1][:-1] for lbl, _ in diffs if "/motor[" in lbl}
    assert changed_motors == {"hip_3", "ankle_3", "hip_4", "ankle_4"}
    body_diffs = [(lbl, attr) for lbl, attr in diffs if lbl.rsplit("/", 1)[1].startswith("body[")]
    assert sorted(attr for _, attr in body_diffs) == ["pos", "pos"]  # the two ankle bodies
    assert sum("body[back_leg]" in lbl for lbl, _ in body_diffs) == 1
    assert sum("body[right_back_leg]" in lbl for lbl, _ in body_diffs) == 1
    assert len(diffs) == 4 + 4 + 2  # fromto ×4, gear ×4, ankle pos ×2, nothing else
    for geom in edited.iter("geom"):
        if geom.get("name") in changed_geoms:
            twin = stock.find(f".//geom[@name='{geom.get('name')}']")
            assert twin is not None
            new = np.array(geom.get("fromto", "").split(), float)
            np.testing.assert_allclose(new, 0.5 * np.array(twin.get("fromto", "").split(), float))
    gears = {m.get("joint"): float(m.get("gear", "nan")) for m in edited.iter("motor")}
    assert {j: g for j, g in gears.items() if g != 150.0} == dict.fromkeys(changed_motors, 1.0)


def _joint_travel(env_id: str, joints: Sequence[str], steps: int = 50) -> np.ndarray:
    """Total |Δangle| (rad) of each joint over ``steps`` seeded uniform random actions."""
    env = make_env(env_id, terminate_when_unhealthy=False)
    env.reset(seed=0)
    model, data = env.unwrapped.model, env.unwrapped.data
    adr = [
        model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j)] for j in joints
    ]
    rng = np.random.default_rng(0)
    prev, travel = data.qpos[adr].copy(), np.zeros(len(joints))
    for _ in range(steps):
        env.step(rng.uniform(-1, 1, 8).astype(np.float32))
        travel += np.abs(data.qpos[adr] - prev)
        prev = data.qpos[adr].copy()
    return travel


def test_disabled_ant_matches_ant_spaces_and_its_weak_legs_barely_move() -> None:
    ant, disabled = make_env("Ant-v5"), make_env("irl/DisabledAnt-v5")
    assert disabled.observation_space.shape == ant.observation_space.shape == (27,)
    assert disabled.action_space == ant.action_space
    weak = ["hip_3", "ankle_3", "hip_4", "ankle_4"]
    strong = ["hip_1", "ankle_1", "hip_2", "ankle_2"]
    ant_weak, dis_weak = _joint_travel("Ant-v5", weak), _joint_travel("irl/DisabledAnt-v5", weak)
    assert dis_weak.sum() < 0.3 * ant_weak.sum()  # measured: ~5 rad vs ~31 rad
    assert (dis_weak[[0, 2]] < 0.1 * ant_weak[[0, 2]]).all()  # the hips (ankles swing passively)
    ant_strong = _joint_travel("Ant-v5", strong)
    dis_strong = _joint_travel("irl/DisabledAnt-v5", strong)
    assert 0.7 < dis_strong.sum() / ant_strong.sum() < 1.4


def test_slippery_half_cheetah_halves_sliding_friction_only() -> None:
    base, slip = make_env("HalfCheetah-v5"), make_env("irl/SlipperyHalfCheetah-v5")
    fb, fs = base.unwrapped.model.geom_friction, slip.unwrapped.model.geom_friction
    np.testing.assert_allclose(fs[:, 0], 0.5 * fb[:, 0])
    np.testing.assert_array_equal(fs[:, 1:], fb[:, 1:])
    np.testing.assert_array_equal(slip.unwrapped.model.body_mass, base.unwrapped.model.body_mass)
    assert slip.observation_space.shape == base.observation_space.shape
    xs = []
    for env in (base, slip):
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        for _ in range(100):
            env.step(rng.uniform(-1, 1, 6).astype(np.float32))
        xs.append(float(env.unwrapped.data.qpos[0]))
    assert abs(xs[0] - xs[1]) > 0.1  # same actions, different motion
    with pytest.raises(ValueError, match="friction_scale"):
        make_env("irl/SlipperyHalfCheetah-v5", friction_scale=0.0)
